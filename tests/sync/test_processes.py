"""Two real gateway processes on one PostgreSQL: one syncs a tenant at a time, and a
killed process's run is taken over within the lease time."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update

from gateway.crypto import generate_key
from gateway.store import leases
from gateway.store.engine import make_engine
from gateway.store.integrations import (
    Preferences,
    save_preferences,
)
from gateway.store.leases import LeaseKind
from gateway.store.migrate import upgrade_schema
from gateway.store.queries import table
from gateway.store.runs import RunRecord, list_runs
from tests.fakes.entra import EntraState, ServedFake
from tests.sync.served import connect_served_fake, gateway_environment

pytestmark = pytest.mark.postgres

LEASE_SECONDS = 3
TICK_SECONDS = 0.3


def _wait(what: str, check: Callable[[], Any], timeout: float, logs: list[Path]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(
        f"timed out waiting for {what}:\n" + "\n".join(p.read_text() for p in logs)
    )


def _runs(engine: Engine, tenant_id: str) -> list[RunRecord]:
    return sorted(list_runs(engine, tenant_id).items, key=lambda r: r.id)


@pytest.fixture
def gateways(
    tmp_path: Path, empty_postgres_url: str, entra_state: EntraState, entra_https: ServedFake
) -> Iterator[tuple[Engine, str, dict[int, subprocess.Popen[bytes]], list[Path]]]:
    entra = entra_state.add_tenant("Contoso")
    app = entra.add_app()
    group = entra.create_group("Sales")
    for i in range(40):
        user = entra.create_user(f"U {i}", user_principal_name=f"u{i}@{entra.default_domain}")
        entra.add_member(group["id"], user["id"])
    key = generate_key()
    engine = make_engine(empty_postgres_url)
    upgrade_schema(engine)
    tenant_id = connect_served_fake(
        engine, key, entra, app.client_id, app.secrets[0].value, entra_https
    )
    # Every run is slow: the users read is throttled, so the runs would overlap.
    entra_state.faults.throttle(times=3, retry_after=1, path=r"^/v1\.0/users$")
    save_preferences(engine, tenant_id, Preferences(True, (group["id"],), ()), actor="test")
    env = gateway_environment(
        empty_postgres_url,
        key,
        entra_https,
        sync_scheduler_tick_seconds=str(TICK_SECONDS),
        sync_lease_seconds=str(LEASE_SECONDS),
    )
    processes: dict[int, subprocess.Popen[bytes]] = {}
    logs: list[Path] = []
    for n in range(2):
        log = tmp_path / f"gateway-{n}.log"
        logs.append(log)
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "serve", "--port", "0"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes[process.pid] = process
    try:
        yield engine, tenant_id, processes, logs
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            process.wait(timeout=30)
        engine.dispose()


def test_one_process_at_a_time_and_a_killed_run_is_taken_over(
    gateways: tuple[Engine, str, dict[int, subprocess.Popen[bytes]], list[Path]],
    entra_state: EntraState,
) -> None:
    engine, tenant_id, processes, logs = gateways

    def finished() -> list[RunRecord]:
        return [r for r in _runs(engine, tenant_id) if r.finished_at is not None]

    _wait("the first scheduled run", finished, 60, logs)
    # Both processes were ticking all along; the lease let only one run.
    time.sleep(1.5)
    runs = _runs(engine, tenant_id)
    assert [r.status for r in runs] == ["succeeded"], [(r.status, r.error) for r in runs]
    assert all(p.poll() is None for p in processes.values())

    # Make the tenant due again, then kill whichever process takes the run.
    sync_runs = table("sync_runs")
    with engine.begin() as conn:
        conn.execute(
            update(sync_runs)
            .where(sync_runs.c.tenant_id == tenant_id)
            .values(finished_at=runs[0].started_at - timedelta(minutes=60))
        )
    entra_state.faults.throttle(times=None, retry_after=2, path=r"^/v1\.0/users$")
    holder = _wait(
        "a process to take the lease",
        lambda: leases.current(engine, LeaseKind.GRAPH_SYNC, tenant_id)[0],
        30,
        logs,
    )
    victim = processes[int(holder.split(":")[1])]
    _wait("the second run to start", lambda: len(_runs(engine, tenant_id)) == 2, 30, logs)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = time.monotonic()

    def taken_over() -> str | None:
        current, _ = leases.current(engine, LeaseKind.GRAPH_SYNC, tenant_id)
        return current if current is not None and current != holder else None

    survivor = _wait("the other process to take over", taken_over, 30, logs)
    took = time.monotonic() - killed_at
    entra_state.faults.clear()
    done = _wait(
        "the taken-over run",
        lambda: [r for r in _runs(engine, tenant_id)[2:] if r.status == "succeeded"],
        60,
        logs,
    )

    statuses = [r.status for r in _runs(engine, tenant_id)]
    assert statuses[:2] == ["succeeded", "abandoned"]
    assert done
    assert survivor.split(":")[1] != holder.split(":")[1]
    # Bounded: the lease, one tick, and a little slack.
    assert took <= LEASE_SECONDS + TICK_SECONDS + 3
