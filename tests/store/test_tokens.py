from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from gateway.errors import NotFoundError, ValidationFailedError
from gateway.store import audit
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.queries import table
from gateway.store.tenants import create_tenant
from gateway.store.tokens import (
    authenticate,
    create_token,
    get_token,
    hash_token,
    list_tokens,
    revoke_token,
)

_tokens = table("api_tokens")


def test_token_is_stored_only_as_hash_and_authenticates(engine: Engine) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    record, plaintext = create_token(engine, tenant_id=tenant.id, kind="scim", actor="cli")

    assert plaintext.startswith("tgw_scim_")
    assert record.hint == plaintext[-4:]
    with read_transaction(engine) as conn:
        stored = conn.execute(select(_tokens)).one()._mapping
    assert plaintext not in {str(v) for v in stored.values()}
    assert stored["token_hash"] == hash_token(plaintext)
    assert plaintext not in repr(record)

    found = authenticate(engine, plaintext, "scim")
    assert found is not None
    assert found.id == record.id
    assert found.tenant_id == tenant.id
    assert found.last_used_at is not None


def test_token_of_other_kind_or_unknown_value_does_not_authenticate(engine: Engine) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    _, plaintext = create_token(engine, tenant_id=tenant.id, kind="scim", actor="cli")

    assert authenticate(engine, plaintext, "admin") is None
    assert authenticate(engine, plaintext + "x", "scim") is None
    assert authenticate(engine, "", "scim") is None
    assert authenticate(engine, "x" * 10_000, "scim") is None


def test_operator_token_has_no_tenant(engine: Engine) -> None:
    record, plaintext = create_token(engine, tenant_id=None, kind="admin", actor="cli")

    assert record.is_operator
    assert plaintext.startswith("tgw_admin_")
    assert list_tokens(engine, None) == [record]
    [entry] = audit.list_entries(engine, None)
    assert entry.action == "token.created"


def test_scim_token_needs_a_tenant_and_tenant_must_exist(engine: Engine) -> None:
    with pytest.raises(ValidationFailedError):
        create_token(engine, tenant_id=None, kind="scim", actor="cli")
    with pytest.raises(NotFoundError):
        create_token(engine, tenant_id="f" * 32, kind="admin", actor="cli")


def test_revoked_token_no_longer_authenticates(engine: Engine) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    record, plaintext = create_token(engine, tenant_id=tenant.id, kind="admin", actor="cli")

    revoked = revoke_token(engine, tenant.id, record.id, actor="token:x")
    again = revoke_token(engine, tenant.id, record.id, actor="token:x")

    assert revoked.revoked_at is not None
    assert again.revoked_at == revoked.revoked_at
    assert authenticate(engine, plaintext, "admin") is None
    actions = [e.action for e in audit.list_entries(engine, tenant.id)]
    assert actions.count("token.revoked") == 1


def test_tokens_are_listed_and_revoked_only_within_their_tenant(engine: Engine) -> None:
    acme = create_tenant(engine, "Acme", actor="cli")
    other = create_tenant(engine, "Other", actor="cli")
    mine, _ = create_token(engine, tenant_id=acme.id, kind="admin", actor="cli")
    create_token(engine, tenant_id=other.id, kind="scim", actor="cli")

    assert [t.id for t in list_tokens(engine, acme.id)] == [mine.id]
    assert get_token(engine, other.id, mine.id) is None
    with pytest.raises(NotFoundError):
        revoke_token(engine, other.id, mine.id, actor="x")
    assert get_token(engine, acme.id, mine.id) == mine


def test_last_used_is_written_at_most_once_a_minute(engine: Engine) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    record, plaintext = create_token(engine, tenant_id=tenant.id, kind="admin", actor="cli")

    first = authenticate(engine, plaintext, "admin")
    second = authenticate(engine, plaintext, "admin")
    assert first is not None
    assert second is not None
    assert second.last_used_at == first.last_used_at

    assert first.last_used_at is not None
    old = first.last_used_at - timedelta(minutes=5)
    with write_transaction(engine) as conn:
        conn.execute(update(_tokens).where(_tokens.c.id == record.id).values(last_used_at=old))
    third = authenticate(engine, plaintext, "admin")
    assert third is not None
    assert third.last_used_at is not None
    assert third.last_used_at > old
