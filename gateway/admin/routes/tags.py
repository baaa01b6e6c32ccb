"""Tags of the tenant, and tags an admin gives a user by hand."""

from __future__ import annotations

from gateway.admin.endpoint import Call, Endpoint
from gateway.admin.schemas import TagList, TagOut, UserTagCreate, UserTagOut
from gateway.store.tags import list_tags, tag_user, untag_user

BASE = "/tenants/{tenant_id}/tags"
USER_TAGS = "/tenants/{tenant_id}/users/{user_id}/tags"


def _list(call: Call) -> TagList:
    return TagList(
        items=[
            TagOut(id=str(t.id), name=t.name, created_at=t.created_at, from_groups=t.from_groups)
            for t in list_tags(call.engine, call.tenant_id)
        ]
    )


def _add(call: Call) -> UserTagOut:
    body = call.body_as(UserTagCreate)
    record = tag_user(
        call.engine, call.tenant_id, call.int_param("user_id"), body.name, actor=call.actor
    )
    return UserTagOut(user_id=str(record.user_id), tag_id=str(record.tag_id), name=record.name)


def _remove(call: Call) -> None:
    untag_user(
        call.engine,
        call.tenant_id,
        call.int_param("user_id"),
        call.int_param("tag_id"),
        actor=call.actor,
    )


ENDPOINTS = (
    Endpoint("GET", BASE, "list_tags", "List tags", _list, TagList),
    Endpoint(
        "POST",
        USER_TAGS,
        "add_user_tag",
        "Give a user a tag by hand (made if new; at most 29 characters)",
        _add,
        UserTagOut,
        body=UserTagCreate,
    ),
    Endpoint(
        "DELETE",
        USER_TAGS + "/{tag_id}",
        "remove_user_tag",
        "Take back a tag given by hand",
        _remove,
        None,
        status=204,
    ),
)
