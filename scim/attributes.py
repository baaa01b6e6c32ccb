"""The attribute catalog: every schema, attribute and resource type the server supports.

Derived from scim2-models (``User``, ``EnterpriseUser``, ``Group`` and their
``to_schema()``), with the RFC 7643 §3.1 common attributes added and a few
characteristics set to what this server enforces (see ``_OVERRIDES``).

API (all objects are immutable):

- URNs: ``USER_SCHEMA``, ``ENTERPRISE_USER_SCHEMA``, ``GROUP_SCHEMA``.
- ``AttributeType``, ``Mutability``, ``Returned``, ``Uniqueness``: ``StrEnum``s
  whose values are the RFC 7643 §7 keywords (``"dateTime"``, ``"readOnly"``…).
- ``AttributeDef``: one attribute or sub-attribute, with ``name`` (canonical
  case), ``type``, ``multi_valued``, ``description``, ``required``,
  ``case_exact``, ``mutability``, ``returned``, ``uniqueness``,
  ``canonical_values``, ``reference_types``, ``sub_attributes`` (tuples);
  ``sub_attribute(name)`` finds a sub-attribute case-insensitively (or
  ``None``); ``to_dict()`` is its RFC 7643 §7 JSON form.
- ``SchemaDef``: ``id`` (URN), ``name``, ``description``, ``attributes``;
  ``attribute(name)`` (case-insensitive, or ``None``); ``to_dict()`` is the
  RFC 7643 §7 schema resource without ``meta`` (the server adds ``meta`` with
  its own location).
- ``COMMON_ATTRIBUTES``: ``schemas`` (RFC 7643 §3), ``id``, ``externalId``,
  ``meta`` (RFC 7643 §3.1);
  they belong to every resource type and to no published schema.
- ``ResourceType``: ``name`` (``"User"``/``"Group"``), ``endpoint``
  (``"/Users"``), ``description``, ``schema`` (core ``SchemaDef``),
  ``extensions`` (tuple of ``Extension(schema, required)``); ``schemas`` (core
  then extensions); ``schema_for(urn)`` (case-insensitive, or ``None``);
  ``find(schema_urn, name)`` and ``lookup(text)`` resolve an attribute to an
  ``AttributeRef`` or ``None``; ``to_dict()`` is the RFC 7643 §6 resource
  type resource without ``meta``.
- ``AttributeRef``: a resolved attribute: ``schema`` (the extension URN the
  attribute lives under in the JSON, ``None`` for core and common
  attributes), ``attribute`` and ``sub_attribute`` (``AttributeDef``s),
  ``target`` (the sub-attribute if any, else the attribute) and ``path`` (the
  canonical text, e.g. ``name.givenName`` or
  ``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value``).
- ``USER``, ``GROUP``: the two resource types; ``RESOURCE_TYPES``;
  ``SCHEMAS`` (every published schema); ``resource_type(name)`` finds a
  resource type by name case-insensitively, raising ``KeyError``.

``lookup`` accepts ``attr``, ``attr.sub`` and the URN-qualified forms
(``urn:ietf:params:scim:schemas:core:2.0:User:userName``,
``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value``),
all case-insensitively. An unqualified name is looked up in the core schema,
then the common attributes, then each extension (so ``employeeNumber``
resolves to the enterprise extension, as scim2-models does).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

from scim2_models import EnterpriseUser, Group, User
from scim2_models import Resource as _ModelResource

USER_SCHEMA: Final = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER_SCHEMA: Final = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA: Final = "urn:ietf:params:scim:schemas:core:2.0:Group"
SCHEMA_SCHEMA: Final = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE_SCHEMA: Final = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"


class AttributeType(StrEnum):
    STRING = "string"
    BOOLEAN = "boolean"
    DECIMAL = "decimal"
    INTEGER = "integer"
    DATETIME = "dateTime"
    BINARY = "binary"
    REFERENCE = "reference"
    COMPLEX = "complex"


class Mutability(StrEnum):
    READ_ONLY = "readOnly"
    READ_WRITE = "readWrite"
    IMMUTABLE = "immutable"
    WRITE_ONLY = "writeOnly"


class Returned(StrEnum):
    ALWAYS = "always"
    NEVER = "never"
    DEFAULT = "default"
    REQUEST = "request"


class Uniqueness(StrEnum):
    NONE = "none"
    SERVER = "server"
    GLOBAL = "global"


@dataclass(frozen=True, slots=True)
class AttributeDef:
    """One attribute or sub-attribute definition (RFC 7643 §7)."""

    name: str
    type: AttributeType
    multi_valued: bool = False
    description: str = ""
    required: bool = False
    case_exact: bool = False
    mutability: Mutability = Mutability.READ_WRITE
    returned: Returned = Returned.DEFAULT
    uniqueness: Uniqueness = Uniqueness.NONE
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple[AttributeDef, ...] = ()
    _index: dict[str, AttributeDef] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self._index.update({sub.name.casefold(): sub for sub in self.sub_attributes})

    def sub_attribute(self, name: str) -> AttributeDef | None:
        """The sub-attribute called ``name`` (case-insensitive), or ``None``."""
        return self._index.get(name.casefold())

    def to_dict(self) -> dict[str, Any]:
        """The RFC 7643 §7 attribute definition."""
        body: dict[str, Any] = {
            "name": self.name,
            "type": str(self.type),
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": str(self.mutability),
            "returned": str(self.returned),
            "uniqueness": str(self.uniqueness),
        }
        if self.canonical_values:
            body["canonicalValues"] = list(self.canonical_values)
        if self.type is AttributeType.REFERENCE:
            body["referenceTypes"] = list(self.reference_types)
        if self.sub_attributes:
            body["subAttributes"] = [sub.to_dict() for sub in self.sub_attributes]
        return body


@dataclass(frozen=True, slots=True)
class SchemaDef:
    """A schema resource (RFC 7643 §7): its URN and its attributes."""

    id: str
    name: str
    description: str
    attributes: tuple[AttributeDef, ...]
    _index: dict[str, AttributeDef] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self._index.update({attr.name.casefold(): attr for attr in self.attributes})

    def attribute(self, name: str) -> AttributeDef | None:
        """The attribute called ``name`` (case-insensitive), or ``None``."""
        return self._index.get(name.casefold())

    def to_dict(self) -> dict[str, Any]:
        """The schema resource, without ``meta``."""
        return {
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [attr.to_dict() for attr in self.attributes],
        }


@dataclass(frozen=True, slots=True)
class Extension:
    """A schema extension of a resource type (RFC 7643 §6 ``schemaExtensions``)."""

    schema: SchemaDef
    required: bool = False


@dataclass(frozen=True, slots=True)
class AttributeRef:
    """An attribute path resolved against a resource type."""

    schema: str | None
    attribute: AttributeDef
    sub_attribute: AttributeDef | None = None

    @property
    def target(self) -> AttributeDef:
        """The definition the path ends at."""
        return self.sub_attribute or self.attribute

    @property
    def path(self) -> str:
        """Canonical text: names in schema case, URN only for extensions."""
        text = self.attribute.name
        if self.sub_attribute is not None:
            text += "." + self.sub_attribute.name
        return f"{self.schema}:{text}" if self.schema else text


_MAX_LOOKUPS = 1024


# Compared and hashed by identity: parsers cache their results per resource type.
@dataclass(frozen=True, slots=True, eq=False)
class ResourceType:
    """A resource type (RFC 7643 §6) with its core schema and extensions."""

    name: str
    endpoint: str
    description: str
    schema: SchemaDef
    extensions: tuple[Extension, ...] = ()
    _by_urn: dict[str, SchemaDef] = field(init=False, repr=False, default_factory=dict)
    # Paths resolved so far: every request body names the same few dozen.
    _lookups: dict[str, AttributeRef | None] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._by_urn.update({schema.id.casefold(): schema for schema in self.schemas})

    @property
    def schemas(self) -> tuple[SchemaDef, ...]:
        """The core schema, then every extension schema."""
        return (self.schema, *(ext.schema for ext in self.extensions))

    def schema_for(self, urn: str) -> SchemaDef | None:
        """The schema (core or extension) with this URN, case-insensitively."""
        return self._by_urn.get(urn.casefold())

    def find(
        self, schema_urn: str | None, name: str, sub: str | None = None
    ) -> AttributeRef | None:
        """Resolve ``name`` (and ``sub``) in the schema ``schema_urn``, or anywhere if ``None``."""
        found = self._find_attribute(schema_urn, name)
        if found is None:
            return None
        extension, attribute = found
        if sub is None:
            return AttributeRef(extension, attribute)
        sub_attribute = attribute.sub_attribute(sub)
        if sub_attribute is None:
            return None
        return AttributeRef(extension, attribute, sub_attribute)

    def _find_attribute(
        self, schema_urn: str | None, name: str
    ) -> tuple[str | None, AttributeDef] | None:
        if schema_urn is not None:
            schema = self.schema_for(schema_urn)
            if schema is None:
                return None
            if schema is self.schema:
                attribute = schema.attribute(name) or _COMMON_INDEX.get(name.casefold())
                return (None, attribute) if attribute is not None else None
            attribute = schema.attribute(name)
            return (schema.id, attribute) if attribute is not None else None
        attribute = self.schema.attribute(name) or _COMMON_INDEX.get(name.casefold())
        if attribute is not None:
            return None, attribute
        for ext in self.extensions:
            attribute = ext.schema.attribute(name)
            if attribute is not None:
                return ext.schema.id, attribute
        return None

    def lookup(self, text: str) -> AttributeRef | None:
        """Resolve ``attr``, ``attr.sub`` or ``urn:…:attr[.sub]``; ``None`` if unknown."""
        try:
            return self._lookups[text]
        except KeyError:
            pass
        found = self._lookup(text)
        if len(self._lookups) >= _MAX_LOOKUPS:
            # Paths come from clients: keep the cache bounded.
            self._lookups.clear()
        self._lookups[text] = found
        return found

    def _lookup(self, text: str) -> AttributeRef | None:
        schema_urn: str | None = None
        rest = text
        if text[:4].casefold() == "urn:":
            schema_urn, sep, rest = text.rpartition(":")
            if not sep:
                return None
        name, _, sub = rest.partition(".")
        if not name:
            return None
        return self.find(schema_urn, name, sub or None)

    def to_dict(self) -> dict[str, Any]:
        """The resource type resource (RFC 7643 §6), without ``meta``."""
        return {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.schema.id,
            "schemaExtensions": [
                {"schema": ext.schema.id, "required": ext.required} for ext in self.extensions
            ],
        }


def _from_dump(dumped: dict[str, Any]) -> AttributeDef:
    """An ``AttributeDef`` from scim2-models' JSON dump of one attribute."""
    return AttributeDef(
        name=dumped["name"],
        type=AttributeType(dumped["type"]),
        multi_valued=bool(dumped.get("multiValued", False)),
        # scim2-models keeps the docstring line breaks; a schema document wants prose.
        description=" ".join(str(dumped.get("description") or "").split()),
        required=bool(dumped.get("required", False)),
        case_exact=bool(dumped.get("caseExact", False)),
        mutability=Mutability(dumped.get("mutability", "readWrite")),
        returned=Returned(dumped.get("returned", "default")),
        uniqueness=Uniqueness(dumped.get("uniqueness", "none")),
        canonical_values=tuple(dumped.get("canonicalValues") or ()),
        reference_types=tuple(dumped.get("referenceTypes") or ()),
        sub_attributes=tuple(_from_dump(sub) for sub in dumped.get("subAttributes") or ()),
    )


