"""One Graph sync run: read Graph, apply through the identity rules, report.

A **full** run reads the selected groups (transitively) and every user, and
applies them as one snapshot; absence counts only when every read succeeded.
A **delta** run follows the stored delta links and applies a change batch.
Delta links are stored only after the apply covering them committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from gateway.crypto import SecretBox
from gateway.errors import ApiError, ConflictError, NotFoundError
from gateway.graph.client import GraphClient
from gateway.graph.connector import GraphConnector
from gateway.graph.errors import (
    DeltaExpiredError,
    EntraAuthError,
    GraphError,
    ReadCancelledError,
)
from gateway.graph.errors import NotFoundError as GraphNotFound
from gateway.graph.reads import latest_delta_link, user_pages, user_path, users_delta_url
from gateway.identity.model import SourceGroup
from gateway.store import graph_sync as store
from gateway.store.apply import (
    ApplyOptions,
    ApplyResult,
    ApplyStatus,
    StaleSnapshotError,
    sync_batch,
)
from gateway.store.integrations import IntegrationRecord, get_integration, load_client_secret
from gateway.store.tables import utcnow
from gateway.sync.delta import DeltaRead, NestingChanged, read_delta
from gateway.sync.groups import groups_in_nesting, membership_changes, read_group_tree
from gateway.sync.mapping import (
    SOURCE,
    group_not_found_warning,
    guest_warning,
    is_complete_user,
    is_guest,
    read_failed_warning,
    source_user,
)
from gateway.sync.prefetch import read_ahead

logger = logging.getLogger("gateway.sync")

Progress = Callable[[str, int], None]


class Cancelled(Exception):
    """The integration was disabled (or the lease lost) while the run read Graph."""


@dataclass(frozen=True, slots=True)
class SyncPolicy:
    """Knobs of a run, from the settings."""

    threshold_share: float = 0.10
    threshold_min_users: int = 10
    backstop: timedelta = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class RunRequest:
    tenant_id: str
    dry_run: bool = False
    confirm_deactivations: bool = False
    force_full: bool = False
    trigger: str = "manual"
    confirmation_of: int | None = None


@dataclass(slots=True)
class RunOutcome:
    run_id: int
    kind: str
    status: str
    counts: dict[str, int]
    warnings: list[dict[str, Any]]
    error: str | None
    report: dict[str, Any]
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status in {"failed", "cancelled"}


@dataclass(slots=True)
class _Run:
    """The working state of one run."""

    request: RunRequest
    run_id: int
    client: GraphClient
    selected: list[str]
    kind: str = "full"
    reason: str = "first_run"
    complete: bool = True
    warnings: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    results: list[ApplyResult] = field(default_factory=list)


class SyncEngine:
    """Runs Graph syncs for any tenant of one store."""

    def __init__(
        self,
        engine: Engine,
        secrets: SecretBox,
        connector: GraphConnector,
        policy: SyncPolicy,
        *,
        progress: Progress | None = None,
        should_continue: Callable[[], bool] | None = None,
    ) -> None:
        self.engine = engine
        self.secrets = secrets
        self.connector = connector
        self.policy = policy
        self._progress = progress or (lambda _stage, _n: None)
        self._should_continue = should_continue or (lambda: True)

    def with_hooks(
        self, *, progress: Progress | None = None, should_continue: Callable[[], bool] | None = None
    ) -> SyncEngine:
        return SyncEngine(
            self.engine,
            self.secrets,
            self.connector,
            self.policy,
            progress=progress or self._progress,
            should_continue=should_continue or self._should_continue,
        )

    # -- entry point ---------------------------------------------------------

    def run(self, request: RunRequest) -> RunOutcome:
        """Run one sync of the tenant now and store its report."""
        integration = self._integration(request.tenant_id)
        run_id = store.start_run(
            self.engine, request.tenant_id, kind="full", dry_run=request.dry_run
        )
        started = time.monotonic()
        client: GraphClient | None = None
        run: _Run | None = None
        status, error, cause = "failed", None, None
        try:
            self._check_secret_expiry(integration)
            secret = load_client_secret(self.engine, self.secrets, request.tenant_id)
            if secret is None:
                raise NotFoundError("This tenant has no Entra integration.")
            client = self.connector.client(
                integration.cloud, integration.entra_tenant_id, integration.client_id, secret
            )
            run = _Run(
                request, run_id, client, store.selected_groups(self.engine, request.tenant_id)
            )
            status = self._execute(run)
        except (Cancelled, ReadCancelledError):
            status, error, cause = "cancelled", "The integration was disabled during the run.", None
        except GraphError as exc:
            status, error, cause = "failed", str(exc), exc.cause
        except StaleSnapshotError as exc:
            status, error, cause = "failed", str(exc), "stale_snapshot"
        except ApiError as exc:
            status, error, cause = "failed", exc.message, exc.code
        except Exception as exc:
            # Recorded as failed (never left "running"); the log has the traceback.
            logger.exception("graph sync run %s of tenant %s failed", run_id, request.tenant_id)
            status, error, cause = "failed", f"Internal error ({type(exc).__name__}).", "internal"
        finally:
            if client is not None:
                client.close()
        return self._finish(run, request, run_id, status, error, cause, started, client)

    def _integration(self, tenant_id: str) -> IntegrationRecord:
        integration = get_integration(self.engine, tenant_id)
        if integration is None:
            raise NotFoundError(
                "This tenant has no Entra integration yet; configure it with "
                "PUT /tenants/{tenant_id}/integrations/entra first."
            )
        if integration.status != store.VALIDATED:
            raise ConflictError(
                "The Entra credentials are not validated; save them again with "
                "PUT /tenants/{tenant_id}/integrations/entra and fix what it reports."
            )
        if not integration.enabled:
            raise ConflictError(
                "The Entra integration is disabled; enable it with POST …/entra/enable to sync."
            )
        return integration

    def _check_secret_expiry(self, integration: IntegrationRecord) -> None:
        expires = integration.secret_expires_at
        if expires is not None and expires <= utcnow():
            raise EntraAuthError(
                "client_secret_expired",
                "The client secret expired on "
                f"{expires.date().isoformat()}; create a new secret in Entra ID and save it "
                "with PUT /tenants/{tenant_id}/integrations/entra. Synced users are kept.",
            )

    def _check(self) -> None:
        if not self._should_continue():
            raise Cancelled

    # -- choosing the kind of run ------------------------------------------------

    def _execute(self, run: _Run) -> str:
        tenant_id = run.request.tenant_id
        state = store.load_delta_state(self.engine, tenant_id)
        reason = self._full_reason(run, state)
        if reason is None and state is not None:
            run.kind, run.reason = "delta", "incremental"
            try:
                return self._delta(run, state)
            except DeltaExpiredError:
                reason = "delta_expired"
            except NestingChanged:
                reason = "group_nesting_changed"
        run.kind, run.reason = "full", reason or "first_run"
        return self._full(run)

    def _full_reason(self, run: _Run, state: store.DeltaState | None) -> str | None:
        if run.request.force_full:
            return "requested"
        if state is None:
            return "first_run"
        if state.selection_key != store.selection_key(run.selected):
            return "selection_changed"
        if utcnow() - state.last_full_at >= self.policy.backstop:
            return "backstop"
        return None

    def _options(self, run: _Run) -> ApplyOptions:
        return ApplyOptions(
            dry_run=run.request.dry_run,
            confirm_deactivations=run.request.confirm_deactivations,
            threshold_share=self.policy.threshold_share,
            threshold_min_users=self.policy.threshold_min_users,
            run_id=run.run_id,
            collect_changes=run.request.dry_run,
        )

    # -- full ----------------------------------------------------------------------

    def _full(self, run: _Run) -> str:
        client, tenant_id = run.client, run.request.tenant_id
        client.check_access()
        mark = time.monotonic()
        users_link = latest_delta_link(client, users_delta_url())
        tree = read_group_tree(client, run.selected, check=self._check)
        run.timings["read_groups_seconds"] = time.monotonic() - mark
        self._progress("groups", len(tree.names))
        for group_id in sorted(tree.not_found):
            run.warnings.append(group_not_found_warning(group_id))
        for group_id, error in sorted(tree.failed.items()):
            run.warnings.append(read_failed_warning(f"group {group_id}", error))
        run.complete = tree.complete
        groups = sorted({g for g in run.selected if g in tree.names})
        scope: set[str] = set()
        for group_id in groups:
            scope |= tree.transitive_users(group_id)
        mark = time.monotonic()
        read_users = 0
        with sync_batch(self.engine, tenant_id, SOURCE, snapshot=True) as batch:
            try:
                for page in read_ahead(user_pages(client)):
                    self._check()
                    wanted = [item for item in page if item.get("id") in scope]
                    run.warnings.extend(guest_warning(i) for i in wanted if is_guest(i))
                    batch.add_users(source_user(item) for item in wanted)
                    read_users += len(page)
                    self._progress("users", read_users)
            except GraphError as exc:
                if not exc.transient and not isinstance(exc, GraphNotFound):
                    raise
                run.complete = False
                run.warnings.append(read_failed_warning("users", str(exc)))
            scope.clear()
            # One group's transitive members at a time, never every group's at once.
            batch.add_groups(
                SourceGroup(g, tree.names[g], frozenset(tree.transitive_users(g))) for g in groups
            )
            # Of the members read, delta runs need only those of groups in nesting.
            nested = groups_in_nesting(tree.edges, run.selected)
            direct_members = {g: tree.users[g] for g in nested if g in tree.users}
            tree.users.clear()
            run.timings["read_users_seconds"] = time.monotonic() - mark
            mark = time.monotonic()
            self._progress("applying", 0)
            result = batch.apply(complete=run.complete, options=self._options(run))
            run.timings["apply_seconds"] = time.monotonic() - mark
        run.results.append(result)
        if result.status is ApplyStatus.APPLIED and run.complete:
            mark = time.monotonic()
            store.save_delta_state(
                self.engine,
                tenant_id,
                store.DeltaState(
                    selection_key=store.selection_key(run.selected),
                    users_delta_link=users_link,
                    groups_delta_links=tree.delta_links,
                    group_edges={g: list(c) for g, c in tree.edges.items()},
                    last_full_at=utcnow(),
                ),
                direct_members=direct_members,
            )
            run.timings["save_state_seconds"] = time.monotonic() - mark
        return self._status(run, result)

    # -- delta ---------------------------------------------------------------------

    def _delta(self, run: _Run, state: store.DeltaState) -> str:
        client, tenant_id = run.client, run.request.tenant_id
        mark = time.monotonic()
        read = read_delta(
            client, state.groups_delta_links, state.users_delta_link, check=self._check
        )
        run.timings["read_delta_seconds"] = time.monotonic() - mark
        self._progress("delta", len(read.users) + len(read.groups))
        edges = state.group_edges
        selected = set(run.selected)
        tracked = set(edges) | selected
        if any(g in tracked and c.removed and g not in selected for g, c in read.groups.items()):
            raise NestingChanged("a nested group was deleted")
        removed_groups = {g for g in selected if g in read.groups and read.groups[g].removed}
        direct_added = {
            (g, u) for g, c in read.groups.items() if g in tracked for u in c.added_users
        }
        direct_removed = {
            (g, u) for g, c in read.groups.items() if g in tracked for u in c.removed_users
        }
        begin, _ = membership_changes(edges, run.selected, {}, direct_added, ())
        added = {(g, u) for g, u in begin if g not in removed_groups}
        removed = {
            (g, u)
            for g, u in self._left_groups(
                tenant_id, edges, run.selected, direct_added, direct_removed
            )
            if g not in removed_groups
        }
        mark = time.monotonic()
        new_scope = {u for _, u in added}
        linked = store.linked_users(
            self.engine, tenant_id, new_scope | set(read.users) | read.removed_users
        )
        upserts, fetch = self._delta_users(read, linked, new_scope)
        for item in self._fetch_users(client, sorted(fetch)):
            upserts[str(item["id"])] = item
        run.warnings.extend(guest_warning(i) for i in upserts.values() if is_guest(i))
        orphans = self._orphans(tenant_id, added, removed, removed_groups)
        removed_users = (read.removed_users & linked) | orphans
        run.timings["read_extra_seconds"] = time.monotonic() - mark
        names = {
            g: c.name
            for g, c in read.groups.items()
            if g in selected and g not in removed_groups and c.name is not None
        }
        mark = time.monotonic()
        with sync_batch(self.engine, tenant_id, SOURCE, snapshot=False) as batch:
            batch.add_users(source_user(item) for item in upserts.values())
            batch.remove_users(sorted(removed_users))
            batch.add_groups(
                (SourceGroup(g, name) for g, name in names.items()), members_complete=False
            )
            batch.remove_groups(sorted(removed_groups))
            batch.add_members(sorted(added))
            batch.remove_members(sorted(removed))
            result = batch.apply(complete=True, options=self._options(run))
        run.timings["apply_seconds"] = time.monotonic() - mark
        run.results.append(result)
        if result.status is ApplyStatus.APPLIED:
            nested = groups_in_nesting(edges, run.selected)
            store.save_delta_state(
                self.engine,
                tenant_id,
                store.DeltaState(
                    selection_key=state.selection_key,
                    users_delta_link=read.users_link,
                    groups_delta_links=read.group_links,
                    group_edges=edges,
                    last_full_at=state.last_full_at,
                ),
                added={(g, u) for g, u in direct_added if g in nested},
                removed=direct_removed,
            )
        return self._status(run, run.results[-1])

    def _left_groups(
        self,
        tenant_id: str,
        edges: dict[str, list[str]],
        selected: list[str],
        direct_added: set[tuple[str, str]],
        direct_removed: set[tuple[str, str]],
    ) -> set[tuple[str, str]]:
        """(selected group, user) pairs that end (see :func:`membership_changes`)."""
        if not direct_removed:
            return set()
        direct = store.direct_groups_of(self.engine, tenant_id, {u for _, u in direct_removed})
        for group_id, user_id in direct_added:
            if user_id in direct:
                direct[user_id].add(group_id)
        for group_id, user_id in direct_removed:
            direct[user_id].discard(group_id)
        _, left = membership_changes(edges, selected, direct, (), direct_removed)
        return left

    @staticmethod
    def _delta_users(
        read: DeltaRead, linked: set[str], new_scope: set[str]
    ) -> tuple[dict[str, dict[str, Any]], set[str]]:
        upserts: dict[str, dict[str, Any]] = {}
        fetch: set[str] = set()
        for user_id, item in read.users.items():
            if user_id not in linked and user_id not in new_scope:
                continue
            if is_complete_user(item):
                upserts[user_id] = item
            else:
                fetch.add(user_id)
        fetch.update(
            u
            for u in new_scope
            if u not in linked and u not in upserts and u not in read.removed_users
        )
        return upserts, fetch

    def _fetch_users(self, client: GraphClient, user_ids: list[str]) -> list[dict[str, Any]]:
        found = []
        for answer in client.batch([user_path(u) for u in user_ids]):
            if isinstance(answer.error, GraphNotFound):
                continue
            found.append(answer.unwrap())
        return found

    def _orphans(
        self,
        tenant_id: str,
        added: set[tuple[str, str]],
        removed: set[tuple[str, str]],
        removed_groups: set[str],
    ) -> set[str]:
        """Users this change takes out of every synced group (rule 8: they leave)."""
        candidates = {u for _, u in removed}
        for group_id in removed_groups:
            candidates |= store.group_members(self.engine, tenant_id, group_id)
        if not candidates:
            return set()
        current = store.groups_of_users(self.engine, tenant_id, candidates)
        for group_id, user_id in removed:
            current.setdefault(user_id, set()).discard(group_id)
        for group_id, user_id in added:
            current.setdefault(user_id, set()).add(group_id)
        return {u for u in candidates if not current.get(u, set()) - removed_groups}

    # -- outcome ---------------------------------------------------------------------

    def _status(self, run: _Run, result: ApplyResult) -> str:
        if result.status is ApplyStatus.NEEDS_CONFIRMATION:
            return "needs_confirmation"
        if result.status is ApplyStatus.DRY_RUN:
            return "dry_run"
        return "succeeded" if run.complete else "partial"

    def _finish(
        self,
        run: _Run | None,
        request: RunRequest,
        run_id: int,
        status: str,
        error: str | None,
        cause: str | None,
        started: float,
        client: GraphClient | None,
    ) -> RunOutcome:
        counts: dict[str, int] = {}
        warnings: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        deactivating = 0
        if run is not None:
            for result in run.results:
                for key, value in result.counts.items():
                    counts[key] = counts.get(key, 0) + value
                warnings.extend(w.as_dict() for w in result.warnings)
                changes.extend(
                    {
                        "action": c.action,
                        "subject_type": c.subject_type,
                        "subject_id": c.subject_id,
                        "before": c.before,
                        "after": c.after,
                    }
                    for c in result.changes
                )
                deactivating = max(deactivating, result.deactivating)
            warnings.extend(run.warnings)
        stats = client.stats.as_dict() if client is not None else {}
        report: dict[str, Any] = {
            "kind": run.kind if run else "full",
            "reason": run.reason if run else None,
            "trigger": request.trigger,
            "complete": run.complete if run else False,
            "cause": cause,
            "duration_seconds": round(time.monotonic() - started, 3),
            "timings": {k: round(v, 3) for k, v in (run.timings if run else {}).items()},
            **stats,
            "confirmation_of": request.confirmation_of,
        }
        if status == "needs_confirmation":
            report["would_deactivate"] = deactivating
        kind = run.kind if run else "full"
        store.finish_run(
            self.engine,
            request.tenant_id,
            run_id,
            kind=kind,
            status=status,
            counts=counts,
            warnings=warnings,
            error=error,
            report=report,
        )
        return RunOutcome(run_id, kind, status, counts, warnings, error, report, changes)


def when_due(last_finished: datetime | None, interval_minutes: int) -> datetime | None:
    """When the next scheduled run is due (``None``: now)."""
    if last_finished is None:
        return None
    return last_finished + timedelta(minutes=interval_minutes)
