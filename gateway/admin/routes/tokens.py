"""Admin and SCIM tokens of the tenant; a token's value is shown only when created."""

from __future__ import annotations

from typing import Any

from gateway.admin.endpoint import Call, Endpoint
from gateway.admin.schemas import TokenCreate, TokenCreated, TokenList, TokenOut
from gateway.store.tokens import TokenRecord, create_token, list_tokens, revoke_token

BASE = "/tenants/{tenant_id}/tokens"


def _fields(record: TokenRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind,
        "tenant_id": record.tenant_id,
        "hint": record.hint,
        "created_at": record.created_at,
        "last_used_at": record.last_used_at,
        "revoked_at": record.revoked_at,
    }


def _create(call: Call) -> TokenCreated:
    body = call.body_as(TokenCreate)
    record, value = create_token(
        call.engine, tenant_id=call.tenant_id, kind=body.kind, actor=call.actor
    )
    return TokenCreated(**_fields(record), token=value)


def _list(call: Call) -> TokenList:
    return TokenList(
        items=[TokenOut(**_fields(t)) for t in list_tokens(call.engine, call.tenant_id)]
    )


def _revoke(call: Call) -> None:
    revoke_token(call.engine, call.tenant_id, call.str_param("token_id"), actor=call.actor)


ENDPOINTS = (
    Endpoint(
        "POST",
        BASE,
        "create_token",
        "Create a token (its value is shown once)",
        _create,
        TokenCreated,
        status=201,
        body=TokenCreate,
    ),
    Endpoint("GET", BASE, "list_tokens", "List tokens", _list, TokenList),
    Endpoint(
        "DELETE",
        f"{BASE}/{{token_id}}",
        "revoke_token",
        "Revoke a token",
        _revoke,
        None,
        status=204,
    ),
)
