"""Benchmark: this SCIM server against the reference ``scim2-server``, over loopback HTTP.

Usage: python -m bench.scim_load [--users 2000] [--groups 20] [--concurrency 8]
       [--removals 500] [--page-rounds 5] [--only ours|peer]

Both servers run as their own process under uvicorn (one worker, the same
server stack): this service as ``timus-gateway`` serves it (``create_app``,
SQLite in WAL mode with ``synchronous=NORMAL`` in a temporary directory, the
identity applier on), and scim2-server's ASGI application over its in-memory
storage. The same Entra-shaped workload runs against each, ``--concurrency``
requests in flight, sent by as many client processes with one keep-alive
connection each. Per operation it prints the server's CPU time per request
(user + system time of the server process from ``/proc/<pid>/stat``, so the
load generator's own CPU is not counted; this server's background identity
applies are included, as the CPU they take until the server has been idle for
longer than its identity apply delay after the phase, so that each phase's
applies count with it), throughput, p50/p99 latency as the client sees it,
and errors.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
HEADERS = {"Content-Type": "application/scim+json"}

OURS = textwrap.dedent(
    """
    import sys, uvicorn
    from gateway.app import create_app
    from gateway.settings import Settings
    settings = Settings(database_url=sys.argv[2], secret_keys=sys.argv[3],
                        scim_rate_limit_per_second=100000, scim_rate_limit_burst=100000)
    uvicorn.run(create_app(settings), fd=int(sys.argv[1]), log_level="warning",
                access_log=False)
    """
)

PEER = textwrap.dedent(
    """
    import sys, uvicorn
    from scim2_models import ScimProvider
    from scim2_server.applications.asgi import ASGIApplication
    from scim2_server.memory import AsyncInMemoryStorage
    from scim2_server.service import ScimService
    from scim2_server.utils import (load_default_resource_types, load_default_schemas,
                                    load_default_service_provider_config)
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(),
        config=load_default_service_provider_config())
    app = ASGIApplication(AsyncInMemoryStorage(), provider, ScimService(provider, secret="b" * 32))
    uvicorn.run(app, fd=int(sys.argv[1]), log_level="warning", access_log=False)
    """
)


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    token: str | None
    # Idle seconds that end a phase. This service applies a phase's identity
    # changes in the background after gathering them for its apply delay, idle
    # meanwhile: a shorter wait would count them in the next phase.
    settle: float = 0.3

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process (all its threads)."""
        with open(f"/proc/{self.process.pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall: float = 0.0
    cpu: float = 0.0

    def row(self) -> dict[str, Any]:
        ops = len(self.latencies)
        ordered = sorted(self.latencies)
        return {
            "operation": self.name,
            "requests": ops,
            "errors": self.errors,
            "server_cpu_ms_per_op": round(self.cpu * 1000 / ops, 3) if ops else None,
            "throughput_per_s": round(ops / self.wall, 1) if self.wall else None,
            "p50_ms": round(statistics.median(ordered) * 1000, 2) if ops else None,
            "p99_ms": round(ordered[min(ops - 1, int(ops * 0.99))] * 1000, 2) if ops else None,
        }


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Served from a socket handed over by descriptor, uvloop leaves Nagle's
    # algorithm on for accepted connections (it turns it off when uvicorn binds
    # the host and port itself, as ``timus-gateway serve`` does), and uvicorn
    # writes a response's headers and body separately: the body then waits for
    # the client's delayed ACK, 40 ms on Linux. Accepted sockets inherit the
    # option from the listening one on Linux, so both servers get it here.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@contextmanager
def serve(name: str, workdir: Path) -> Iterator[Server]:
    sock = _listening_socket()
    port = sock.getsockname()[1]
    token: str | None = None
    if name == "ours":
        url, keys, token = _prepare_store(workdir)
        argv = [sys.executable, "-c", OURS, str(sock.fileno()), url, keys]
        base = f"http://127.0.0.1:{port}/scim/v2"
    else:
        argv = [sys.executable, "-c", PEER, str(sock.fileno())]
        base = f"http://127.0.0.1:{port}/v2"
    process = subprocess.Popen(argv, pass_fds=(sock.fileno(),))
    sock.close()
    server = Server(name, process, base, token)
    if name == "ours":
        from gateway.settings import Settings

        delay = Settings(database_url=url, secret_keys=keys).scim_identity_apply_delay_seconds
        server.settle = delay + 0.5
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _prepare_store(workdir: Path) -> tuple[str, str, str]:
    from gateway.crypto import generate_key
    from gateway.store.engine import make_engine
    from gateway.store.migrate import upgrade_schema
    from gateway.store.tenants import create_tenant
    from gateway.store.tokens import create_token

    url = f"sqlite:///{workdir / 'gateway.db'}"
    engine = make_engine(url)
    upgrade_schema(engine)
    tenant = create_tenant(engine, "bench", actor="bench")
    _, token = create_token(engine, tenant_id=tenant.id, kind="scim", actor="bench")
    engine.dispose()
    return url, generate_key(), token


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + 60
    headers = {"Authorization": f"Bearer {server.token}"} if server.token else {}
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} server exited with {server.process.returncode}")
        try:
            answer = httpx.get(f"{server.base_url}/ServiceProviderConfig", headers=headers)
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} server did not answer in time")


