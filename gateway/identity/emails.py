"""Primary Email: the key users are synced by (rule 2)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MAX_EMAIL_LENGTH = 320

# Deliberately simple: Entra already validated the address; this only keeps
# out values that cannot be an address at all (blank, spaces, no domain).
_PLAUSIBLE_EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")


def email_key(value: str) -> str:
    """The comparison key of an address: trimmed, case-folded to lower case."""
    return value.strip().lower()


def is_plausible_email(value: str) -> bool:
    """Whether ``value`` (already trimmed) looks like an e-mail address."""
    return len(value) <= MAX_EMAIL_LENGTH and _PLAUSIBLE_EMAIL.fullmatch(value) is not None


def clean_email(value: str | None) -> str | None:
    """The address trimmed for storage, or ``None`` when absent or implausible."""
    if value is None:
        return None
    trimmed = value.strip()
    return trimmed if trimmed and is_plausible_email(trimmed) else None


def primary_email_from_scim(emails: Iterable[Mapping[str, Any]] | None) -> str | None:
    """Pick the Primary Email from a SCIM ``emails`` list.

    The value marked ``primary``, else the first of type ``work``, else the
    first value (rule 2). Entra may send ``primary`` as the string ``"True"``.
    """
    values = [e for e in emails or () if isinstance(e.get("value"), str) and e["value"].strip()]
    for entry in values:
        if _truthy(entry.get("primary")):
            return str(entry["value"])
    for entry in values:
        if str(entry.get("type", "")).lower() == "work":
            return str(entry["value"])
    return str(values[0]["value"]) if values else None


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True