# Where this server departs from scim2-models' annotations, and why:
# - manager.value / manager.$ref: RFC 7643 §4.3 only RECOMMENDS value, and
#   Entra clears the manager with "", so neither can be required.
# - Group displayName: Entra requires group names to be unique in a tenant,
#   and the server enforces it (409 uniqueness), so the schema says so.
_OVERRIDES: Final[dict[tuple[str, str, str | None], dict[str, Any]]] = {
    (ENTERPRISE_USER_SCHEMA, "manager", "value"): {"required": False},
    (ENTERPRISE_USER_SCHEMA, "manager", "$ref"): {"required": False},
    (GROUP_SCHEMA, "displayName", None): {"uniqueness": Uniqueness.SERVER},
}


def _apply_overrides(urn: str, attribute: AttributeDef) -> AttributeDef:
    subs = tuple(
        replace(sub, **_OVERRIDES.get((urn, attribute.name, sub.name), {}))
        for sub in attribute.sub_attributes
    )
    return replace(
        attribute, sub_attributes=subs, **_OVERRIDES.get((urn, attribute.name, None), {})
    )


def _schema_from_model(
    model: type[_ModelResource[Any]] | type[EnterpriseUser], description: str
) -> SchemaDef:
    schema = model.to_schema()
    dumped = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    urn = str(dumped["id"])
    return SchemaDef(
        id=urn,
        name=str(dumped["name"]),
        description=description,
        attributes=tuple(_apply_overrides(urn, _from_dump(attr)) for attr in dumped["attributes"]),
    )


