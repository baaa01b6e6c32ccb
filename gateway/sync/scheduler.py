"""Runs each enabled integration with sync on at its interval, in whichever process
holds the tenant's lease (see :mod:`gateway.sync.lease`).

A tick looks for integrations that are due; each due one runs in a worker
thread under the lease, so two processes never sync one tenant at once, and a
crashed process's tenant is taken over once its lease expires. A run that
stopped at the deactivation threshold waits for an admin instead of running
again.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from gateway.errors import ConflictError
from gateway.services import Services
from gateway.store import graph_sync as store
from gateway.store import leases
from gateway.store.leases import LeaseKind
from gateway.store.tables import utcnow
from gateway.sync.engine import RunRequest, when_due
from gateway.sync.service import run_sync

logger = logging.getLogger("gateway.sync.scheduler")

RUN_WORKERS = 2


class Scheduler:
    """A background thread ticking every ``sync_scheduler_tick_seconds``."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.tick_seconds = services.settings.sync_scheduler_tick_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=RUN_WORKERS, thread_name_prefix="sync-run")
        self._running: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sync-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop ticking; running jobs end cleanly at their next page, applying nothing."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def wait_for_runs(self, timeout: float | None = None) -> None:
        """Block until the runs started so far have ended."""
        with self._lock:
            futures = list(self._running.values())
        for future in futures:
            future.result(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                logger.exception("sync scheduler tick failed; trying again next tick")
            self._stop.wait(self.tick_seconds)

    def tick(self) -> list[str]:
        """Start a run for every due integration not running here; returns their tenant ids."""
        engine = self.services.engine
        started = []
        for integration in store.integrations_to_sync(engine):
            tenant_id = integration.tenant_id
            with self._lock:
                if tenant_id in self._running:
                    continue
            if store.awaiting_confirmation(engine, tenant_id) is not None:
                continue
            due = when_due(store.last_finished_at(engine, tenant_id), integration.interval_minutes)
            if due is not None and due > utcnow():
                continue
            holder, expires = leases.current(engine, LeaseKind.GRAPH_SYNC, tenant_id)
            if holder is not None and expires is not None and expires > utcnow():
                continue
            with self._lock:
                self._running[tenant_id] = self._pool.submit(self._run, tenant_id)
            started.append(tenant_id)
        return started

    def _run(self, tenant_id: str) -> None:
        try:
            outcome = run_sync(
                self.services,
                RunRequest(tenant_id, trigger="schedule"),
                scheduled=True,
                stop=self._stop,
            )
            logger.info(
                "scheduled sync of tenant %s: %s %s (%s)",
                tenant_id,
                outcome.kind,
                outcome.status,
                outcome.error or "no error",
            )
        except ConflictError:
            # Another process won the lease between our check and our attempt.
            pass
        except Exception:
            logger.exception("scheduled sync of tenant %s failed", tenant_id)
        finally:
            with self._lock:
                self._running.pop(tenant_id, None)
