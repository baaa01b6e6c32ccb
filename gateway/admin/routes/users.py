"""Users with their derived access, filtered and paged."""

from __future__ import annotations

from gateway.admin.cursor import decode_cursor, encode_cursor
from gateway.admin.endpoint import Call, Endpoint
from gateway.admin.paging import page_size
from gateway.admin.schemas import SiteGrantOut, UserOut, UserPage, UsersQuery
from gateway.errors import NotFoundError, ValidationFailedError
from gateway.identity.emails import is_plausible_email
from gateway.store.users import UserFilter, UserView, get_user, list_users

BASE = "/tenants/{tenant_id}/users"


def user_out(view: UserView) -> UserOut:
    return UserOut(
        id=str(view.id),
        primary_email=view.primary_email,
        user_name=view.user_name,
        display_name=view.display_name,
        active=view.active,
        entra_object_id=view.entra_object_id,
        teams=list(view.access.teams),
        tags=list(view.access.tags),
        sites=[
            SiteGrantOut(site_id=str(s.site_id), remote_access=s.remote_access)
            for s in view.access.sites
        ],
        warnings=list(view.access.warnings),
    )


def _filters(query: UsersQuery) -> UserFilter:
    email = None if query.email is None else query.email.strip()
    if email is not None and not is_plausible_email(email):
        raise ValidationFailedError(
            "The email filter must be an e-mail address such as ann@example.com.",
            details=[{"field": "email", "message": "not an e-mail address"}],
        )
    return UserFilter(
        email=email,
        tag=query.tag,
        team=query.team,
        active=None if query.active is None else query.active == "true",
    )


def _list(call: Call) -> UserPage:
    query = call.query_as(UsersQuery)
    page = list_users(
        call.engine,
        call.tenant_id,
        filters=_filters(query),
        after_id=decode_cursor("users", query.cursor),
        limit=page_size(query.limit, call.services.settings),
    )
    return UserPage(
        items=[user_out(view) for view in page.items],
        next_cursor=encode_cursor("users", page.next_after),
    )


def _get(call: Call) -> UserOut:
    view = get_user(call.engine, call.tenant_id, call.int_param("user_id"))
    if view is None:
        raise NotFoundError(f"No user with id {call.int_param('user_id')}.")
    return user_out(view)


ENDPOINTS = (
    Endpoint(
        "GET",
        BASE,
        "list_users",
        "List users with their access",
        _list,
        UserPage,
        query=UsersQuery,
    ),
    Endpoint("GET", f"{BASE}/{{user_id}}", "get_user", "Read one user", _get, UserOut),
)
