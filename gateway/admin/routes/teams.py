"""Teams of the tenant and manual team membership."""

from __future__ import annotations

from gateway.admin.endpoint import Call, Endpoint
from gateway.admin.schemas import (
    MembershipOut,
    MembershipRemovalOut,
    TeamCreate,
    TeamList,
    TeamOut,
)
from gateway.store.teams import (
    TeamRecord,
    add_member,
    create_team,
    list_teams,
    remove_member,
)

BASE = "/tenants/{tenant_id}/teams"
MEMBER = BASE + "/{team_id}/members/{user_id}"


def team_out(record: TeamRecord) -> TeamOut:
    return TeamOut(
        id=str(record.id),
        name=record.name,
        system_key=record.system_key,
        created_at=record.created_at,
    )


def _create(call: Call) -> TeamOut:
    body = call.body_as(TeamCreate)
    return team_out(create_team(call.engine, call.tenant_id, body.name, actor=call.actor))


def _list(call: Call) -> TeamList:
    return TeamList(items=[team_out(t) for t in list_teams(call.engine, call.tenant_id)])


def _add(call: Call) -> MembershipOut:
    membership = add_member(
        call.engine,
        call.tenant_id,
        call.int_param("team_id"),
        call.int_param("user_id"),
        actor=call.actor,
    )
    return MembershipOut(
        team_id=str(membership.team_id),
        user_id=str(membership.user_id),
        owners=list(membership.owners),
    )


def _remove(call: Call) -> MembershipRemovalOut:
    removal = remove_member(
        call.engine,
        call.tenant_id,
        call.int_param("team_id"),
        call.int_param("user_id"),
        actor=call.actor,
    )
    return MembershipRemovalOut(
        team_id=str(removal.team_id),
        user_id=str(removal.user_id),
        removed_owners=list(removal.removed_owners),
        restored_by_sync=removal.restored_by_sync,
    )


ENDPOINTS = (
    Endpoint(
        "POST",
        BASE,
        "create_team",
        "Create a team",
        _create,
        TeamOut,
        status=201,
        body=TeamCreate,
        errors=(409,),
    ),
    Endpoint("GET", BASE, "list_teams", "List teams", _list, TeamList),
    Endpoint(
        "PUT", MEMBER, "add_team_member", "Add a user to a team (manual)", _add, MembershipOut
    ),
    Endpoint(
        "DELETE",
        MEMBER,
        "remove_team_member",
        "Remove a user from a team",
        _remove,
        MembershipRemovalOut,
    ),
)
