"""SCIM resources ⇄ the store: the columns a resource gives, and how a stored one is answered.

Bodies are normalised by :func:`scim.patch.normalise_resource` (Entra's forms
accepted there); this module only derives the store's columns from the result
and refuses a user the identity rules cannot use (no Primary Email).
Answers are spliced from the stored JSON text without parsing it when no
projection asks for less.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gateway.identity.emails import clean_email, primary_email_from_scim
from gateway.store.scim_resources import GroupFields, Kind, Stored, UserFields
from scim.attributes import (
    GROUP,
    USER,
    ResourceType,
)
from scim.errors import ScimError
from scim.responses import dumps

RESOURCE_TYPES: dict[Kind, ResourceType] = {Kind.USER: USER, Kind.GROUP: GROUP}
ENDPOINTS: dict[Kind, str] = {Kind.USER: "Users", Kind.GROUP: "Groups"}


def invalid(detail: str) -> ScimError:
    return ScimError(400, "invalidValue", detail)


def schemas_of(resource: Mapping[str, Any], rtype: ResourceType) -> list[str]:
    """The ``schemas`` of a resource: its core schema and the extensions it uses."""
    return [
        rtype.schema.id,
        *(ext.schema.id for ext in rtype.extensions if ext.schema.id in resource),
    ]


# -- from a normalized resource to the store ---------------------------------------


class NoPrimaryEmailError(ScimError):
    """A user without a usable e-mail address: the identity store cannot key it (rule 2)."""

    def __init__(self, user_name: str, external_id: str | None) -> None:
        super().__init__(
            400,
            "invalidValue",
            "The user has no usable e-mail address: this service needs a Primary Email (the "
            "emails value marked primary, else of type work, else the first). Map the Entra "
            'mail attribute to emails[type eq "work"].value.',
        )
        self.user_name = user_name
        self.external_id = external_id


def user_fields(resource: dict[str, Any]) -> UserFields:
    """The store columns of a normalized user; refuses what the identity rules cannot use."""
    user_name = resource.get("userName")
    if not isinstance(user_name, str) or not user_name.strip():
        raise invalid("Attribute 'userName' is required.")
    emails = resource.get("emails")
    if clean_email(primary_email_from_scim(emails if isinstance(emails, list) else None)) is None:
        raise NoPrimaryEmailError(user_name, _str_or_none(resource.get("externalId")))
    body = {**resource, "schemas": schemas_of(resource, USER)}
    return UserFields(
        user_name=user_name,
        external_id=_str_or_none(resource.get("externalId")),
        display_name=_str_or_none(resource.get("displayName")),
        active=resource.get("active", True) is not False,
        resource=dumps(body),
    )


def group_fields(resource: dict[str, Any]) -> GroupFields:
    """The store columns of a normalized group (members travel separately)."""
    display_name = resource.get("displayName")
    if not isinstance(display_name, str) or not display_name.strip():
        raise invalid("Attribute 'displayName' is required.")
    body = {**resource, "schemas": schemas_of(resource, GROUP)}
    body.pop("members", None)
    return GroupFields(
        display_name=display_name,
        external_id=_str_or_none(resource.get("externalId")),
        resource=dumps(body),
    )


def member_ids(value: Any) -> list[str]:
    """The user ids of a ``members`` value (items ``{"value": id, …}`` or bare ids)."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    ids: list[str] = []
    for item in items:
        member = item.get("value") if isinstance(item, Mapping) else item
        if not isinstance(member, str) or not member.strip():
            raise invalid("Each member needs a 'value' naming a user id.")
        if isinstance(item, Mapping) and str(item.get("type", "User")).lower() == "group":
            raise invalid("Groups cannot be members of groups here; only users can.")
        ids.append(member.strip())
    return list(dict.fromkeys(ids))


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -- answering -------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def etag(version: int) -> str:
    return f'W/"{version}"'


def location(base_url: str, kind: Kind, resource_id: str) -> str:
    return f"{base_url}/{ENDPOINTS[kind]}/{resource_id}"


def meta(base_url: str, kind: Kind, stored: Stored) -> dict[str, str]:
    return {
        "resourceType": RESOURCE_TYPES[kind].name,
        "created": iso(stored.created_at),
        "lastModified": iso(stored.updated_at),
        "location": location(base_url, kind, stored.id),
        "version": etag(stored.version),
    }


def render_text(
    base_url: str, kind: Kind, stored: Stored, extra: Mapping[str, Any] | None = None
) -> str:
    """The resource as JSON text, spliced from the stored text without parsing it."""
    inner = stored.resource[1:-1]
    parts = [f'"id":{dumps(stored.id)}']
    if inner:
        parts.append(inner)
    for key, value in (extra or {}).items():
        parts.append(f"{dumps(key)}:{dumps(value)}")
    parts.append(f'"meta":{_meta_text(base_url, kind, stored)}')
    return "{" + ",".join(parts) + "}"


def _meta_text(base_url: str, kind: Kind, stored: Stored) -> str:
    """:func:`meta` as JSON text, without building and encoding a dict (a page
    of resources renders a hundred)."""
    return (
        f'{{"resourceType":"{RESOURCE_TYPES[kind].name}",'
        f'"created":"{iso(stored.created_at)}","lastModified":"{iso(stored.updated_at)}",'
        f'"location":{dumps(location(base_url, kind, stored.id))},'
        f'"version":"W/\\"{stored.version}\\""}}'
    )


def render(
    base_url: str, kind: Kind, stored: Stored, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The resource as a dict (for projections and PATCH)."""
    body: dict[str, Any] = {"id": stored.id, **json.loads(stored.resource)}
    if extra:
        body.update(extra)
    body["meta"] = meta(base_url, kind, stored)
    return body


def stored_resource(stored: Stored) -> dict[str, Any]:
    """The stored attributes (without id and meta) as a dict."""
    loaded: dict[str, Any] = json.loads(stored.resource)
    return loaded
