from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from gateway.errors import ConflictError, NotFoundError
from gateway.identity.rules import ENTRA_TEAM_NAME
from gateway.store import audit
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.queries import table
from gateway.store.teams import add_member, create_team, list_teams, remove_member
from gateway.store.tenants import create_tenant
from tests import store_seed as seed


def _owners(engine: Engine, team_id: int, user_id: int) -> list[str]:
    memberships = table("team_memberships")
    with read_transaction(engine) as conn:
        return sorted(
            conn.execute(
                select(memberships.c.owner).where(
                    memberships.c.team_id == team_id, memberships.c.user_id == user_id
                )
            ).scalars()
        )


def test_teams_are_unique_per_tenant_ignoring_case(engine: Engine) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    team = create_team(engine, tenant.id, "Ops", actor="a")

    with pytest.raises(ConflictError):
        create_team(engine, tenant.id, "ops", actor="a")
    assert list_teams(engine, tenant.id) == [team]


def test_the_sync_team_name_is_reserved(engine: Engine) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    with pytest.raises(ConflictError):
        create_team(engine, tenant.id, ENTRA_TEAM_NAME.upper(), actor="a")


def test_adding_a_member_twice_keeps_one_manual_row_and_one_audit_entry(engine: Engine) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    team = create_team(engine, tenant.id, "Ops", actor="a")
    with write_transaction(engine) as conn:
        user_id = seed.user(conn, tenant.id, "ann@example.com")

    first = add_member(engine, tenant.id, team.id, user_id, actor="a")
    second = add_member(engine, tenant.id, team.id, user_id, actor="a")

    assert first.owners == second.owners == ("manual",)
    assert _owners(engine, team.id, user_id) == ["manual"]
    added = [e for e in audit.list_entries(engine, tenant.id) if e.action == "team.member_added"]
    assert len(added) == 1
    assert added[0].before == {"owners": []}
    assert added[0].after == {"owners": ["manual"]}


def test_membership_needs_team_and_user_of_the_same_tenant(engine: Engine) -> None:
    acme = create_tenant(engine, "Acme", actor="cli")
    other = create_tenant(engine, "Other", actor="cli")
    team = create_team(engine, acme.id, "Ops", actor="a")
    other_team = create_team(engine, other.id, "Ops", actor="a")
    with write_transaction(engine) as conn:
        stranger = seed.user(conn, other.id, "bob@example.com")

    with pytest.raises(NotFoundError):
        add_member(engine, acme.id, team.id, stranger, actor="a")
    with pytest.raises(NotFoundError):
        add_member(engine, acme.id, other_team.id, stranger, actor="a")
    with pytest.raises(NotFoundError):
        remove_member(engine, acme.id, team.id, stranger, actor="a")


def test_removing_a_manual_membership(engine: Engine) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    team = create_team(engine, tenant.id, "Ops", actor="a")
    with write_transaction(engine) as conn:
        user_id = seed.user(conn, tenant.id, "ann@example.com")
    add_member(engine, tenant.id, team.id, user_id, actor="a")

    removal = remove_member(engine, tenant.id, team.id, user_id, actor="a")

    assert removal.removed_owners == ("manual",)
    assert removal.restored_by_sync is False
    assert _owners(engine, team.id, user_id) == []
    with pytest.raises(NotFoundError):
        remove_member(engine, tenant.id, team.id, user_id, actor="a")


def test_removing_a_sync_membership_says_sync_restores_it(engine: Engine) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    with write_transaction(engine) as conn:
        team_id = seed.entra_team(conn, tenant.id)
        user_id = seed.user(conn, tenant.id, "ann@example.com")
        seed.team_member(conn, tenant.id, team_id, user_id, "graph")
        seed.team_member(conn, tenant.id, team_id, user_id, "manual")

    removal = remove_member(engine, tenant.id, team_id, user_id, actor="a")

    assert removal.removed_owners == ("graph", "manual")
    assert removal.restored_by_sync is True
    assert _owners(engine, team_id, user_id) == []
    [entry] = [
        e for e in audit.list_entries(engine, tenant.id) if e.action == "team.member_removed"
    ]
    assert entry.before == {"owners": ["graph", "manual"]}


def test_sync_does_not_restore_an_inactive_users_membership(engine: Engine) -> None:
    tenant = create_tenant(engine, "Acme", actor="cli")
    with write_transaction(engine) as conn:
        team_id = seed.entra_team(conn, tenant.id)
        user_id = seed.user(conn, tenant.id, "ann@example.com", active=False)
        seed.team_member(conn, tenant.id, team_id, user_id, "graph")

    removal = remove_member(engine, tenant.id, team_id, user_id, actor="a")

    assert removal.restored_by_sync is False