def _read_only(name: str, type_: AttributeType, description: str = "") -> AttributeDef:
    return AttributeDef(
        name, type_, description=description, case_exact=True, mutability=Mutability.READ_ONLY
    )


def _common_attributes() -> tuple[AttributeDef, ...]:
    """RFC 7643 §3 and §3.1: attributes of every resource, published in no schema."""
    return (
        AttributeDef(
            "schemas",
            AttributeType.REFERENCE,
            multi_valued=True,
            description="The schema URNs of the resource's core schema and extensions.",
            required=True,
            case_exact=True,
            mutability=Mutability.READ_ONLY,
            returned=Returned.ALWAYS,
            reference_types=("uri",),
        ),
        AttributeDef(
            "id",
            AttributeType.STRING,
            description="A unique identifier for a SCIM resource, defined by the service provider.",
            case_exact=True,
            mutability=Mutability.READ_ONLY,
            returned=Returned.ALWAYS,
            uniqueness=Uniqueness.SERVER,
        ),
        AttributeDef(
            "externalId",
            AttributeType.STRING,
            description="An identifier for the resource as defined by the provisioning client.",
            case_exact=True,
        ),
        AttributeDef(
            "meta",
            AttributeType.COMPLEX,
            description="A complex attribute containing resource metadata.",
            mutability=Mutability.READ_ONLY,
            sub_attributes=(
                _read_only("resourceType", AttributeType.STRING),
                _read_only("created", AttributeType.DATETIME),
                _read_only("lastModified", AttributeType.DATETIME),
                replace(_read_only("location", AttributeType.REFERENCE), reference_types=("uri",)),
                _read_only("version", AttributeType.STRING),
            ),
        ),
    )