def entra_user(i: int, run: str) -> dict[str, Any]:
    name = f"user{i:05d}.{run}@contoso.com"
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": str(uuid.uuid4()),
        "userName": name,
        "active": True,
        "displayName": f"User {i}",
        "emails": [{"primary": True, "type": "work", "value": name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": f"User {i}", "familyName": f"{i}", "givenName": "User"},
        "title": "Engineer",
        "addresses": [{"type": "work", "locality": "Seattle", "country": "US"}],
        "phoneNumbers": [{"type": "work", "value": f"+1 555 {i:04d}"}],
        ENTERPRISE: {"department": "R&D", "employeeNumber": str(i)},
    }


# -- the load generator ----------------------------------------------------------
# One asyncio client on httpx spends more CPU per request than either server,
# so with eight requests in flight it measured its own queue. The requests are
# instead sent by ``concurrency`` client processes, one keep-alive connection
# each, on the standard library's HTTP client; bodies and URLs are built before
# the clock starts, and latency is taken in the client around each request.


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str  # path and query, already encoded
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    index: int
    status: int  # 0 when the request failed before an answer
    seconds: float
    body: bytes | None  # kept only when the phase asks for it


_client: dict[str, Any] = {}


def _client_start(host: str, port: int, headers: dict[str, str]) -> None:
    _client.update(host=host, port=port, headers=headers, connection=None, phase=None)


def _client_send(job: tuple[int, str, Request, bool]) -> Answer:
    index, phase, request, keep = job
    if _client["phase"] != phase or _client["connection"] is None:
        # A fresh connection per phase: the server closes idle ones between phases.
        if _client["connection"] is not None:
            _client["connection"].close()
        _client["connection"] = http.client.HTTPConnection(
            _client["host"], _client["port"], timeout=60
        )
        _client["phase"] = phase
    connection = _client["connection"]
    began = time.perf_counter()
    try:
        connection.request(request.method, request.url, request.body, _client["headers"])
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException):
        connection.close()
        _client["connection"] = None
        return Answer(index, 0, time.perf_counter() - began, None)
    return Answer(index, response.status, time.perf_counter() - began, body if keep else None)


