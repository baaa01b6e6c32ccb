"""Benchmark: the SSO callback's own time once Entra has answered (keys cached).

Usage: python -m bench.sso_callback [--database-url URL] [--rounds N] [--users N]

Runs the ``/user/external`` application in process with Entra replaced by a
fake that answers at once (its discovery document, keys and token endpoint,
as an httpx transport), so nothing but the gateway's own work is timed: state
lookup and single-use removal, decrypting the client secret, building the
code redemption, ID-token validation (RS256 signature and every claim
check), the rule-12 look-ups, the session and the audit entry. Each round
first starts a sign-in (not timed) and signs an ID token for its nonce (not
timed), then times the callback request inside the server (from the ASGI call
to the end of the response). Time spent inside the fake's token endpoint is
subtracted: that is the identity provider's, not ours.

Prints one JSON object: median, p90, p99, min and max in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import update
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.clouds import CloudEndpoints
from gateway.crypto import Secret, SecretBox, generate_key
from gateway.identity.model import Source, SourceUser
from gateway.services import Services
from gateway.settings import Settings
from gateway.store.apply import apply_state
from gateway.store.engine import make_engine
from gateway.store.integrations import EntraCredentials, save_integration
from gateway.store.migrate import upgrade_schema
from gateway.store.queries import table
from gateway.store.tenants import create_tenant
from sso import build_sso_app, sso_root_routes

ENTRA_TENANT = "5b1d7a3e-7c1f-4e8a-9d2b-3f6a1c0e9d41"
CLIENT_ID = "3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8"
LOGIN = "https://login.bench.invalid"
ISSUER = f"{LOGIN}/{ENTRA_TENANT}/v2.0"
GATEWAY = "https://auth.bench.invalid"


class FakeEntra:
    """Answers discovery, keys and the token endpoint from memory."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "bench-1", "alg": "RS256"})
        self.tokens: dict[str, str] = {}
        self.seconds_inside = 0.0

    def handle(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            return self._answer(request)
        finally:
            self.seconds_inside += time.perf_counter() - started

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{ISSUER}/oauth2/v2.0/token",
                    "jwks_uri": f"{LOGIN}/{ENTRA_TENANT}/discovery/v2.0/keys",
                    "end_session_endpoint": f"{ISSUER}/oauth2/v2.0/logout",
                },
            )
        if path.endswith("/keys"):
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        code = parse_qs(request.content.decode())["code"][0]
        return httpx.Response(200, json={"token_type": "Bearer", "id_token": self.tokens.pop(code)})

    def id_token(self, nonce: str, user: int) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "ver": "2.0",
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "tid": ENTRA_TENANT,
            "oid": f"oid-{user}",
            "sub": f"sub-{user}",
            "preferred_username": f"user{user}@contoso.example",
            "nonce": nonce,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        }
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)


def _seed(services: Services, users: int) -> str:
    engine = services.engine
    tenant = create_tenant(engine, "Bench", actor="bench").id
    save_integration(
        engine,
        services.secrets,
        tenant,
        EntraCredentials(
            entra_tenant_id=ENTRA_TENANT,
            client_id=CLIENT_ID,
            client_secret=Secret("bench-client-secret"),
            cloud=CloudEndpoints(login_url=LOGIN, graph_url="https://graph.bench.invalid"),
        ),
        actor="bench",
    )
    with engine.begin() as conn:
        conn.execute(
            update(table("integrations"))
            .where(table("integrations").c.tenant_id == tenant)
            .values(status="validated")
        )
    people = [
        SourceUser(
            f"oid-{i}",
            f"user{i}@contoso.example",
            f"user{i}@contoso.example",
            f"User {i}",
            True,
            f"oid-{i}",
        )
        for i in range(users)
    ]
    apply_state(engine, tenant, Source.GRAPH, users=people, groups=[], complete=True)
    return tenant


class ServerClock:
    """ASGI wrapper timing each request from the app's call to its last response
    message: the server's own time, without the benchmark client's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        await self.app(scope, receive, send)
        self.last = time.perf_counter() - started


async def _run(
    services: Services, tenant: str, rounds: int, users: int
) -> tuple[list[float], list[float]]:
    entra = FakeEntra()
    async with httpx.AsyncClient(transport=httpx.MockTransport(entra.handle)) as entra_http:
        sso = build_sso_app(services, http=entra_http)
        app = Starlette(routes=[Mount("/user/external", app=sso), *sso_root_routes(sso)])
        server = ServerClock(app)
        transport = httpx.ASGITransport(app=server)
        timings: list[float] = []
        cpu: list[float] = []
        async with httpx.AsyncClient(transport=transport, base_url=GATEWAY) as browser:
            for n in range(rounds):
                start = await browser.get(f"/user/external/login?tenant={tenant}")
                authorize = parse_qs(urlsplit(start.headers["location"]).query)
                code = f"code-{n}"
                entra.tokens[code] = entra.id_token(authorize["nonce"][0], n % users)
                url = f"/user/external?code={code}&state={authorize['state'][0]}"
                entra.seconds_inside = 0.0
                cpu_started = time.process_time()
                answer = await browser.get(url)
                elapsed = server.last - entra.seconds_inside
                cpu.append(time.process_time() - cpu_started)
                if answer.status_code != 303:
                    raise RuntimeError(f"callback answered {answer.status_code}: {answer.text}")
                timings.append(elapsed)
        await sso.state.sso.aclose()
    return timings, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{Path(scratch) / 'bench.db'}"
        engine = make_engine(url)
        upgrade_schema(engine)
        settings = Settings(database_url=url, public_url=GATEWAY, secret_keys=generate_key())
        services = Services(
            settings=settings,
            engine=engine,
            secrets=SecretBox.from_keys(settings.secret_key_list()),
        )
        tenant = _seed(services, args.users)
        timings, cpu = asyncio.run(_run(services, tenant, args.warmup + args.rounds, args.users))
        engine.dispose()
    measured = sorted(t * 1000 for t in timings[args.warmup :])
    cpu_ms = sorted(t * 1000 for t in cpu[args.warmup :])
    quantiles = statistics.quantiles(measured, n=100)
    print(
        json.dumps(
            {
                "benchmark": "sso_callback",
                "backend": make_engine(url).dialect.name,
                "users_in_tenant": args.users,
                "rounds": len(measured),
                "median_ms": round(statistics.median(measured), 3),
                "p90_ms": round(quantiles[89], 3),
                "p99_ms": round(quantiles[98], 3),
                "min_ms": round(measured[0], 3),
                "max_ms": round(measured[-1], 3),
                # CPU time of the whole process (all threads, the benchmark's client
                # and the fake Entra included) per callback request.
                "cpu_median_ms": round(statistics.median(cpu_ms), 3),
                "load_average_1m": round(os.getloadavg()[0], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
