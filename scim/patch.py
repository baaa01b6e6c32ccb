"""The PATCH engine (RFC 7644 §3.5.2) and body normalisation, tolerant of Entra's forms.

Works on the plain SCIM JSON of one resource as the server stores and serves
it: core and common attributes at the top level, extension attributes under
their schema URN key, names in schema case. Nothing here does I/O.

API:

- ``apply_patch(resource, operations, *, resource_type) -> PatchResult``.
  ``resource`` is the current resource (for ``GROUP`` without ``members``: a
  ``members`` key in it is ignored and left out of the result);
  ``operations`` the ``Operations`` list of a PatchOp request (see
  ``operations_of``); ``resource_type`` is ``scim.attributes.USER`` or
  ``GROUP``. The resource must be complete (its required ``userName`` or
  ``displayName`` present): the result is checked for them. Atomic: the input
  is never mutated, and either every operation applies or ``ScimError`` is
  raised: ``invalidSyntax`` (an operation that is
  not an object, an unknown ``op``, a missing ``value``, a path-less
  add/replace whose value is not an object), ``invalidPath`` (bad or unknown
  path), ``noTarget`` (remove without path; a value path that matches nothing
  and cannot create its item because its filter is not a plain ``eq`` / ``and``
  of ``eq``), ``invalidValue`` (a value that does not fit the attribute, or a
  required attribute left empty), ``mutability`` (a ``path`` naming a
  read-only attribute such as ``id``, ``meta.version`` or ``groups``, or
  changing an immutable attribute that has a value), ``invalidFilter`` (a
  members filter other than ``value eq``).
- ``PatchResult``: ``resource`` (the new resource, a fresh dict), ``changed``
  (whether it differs from the input, members aside), and for groups
  ``members_added`` / ``members_removed`` (frozensets of member ids) and
  ``members_replaced`` (a tuple of member ids replacing every member, or
  ``None``). The new membership is ``members_replaced`` when it is not
  ``None`` (the two sets are then empty), else the current one plus
  ``members_added`` minus ``members_removed`` (disjoint). Adding a present
  member or removing an absent one is left for the server to treat as a no-op.
  ``member_details`` maps an added or replacing member's id to
  ``{"value": id, "type"?: "User"|"Group", "display"?: …}`` when the request
  gave its ``type`` or ``display`` (Entra gives neither).
  Group members are computed from the operations alone, so removing one
  member of a 100k-member group costs O(1):
  ``Add``/``Replace`` ``members`` with a list of ``{"value": id, …}`` (or bare
  ids; ``"$ref": null`` and ``display`` are accepted and dropped);
  ``Remove`` ``members`` with a ``value`` list removes only those (Entra's
  reading); ``Remove`` ``members`` without value removes all
  (``members_replaced == ()``); ``Remove`` ``members[value eq "id"]`` and
  ``or`` of such. Any other filter on members raises ``invalidFilter``.
- ``normalise_resource(body, resource_type) -> dict``: a POST or PUT body as
  the resource to store, coerced as tolerantly as PATCH values (booleans as
  strings, manager as a bare id, ``""``/``null`` omitted, dotted or
  URN-qualified keys, canonical names), with read-only attributes (``id``,
  ``meta``, ``groups``, ``manager.displayName``) and unknown schema URNs
  dropped, ``schemas`` rebuilt from the data present. Unknown attributes of a
  known schema raise ``invalidSyntax``; a missing required attribute
  (``userName``, group ``displayName``) ``invalidValue``. For groups the
  ``members`` come back as a list of ``{"value": id}`` dicts (with ``type`` /
  ``display`` when given), without duplicates.
- ``operations_of(body) -> list[dict]``: the ``Operations`` of a PatchOp body
  (RFC 7644 §3.5.2), checking its ``schemas``; ``invalidSyntax`` otherwise.

Entra forms accepted (Microsoft, "Known issues and resolutions with SCIM 2.0
protocol compliance of the Microsoft Entra user provisioning service" and
"Tutorial: Develop and plan provisioning for a SCIM endpoint"): ``op`` in any
case; ``"True"``/``"False"``; path-less ``Replace`` with keys such as
``name.givenName`` or ``urn:…:enterprise:2.0:User:employeeNumber``; the
manager as a bare id or ``{"value": id}`` and cleared with ``""``; ``""`` and
``null`` clear; add/replace on a value path matching no item creates it from
the filter's ``eq`` terms (``phoneNumbers[type eq "mobile"].value``);
read-only attributes inside a value (``id``, ``meta``, ``schemas``,
``manager.displayName``) and unknown schema URNs, as a key or a path, are
ignored; at most one item of
a multi-valued attribute stays ``primary`` (the one written last).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from scim.attributes import (
    GROUP,
    AttributeDef,
    AttributeType,
    Mutability,
    ResourceType,
    Returned,
)
from scim.errors import ScimError, quote
from scim.filter import (
    And,
    AttrPath,
    CompareOp,
    Comparison,
    Filter,
    Or,
    PatchPath,
    parse_path,
)
from scim.values import CLEAR, coerce, matches, same_item

PATCH_OP_SCHEMA: Final = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

_OPS: Final = frozenset({"add", "replace", "remove"})
_MEMBERS: Final = "members"
_ENTRA_MEMBER_KEYS: Final = frozenset({"value", "$ref"})


@dataclass(frozen=True, slots=True)
class PatchResult:
    resource: dict[str, Any]
    changed: bool
    members_added: frozenset[str] = frozenset()
    members_removed: frozenset[str] = frozenset()
    members_replaced: tuple[str, ...] | None = None
    member_details: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def operations_of(body: Any) -> list[dict[str, Any]]:
    """The ``Operations`` of a PatchOp request body (RFC 7644 §3.5.2)."""
    if not isinstance(body, dict):
        raise ScimError(400, "invalidSyntax", "a PATCH body is a JSON object")
    schemas = _get_ci(body, "schemas")
    if schemas is not None and (
        not isinstance(schemas, list)
        or PATCH_OP_SCHEMA.casefold() not in {str(s).casefold() for s in schemas}
    ):
        raise ScimError(
            400, "invalidSyntax", f"a PATCH body must declare the {PATCH_OP_SCHEMA} schema"
        )
    operations = _get_ci(body, "Operations")
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "invalidSyntax", "a PATCH body needs a non-empty 'Operations' list")
    return operations


def apply_patch(
    resource: dict[str, Any],
    operations: list[dict[str, Any]],
    *,
    resource_type: ResourceType,
) -> PatchResult:
    """Apply PATCH operations atomically; see the module docstring."""
    if not isinstance(operations, list):
        raise ScimError(400, "invalidSyntax", "'Operations' must be a list")
    original = {k: v for k, v in resource.items() if not _is_members(resource_type, k)}
    engine = _Engine(resource_type, copy.deepcopy(original))
    for index, operation in enumerate(operations):
        engine.apply(index, operation)
    engine.finish()
    return PatchResult(
        resource=engine.resource,
        changed=engine.resource != original,
        members_added=frozenset(engine.members.added),
        members_removed=frozenset(engine.members.removed),
        members_replaced=(
            tuple(engine.members.replaced) if engine.members.replaced is not None else None
        ),
        member_details={
            member: detail
            for member, detail in engine.members.details.items()
            if member in engine.members.added
            or (engine.members.replaced is not None and member in engine.members.replaced)
        },
    )


def normalise_resource(body: Any, resource_type: ResourceType) -> dict[str, Any]:
    """A POST/PUT body as the resource to store; see the module docstring."""
    if not isinstance(body, dict):
        raise ScimError(400, "invalidSyntax", "a resource is a JSON object")
    engine = _Engine(resource_type, {}, strict_keys=True)
    engine.apply_pathless("add", body, where="the body")
    engine.resource["schemas"] = []
    engine.finish()
    resource = engine.resource
    if resource_type is GROUP:
        members = dict(engine.members.replaced or {})
        members.update(engine.members.added)
        if members:
            details = engine.members.details
            resource[_MEMBERS] = [details.get(member, {"value": member}) for member in members]
    return resource


def _is_members(resource_type: ResourceType, key: str) -> bool:
    return resource_type is GROUP and key.casefold() == _MEMBERS


def _get_ci(container: dict[str, Any], name: str) -> Any:
    if name in container:
        return container[name]
    folded = name.casefold()
    for key, value in container.items():
        if isinstance(key, str) and key.casefold() == folded:
            return value
    return None


def _key_ci(container: dict[str, Any], name: str) -> str | None:
    """The key under which ``container`` holds ``name``, whatever its case."""
    if name in container:
        return name
    folded = name.casefold()
    for key in container:
        if isinstance(key, str) and key.casefold() == folded:
            return key
    return None


@dataclass
class _Members:
    """Member changes of one request, in order (dicts as ordered sets: O(1) each)."""

    added: dict[str, None] = field(default_factory=dict)
    removed: dict[str, None] = field(default_factory=dict)
    replaced: dict[str, None] | None = None
    # {"value", "type", "display"} of members given with a type or display.
    details: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, ids: Iterable[str]) -> None:
        if self.replaced is not None:
            self.replaced.update(dict.fromkeys(ids))
            return
        for member in ids:
            self.removed.pop(member, None)
            self.added[member] = None

    def remove(self, ids: Iterable[str]) -> None:
        if self.replaced is not None:
            for member in ids:
                self.replaced.pop(member, None)
            return
        for member in ids:
            self.added.pop(member, None)
            self.removed[member] = None

    def replace(self, ids: Iterable[str]) -> None:
        self.added.clear()
        self.removed.clear()
        self.replaced = dict.fromkeys(ids)


class _Engine:
    def __init__(
        self, resource_type: ResourceType, resource: dict[str, Any], *, strict_keys: bool = False
    ) -> None:
        self.rtype = resource_type
        self.resource = resource
        self.members = _Members()
        # normalise_resource refuses unknown attributes instead of calling them bad paths.
        self.strict_keys = strict_keys

    # ------------------------------------------------------------ operations

    def apply(self, index: int, operation: Any) -> None:
        where = f"operation {index + 1}"
        if not isinstance(operation, dict):
            raise ScimError(400, "invalidSyntax", f"{where} is not a JSON object")
        op_raw = _get_ci(operation, "op")
        op = op_raw.casefold() if isinstance(op_raw, str) else None
        if op not in _OPS:
            raise ScimError(
                400,
                "invalidSyntax",
                f"{where}: 'op' must be add, replace or remove, not {quote(op_raw)}",
            )
        path = _get_ci(operation, "path")
        has_value = _key_ci(operation, "value") is not None
        value = _get_ci(operation, "value")
        if path is not None and not isinstance(path, str):
            raise ScimError(400, "invalidPath", f"{where}: 'path' must be a string")
        if path is not None and not path.strip():
            path = None
        if op != "remove" and not has_value:
            raise ScimError(400, "invalidSyntax", f"{where}: {op} needs a 'value'")
        if path is None:
            if op == "remove":
                raise ScimError(400, "noTarget", f"{where}: remove needs a 'path'")
            if not isinstance(value, dict):
                raise ScimError(
                    400,
                    "invalidSyntax",
                    f"{where}: {op} without 'path' needs an object 'value' of attributes",
                )
            self.apply_pathless(op, value, where=where)
            return
        self.apply_path(
            op, path.strip(), value if has_value else None, has_value, where=where, explicit=True
        )

    def apply_pathless(self, op: str, value: dict[str, Any], *, where: str) -> None:
        for key, item in value.items():
            if not isinstance(key, str):
                continue
            if key.casefold() == "schemas":
                continue
            schema = self.rtype.schema_for(key)
            if schema is not None:
                if not isinstance(item, dict):
                    if item in ("", None) and schema is not self.rtype.schema:
                        self.clear_extension(schema.id)
                        continue
                    raise ScimError(
                        400, "invalidValue", f"{where}: {quote(key)} must hold an object"
                    )
                prefix = "" if schema is self.rtype.schema else schema.id + ":"
                for sub_key, sub_item in item.items():
                    if isinstance(sub_key, str):
                        self.apply_path(op, prefix + sub_key, sub_item, True, where=where)
                continue
            if self.unknown_schema(key):
                continue
            self.apply_path(op, key, item, True, where=where)

    def unknown_schema(self, text: str) -> bool:
        """A URN (or URI) of a schema this resource type does not have: ignored."""
        folded = text.casefold()
        if folded.startswith(("http://", "https://")):
            return True
        if not folded.startswith("urn:"):
            return False
        if self.rtype.schema_for(text) is not None:
            return False
        # A value filter may hold colons in its strings: the URN ends before it.
        urn = text.split("[", 1)[0].rpartition(":")[0]
        return self.rtype.schema_for(urn) is None

    def clear_extension(self, urn: str) -> None:
        key = _key_ci(self.resource, urn)
        if key is not None:
            del self.resource[key]

    def apply_path(
        self, op: str, text: str, value: Any, has_value: bool, *, where: str, explicit: bool = False
    ) -> None:
        """Apply one operation to ``text``; ``explicit`` when it is the operation's ``path``."""
        if self.unknown_schema(text):
            return
        extension = self.rtype.schema_for(text)
        if extension is not None:
            # The path is a whole schema: its attributes are the value's keys.
            if op == "remove":
                if extension is not self.rtype.schema:
                    self.clear_extension(extension.id)
                return
            self.apply_pathless(op, {text: value}, where=where)
            return
        if self.strict_keys and self.rtype.lookup(text) is None and "[" not in text:
            raise ScimError(
                400, "invalidSyntax", f"unknown attribute {quote(text)} for {self.rtype.name}"
            )
        path = parse_path(text, resource_type=self.rtype)
        if _is_members(self.rtype, path.path.attribute):
            self.apply_members(op, path, value, has_value, where=where)
            return
        definition = path.path.definition
        assert definition is not None
        target = path.sub_definition or path.path.sub_definition or definition
        if Mutability.READ_ONLY in (definition.mutability, target.mutability):
            if explicit:
                # RFC 7644 §3.5.2: an operation a target's mutability forbids fails.
                raise ScimError(
                    400, "mutability", f"{where}: {quote(text)} is read-only (set by the server)"
                )
            # Read-only values inside a value (meta, id, manager.displayName) are
            # the server's and ignored, as in a PUT body (RFC 7644 §3.5.1).
            return
        if definition.returned is Returned.NEVER:
            # A password is never returned, and the gateway signs users in
            # through Entra: it keeps none.
            return
        target_where = f"{where} ({text})"
        if path.value_filter is not None:
            self.apply_value_path(op, path, definition, value, where=target_where)
        elif path.path.sub_attribute is not None:
            sub = path.path.sub_definition
            assert sub is not None
            self.apply_sub_attribute(op, path.path, definition, sub, value, where=target_where)
        else:
            self.apply_attribute(op, path.path, definition, value, where=target_where)

    # ------------------------------------------------------------ containers

    def container(self, path: AttrPath, *, create: bool) -> dict[str, Any] | None:
        if path.schema is None:
            return self.resource
        key = _key_ci(self.resource, path.schema)
        if key is None:
            if not create:
                return None
            key = path.schema
            self.resource[key] = {}
        holder = self.resource[key]
        if not isinstance(holder, dict):
            if not create:
                return None
            holder = self.resource[key] = {}
        return holder

    def store(self, path: AttrPath, definition: AttributeDef, value: Any) -> None:
        container = self.container(path, create=value is not CLEAR)
        if container is None:
            return
        key = _key_ci(container, definition.name)
        if value is CLEAR:
            if key is not None:
                self.check_mutable(definition, container[key], None, path)
                del container[key]
            return
        if key is not None:
            self.check_mutable(definition, container[key], value, path)
            if key != definition.name:
                del container[key]
        container[definition.name] = value

    def current(self, path: AttrPath, definition: AttributeDef) -> Any:
        container = self.container(path, create=False)
        if container is None:
            return None
        return _get_ci(container, definition.name)

    def check_mutable(self, definition: AttributeDef, old: Any, new: Any, path: AttrPath) -> None:
        if definition.mutability is Mutability.IMMUTABLE and old not in (None, new):
            raise ScimError(
                400, "mutability", f"{quote(definition.name)} is immutable once it has a value"
            )

    # ------------------------------------------------------------ targets

    def apply_attribute(
        self, op: str, path: AttrPath, definition: AttributeDef, value: Any, *, where: str
    ) -> None:
        if op == "remove":
            if definition.multi_valued and value not in (None, "", []):
                self.remove_items(path, definition, value, where=where)
                return
            self.store(path, definition, CLEAR)
            return
        if op == "add" and definition.multi_valued and value == []:
            return  # adding no values (Entra's "roles": []) changes nothing
        new = coerce(definition, value, where=where)
        if new is CLEAR:
            self.store(path, definition, CLEAR)
            return
        if definition.multi_valued:
            if op == "replace":
                self.store(path, definition, _one_primary(definition, new, new))
            else:
                self.add_items(path, definition, new)
            return
        if definition.type is AttributeType.COMPLEX:
            # RFC 7644 §3.5.2.1 and .3: sub-attributes not given are left unchanged.
            old = self.current(path, definition)
            merged = dict(old) if isinstance(old, dict) else {}
            if "value" in new and merged.get("value") != new["value"]:
                # A new manager id is a new manager: the old one's $ref must not linger.
                merged = {}
            merged.update(new)
            self.store(path, definition, merged)
            return
        self.store(path, definition, new)

    def add_items(self, path: AttrPath, definition: AttributeDef, new: list[Any]) -> None:
        old = self.current(path, definition)
        items = [copy.deepcopy(i) for i in old] if isinstance(old, list) else []
        touched: list[Any] = []
        for item in new:
            for position, existing in enumerate(items):
                if same_item(definition, existing, item):
                    if isinstance(existing, dict) and isinstance(item, dict):
                        existing = {**existing, **item}
                        items[position] = existing
                    touched.append(existing)
                    break
            else:
                items.append(item)
                touched.append(item)
        self.store(path, definition, _one_primary(definition, items, touched))

    def remove_items(
        self, path: AttrPath, definition: AttributeDef, value: Any, *, where: str
    ) -> None:
        gone = coerce(definition, value, where=where)
        old = self.current(path, definition)
        if gone is CLEAR or not isinstance(old, list):
            return
        kept = [item for item in old if not any(same_item(definition, item, g) for g in gone)]
        self.store(path, definition, kept or CLEAR)

    def apply_sub_attribute(
        self,
        op: str,
        path: AttrPath,
        definition: AttributeDef,
        sub: AttributeDef,
        value: Any,
        *,
        where: str,
    ) -> None:
        new = CLEAR if op == "remove" else coerce(sub, value, where=where)
        old = self.current(path, definition)
        if definition.multi_valued:
            # emails.value with no filter: every item (none: one new item).
            items = [dict(i) for i in old if isinstance(i, dict)] if isinstance(old, list) else []
            if not items and new is not CLEAR:
                items = [{}]
            for item in items:
                _set_sub(item, sub, new)
            kept = [item for item in items if item]
            self.store(path, definition, _one_primary(definition, kept, kept) if kept else CLEAR)
            return
        merged = dict(old) if isinstance(old, dict) else {}
        if sub.name == "value" and merged.get("value") != new:
            merged.pop("$ref", None)  # it pointed at the previous value
        _set_sub(merged, sub, new)
        self.store(path, definition, merged or CLEAR)

    def apply_value_path(
        self, op: str, path: PatchPath, definition: AttributeDef, value: Any, *, where: str
    ) -> None:
        assert path.value_filter is not None
        old = self.current(path.path, definition)
        items = [copy.deepcopy(i) for i in old] if isinstance(old, list) else []
        if old is not None and not isinstance(old, list):
            items = [copy.deepcopy(old)]
        selected = [i for i, item in enumerate(items) if matches(item, path.value_filter)]
        sub = path.sub_definition
        if op == "remove":
            if sub is None:
                items = [item for i, item in enumerate(items) if i not in selected]
            else:
                for i in selected:
                    _set_sub(items[i], sub, CLEAR)
                items = [item for item in items if item]
            self.store_items(path.path, definition, items, [])
            return
        if sub is not None:
            new = coerce(sub, value, where=where)
            if new is CLEAR and not selected:
                return
        else:
            new = coerce(_item_definition(definition), value, where=where)
            if new is CLEAR:
                items = [item for i, item in enumerate(items) if i not in selected]
                self.store_items(path.path, definition, items, [])
                return
            if not isinstance(new, dict):
                raise ScimError(400, "invalidValue", f"{where}: expected an object")
        named = _item_from_filter(path.value_filter, where=where)
        if not selected:
            # Entra: add or replace on a value path matching nothing creates the item.
            if named is None:
                raise ScimError(
                    400,
                    "noTarget",
                    f"{where}: no value matches the filter, and only a filter of 'eq' terms "
                    f"joined by 'and' says what to create",
                )
            items.append(named)
            selected = [len(items) - 1]
        for i in selected:
            if sub is not None:
                _set_sub(items[i], sub, new)
            elif op == "replace":
                # The replacement keeps what selected it (type eq "work" stays
                # "work"), so replacing twice is replacing once.
                items[i] = {**(named or {}), **new}
            else:
                items[i] = {**items[i], **new}
        touched = [items[i] for i in selected]
        items = [item for item in items if item]
        self.store_items(path.path, definition, items, touched)

    def store_items(
        self, path: AttrPath, definition: AttributeDef, items: list[Any], touched: list[Any]
    ) -> None:
        if not items:
            self.store(path, definition, CLEAR)
        elif definition.multi_valued:
            self.store(path, definition, _one_primary(definition, items, touched))
        else:
            self.store(path, definition, items[0])

    # ------------------------------------------------------------ group members

    def apply_members(
        self, op: str, path: PatchPath, value: Any, has_value: bool, *, where: str
    ) -> None:
        if path.path.sub_attribute is not None or path.sub_attribute is not None:
            raise ScimError(
                400,
                "invalidPath",
                f"{where}: members are added and removed whole; their sub-attributes "
                f"cannot be patched",
            )
        if path.value_filter is not None:
            selected = _member_ids_of_filter(path.value_filter, where=where)
            if op == "remove":
                self.members.remove(selected)
                return
            if op == "replace":
                self.members.remove(selected)
            given = self.member_ids(value, where=where) if has_value else selected
            self.members.add(given)
            return
        if op == "remove":
            if has_value and value not in (None, "", []):
                # Entra: remove only the members listed in value.
                self.members.remove(self.member_ids(value, where=where))
            else:
                self.members.replace(())
            return
        ids = self.member_ids(value, where=where)
        if op == "replace":
            self.members.replace(ids)
        else:
            self.members.add(ids)

    def member_ids(self, value: Any, *, where: str) -> list[str]:
        """The ids of ``[{"value": id, …}, …]`` (or bare ids), in order, once each.

        Only ``value`` matters here (Entra adds ``"$ref": null``); ``type``
        and ``display`` are kept for ``normalise_resource``. A group can take
        thousands of members in one request, hence no per-member coercion.
        """
        if value in (None, "", []):
            return []
        items = value if isinstance(value, list) else [value]
        ids: dict[str, None] = {}
        for item in items:
            if isinstance(item, dict):
                member = _get_ci(item, "value")
                if not isinstance(member, str) or not member.strip():
                    raise ScimError(
                        400, "invalidValue", f"{where}: a member needs a non-empty 'value' (its id)"
                    )
                if len(item) > 1 and not _ENTRA_MEMBER_KEYS.issuperset(
                    k.casefold() for k in item if isinstance(k, str)
                ):
                    # type / display given: coerce (and keep) them. Entra's
                    # {"value", "$ref": null} skips this, so large adds stay cheap.
                    self.members.details[member] = self.member_details(member, item, where)
            elif isinstance(item, str) and item.strip():
                member = item
            else:
                raise ScimError(
                    400, "invalidValue", f"{where}: a member is an object with a 'value' (its id)"
                )
            ids[member] = None
        return list(ids)

    def member_details(self, member: str, item: dict[str, Any], where: str) -> dict[str, Any]:
        definition = self.rtype.schema.attribute(_MEMBERS)
        assert definition is not None
        entry = coerce(definition, [item], where=f"{where} (members)")
        kept = entry[0] if entry is not CLEAR else {}
        return {"value": member, **{k: kept[k] for k in ("type", "display") if k in kept}}

    # ------------------------------------------------------------ final checks

    def finish(self) -> None:
        for schema in self.rtype.schemas:
            if schema is self.rtype.schema:
                continue
            key = _key_ci(self.resource, schema.id)
            if key is not None and not self.resource[key]:
                del self.resource[key]
        for attribute in self.rtype.schema.attributes:
            if attribute.required and attribute.mutability is not Mutability.READ_ONLY:
                value = _get_ci(self.resource, attribute.name)
                if value in (None, "") or (isinstance(value, str) and not value.strip()):
                    raise ScimError(
                        400,
                        "invalidValue",
                        f"{quote(attribute.name)} is required and cannot be empty",
                    )
        schemas_key = _key_ci(self.resource, "schemas")
        if schemas_key is not None:
            present = [self.rtype.schema.id] + [
                ext.schema.id
                for ext in self.rtype.extensions
                if _key_ci(self.resource, ext.schema.id) is not None
            ]
            del self.resource[schemas_key]
            self.resource = {"schemas": present, **self.resource}


