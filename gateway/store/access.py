"""Derived access: the one place that decides a user's teams, tags, sites and warnings.

Tags and site access are not stored per user; they follow from group
membership and the integration's site grants (see ``tables``). Everything here
works on a whole set of users with a fixed handful of queries, so a page of
users or a sign-in costs the same few round trips.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, exists, false, or_, select, true

from gateway.identity.emails import email_key
from gateway.identity.model import WarningCode
from gateway.identity.rules import name_key
from gateway.store.queries import chunks, table

_users = table("users")
_integrations = table("integrations")
_teams = table("teams")
_team_memberships = table("team_memberships")
_tags = table("tags")
_groups = table("groups")
_group_memberships = table("group_memberships")
_site_grants = table("site_grants")
_user_sources = table("user_sources")
_user_tags = table("user_tags")

SYNC_GRANT_OWNER = "sync"
_SSO_MISMATCH = str(WarningCode.SSO_USERNAME_MISMATCH)


@dataclass(frozen=True, slots=True)
class SiteAccess:
    site_id: int
    remote_access: bool


@dataclass(frozen=True, slots=True)
class UserAccess:
    """What a user may reach now, and what will stop them signing in."""

    teams: tuple[str, ...]
    tags: tuple[str, ...]
    sites: tuple[SiteAccess, ...]
    warnings: tuple[str, ...]


def integration_enabled(conn: Connection, tenant_id: str) -> bool:
    """Whether group-based mappings apply: not while an admin has disabled the
    integration (rule 9). A tenant fed only by SCIM push has no integration row,
    and its groups still give tags."""
    enabled = conn.execute(
        select(_integrations.c.enabled).where(_integrations.c.tenant_id == tenant_id)
    ).scalar_one_or_none()
    return enabled is None or bool(enabled)


def effective_access(
    conn: Connection, tenant_id: str, user_ids: Sequence[int]
) -> dict[int, UserAccess]:
    """Derived access of the tenant's users in ``user_ids``; ids of other tenants are absent.

    * teams: every team the user has a membership row in, whoever owns it;
    * tags: the tags of the user's groups, only while the user is active
      (rule 8) and the integration is enabled (rule 9), and the tags an admin
      gave the user by hand, always;
    * sites: the integration's sync-owned site grants, only for active users
      that some source synced, while the integration is enabled (rules 7-9);
    * warnings: ``sso_username_mismatch`` when Username and Primary Email
      differ, since sign-in will then fail (rule 3).
    """
    ids = sorted(set(user_ids))
    active_by_id: dict[int, bool] = {}
    warnings_by_id: dict[int, tuple[str, ...]] = {}
    for part in chunks(ids):
        rows = conn.execute(
            select(
                _users.c.id,
                _users.c.active,
                _users.c.primary_email,
                _users.c.email_key,
                _users.c.user_name_key,
            ).where(_users.c.tenant_id == tenant_id, _users.c.id.in_(part))
        )
        for row in rows:
            # email_key is NULL once the address was released to a newer user;
            # the stored address still says what sign-in would compare.
            key = row.email_key or email_key(row.primary_email)
            mismatch = key != row.user_name_key
            warnings_by_id[row.id] = (_SSO_MISMATCH,) if mismatch else ()
            active_by_id[row.id] = bool(row.active)
    if not active_by_id:
        return {}
    found = sorted(active_by_id)
    teams = _team_names(conn, tenant_id, found)
    active = [uid for uid in found if active_by_id[uid]]
    mapped = integration_enabled(conn, tenant_id) and bool(active)
    tags = _tag_names(conn, tenant_id, active) if mapped else {}
    # Tags an admin gave by hand are the admin's: no sync state takes them away.
    for uid, names in _manual_tag_names(conn, tenant_id, found).items():
        tags.setdefault(uid, set()).update(names)
    sites = _site_access(conn, tenant_id, active) if mapped else {}
    return {
        uid: UserAccess(
            teams=tuple(sorted(teams.get(uid, ()), key=str.lower)),
            tags=tuple(sorted(tags.get(uid, ()), key=str.lower)),
            sites=sites.get(uid, ()),
            warnings=warnings_by_id[uid],
        )
        for uid in found
    }


def in_team(conn: Connection, tenant_id: str, team_name: str) -> ColumnElement[bool]:
    """A condition on ``users`` rows: member of the named team (any case, any owner)."""
    team_id = conn.execute(
        select(_teams.c.id).where(
            _teams.c.tenant_id == tenant_id, _teams.c.name_key == name_key(team_name)
        )
    ).scalar_one_or_none()
    if team_id is None:
        return false()
    return exists().where(
        _team_memberships.c.tenant_id == tenant_id,
        _team_memberships.c.team_id == team_id,
        _team_memberships.c.user_id == _users.c.id,
    )


def holds_tag(conn: Connection, tenant_id: str, tag_name: str) -> ColumnElement[bool]:
    """A condition on ``users`` rows: holds the named tag now (as :func:`effective_access` says)."""
    tag_id = conn.execute(
        select(_tags.c.id).where(
            _tags.c.tenant_id == tenant_id, _tags.c.name_key == name_key(tag_name)
        )
    ).scalar_one_or_none()
    if tag_id is None:
        return false()
    given_by_hand = exists().where(
        _user_tags.c.tenant_id == tenant_id,
        _user_tags.c.user_id == _users.c.id,
        _user_tags.c.tag_id == tag_id,
    )
    if not integration_enabled(conn, tenant_id):
        return given_by_hand
    member = exists().where(
        _group_memberships.c.tenant_id == tenant_id,
        _group_memberships.c.user_id == _users.c.id,
        _groups.c.id == _group_memberships.c.group_id,
        _groups.c.tenant_id == tenant_id,
        _groups.c.tag_id == tag_id,
    )
    return or_(and_(_users.c.active == true(), member), given_by_hand)


def _names_by_user(
    conn: Connection, user_ids: Sequence[int], query: Callable[[Sequence[int]], Select[Any]]
) -> dict[int, set[str]]:
    """Run a (user id, name) query over ``user_ids`` in chunks, names gathered per user."""
    names: dict[int, set[str]] = defaultdict(set)
    for part in chunks(user_ids):
        for user_id, name in conn.execute(query(part)):
            names[user_id].add(name)
    return names


def _team_names(conn: Connection, tenant_id: str, user_ids: Sequence[int]) -> dict[int, set[str]]:
    return _names_by_user(
        conn,
        user_ids,
        lambda part: (
            select(_team_memberships.c.user_id, _teams.c.name)
            .join(_teams, _teams.c.id == _team_memberships.c.team_id)
            .where(
                _team_memberships.c.tenant_id == tenant_id,
                _teams.c.tenant_id == tenant_id,
                _team_memberships.c.user_id.in_(part),
            )
        ),
    )


def _tag_names(conn: Connection, tenant_id: str, user_ids: Sequence[int]) -> dict[int, set[str]]:
    return _names_by_user(
        conn,
        user_ids,
        lambda part: (
            select(_group_memberships.c.user_id, _tags.c.name)
            .join(_groups, _groups.c.id == _group_memberships.c.group_id)
            .join(_tags, _tags.c.id == _groups.c.tag_id)
            .where(
                _group_memberships.c.tenant_id == tenant_id,
                _groups.c.tenant_id == tenant_id,
                _tags.c.tenant_id == tenant_id,
                _group_memberships.c.user_id.in_(part),
            )
        ),
    )


def _manual_tag_names(
    conn: Connection, tenant_id: str, user_ids: Sequence[int]
) -> dict[int, set[str]]:
    return _names_by_user(
        conn,
        user_ids,
        lambda part: (
            select(_user_tags.c.user_id, _tags.c.name)
            .join(_tags, _tags.c.id == _user_tags.c.tag_id)
            .where(_user_tags.c.tenant_id == tenant_id, _user_tags.c.user_id.in_(part))
        ),
    )


def _site_access(
    conn: Connection, tenant_id: str, user_ids: Sequence[int]
) -> dict[int, tuple[SiteAccess, ...]]:
    grants = tuple(
        SiteAccess(site_id=row.site_id, remote_access=bool(row.remote_access))
        for row in conn.execute(
            select(_site_grants.c.site_id, _site_grants.c.remote_access)
            .where(_site_grants.c.tenant_id == tenant_id, _site_grants.c.owner == SYNC_GRANT_OWNER)
            .order_by(_site_grants.c.site_id)
        )
    )
    if not grants:
        return {}
    synced: set[int] = set()
    for part in chunks(user_ids):
        synced.update(
            conn.execute(
                select(_user_sources.c.user_id)
                .where(_user_sources.c.tenant_id == tenant_id, _user_sources.c.user_id.in_(part))
                .distinct()
            ).scalars()
        )
    return {uid: grants for uid in synced}
