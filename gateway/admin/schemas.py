"""Request and response bodies of the admin API.

The routes validate with these models and the OpenAPI document is generated
from them, so the two cannot drift. Request models are strict (JSON types
only, no coercion) and forbid unknown fields; response models forbid unknown
fields so the document describes exactly what is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, SecretStr, Tag

from gateway.admin.fields import (
    EntraTenantId,
    GraphRootUrl,
    Guid,
    HttpsUrl,
    IdString,
    Name100,
    Name200,
    SecretExpiry,
    TagName,
)
from gateway.clouds import CloudName

MAX_LIST_ITEMS = 1000


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class QueryModel(BaseModel):
    # Query strings are text, so numbers are parsed from it (not strict).
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- errors -----------------------------------------------------------------


class ErrorDetail(ResponseModel):
    code: str = Field(description="Stable, machine-readable error code.")
    message: str = Field(description="What is wrong and how to fix it.")
    details: Any = Field(default=None, description="Fields at fault, ids not found, ...")


class ErrorBody(ResponseModel):
    error: ErrorDetail


# -- tenants ----------------------------------------------------------------


class TenantCreate(RequestModel):
    name: Name200


class TenantOut(ResponseModel):
    id: str
    name: str
    created_at: datetime


# -- integration ------------------------------------------------------------


class CloudEndpointsIn(RequestModel):
    login_url: HttpsUrl = Field(
        description="Authority host root, e.g. https://login.microsoftonline.com."
    )
    graph_url: GraphRootUrl = Field(
        description="Graph root without a version, e.g. https://graph.microsoft.com."
    )


class CloudEndpointsOut(ResponseModel):
    login_url: str
    graph_url: str


def _cloud_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "name"
    if isinstance(value, dict | CloudEndpointsIn):
        return "endpoints"
    return None


CloudIn = Annotated[
    Annotated[CloudName, Tag("name")] | Annotated[CloudEndpointsIn, Tag("endpoints")],
    Discriminator(
        _cloud_kind,
        custom_error_type="invalid_cloud",
        custom_error_message=(
            "cloud must be one of 'global', 'usgov', 'dod', 'china', "
            "or an object {login_url, graph_url}"
        ),
    ),
]


class IntegrationPut(RequestModel):
    tenant_id: EntraTenantId
    client_id: Guid = Field(description="Application (client) ID of the app registration.")
    client_secret: SecretStr = Field(
        min_length=1, max_length=1024, description="Client secret value; never returned."
    )
    cloud: CloudIn
    secret_expires_at: SecretExpiry | None = Field(
        default=None, description="When the client secret expires (at most 730 days ahead)."
    )


class IntegrationOut(ResponseModel):
    tenant_id: str = Field(description="The Entra tenant (directory) id or domain.")
    client_id: str
    cloud: CloudName | CloudEndpointsOut
    secret_expires_at: datetime | None
    status: str = Field(
        description="`validated` once the credentials were checked against Entra; "
        "`not_validated` before."
    )
    status_detail: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime
    secret_expires_in_days: int | None = Field(
        default=None, description="Whole days until the client secret expires."
    )
    secret_warning: str | None = Field(
        default=None,
        description="`expires_within_30_days`, `expires_within_7_days`, "
        "`expires_within_1_day` or `expired`; what to do is in `secret_warning_message`.",
    )
    secret_warning_message: str | None = None


class SiteGrantIn(RequestModel):
    site_id: IdString
    remote_access: bool


class SiteGrantOut(ResponseModel):
    site_id: str
    remote_access: bool


class PreferencesPut(RequestModel):
    sync_enabled: bool
    groups: list[Guid] = Field(max_length=MAX_LIST_ITEMS, description="Entra group object ids.")
    sites: list[SiteGrantIn] = Field(max_length=MAX_LIST_ITEMS)
    sync_interval_minutes: int = Field(default=40, ge=5, le=1440)


class PreferencesOut(ResponseModel):
    sync_enabled: bool
    groups: list[str]
    sites: list[SiteGrantOut]
    sync_interval_minutes: int


# -- sync runs --------------------------------------------------------------


class PageQuery(QueryModel):
    cursor: str | None = Field(
        default=None, max_length=100, description="`next_cursor` of the previous page."
    )
    limit: int | None = Field(default=None, ge=1, description="Page size (default 100).")


class RunSummary(ResponseModel):
    id: str
    source: str
    kind: str
    status: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any]
    error: str | None
    report: dict[str, Any] | None = Field(
        default=None,
        description="Graph runs: kind and reason, timings, Graph requests and retries.",
    )


class RunDetail(RunSummary):
    warnings: list[Any]


class SyncQuery(QueryModel):
    dry_run: Literal["true", "false"] = Field(
        default="false", description="`true` computes the exact diff and changes nothing."
    )
    full: Literal["true", "false"] = Field(
        default="false", description="`true` reads everything instead of the delta."
    )


class SyncRunOut(RunDetail):
    """A run just made: its report, and for a dry run the exact diff."""

    changes: list[Any] = Field(
        default_factory=list,
        description="Dry runs: every change the run would make "
        "(action, subject_type, subject_id, before, after).",
    )


# -- group picker -------------------------------------------------------------


class GroupSearchQuery(QueryModel):
    search: str = Field(
        default="", max_length=256, description="Start of the group's display name."
    )
    cursor: str | None = Field(default=None, max_length=4096)
    limit: int | None = Field(default=None, ge=1, le=999)


class EntraGroupOut(ResponseModel):
    id: str
    display_name: str
    will_be_tagged: bool = Field(description="False when the name is longer than 29 characters.")
    duplicate_name: bool = Field(
        description="Another security group of the Entra tenant has the same name."
    )
    warnings: list[str]


class EntraGroupPage(ResponseModel):
    items: list[EntraGroupOut]
    next_cursor: str | None


class RunPage(ResponseModel):
    items: list[RunSummary]
    next_cursor: str | None


# -- sites and teams --------------------------------------------------------


class SiteCreate(RequestModel):
    name: Name100


class SiteOut(ResponseModel):
    id: str
    name: str
    created_at: datetime


class SiteList(ResponseModel):
    items: list[SiteOut]


class TeamCreate(RequestModel):
    name: Name100


class TeamOut(ResponseModel):
    id: str
    name: str
    system_key: str | None = Field(description="Set on teams whose membership sync maintains.")
    created_at: datetime


class TeamList(ResponseModel):
    items: list[TeamOut]


class MembershipOut(ResponseModel):
    team_id: str
    user_id: str
    owners: list[str] = Field(description="`manual` and/or the sync sources holding it.")


class MembershipRemovalOut(ResponseModel):
    team_id: str
    user_id: str
    removed_owners: list[str]
    restored_by_sync: bool = Field(
        description="A sync-owned membership was removed; the next sync adds it back."
    )


# -- users ------------------------------------------------------------------


class UsersQuery(PageQuery):
    email: str | None = Field(default=None, max_length=320, description="Primary Email, any case.")
    tag: str | None = Field(default=None, max_length=100, description="Tag name, any case.")
    team: str | None = Field(default=None, max_length=100, description="Team name, any case.")
    active: Literal["true", "false"] | None = None


class UserOut(ResponseModel):
    id: str
    primary_email: str
    user_name: str
    display_name: str | None
    active: bool
    entra_object_id: str | None
    teams: list[str]
    tags: list[str]
    sites: list[SiteGrantOut]
    warnings: list[str]


class UserPage(ResponseModel):
    items: list[UserOut]
    next_cursor: str | None


# -- tokens -----------------------------------------------------------------


class TokenCreate(RequestModel):
    kind: Literal["admin", "scim"]


class TokenOut(ResponseModel):
    id: str
    kind: str
    tenant_id: str | None
    hint: str = Field(description="Last four characters of the token.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The token value; shown only in this answer.")


class TokenList(ResponseModel):
    items: list[TokenOut]


# -- tags -------------------------------------------------------------------


class TagOut(ResponseModel):
    id: str
    name: str
    created_at: datetime
    from_groups: bool = Field(description="A synced group gives this tag to its members.")


class TagList(ResponseModel):
    items: list[TagOut]


class UserTagCreate(RequestModel):
    name: TagName


class UserTagOut(ResponseModel):
    user_id: str
    tag_id: str
    name: str