def _item_definition(definition: AttributeDef) -> AttributeDef:
    """The definition of one item of a multi-valued attribute."""
    return replace(definition, multi_valued=False)


def _set_sub(item: dict[str, Any], sub: AttributeDef, value: Any) -> None:
    key = _key_ci(item, sub.name)
    if key is not None:
        del item[key]
    if value is not CLEAR:
        item[sub.name] = value


def _one_primary(definition: AttributeDef, items: list[Any], touched: list[Any]) -> list[Any]:
    """RFC 7643 §2.4: at most one item is primary; the last one written wins."""
    if definition.sub_attribute("primary") is None:
        return items
    winner = None
    for item in touched:
        if isinstance(item, dict) and item.get("primary") is True:
            winner = item
    if winner is None:
        return items
    result = []
    for item in items:
        if item is not winner and isinstance(item, dict) and item.get("primary") is True:
            item = {**item, "primary": False}
        result.append(item)
    return result


def _item_from_filter(value_filter: Filter, *, where: str) -> dict[str, Any] | None:
    """The item a value path names, from its ``eq`` terms (``type eq "work"``), if it can."""
    terms = value_filter.terms if isinstance(value_filter, And) else (value_filter,)
    item: dict[str, Any] = {}
    for term in terms:
        if not (isinstance(term, Comparison) and term.op is CompareOp.EQ):
            return None
        definition = term.path.target
        assert definition is not None
        stored = coerce(definition, term.value, where=where)
        if stored is not CLEAR:
            item[definition.name] = stored
    return item


def _member_ids_of_filter(value_filter: Filter, *, where: str) -> list[str]:
    """Ids selected by ``members[value eq "id"]`` or an ``or`` of such."""
    terms = value_filter.terms if isinstance(value_filter, Or) else (value_filter,)
    ids: list[str] = []
    for term in terms:
        if (
            isinstance(term, Comparison)
            and term.op is CompareOp.EQ
            and term.path.attribute == "value"
            and isinstance(term.value, str)
        ):
            if term.value not in ids:
                ids.append(term.value)
            continue
        raise ScimError(
            400,
            "invalidFilter",
            f'{where}: members are selected by id only: members[value eq "id"], '
            f"or several such terms joined by 'or'",
        )
    return ids
