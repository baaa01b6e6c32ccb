"""Admin test sign-ins: started through the admin API, finished in a browser.

The admin API creates one with a one-time start link; opening the link runs
the normal Entra sign-in, and the callback stores every claim and check as
the result instead of creating a session.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, RowMapping, insert, select, update

from gateway.store import audit
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.queries import table
from gateway.store.sso_signin import digest
from gateway.store.tables import utcnow

_tests = table("sso_sign_in_tests")

TEST_LIFETIME = timedelta(minutes=10)
PENDING = "pending"
STARTED = "started"
COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class SignInTest:
    id: str
    tenant_id: str
    status: str
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    result: Any


def create_test(engine: Engine, tenant_id: str, *, actor: str) -> tuple[SignInTest, str]:
    """A new test sign-in and its one-time start handle (shown once, stored hashed)."""
    handle = secrets.token_urlsafe(32)
    now = utcnow()
    test_id = uuid.uuid4().hex
    with write_transaction(engine) as conn:
        conn.execute(
            insert(_tests).values(
                id=test_id,
                tenant_id=tenant_id,
                start_hash=digest(handle),
                actor=actor,
                status=PENDING,
                created_at=now,
                expires_at=now + TEST_LIFETIME,
            )
        )
        audit.record(
            conn,
            tenant_id=tenant_id,
            actor=actor,
            action="sso.test_started",
            subject_type="sign_in_test",
            subject_id=test_id,
        )
    test = get_test(engine, tenant_id, test_id)
    assert test is not None
    return test, handle


def get_test(engine: Engine, tenant_id: str, test_id: str) -> SignInTest | None:
    with read_transaction(engine) as conn:
        row = conn.execute(
            select(_tests).where(_tests.c.tenant_id == tenant_id, _tests.c.id == test_id)
        ).first()
    return None if row is None else _test(row._mapping)


def claim_start(engine: Engine, handle: str, *, now: datetime | None = None) -> SignInTest | None:
    """Use a start handle once: the pending, unexpired test it opens, now ``started``."""
    now = now or utcnow()
    with write_transaction(engine) as conn:
        row = conn.execute(
            update(_tests)
            .where(
                _tests.c.start_hash == digest(handle),
                _tests.c.status == PENDING,
                _tests.c.expires_at > now,
            )
            .values(status=STARTED)
            .returning(_tests)
        ).first()
    return None if row is None else _test(row._mapping)


def complete_test(engine: Engine, test_id: str, result: dict[str, Any]) -> None:
    """Store what the test sign-in saw; the result holds claims and checks, never tokens."""
    with write_transaction(engine) as conn:
        row = conn.execute(
            update(_tests)
            .where(_tests.c.id == test_id, _tests.c.status == STARTED)
            .values(status=COMPLETED, completed_at=utcnow(), result=result)
            .returning(_tests.c.tenant_id)
        ).first()
        if row is not None:
            audit.record(
                conn,
                tenant_id=row.tenant_id,
                actor="sso",
                action="sso.test_completed",
                subject_type="sign_in_test",
                subject_id=test_id,
                after={"verdict": result.get("verdict")},
            )


def _test(row: RowMapping) -> SignInTest:
    return SignInTest(
        id=row["id"],
        tenant_id=row["tenant_id"],
        status=row["status"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        completed_at=row["completed_at"],
        result=row["result"],
    )
