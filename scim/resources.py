"""SCIM resources ⇄ the store: what a request body means, and how a stored resource is answered.

Bodies are read against the attribute catalog (:mod:`scim.attributes`), not
through full scim2-models validation: that costs about half a millisecond per
user, more than the rest of a request, and rejects forms Entra sends (a bare
``manager`` id, ``"True"`` strings). What a body may carry follows RFC 7643
and Microsoft's "Known issues and resolutions with SCIM 2.0 protocol
compliance": attribute names match case-insensitively and are stored in
schema case; ``null`` and ``""`` clear; read-only attributes (``id``,
``meta``, ``groups``) and unknown schema URIs are ignored; booleans may be the
strings ``"True"``/``"False"``; a complex attribute given a bare value (the
enterprise ``manager`` as an id) means ``{"value": …}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from gateway.identity.emails import primary_email_from_scim
from gateway.store.scim_resources import GroupFields, Kind, Stored, UserFields
from scim.attributes import (
    GROUP,
    USER,
    AttributeDef,
    AttributeType,
    Mutability,
    ResourceType,
    SchemaDef,
)
from scim.errors import ScimError, quote
from scim.responses import dumps

RESOURCE_TYPES: dict[Kind, ResourceType] = {Kind.USER: USER, Kind.GROUP: GROUP}
ENDPOINTS: dict[Kind, str] = {Kind.USER: "Users", Kind.GROUP: "Groups"}

_TRUE = {"true": True, "false": False}


def invalid(detail: str) -> ScimError:
    return ScimError(400, "invalidValue", detail)


# -- reading bodies ---------------------------------------------------------------


def normalize(body: Mapping[str, Any], rtype: ResourceType) -> dict[str, Any]:
    """The writable attributes of a resource body, in canonical form (see module doc)."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if not isinstance(key, str) or key.casefold() == "schemas":
            continue
        if key[:4].casefold() == "urn:":
            _normalize_urn_key(out, key, value, rtype)
            continue
        name, _, sub = key.partition(".")
        ref = rtype.find(None, name, sub or None)
        if ref is None or (ref.schema is not None and sub):
            continue
        if ref.schema is not None:
            # An unqualified extension attribute (``employeeNumber``) belongs in
            # its extension's object.
            _put(out.setdefault(ref.schema, {}), ref.attribute, value, sub=None)
        else:
            _put(out, ref.attribute, value, sub=ref.sub_attribute)
    for extension in rtype.extensions:
        urn = extension.schema.id
        if urn in out and not out[urn]:
            del out[urn]
    return out


def _normalize_urn_key(out: dict[str, Any], key: str, value: Any, rtype: ResourceType) -> None:
    schema = rtype.schema_for(key)
    if schema is not None:
        if not isinstance(value, Mapping):
            if value is None or value == "":
                if schema is not rtype.schema:
                    out.pop(schema.id, None)
                return
            raise invalid(f"The {quote(key)} extension must be an object.")
        target = out if schema is rtype.schema else out.setdefault(schema.id, {})
        for sub_key, sub_value in value.items():
            if not isinstance(sub_key, str):
                continue
            name, _, sub = sub_key.partition(".")
            attribute = schema.attribute(name) or (
                rtype.find(None, name) if schema is rtype.schema else None
            )
            if isinstance(attribute, AttributeDef):
                _put(target, attribute, sub_value, sub=_sub(attribute, sub))
            elif attribute is not None:
                _put(target, attribute.attribute, sub_value, sub=_sub(attribute.attribute, sub))
        return
    ref = rtype.lookup(key)
    if ref is None:
        return  # an unknown schema URI (Microsoft's own group schema, say): ignored
    if ref.schema is None:
        _put(out, ref.attribute, value, sub=ref.sub_attribute)
    else:
        _put(out.setdefault(ref.schema, {}), ref.attribute, value, sub=ref.sub_attribute)


def _sub(attribute: AttributeDef, sub: str) -> AttributeDef | None:
    return attribute.sub_attribute(sub) if sub else None


