"""The assembled app: health, readiness, metrics, error bodies and start-up checks."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from gateway.app import UnhandledErrorMiddleware, create_app
from gateway.crypto import KeyConfigError, SecretBox, generate_key
from gateway.observability import JsonFormatter, KeyValueFormatter, scrub
from gateway.settings import Settings
from gateway.store.engine import make_engine
from gateway.store.migrate import SchemaNotCurrentError, upgrade_schema
from gateway.store.tables import metadata, utcnow
from tests import store_seed as seed

pytestmark = pytest.mark.anyio

ERROR_KEYS = {"code", "message", "details"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _settings(tmp_path: Path, *, migrate: bool = True, keys: str | None = None) -> Settings:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    if migrate:
        engine = make_engine(url)
        upgrade_schema(engine)
        engine.dispose()
    return Settings(
        database_url=url,
        var_dir=tmp_path / "var",
        secret_keys=keys or generate_key(),
    )


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(_settings(tmp_path))
    async with app.router.lifespan_context(app), _client(app) as client:
        yield client


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_when_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_503_when_database_unreachable(tmp_path: Path) -> None:
    # Nothing listens on port 1; the app is built without touching the database.
    settings = Settings(
        database_url="postgresql+psycopg://gw:pw-not-to-leak@127.0.0.1:1/gw",
        var_dir=tmp_path,
        secret_keys=generate_key(),
    )
    app = create_app(settings)
    async with _client(app) as client:
        response = await client.get("/readyz")
        health = await client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert set(body["error"]) == ERROR_KEYS
    assert body["error"]["code"] == "not_ready"
    assert "pw-not-to-leak" not in response.text
    assert "127.0.0.1" not in response.text
    assert health.status_code == 200


async def test_unknown_route_and_method_are_json_errors(client: httpx.AsyncClient) -> None:
    missing = await client.get("/no/such/thing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert set(missing.json()["error"]) == ERROR_KEYS
    wrong_method = await client.post("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["allow"]


async def test_admin_api_is_mounted(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    unauthenticated = await client.get("/api/v1/tenants/abc")
    assert unauthenticated.status_code == 401


async def test_metrics_use_route_templates(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/healthz")
    await client.get("/api/v1/tenants/0123456789abcdef", headers={"Authorization": "Bearer x"})
    await client.get("/no/such/thing/42")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'gateway_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    assert 'route="/api/v1/tenants/{tenant_id}",status="401"' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "gateway_http_request_duration_seconds_bucket" in text
    assert "0123456789abcdef" not in text
    assert "/42" not in text


async def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first, second = create_app(settings), create_app(settings)
    async with _client(first) as client:
        await client.get("/healthz")
    async with _client(second) as client:
        text = (await client.get("/metrics")).text
    assert 'route="/healthz"' not in text


async def test_unhandled_error_is_bare_500_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(_settings(tmp_path))

    async def boom(_request: Request) -> Response:
        raise RuntimeError("db password=hunter2 at /srv/secret/path")

    app.router.routes.append(Route("/boom", boom))
    with caplog.at_level(logging.ERROR, logger="gateway.app"):
        async with _client(app) as client:
            response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "Internal error; the operator can find it in the log.",
            "details": None,
        }
    }
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert any(r.exc_info for r in caplog.records)


async def test_unhandled_error_after_response_started_is_not_reraised() -> None:
    async def half(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("late")

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "GET", "path": "/half", "headers": []}
    await UnhandledErrorMiddleware(half)(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start"]


async def test_startup_refuses_unmigrated_database(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, migrate=False))
    with pytest.raises(SchemaNotCurrentError, match="timus-gateway db upgrade"):
        async with app.router.lifespan_context(app):
            pass


async def test_startup_refuses_keys_that_do_not_cover_store(tmp_path: Path) -> None:
    old_key = generate_key()
    settings = _settings(tmp_path, keys=old_key)
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(
            insert(metadata.tables["tenants"]).values(id="t1", name="t", created_at=utcnow())
        )
        key_id = seed.encrypted_integration(conn, SecretBox.from_keys([old_key]), "t1", "s")
    engine.dispose()
    new_key = generate_key()
    app = create_app(_settings(tmp_path, migrate=False, keys=new_key))
    with pytest.raises(KeyConfigError, match=key_id) as info:
        async with app.router.lifespan_context(app):
            pass
    assert old_key not in str(info.value)
    assert new_key not in str(info.value)


async def test_access_log_has_no_headers_or_query(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        await client.get(
            "/api/v1/tenants/t1?code=oauth-code-value",
            headers={"Authorization": "Bearer tgw_admin_supersecret"},
        )
    records = [r for r in caplog.records if r.name == "gateway.access"]
    assert len(records) == 1
    line = JsonFormatter().format(records[0])
    fields = json.loads(line)
    assert fields["route"] == "/api/v1/tenants/{tenant_id}"
    assert fields["status"] == 401
    assert fields["path"] == "/api/v1/tenants/t1"
    assert "supersecret" not in line
    assert "oauth-code-value" not in line


def test_formatters_scrub_credentials() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "sent Authorization: Bearer abc.def-ghi", (), None
    )
    for formatter in (JsonFormatter(), KeyValueFormatter()):
        assert "abc.def-ghi" not in formatter.format(record)
    assert scrub('{"client_secret": "s3cr3t"}') == '{"client_secret": "[redacted]"}'
    assert scrub("authorization=xyz") == "authorization=[redacted]"
