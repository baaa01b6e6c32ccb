"""Teams and manual team membership.

Membership rows carry an owner: ``manual`` rows belong to admins, the others
to a sync source. Sync re-adds its own rows every cycle (rule 5), so an admin
removing a sync-owned membership only lasts until the next run, and the
answer says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, RowMapping, delete, select, true

from gateway.errors import ConflictError, NotFoundError
from gateway.identity.model import MANUAL_OWNER
from gateway.identity.rules import ENTRA_TEAM_NAME, name_key
from gateway.store import audit
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.named import clean_name, create_named
from gateway.store.queries import insert_if_absent, table
from gateway.store.tables import utcnow

_teams = table("teams")
_memberships = table("team_memberships")
_users = table("users")
_user_sources = table("user_sources")

TEAM_NAME_MAX = 100


@dataclass(frozen=True, slots=True)
class TeamRecord:
    id: int
    name: str
    system_key: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Membership:
    """A user's membership of one team, with every owner holding it."""

    team_id: int
    user_id: int
    owners: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MembershipRemoval:
    team_id: int
    user_id: int
    removed_owners: tuple[str, ...]
    # True when a sync-owned row was removed that the next sync will add back.
    restored_by_sync: bool


def clean_team_name(name: str) -> str:
    """The name as stored: trimmed, 1 to 100 characters."""
    return clean_name(name, what="Team", max_length=TEAM_NAME_MAX)


def create_team(engine: Engine, tenant_id: str, name: str, *, actor: str) -> TeamRecord:
    """Create a manual team; a name used in the tenant (any case) raises :class:`ConflictError`.

    The name of the team sync maintains (rule 5) is reserved for it.
    """
    cleaned = clean_team_name(name)
    if name_key(cleaned) == name_key(ENTRA_TEAM_NAME):
        raise ConflictError(
            f"The team name {ENTRA_TEAM_NAME!r} is reserved for the team sync maintains.",
            details={"field": "name"},
        )
    team_id, created_at = create_named(
        engine, _teams, tenant_id, cleaned, actor=actor, subject_type="team"
    )
    return TeamRecord(id=team_id, name=cleaned, system_key=None, created_at=created_at)


def list_teams(engine: Engine, tenant_id: str) -> list[TeamRecord]:
    """The tenant's teams by name."""
    stmt = select(_teams).where(_teams.c.tenant_id == tenant_id).order_by(_teams.c.name_key)
    with read_transaction(engine) as conn:
        return [_record(row._mapping) for row in conn.execute(stmt)]


def add_member(
    engine: Engine, tenant_id: str, team_id: int, user_id: int, *, actor: str
) -> Membership:
    """Make the user a manual member of the team; adding twice changes nothing."""
    with write_transaction(engine) as conn:
        _require_team_and_user(conn, tenant_id, team_id, user_id)
        before = _owners(conn, tenant_id, team_id, user_id)
        inserted = insert_if_absent(
            conn,
            _memberships,
            {
                "team_id": team_id,
                "user_id": user_id,
                "owner": MANUAL_OWNER,
                "tenant_id": tenant_id,
                "created_at": utcnow(),
            },
        )
        after = _owners(conn, tenant_id, team_id, user_id)
        if inserted:
            audit.record(
                conn,
                tenant_id=tenant_id,
                actor=actor,
                action="team.member_added",
                subject_type="team_membership",
                subject_id=f"{team_id}:{user_id}",
                before={"owners": list(before)},
                after={"owners": list(after)},
            )
    return Membership(team_id=team_id, user_id=user_id, owners=after)


def remove_member(
    engine: Engine, tenant_id: str, team_id: int, user_id: int, *, actor: str
) -> MembershipRemoval:
    """Remove every membership row of the user in the team, manual and sync-owned.

    Raises :class:`NotFoundError` when the user is not a member. A removed sync-owned
    row of an active synced user in the sync-maintained team comes back with
    the next sync (rule 5); ``restored_by_sync`` tells the caller.
    """
    with write_transaction(engine) as conn:
        team = _require_team_and_user(conn, tenant_id, team_id, user_id)
        before = _owners(conn, tenant_id, team_id, user_id)
        if not before:
            raise NotFoundError(f"User {user_id} is not a member of team {team_id}.")
        conn.execute(
            delete(_memberships).where(
                _memberships.c.tenant_id == tenant_id,
                _memberships.c.team_id == team_id,
                _memberships.c.user_id == user_id,
            )
        )
        sync_owned = any(owner != MANUAL_OWNER for owner in before)
        restored = (
            sync_owned
            and team.system_key is not None
            and _is_active_synced(conn, tenant_id, user_id)
        )
        audit.record(
            conn,
            tenant_id=tenant_id,
            actor=actor,
            action="team.member_removed",
            subject_type="team_membership",
            subject_id=f"{team_id}:{user_id}",
            before={"owners": list(before)},
            after={"owners": [], "restored_by_sync": restored},
        )
    return MembershipRemoval(
        team_id=team_id, user_id=user_id, removed_owners=before, restored_by_sync=restored
    )


def _require_team_and_user(
    conn: Connection, tenant_id: str, team_id: int, user_id: int
) -> TeamRecord:
    team_row = conn.execute(
        select(_teams).where(_teams.c.tenant_id == tenant_id, _teams.c.id == team_id)
    ).first()
    if team_row is None:
        raise NotFoundError(f"Team {team_id} not found.")
    user_found = conn.execute(
        select(_users.c.id).where(_users.c.tenant_id == tenant_id, _users.c.id == user_id)
    ).first()
    if user_found is None:
        raise NotFoundError(f"User {user_id} not found.")
    return _record(team_row._mapping)


def _owners(conn: Connection, tenant_id: str, team_id: int, user_id: int) -> tuple[str, ...]:
    owners = conn.execute(
        select(_memberships.c.owner)
        .where(
            _memberships.c.tenant_id == tenant_id,
            _memberships.c.team_id == team_id,
            _memberships.c.user_id == user_id,
        )
        .order_by(_memberships.c.owner)
    ).scalars()
    return tuple(owners)


def _is_active_synced(conn: Connection, tenant_id: str, user_id: int) -> bool:
    row = conn.execute(
        select(_user_sources.c.user_id)
        .join(_users, _users.c.id == _user_sources.c.user_id)
        .where(
            _user_sources.c.tenant_id == tenant_id,
            _user_sources.c.user_id == user_id,
            _user_sources.c.enabled == true(),
            _users.c.active == true(),
        )
        .limit(1)
    ).first()
    return row is not None


def _record(row: RowMapping) -> TeamRecord:
    return TeamRecord(
        id=row["id"], name=row["name"], system_key=row["system_key"], created_at=row["created_at"]
    )
