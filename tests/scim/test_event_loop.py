"""On SQLite one-resource requests run on the event loop; a write there never
waits for SQLite's write lock, which another transaction (an identity apply,
another process) may hold for a while."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import Engine

from gateway.crypto import generate_key
from gateway.settings import Settings
from gateway.store.engine import WriteLockBusy, write_transaction
from gateway.store.scim_resources import Kind, create_resource, search_resources
from gateway.store.tenants import create_tenant
from gateway.store.tokens import create_token
from scim.resources import user_fields
from tests.scim.client import entra_user
from tests.scim.live import Live, serving


@contextmanager
def write_lock_held(engine: Engine) -> Iterator[threading.Event]:
    """Holds SQLite's write lock from another connection until the event is set."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with write_transaction(engine):
            held.set()
            release.wait(20)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(5)
    try:
        yield release
    finally:
        release.set()
        thread.join()


def test_a_write_that_may_not_wait_gives_way_at_once_and_writes_nothing(
    sqlite_engine: Engine,
) -> None:
    tenant = create_tenant(sqlite_engine, "Contoso", actor="test")
    fields = user_fields(entra_user("ann"))
    # Waiting would outlast the holder, which lets go only after the block.
    with write_lock_held(sqlite_engine), pytest.raises(WriteLockBusy):
        create_resource(sqlite_engine, tenant.id, fields, wait=False)
    found = search_resources(sqlite_engine, tenant.id, Kind.USER, condition=None)
    assert found.total == 0
    create_resource(sqlite_engine, tenant.id, fields, wait=False)
    assert search_resources(sqlite_engine, tenant.id, Kind.USER, condition=None).total == 1


@pytest.fixture
def live(sqlite_engine: Engine) -> Iterator[Live]:
    settings = Settings(database_url=str(sqlite_engine.url), secret_keys=generate_key())
    with serving(settings) as served:
        yield served


def test_a_write_waits_for_a_held_write_lock_off_the_event_loop(
    sqlite_engine: Engine, live: Live
) -> None:
    tenant = create_tenant(sqlite_engine, "Contoso", actor="test")
    _, token = create_token(sqlite_engine, tenant_id=tenant.id, kind="scim", actor="test")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    with httpx.Client(base_url=live.base_url, headers=headers, timeout=30) as client:
        # The token is remembered now, so the next requests are served on the loop.
        assert client.get("/Users").status_code == 200
        answers: dict[str, httpx.Response] = {}
        body = json.dumps(entra_user("ann"))
        writer = threading.Thread(
            target=lambda: answers.setdefault("post", client.post("/Users", content=body))
        )
        with write_lock_held(sqlite_engine):
            writer.start()
            time.sleep(0.3)
            assert writer.is_alive(), "the write did not wait for the lock"
            # The event loop still answers while the write waits.
            with httpx.Client(base_url=live.base_url, headers=headers, timeout=5) as other:
                assert other.get("/Users").status_code == 200
        writer.join(30)
    assert answers["post"].status_code == 201, answers["post"].text