class Load:
    """``concurrency`` client processes, each with one request in flight."""

    def __init__(self, server: Server, concurrency: int) -> None:
        self.server = server
        self.concurrency = concurrency
        self.prefix = urlsplit(server.base_url).path
        headers = dict(HEADERS)
        if server.token:
            headers["Authorization"] = f"Bearer {server.token}"
        address = urlsplit(server.base_url)
        self.pool = multiprocessing.get_context("fork").Pool(
            concurrency,
            initializer=_client_start,
            initargs=(address.hostname, address.port, headers),
        )

    def close(self) -> None:
        self.pool.close()
        self.pool.join()

    def phase(
        self, name: str, requests: list[Request], ok: set[int], *, keep: bool = False
    ) -> tuple[Phase, list[Answer]]:
        phase = Phase(name)
        jobs = [
            (i, name, Request(r.method, self.prefix + r.url, r.body), keep)
            for i, r in enumerate(requests)
        ]
        # Small chunks keep every client busy to the end of the phase.
        chunk = max(1, min(8, len(jobs) // (self.concurrency * 8)))
        cpu_before = self.server.cpu_seconds()
        start = time.perf_counter()
        answers = list(self.pool.imap_unordered(_client_send, jobs, chunksize=chunk))
        phase.wall = time.perf_counter() - start
        phase.cpu = self._settled_cpu() - cpu_before
        answers.sort(key=lambda a: a.index)
        for answer in answers:
            if answer.status == 0:
                phase.errors += 1
                continue
            phase.latencies.append(answer.seconds)
            if answer.status not in ok:
                phase.errors += 1
        return phase, answers

    def _settled_cpu(self) -> float:
        """The server's CPU once it has been idle for ``server.settle`` seconds
        (its background work included)."""
        last = self.server.cpu_seconds()
        idle_since = time.perf_counter()
        while True:
            time.sleep(0.1)
            now = self.server.cpu_seconds()
            if now - last >= 0.005:
                last, idle_since = now, time.perf_counter()
            elif time.perf_counter() - idle_since >= self.server.settle:
                return now


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


def _query(path: str, params: dict[str, Any]) -> str:
    return f"{path}?{urlencode(params)}"


def workload(server: Server, args: argparse.Namespace) -> list[dict[str, Any]]:
    load = Load(server, args.concurrency)
    try:
        return _run_workload(load, args)
    finally:
        load.close()


def _created_ids(answers: list[Answer]) -> list[str]:
    return [json.loads(a.body)["id"] for a in answers if a.status == 201 and a.body]


def _run_workload(load: Load, args: argparse.Namespace) -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:6]
    users = [entra_user(i, run) for i in range(args.users)]
    rows: list[dict[str, Any]] = []

    def patch(path: str, ops: list[dict[str, Any]]) -> Request:
        return Request("PATCH", path, _json({"schemas": [PATCH_OP], "Operations": ops}))

    phase, answers = load.phase(
        "create user", [Request("POST", "/Users", _json(u)) for u in users], {201}, keep=True
    )
    rows.append(phase.row())
    ids = _created_ids(answers)

    phase, _ = load.phase(
        "lookup by userName filter",
        [
            Request("GET", _query("/Users", {"filter": f'userName eq "{u["userName"]}"'}))
            for u in users
        ],
        {200},
    )
    rows.append(phase.row())

    phase, _ = load.phase(
        "PATCH user",
        [
            patch(
                f"/Users/{uid}",
                [
                    {"op": "replace", "path": "displayName", "value": f"Renamed {i}"},
                    {"op": "replace", "path": "title", "value": "Senior Engineer"},
                ],
            )
            for i, uid in enumerate(ids)
        ],
        {200, 204},
    )
    rows.append(phase.row())

    groups = [
        {"schemas": [GROUP_SCHEMA], "displayName": f"Group {g} {run}"} for g in range(args.groups)
    ]
    phase, answers = load.phase(
        "create group", [Request("POST", "/Groups", _json(g)) for g in groups], {201}, keep=True
    )
    rows.append(phase.row())
    group_ids = _created_ids(answers)

    def add_members(group_id: str, members: list[str]) -> Request:
        value = [{"value": u} for u in members]
        return patch(f"/Groups/{group_id}", [{"op": "add", "path": "members", "value": value}])

    member_jobs = []
    big = group_ids[0]
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        member_jobs.append(add_members(big, chunk))
    per_group = max(1, len(ids) // max(1, len(group_ids) - 1))
    for g, gid in enumerate(group_ids[1:]):
        chunk = ids[g * per_group : (g + 1) * per_group][:1000]
        member_jobs.append(add_members(gid, chunk))
    phase, _ = load.phase("PATCH group: add up to 1,000 members", member_jobs, {200, 204})
    rows.append(phase.row())

    removed = ids[: args.removals]
    phase, _ = load.phase(
        "PATCH group: remove one member of 2,000",
        [
            patch(f"/Groups/{big}", [{"op": "remove", "path": f'members[value eq "{u}"]'}])
            for u in removed
        ],
        {200, 204},
    )
    rows.append(phase.row())

    pages = [
        Request("GET", _query("/Users", {"startIndex": start, "count": 100}))
        for _ in range(args.page_rounds)
        for start in range(1, len(ids) + 1, 100)
    ]
    phase, _ = load.phase("list a page of 100 users", pages, {200})
    rows.append(phase.row())

    phase, _ = load.phase("delete user", [Request("DELETE", f"/Users/{u}") for u in ids], {204})
    rows.append(phase.row())
    phase, _ = load.phase(
        "delete group", [Request("DELETE", f"/Groups/{g}") for g in group_ids], {204}
    )
    rows.append(phase.row())
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--removals", type=int, default=500)
    parser.add_argument("--page-rounds", type=int, default=5)
    parser.add_argument("--only", choices=("ours", "peer"))
    args = parser.parse_args()
    report: dict[str, Any] = {"settings": vars(args)}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("ours", "peer"):
            if args.only and args.only != name:
                continue
            with serve(name, Path(tmp)) as server:
                report[name] = workload(server, args)
    if "ours" in report and "peer" in report:
        report["cpu_ratio_peer_over_ours"] = {
            mine["operation"]: (
                round(theirs["server_cpu_ms_per_op"] / mine["server_cpu_ms_per_op"], 1)
                if mine["server_cpu_ms_per_op"] and theirs["server_cpu_ms_per_op"]
                else None
            )
            for mine, theirs in zip(report["ours"], report["peer"], strict=True)
        }
    print(json.dumps(report, indent=2))
    _print_table(report)


def _print_table(report: dict[str, Any]) -> None:
    names = [n for n in ("ours", "peer") if n in report]
    header = (
        "| operation | "
        + " | ".join(
            f"{n} CPU ms/op | {n} req/s | {n} p50 ms | {n} p99 ms | {n} errors" for n in names
        )
        + " |"
    )
    print(header, file=sys.stderr)
    print("|" + " --- |" * (1 + 5 * len(names)), file=sys.stderr)
    for i, row in enumerate(report[names[0]]):
        cells = [row["operation"]]
        for n in names:
            r = report[n][i]
            cells += [
                str(r["server_cpu_ms_per_op"]),
                str(r["throughput_per_s"]),
                str(r["p50_ms"]),
                str(r["p99_ms"]),
                str(r["errors"]),
            ]
        print("| " + " | ".join(cells) + " |", file=sys.stderr)


if __name__ == "__main__":
    main()