def _put(
    target: dict[str, Any], attribute: AttributeDef, value: Any, *, sub: AttributeDef | None
) -> None:
    if attribute.mutability is Mutability.READ_ONLY:
        return
    if sub is not None:
        if sub.mutability is Mutability.READ_ONLY:
            return
        holder = target.get(attribute.name)
        if not isinstance(holder, dict):
            holder = {}
        coerced = coerce(sub, value)
        if coerced is None:
            holder.pop(sub.name, None)
        else:
            holder[sub.name] = coerced
        if holder:
            target[attribute.name] = holder
        else:
            target.pop(attribute.name, None)
        return
    coerced = coerce(attribute, value)
    if coerced is None:
        target.pop(attribute.name, None)
    else:
        target[attribute.name] = coerced


def coerce(attribute: AttributeDef, value: Any) -> Any:
    """``value`` as the attribute's type in canonical form; ``None`` clears it.

    Raises ``invalidValue`` for a value of the wrong type.
    """
    if value is None or value == "":
        return None
    if attribute.multi_valued:
        items = value if isinstance(value, list) else [value]
        one = _single(attribute)
        coerced = [c for c in (coerce(one, item) for item in items) if c is not None]
        return coerced or None
    if attribute.type is AttributeType.COMPLEX:
        if not isinstance(value, Mapping):
            if attribute.sub_attribute("value") is None or isinstance(value, (list, dict)):
                raise invalid(f"Attribute {quote(attribute.name)} must be an object.")
            value = {"value": value}
        out: dict[str, Any] = {}
        for key, sub_value in value.items():
            sub = attribute.sub_attribute(key) if isinstance(key, str) else None
            if sub is None or (sub.mutability is Mutability.READ_ONLY and sub.name != "display"):
                continue
            coerced_sub = coerce(sub, sub_value)
            if coerced_sub is not None:
                out[sub.name] = coerced_sub
        return out or None
    return _scalar(attribute, value)


_SINGLE: dict[int, AttributeDef] = {}


def _single(attribute: AttributeDef) -> AttributeDef:
    """One item of a multi-valued attribute: the same definition, single-valued."""
    found = _SINGLE.get(id(attribute))
    if found is None:
        found = _SINGLE[id(attribute)] = replace(attribute, multi_valued=False)
    return found


def _scalar(attribute: AttributeDef, value: Any) -> Any:
    kind = attribute.type
    if kind is AttributeType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE:
            return _TRUE[value.strip().lower()]
        raise invalid(f"Attribute {quote(attribute.name)} must be a boolean.")
    if kind is AttributeType.INTEGER:
        if isinstance(value, bool):
            raise invalid(f"Attribute {quote(attribute.name)} must be an integer.")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise invalid(f"Attribute {quote(attribute.name)} must be an integer.")
    if kind is AttributeType.DECIMAL:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        raise invalid(f"Attribute {quote(attribute.name)} must be a number.")
    if kind is AttributeType.DATETIME:
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                pass
            else:
                return value
        raise invalid(f"Attribute {quote(attribute.name)} must be an xsd:dateTime.")
    if isinstance(value, (bool, dict, list)):
        raise invalid(f"Attribute {quote(attribute.name)} must be a string.")
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise invalid(f"Attribute {quote(attribute.name)} must be a string.")
    return value


def schemas_of(resource: Mapping[str, Any], rtype: ResourceType) -> list[str]:
    """The ``schemas`` of a resource: its core schema and the extensions it uses."""
    return [
        rtype.schema.id,
        *(ext.schema.id for ext in rtype.extensions if ext.schema.id in resource),
    ]


# -- from a normalized resource to the store ---------------------------------------


def user_fields(resource: dict[str, Any]) -> UserFields:
    """The store columns of a normalized user; refuses what the identity rules cannot use."""
    user_name = resource.get("userName")
    if not isinstance(user_name, str) or not user_name.strip():
        raise invalid("Attribute 'userName' is required.")
    emails = resource.get("emails")
    if primary_email_from_scim(emails if isinstance(emails, list) else None) is None:
        raise invalid(
            "The user has no e-mail address: this service needs a Primary Email (the emails "
            "value marked primary, else of type work, else the first). Map the Entra mail "
            'attribute to emails[type eq "work"].value.'
        )
    body = {"schemas": schemas_of(resource, USER), **resource}
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
    body = {"schemas": schemas_of(resource, GROUP), **resource}
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
    parts.append(f'"meta":{dumps(meta(base_url, kind, stored))}')
    return "{" + ",".join(parts) + "}"


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


def core_schema(kind: Kind) -> SchemaDef:
    return RESOURCE_TYPES[kind].schema
