"""What the admin API, the CLI and the scheduler call: run, preview, confirm, validate."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from gateway.errors import ConflictError, NotFoundError
from gateway.graph.connector import GraphConnector
from gateway.services import Services
from gateway.settings import Settings
from gateway.store import graph_sync as store
from gateway.store.runs import get_run
from gateway.sync.engine import Progress, RunOutcome, RunRequest, SyncEngine, SyncPolicy
from gateway.sync.lease import hold_lease, process_holder, run_holder

_HOLDER = process_holder()


def connector_for(settings: Settings) -> GraphConnector:
    """The production connector: real hosts, the settings' timeouts and private CA."""
    return GraphConnector(
        timeout_seconds=settings.graph_timeout_seconds,
        retry_budget_seconds=settings.graph_retry_budget_seconds,
        ca_bundle=settings.ca_bundle,
    )


def policy_for(settings: Settings) -> SyncPolicy:
    return SyncPolicy(
        threshold_share=settings.deactivation_threshold_share,
        threshold_min_users=settings.deactivation_threshold_min_users,
        backstop=timedelta(hours=settings.sync_backstop_hours),
    )


def run_sync(
    services: Services,
    request: RunRequest,
    *,
    progress: Progress | None = None,
    scheduled: bool = False,
    holder: str | None = None,
    stop: threading.Event | None = None,
) -> RunOutcome:
    """Run one sync under the tenant's lease (409 while another run holds it)."""
    settings = services.settings
    with hold_lease(
        services.engine,
        request.tenant_id,
        holder or run_holder(_HOLDER),
        settings.sync_lease_seconds,
        scheduled=scheduled,
    ) as lease:
        engine = SyncEngine(
            services.engine,
            services.secrets,
            services.graph,
            policy_for(settings),
            progress=progress,
            should_continue=(
                lease.live if stop is None else lambda: not stop.is_set() and lease.live()
            ),
        )
        return engine.run(request)


def confirm_run(
    services: Services,
    tenant_id: str,
    run_id: int,
    *,
    progress: Callable[[str, int], None] | None = None,
) -> RunOutcome:
    """Run the sync again with the admin's consent to deactivate past the threshold.

    Only the newest run, stopped in ``needs_confirmation``, can be confirmed:
    the new run re-reads Graph, so it applies what is true now.
    """
    run = get_run(services.engine, tenant_id, run_id)
    if run is None:
        raise NotFoundError(f"No sync run with id {run_id}.")
    if store.awaiting_confirmation(services.engine, tenant_id) != run_id:
        raise ConflictError(
            f"Run {run_id} is not waiting for confirmation (status {run.status!r}); "
            "only the newest run stopped in 'needs_confirmation' can be confirmed."
        )
    return run_sync(
        services,
        RunRequest(
            tenant_id,
            confirm_deactivations=True,
            trigger="confirmation",
            confirmation_of=run_id,
        ),
        progress=progress,
    )
