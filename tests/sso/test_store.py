"""SSO storage on SQLite and PostgreSQL: sessions and their lifetimes, single-use
pending sign-ins, the gateway's own keys."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from starlette.responses import Response

from gateway.store.audit import list_entries
from gateway.store.engine import (
    BUSY_TIMEOUT_MS,
    WriteLockBusy,
    write_transaction,
    write_transaction_now,
)
from gateway.store.queries import table
from gateway.store.sso_keys import COOKIE, SIGNING, active_keys
from gateway.store.sso_sessions import Lifetimes, current_session, end_session, start_session
from gateway.store.sso_signin import PENDING_LIFETIME, read_candidates, save_pending, take_pending
from gateway.store.sso_tests import claim_start, complete_test, create_test, get_test
from gateway.store.tables import utcnow
from sso.session import Cookies, CookieSigner
from tests import store_seed as seed
from tests.store.apply_helpers import new_tenant, person, snapshot

LIFETIMES = Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=8))


@pytest.fixture
def ann(engine: Engine) -> tuple[str, int]:
    tenant = new_tenant(engine)
    snapshot(engine, tenant, [person("ann", email="ann@contoso.com")])
    by_username, _ = read_candidates(engine, tenant, "ann@contoso.com", None)
    assert by_username is not None
    return tenant, by_username.id


def _start(engine: Engine, tenant: str, user: int, token: str, replaces: str | None = None) -> None:
    with write_transaction(engine) as conn:
        start_session(
            conn,
            token=token,
            tenant_id=tenant,
            user_id=user,
            lifetimes=LIFETIMES,
            replaces=replaces,
        )


def test_session_lives_while_used_and_dies_when_idle(engine: Engine, ann: tuple[str, int]) -> None:
    tenant, user = ann
    _start(engine, tenant, user, "tok-1")
    now = utcnow()

    for minutes in (20, 40, 60):  # each use keeps it alive for another 30 minutes
        view = current_session(engine, "tok-1", LIFETIMES, now=now + timedelta(minutes=minutes))
        assert view is not None
        assert view.primary_email == "ann@contoso.com"
    assert current_session(engine, "tok-1", LIFETIMES, now=now + timedelta(minutes=91)) is None
    # Ended for good, even if the clock were to go back.
    assert current_session(engine, "tok-1", LIFETIMES, now=now + timedelta(minutes=61)) is None


def test_session_ends_at_its_absolute_lifetime_however_busy(
    engine: Engine, ann: tuple[str, int]
) -> None:
    tenant, user = ann
    _start(engine, tenant, user, "tok-1")
    now = utcnow()
    minute = timedelta(minutes=0)
    while minute < timedelta(hours=8) - timedelta(minutes=20):
        minute += timedelta(minutes=20)
        assert current_session(engine, "tok-1", LIFETIMES, now=now + minute) is not None
    assert (
        current_session(engine, "tok-1", LIFETIMES, now=now + timedelta(hours=8, seconds=1)) is None
    )


def test_sign_in_again_rotates_the_token(engine: Engine, ann: tuple[str, int]) -> None:
    tenant, user = ann
    _start(engine, tenant, user, "tok-1")
    _start(engine, tenant, user, "tok-2", replaces="tok-1")

    assert current_session(engine, "tok-1", LIFETIMES) is None
    assert current_session(engine, "tok-2", LIFETIMES) is not None


def test_logout_revokes_and_is_audited(engine: Engine, ann: tuple[str, int]) -> None:
    tenant, user = ann
    _start(engine, tenant, user, "tok-1")

    assert end_session(engine, "tok-1")
    assert not end_session(engine, "tok-1")
    assert current_session(engine, "tok-1", LIFETIMES) is None
    assert [e.action for e in list_entries(engine, tenant)].count("sso.signed_out") == 1


def test_deactivation_ends_sessions(engine: Engine, ann: tuple[str, int]) -> None:
    tenant, user = ann
    _start(engine, tenant, user, "tok-1")
    snapshot(engine, tenant, [person("ann", email="ann@contoso.com", enabled=False)])

    assert current_session(engine, "tok-1", LIFETIMES) is None


def test_only_hashes_of_tokens_and_state_are_stored(engine: Engine, ann: tuple[str, int]) -> None:
    tenant, user = ann
    _start(engine, tenant, user, "tok-secret-value")
    save_pending(
        engine,
        state="state-secret-value",
        tenant_id=tenant,
        browser_binding="binding-secret-value",
        nonce="n",
        code_verifier="v",
        return_to=None,
    )
    with engine.connect() as conn:
        rows = [
            *conn.execute(select(table("sso_sessions"))).all(),
            *conn.execute(select(table("sso_pending_sign_ins"))).all(),
        ]
    assert "secret-value" not in repr(rows)


def test_pending_sign_in_is_taken_once(engine: Engine) -> None:
    tenant = new_tenant(engine)
    box = seed.secret_box()
    seed.integration(engine, box, tenant)
    save_pending(
        engine,
        state="s1",
        tenant_id=tenant,
        browser_binding="b",
        nonce="n",
        code_verifier="v",
        return_to="https://app.example/",
    )

    pending, client = take_pending(engine, box, "s1")
    again, _ = take_pending(engine, box, "s1")

    assert pending is not None
    assert pending.return_to == "https://app.example/"
    assert client is not None
    assert client.client_secret.reveal() == seed.SECRET_VALUE
    assert again is None


def test_expired_pending_sign_ins_are_cleared(engine: Engine) -> None:
    tenant = new_tenant(engine)
    long_ago = utcnow() - PENDING_LIFETIME - timedelta(seconds=1)
    for state, now in (("old", long_ago), ("new", None)):
        save_pending(
            engine,
            state=state,
            tenant_id=tenant,
            browser_binding="b",
            nonce="n",
            code_verifier="v",
            return_to=None,
            now=now,
        )
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(table("sso_pending_sign_ins")))
        assert count.scalar_one() == 1
    pending, _ = take_pending(engine, seed.secret_box(), "new")
    assert pending is not None


def test_keys_are_made_once_and_shared(engine: Engine) -> None:
    box = seed.secret_box()
    made: list[str] = []

    def generate() -> tuple[str, str]:
        made.append("x")
        return f"kid-{len(made)}", f"private-{len(made)}"

    first = active_keys(engine, box, SIGNING, generate)
    second = active_keys(engine, box, SIGNING, generate)
    cookie = active_keys(engine, box, COOKIE, generate)

    assert [k.kid for k in first] == [k.kid for k in second] == ["kid-1"]
    assert first[0].private.reveal() == "private-1"
    assert cookie[0].kid == "kid-2"
    with engine.connect() as conn:
        stored = conn.execute(select(table("sso_keys").c.ciphertext)).scalars().all()
    assert all(b"private" not in bytes(value) for value in stored)


def test_a_key_the_configured_secrets_cannot_open_is_replaced(engine: Engine) -> None:
    active_keys(engine, seed.secret_box(), SIGNING, lambda: ("old", "old-private"))

    keys = active_keys(engine, seed.secret_box(), SIGNING, lambda: ("new", "new-private"))

    assert [k.kid for k in keys] == ["new"]


@pytest.mark.parametrize(("secure", "expected"), [(True, True), (False, False)])
def test_cookie_attributes(secure: bool, expected: bool) -> None:
    cookies = Cookies(CookieSigner(b"k" * 32), secure=secure, session_max_age=3600)
    response = Response()
    cookies.set_session(response, "token")
    header = response.headers["set-cookie"]
    parts = [p.strip().lower() for p in header.split(";")]

    assert "httponly" in parts
    assert "samesite=lax" in parts
    assert "path=/user/external" in parts
    assert "max-age=3600" in parts
    assert ("secure" in parts) is expected


def test_forged_cookies_are_not_accepted() -> None:
    signer = CookieSigner(b"k" * 32)
    good = signer.sign("token")

    assert signer.unsign(good) == "token"
    for forged in ("token", "token.", f"other.{good.split('.')[1]}", good + "x", "", None, "a.b.c"):
        assert signer.unsign(forged) is None
    assert CookieSigner(b"j" * 32).unsign(good) is None


def test_test_sign_in_link_works_once_and_expires(engine: Engine) -> None:
    tenant = new_tenant(engine)
    test, handle = create_test(engine, tenant, actor="token:t")

    assert claim_start(engine, handle, now=test.expires_at + timedelta(seconds=1)) is None
    started = claim_start(engine, handle)
    assert started is not None
    assert started.status == "started"
    assert claim_start(engine, handle) is None
    assert claim_start(engine, "not-a-handle") is None

    complete_test(engine, test.id, {"verdict": "admitted", "checks": []})
    done = get_test(engine, tenant, test.id)
    assert done is not None
    assert done.status == "completed"
    assert done.result == {"verdict": "admitted", "checks": []}
    assert get_test(engine, new_tenant(engine, "Other"), test.id) is None


def test_cookies_signed_under_any_active_key_are_accepted() -> None:
    newer, older = b"n" * 32, b"o" * 32
    both = CookieSigner(older, newer)

    assert both.unsign(CookieSigner(newer).sign("v")) == "v"
    assert both.unsign(CookieSigner(older).sign("v")) == "v"
    assert both.sign("v") == CookieSigner(older).sign("v")


def test_sessions_past_their_absolute_lifetime_are_deleted_at_the_next_sign_in(
    engine: Engine, ann: tuple[str, int]
) -> None:
    tenant, user = ann
    with write_transaction(engine) as conn:
        start_session(
            conn,
            token="old",
            tenant_id=tenant,
            user_id=user,
            lifetimes=LIFETIMES,
            replaces=None,
            now=utcnow() - timedelta(hours=9),
        )
    _start(engine, tenant, user, "new")

    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(table("sso_sessions")))
        assert count.scalar_one() == 1


def test_write_now_gives_way_at_once_to_a_held_write_lock(sqlite_engine: Engine) -> None:
    """The callback's on-the-event-loop transaction: refused at once (nothing
    done) while another holds the lock, and the connection keeps its busy wait."""
    tenant = new_tenant(sqlite_engine)
    pending = table("sso_pending_sign_ins")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with write_transaction(sqlite_engine):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5)
        started = time.monotonic()
        with pytest.raises(WriteLockBusy), write_transaction_now(sqlite_engine):
            pytest.fail("began a write transaction while the lock was held")
        assert time.monotonic() - started < 1
    finally:
        release.set()
        holder.join()

    # Once the lock is free it begins, and the busy wait is back for its statements.
    with write_transaction_now(sqlite_engine) as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
    save_pending(
        sqlite_engine,
        state="s",
        tenant_id=tenant,
        browser_binding="b",
        nonce="n",
        code_verifier="v",
        return_to=None,
    )
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(pending)).scalar() == 1
