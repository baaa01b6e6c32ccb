"""The Graph pull sync against a 100k-user tenant of the Entra fake, served over HTTPS.

The fake runs in a process of its own (so it does not share this process's CPU
and memory with the sync), builds the benchmark tenant (100,000 users, 500
security groups, some nested, about 195,000 memberships) and serves it on
loopback with a private CA. In this process, in one run, it measures:

(a) fetch and parse only: every request a full sync makes, read and parsed, nothing applied;
(b) the full first sync into an empty store;
(c) an incremental (delta) sync after the fake changed 1% of users and memberships;
(d) the peak resident memory of this process;

plus the Graph requests of (b) and (c), and prints a table and one JSON line.

    .venv/bin/python -m bench.graph_sync [--database-url URL] [--users 100000] [--groups 500]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from gateway.clouds import CloudEndpoints
from gateway.crypto import Secret, SecretBox, generate_key
from gateway.graph.connector import GraphConnector
from gateway.graph.reads import latest_delta_link, user_pages, users_delta_url
from gateway.services import Services
from gateway.settings import Settings
from gateway.store.engine import make_engine
from gateway.store.graph_sync import VALIDATED, set_status
from gateway.store.integrations import (
    EntraCredentials,
    Preferences,
    save_integration,
    save_preferences,
)
from gateway.store.migrate import upgrade_schema
from gateway.store.tenants import create_tenant
from gateway.sync.engine import RunOutcome, RunRequest
from gateway.sync.groups import read_group_tree
from gateway.sync.mapping import source_user
from gateway.sync.prefetch import read_ahead
from gateway.sync.service import run_sync


def serve_fake(users: int, groups: int) -> None:
    """Child process: build the tenant, serve it, mutate 1% on request."""
    from tests.fakes.entra import EntraState, serve
    from tests.fakes.entra.generator import build_tenant, mutate

    state = EntraState(seed=1)
    generated = build_tenant(state, users=users, groups=groups)
    with serve(state, https=True) as served:
        info = {
            "base_url": served.base_url,
            "ca_bundle": str(served.ca_bundle),
            "tenant_id": generated.tenant.id,
            "client_id": generated.app.client_id,
            "secret": generated.app.secrets[0].value,
            "group_ids": generated.group_ids,
            "memberships": generated.memberships,
        }
        print(json.dumps(info), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "mutate":
                change = mutate(generated.tenant, share=0.01, seed=2)
                print(
                    json.dumps({"users_changed": change.users_changed, "moved": len(change.moved)}),
                    flush=True,
                )
            elif command == "requests":
                print(json.dumps({"requests": state.requests.count(prefix="/v1.0")}), flush=True)
            else:
                return


def _ask(child: subprocess.Popen[str], command: str) -> dict[str, Any]:
    stdin: IO[str] | None = child.stdin
    stdout: IO[str] | None = child.stdout
    assert stdin is not None
    assert stdout is not None
    stdin.write(command + "\n")
    stdin.flush()
    answer: dict[str, Any] = json.loads(stdout.readline())
    return answer


def _process_cpu(pid: int) -> float | None:
    """CPU seconds a process has used so far (Linux), to show what the fake costs."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else round(after - before, 2)


