"""Static tags: named after synced groups by sync (rule 6), or given to a user by an admin.

A tag exists while a group gives it or an admin assigned it; the last one to let
go of it removes it. Names are at most 29 characters either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, exists, select, text

from gateway.errors import NotFoundError
from gateway.identity.model import MANUAL_OWNER
from gateway.identity.rules import TAG_NAME_MAX_LENGTH, name_key
from gateway.store import audit
from gateway.store.engine import read_transaction, write_transaction
from gateway.store.named import clean_name
from gateway.store.queries import insert_if_absent, table
from gateway.store.tables import utcnow

_tags = table("tags")
_user_tags = table("user_tags")
_groups = table("groups")
_users = table("users")

# SQL condition on a tag aliased ``t``: nothing gives it any more.
UNUSED_TAG = (
    "NOT EXISTS (SELECT 1 FROM groups g WHERE g.tag_id = t.id)"
    " AND NOT EXISTS (SELECT 1 FROM user_tags ut WHERE ut.tag_id = t.id)"
)


@dataclass(frozen=True, slots=True)
class TagRecord:
    id: int
    name: str
    created_at: datetime
    from_groups: bool


@dataclass(frozen=True, slots=True)
class UserTagRecord:
    user_id: int
    tag_id: int
    name: str


def clean_tag_name(name: str) -> str:
    """The name as stored: trimmed, 1 to 29 characters (rule 6)."""
    return clean_name(name, what="Tag", max_length=TAG_NAME_MAX_LENGTH)


def list_tags(engine: Engine, tenant_id: str) -> list[TagRecord]:
    """The tenant's tags by name, saying which come from synced groups."""
    from_groups = exists().where(_groups.c.tag_id == _tags.c.id)
    stmt = (
        select(_tags.c.id, _tags.c.name, _tags.c.created_at, from_groups.label("from_groups"))
        .where(_tags.c.tenant_id == tenant_id)
        .order_by(_tags.c.name_key)
    )
    with read_transaction(engine) as conn:
        return [
            TagRecord(row.id, row.name, row.created_at, bool(row.from_groups))
            for row in conn.execute(stmt)
        ]


def tag_user(
    engine: Engine, tenant_id: str, user_id: int, name: str, *, actor: str
) -> UserTagRecord:
    """Give the user the tag of this name, by hand; the tag is made if it is new.

    Giving it twice changes nothing. Sync never removes it.
    """
    cleaned = clean_tag_name(name)
    key = name_key(cleaned)
    with write_transaction(engine) as conn:
        _require_user(conn, tenant_id, user_id)
        insert_if_absent(
            conn,
            _tags,
            {"tenant_id": tenant_id, "name": cleaned, "name_key": key, "created_at": utcnow()},
        )
        tag = conn.execute(
            select(_tags.c.id, _tags.c.name).where(
                _tags.c.tenant_id == tenant_id, _tags.c.name_key == key
            )
        ).one()
        added = insert_if_absent(
            conn,
            _user_tags,
            {
                "tag_id": tag.id,
                "user_id": user_id,
                "owner": MANUAL_OWNER,
                "tenant_id": tenant_id,
                "created_at": utcnow(),
            },
        )
        if added:
            audit.record(
                conn,
                tenant_id=tenant_id,
                actor=actor,
                action="user_tag.added",
                subject_type="user",
                subject_id=str(user_id),
                after={"tag_id": str(tag.id), "name": tag.name, "owner": MANUAL_OWNER},
            )
    return UserTagRecord(user_id=user_id, tag_id=tag.id, name=tag.name)


def untag_user(engine: Engine, tenant_id: str, user_id: int, tag_id: int, *, actor: str) -> None:
    """Take back a tag an admin gave; one that comes from a group stays while the group gives it.

    Raises :class:`NotFoundError` when the admin had not given it.
    """
    with write_transaction(engine) as conn:
        _require_user(conn, tenant_id, user_id)
        removed = conn.execute(
            delete(_user_tags).where(
                _user_tags.c.tenant_id == tenant_id,
                _user_tags.c.tag_id == tag_id,
                _user_tags.c.user_id == user_id,
                _user_tags.c.owner == MANUAL_OWNER,
            )
        ).rowcount
        if not removed:
            raise NotFoundError(
                f"User {user_id} has no tag {tag_id} given by hand; "
                "tags from synced groups change with the groups in Entra ID."
            )
        audit.record(
            conn,
            tenant_id=tenant_id,
            actor=actor,
            action="user_tag.removed",
            subject_type="user",
            subject_id=str(user_id),
            before={"tag_id": str(tag_id), "owner": MANUAL_OWNER},
        )
        remove_unused_tags(conn, tenant_id, actor=actor)


def remove_unused_tags(conn: Connection, tenant_id: str, *, actor: str) -> int:
    """Delete the tenant's tags that no group gives and no admin assigned."""
    unused = conn.execute(
        text(f"SELECT t.id, t.name FROM tags t WHERE t.tenant_id = :t AND {UNUSED_TAG}"),
        {"t": tenant_id},
    ).all()
    for tag_id, name in unused:
        audit.record(
            conn,
            tenant_id=tenant_id,
            actor=actor,
            action="tag.removed",
            subject_type="tag",
            subject_id=str(tag_id),
            before={"name": name},
        )
        conn.execute(delete(_tags).where(_tags.c.id == tag_id))
    return len(unused)


def _require_user(conn: Connection, tenant_id: str, user_id: int) -> None:
    found = conn.execute(
        select(_users.c.id).where(_users.c.tenant_id == tenant_id, _users.c.id == user_id)
    ).first()
    if found is None:
        raise NotFoundError(f"No user with id {user_id!r}.")
