"""Tenants: created by operators, read by their own admins."""

from __future__ import annotations

from gateway.admin.endpoint import Call, Endpoint
from gateway.admin.schemas import TenantCreate, TenantOut
from gateway.errors import NotFoundError
from gateway.store.tenants import TenantRecord, create_tenant, get_tenant


def tenant_out(record: TenantRecord) -> TenantOut:
    return TenantOut(id=record.id, name=record.name, created_at=record.created_at)


def _create(call: Call) -> TenantOut:
    body = call.body_as(TenantCreate)
    return tenant_out(create_tenant(call.engine, body.name, actor=call.actor))


def _get(call: Call) -> TenantOut:
    record = get_tenant(call.engine, call.tenant_id)
    if record is None:  # pragma: no cover - the dispatcher checked it
        raise NotFoundError(f"No tenant with id {call.tenant_id!r}.")
    return tenant_out(record)


ENDPOINTS = (
    Endpoint(
        "POST",
        "/tenants",
        "create_tenant",
        "Create a tenant",
        _create,
        TenantOut,
        status=201,
        body=TenantCreate,
        operator_only=True,
    ),
    Endpoint("GET", "/tenants/{tenant_id}", "get_tenant", "Read a tenant", _get, TenantOut),
)
