"""What an apply is asked to do and what it reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gateway.identity.model import SyncWarning


class ApplyStatus(StrEnum):
    APPLIED = "applied"
    DRY_RUN = "dry_run"
    NEEDS_CONFIRMATION = "needs_confirmation"


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    """How to apply a batch.

    ``dry_run`` computes the exact change set and keeps nothing.
    ``confirm_deactivations`` lets a run through that deactivates more than the
    threshold (an admin's confirmation, rule 10).
    """

    dry_run: bool = False
    confirm_deactivations: bool = False
    threshold_share: float = 0.10
    threshold_min_users: int = 10
    run_id: int | None = None
    collect_changes: bool = False


@dataclass(frozen=True, slots=True)
class Change:
    action: str
    subject_type: str
    subject_id: str | None
    before: Any
    after: Any


@dataclass(slots=True)
class ApplyResult:
    status: ApplyStatus
    counts: dict[str, int]
    warnings: list[SyncWarning]
    changes: list[Change] = field(default_factory=list)
    synced_users_before: int = 0
    deactivating: int = 0


class StaleSnapshotError(RuntimeError):
    """Another apply of the same source committed while a snapshot was staged."""


class NeedsConfirmationSignal(Exception):
    """Internal: roll the transaction back because the threshold was crossed."""


class DryRunSignal(Exception):
    """Internal: roll a dry run back after reading its change set."""