COMMON_ATTRIBUTES: Final = _common_attributes()
_COMMON_INDEX: Final = {attr.name.casefold(): attr for attr in COMMON_ATTRIBUTES}

_USER_SCHEMA_DEF: Final = _schema_from_model(User, "User Account")
_ENTERPRISE_SCHEMA_DEF: Final = _schema_from_model(EnterpriseUser, "Enterprise User")
_GROUP_SCHEMA_DEF: Final = _schema_from_model(Group, "Group")

USER: Final = ResourceType(
    name="User",
    endpoint="/Users",
    description="User Account",
    schema=_USER_SCHEMA_DEF,
    extensions=(Extension(_ENTERPRISE_SCHEMA_DEF, required=False),),
)
GROUP: Final = ResourceType(
    name="Group",
    endpoint="/Groups",
    description="Group",
    schema=_GROUP_SCHEMA_DEF,
)
RESOURCE_TYPES: Final = (USER, GROUP)
SCHEMAS: Final = (_USER_SCHEMA_DEF, _ENTERPRISE_SCHEMA_DEF, _GROUP_SCHEMA_DEF)


def resource_type(name: str) -> ResourceType:
    """The resource type called ``name`` (case-insensitive); ``KeyError`` if none."""
    for candidate in RESOURCE_TYPES:
        if candidate.name.casefold() == name.casefold():
            return candidate
    raise KeyError(name)