def _write_floor(url: str, tenant_id: str) -> dict[str, Any]:
    """(e), in a process of its own (see ``bench.write_floor``)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.write_floor", url, tenant_id],
        check=True,
        capture_output=True,
        text=True,
    )
    floor: dict[str, Any] = json.loads(done.stdout)
    return floor


def fetch_only(connector: GraphConnector, cloud: CloudEndpoints, fake: dict[str, Any]) -> int:
    """(a): the reads of a full sync, parsed into the rules' types, nothing applied."""
    client = connector.client(cloud, fake["tenant_id"], fake["client_id"], Secret(fake["secret"]))
    try:
        client.check_access()
        latest_delta_link(client, users_delta_url())
        tree = read_group_tree(client, fake["group_ids"])
        scope: set[str] = set()
        for group_id in fake["group_ids"]:
            if group_id in tree.names:
                scope |= tree.transitive_users(group_id)
        parsed = 0
        for page in read_ahead(user_pages(client)):
            parsed += sum(1 for item in page if item.get("id") in scope and source_user(item))
        return client.stats.requests
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an empty database (default: SQLite in a temp dir)")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.users, args.groups)
        return

    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.graph_sync",
            "--serve-fake",
            "--users",
            str(args.users),
            "--groups",
            str(args.groups),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        fake: dict[str, Any] = json.loads(child.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
            run(args, fake, child, Path(tmp))
    finally:
        if child.poll() is None:
            assert child.stdin is not None
            child.stdin.write("quit\n")
            child.stdin.flush()
            child.wait(timeout=30)


def run(
    args: argparse.Namespace, fake: dict[str, Any], child: subprocess.Popen[str], tmp: Path
) -> None:
    url = args.database_url or f"sqlite:///{tmp / 'gateway.db'}"
    engine = make_engine(url)
    upgrade_schema(engine)
    settings = Settings(database_url=url, ca_bundle=fake["ca_bundle"])
    cloud = CloudEndpoints(fake["base_url"], fake["base_url"])
    connector = GraphConnector(ca_bundle=fake["ca_bundle"])
    box = SecretBox.from_keys([generate_key()])
    services = Services(settings=settings, engine=engine, secrets=box, graph=connector)
    tenant_id = create_tenant(engine, "Bench", actor="bench").id
    save_integration(
        engine,
        box,
        tenant_id,
        EntraCredentials(fake["tenant_id"], fake["client_id"], Secret(fake["secret"]), cloud),
        actor="bench",
    )
    set_status(engine, tenant_id, VALIDATED, None)
    save_preferences(
        engine, tenant_id, Preferences(True, tuple(fake["group_ids"]), ()), actor="bench"
    )

    # CPU seconds of this process beside wall time: the fake serves from another
    # process, so on a 2-core machine a step whose CPU time nears its wall time
    # is bound by this process's one core, not by waiting for Graph.
    fake_cpu = _process_cpu(child.pid)
    started, cpu = time.perf_counter(), time.process_time()
    fetch_requests = fetch_only(connector, cloud, fake)
    fetch_seconds = time.perf_counter() - started
    fetch_cpu = time.process_time() - cpu
    fake_cpu_a = _delta(_process_cpu(child.pid), fake_cpu)

    fake_cpu = _process_cpu(child.pid)
    started, cpu = time.perf_counter(), time.process_time()
    full = run_sync(services, RunRequest(tenant_id, trigger="bench"))
    full_seconds = time.perf_counter() - started
    full_cpu = time.process_time() - cpu
    fake_cpu_b = _delta(_process_cpu(child.pid), fake_cpu)
    _check(full, "full")
    floor = _write_floor(url, tenant_id) if engine.dialect.name == "sqlite" else None

    mutation = _ask(child, "mutate")
    started, cpu = time.perf_counter(), time.process_time()
    delta = run_sync(services, RunRequest(tenant_id, trigger="bench"))
    delta_seconds = time.perf_counter() - started
    delta_cpu = time.process_time() - cpu
    _check(delta, "delta")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    result = {
        "database": engine.dialect.name,
        "users": args.users,
        "groups": len(fake["group_ids"]),
        "memberships": fake["memberships"],
        "synced_users": full.counts.get("user_created", 0),
        "a_fetch_parse_seconds": round(fetch_seconds, 2),
        "a_cpu_seconds": round(fetch_cpu, 2),
        "a_requests": fetch_requests,
        "a_fake_cpu_seconds": fake_cpu_a,
        "b_full_sync_seconds": round(full_seconds, 2),
        "b_cpu_seconds": round(full_cpu, 2),
        "b_requests": full.report.get("graph_requests"),
        "b_fake_cpu_seconds": fake_cpu_b,
        "b_over_a": round(full_seconds / fetch_seconds, 2),
        "b_target_seconds": round(1.5 * fetch_seconds, 2),
        "e_write_floor": floor,
        "c_delta_sync_seconds": round(delta_seconds, 2),
        "c_cpu_seconds": round(delta_cpu, 2),
        "c_requests": delta.report.get("graph_requests"),
        "c_share_of_b": round(delta_seconds / full_seconds, 3),
        "c_changes": {k: v for k, v in delta.counts.items() if v},
        "fake_mutation": mutation,
        "d_peak_rss_mb": round(peak_mb),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "timings_b": full.report.get("timings"),
        "timings_c": delta.report.get("timings"),
    }
    rows = [
        ("(a) fetch + parse only", fetch_seconds, fetch_cpu, fetch_requests),
        ("(b) full first sync", full_seconds, full_cpu, result["b_requests"]),
        ("(c) delta sync after 1% change", delta_seconds, delta_cpu, result["c_requests"]),
    ]
    print(f"{'step':<32} {'seconds':>8} {'cpu s':>8} {'requests':>9}")
    for name, seconds, cpu_seconds, requests in rows:
        print(f"{name:<32} {seconds:>8.2f} {cpu_seconds:>8.2f} {requests:>9}")
    print(f"the fake's CPU seconds: (a) {fake_cpu_a}, (b) {fake_cpu_b}")
    print(f"(b)/(a) = {result['b_over_a']}, (c)/(b) = {result['c_share_of_b']}")
    if floor is not None:
        print(
            f"(e) write floor {floor['seconds']:.2f} s "
            f"({floor['without_audit_seconds']:.2f} s without the audit entries): SQLite "
            f"alone writing the rows of (b), against the (b) target of "
            f"{result['b_target_seconds']:.2f} s"
        )
    print(f"(d) peak RSS {result['d_peak_rss_mb']} MB; load average {result['load_average']}")
    print(json.dumps(result))
    engine.dispose()


def _check(outcome: RunOutcome, what: str) -> None:
    if outcome.status != "succeeded":
        raise SystemExit(f"{what} sync ended {outcome.status}: {outcome.error}")


if __name__ == "__main__":
    main()
