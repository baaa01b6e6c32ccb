"""Sites (Cloud Gateways) of the tenant."""

from __future__ import annotations

from gateway.admin.endpoint import Call, Endpoint
from gateway.admin.schemas import SiteCreate, SiteList, SiteOut
from gateway.store.sites import SiteRecord, create_site, list_sites

BASE = "/tenants/{tenant_id}/sites"


def site_out(record: SiteRecord) -> SiteOut:
    return SiteOut(id=str(record.id), name=record.name, created_at=record.created_at)


def _create(call: Call) -> SiteOut:
    body = call.body_as(SiteCreate)
    return site_out(create_site(call.engine, call.tenant_id, body.name, actor=call.actor))


def _list(call: Call) -> SiteList:
    return SiteList(items=[site_out(s) for s in list_sites(call.engine, call.tenant_id)])


ENDPOINTS = (
    Endpoint(
        "POST",
        BASE,
        "create_site",
        "Create a site",
        _create,
        SiteOut,
        status=201,
        body=SiteCreate,
        errors=(409,),
    ),
    Endpoint("GET", BASE, "list_sites", "List sites", _list, SiteList),
)
