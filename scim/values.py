"""Attribute values: tolerant coercion of incoming JSON and in-memory filter matching.

Used by ``scim.patch`` (PATCH, POST and PUT bodies) on the values of one
resource; filters over a tenant's resources are compiled to SQL by the server
instead.

API:

- ``CLEAR``: the sentinel ``coerce`` returns for ``""``, ``null``, ``[]``
  and ``{}`` (Entra clears an attribute with ``""``; RFC 7644 §3.5.2.3 with
  ``null``).
- ``coerce(attribute, raw, *, where)`` -> the JSON value to store for
  ``attribute`` (an ``AttributeDef``), or ``CLEAR``. Booleans written as
  strings (``"True"``) become booleans, numbers given for a string attribute
  become their text, a bare string for a complex attribute with a ``value``
  sub-attribute becomes ``{"value": …}`` (Entra's ``manager``), a single
  item for a multi-valued attribute becomes a one-item list and a one-item
  list for a single-valued complex attribute its item, keys take their
  schema case, read-only sub-attributes (``manager.displayName``) are dropped,
  and ``dateTime`` strings must parse. Anything else that does not fit raises
  ``ScimError(400, "invalidValue")`` naming ``where`` (the attribute path).
- ``matches(item, value_filter)``: whether one value of a multi-valued complex
  attribute (a dict) satisfies a resolved value filter (``scim.filter``
  nodes whose paths name its sub-attributes), with RFC 7644 §3.4.2.2
  semantics: ``caseExact: false`` strings compare case-insensitively,
  booleans and numbers by type (``"True"`` matches ``true``), ``dateTime``
  chronologically.
- ``same_item(attribute, a, b)``: whether two values of a multi-valued
  attribute denote the same entry (same ``value`` and ``type`` when they
  have a ``value``, else equal), so adding one twice does not duplicate it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from scim.attributes import AttributeDef, AttributeType, Mutability
from scim.errors import ScimError, quote
from scim.filter import (
    And,
    CompareOp,
    Comparison,
    Filter,
    Not,
    Or,
    Present,
    ValuePath,
    coerce_value,
)


class _Clear:
    def __repr__(self) -> str:
        return "CLEAR"


CLEAR: Final = _Clear()

_EMPTY: Final = ("", None)


def _invalid(where: str, message: str) -> ScimError:
    return ScimError(400, "invalidValue", f"{quote(where)}: {message}")


def coerce(attribute: AttributeDef, raw: Any, *, where: str) -> Any:
    """The value to store for ``attribute``, or ``CLEAR`` (see the module docstring)."""
    if attribute.multi_valued:
        if raw in _EMPTY or raw == []:
            return CLEAR
        items = raw if isinstance(raw, list) else [raw]
        coerced = [_single(attribute, item, where=where) for item in items]
        kept = [item for item in coerced if item is not CLEAR]
        return kept or CLEAR
    return _single(attribute, raw, where=where)


def _single(attribute: AttributeDef, raw: Any, *, where: str) -> Any:
    if raw in _EMPTY:
        return CLEAR
    if attribute.type is AttributeType.COMPLEX:
        return _complex(attribute, raw, where=where)
    if isinstance(raw, dict | list):
        raise _invalid(where, f"expected a {attribute.type.value}, not a JSON {_json_kind(raw)}")
    if isinstance(raw, float) and raw != raw:  # NaN never reaches here from JSON, but be safe
        raise _invalid(where, "not a number")
    value = coerce_value(attribute, raw, scim_type="invalidValue")
    if isinstance(value, datetime):
        return raw.strip() if isinstance(raw, str) else raw
    return value


def _complex(attribute: AttributeDef, raw: Any, *, where: str) -> Any:
    if isinstance(raw, list) and len(raw) == 1 and not attribute.multi_valued:
        raw = raw[0]  # a one-item list for a single-valued attribute ({"manager": [{…}]})
    if not isinstance(raw, dict):
        value_sub = attribute.sub_attribute("value")
        if value_sub is None or isinstance(raw, list):
            raise _invalid(where, f"expected an object, not a JSON {_json_kind(raw)}")
        # Entra sends the manager as a bare id: it is the value sub-attribute.
        raw = {"value": raw}
    result: dict[str, Any] = {}
    for key, sub_raw in raw.items():
        sub = attribute.sub_attribute(str(key))
        if sub is None:
            raise _invalid(f"{where}.{key}", f"{quote(attribute.name)} has no such sub-attribute")
        if sub.mutability is Mutability.READ_ONLY:
            continue
        value = _single(sub, sub_raw, where=f"{where}.{sub.name}")
        if value is not CLEAR:
            result[sub.name] = value
    return result or CLEAR


def _json_kind(raw: Any) -> str:
    if isinstance(raw, dict):
        return "object"
    if isinstance(raw, list):
        return "array"
    if isinstance(raw, bool):
        return "boolean"
    if isinstance(raw, int | float):
        return "number"
    return "string"


# ---------------------------------------------------------------- matching


def matches(item: Any, value_filter: Filter) -> bool:
    """Whether one item of a multi-valued attribute satisfies a resolved value filter."""
    if isinstance(value_filter, And):
        return all(matches(item, term) for term in value_filter.terms)
    if isinstance(value_filter, Or):
        return any(matches(item, term) for term in value_filter.terms)
    if isinstance(value_filter, Not):
        return not matches(item, value_filter.filter)
    if isinstance(value_filter, ValuePath):
        raise ScimError(400, "invalidFilter", "a value filter cannot hold another value path")
    if not isinstance(item, dict):
        return False
    definition = value_filter.path.target
    if definition is None:
        raise ValueError("matches() needs a filter resolved against the catalog")
    present = _get(item, definition.name)
    if isinstance(value_filter, Present):
        return present not in _EMPTY and present != []
    return _compare(definition, present, value_filter)


def _get(item: dict[str, Any], name: str) -> Any:
    folded = name.casefold()
    for key, value in item.items():
        if key.casefold() == folded:
            return value
    return None


def _compare(definition: AttributeDef, actual: Any, node: Comparison) -> bool:
    op = node.op
    expected: Any = coerce_value(definition, node.value)
    try:
        have: Any = coerce_value(definition, actual, scim_type="invalidValue")
    except ScimError:
        return op is CompareOp.NE
    if expected is None or have is None:
        equal = expected is None and have is None
        return equal if op is CompareOp.EQ else (not equal if op is CompareOp.NE else False)
    if isinstance(expected, str) and isinstance(have, str) and not definition.case_exact:
        expected, have = expected.casefold(), have.casefold()
    if op is CompareOp.EQ:
        return bool(have == expected)
    if op is CompareOp.NE:
        return bool(have != expected)
    if op in (CompareOp.CO, CompareOp.SW, CompareOp.EW):
        if not isinstance(have, str) or not isinstance(expected, str):
            return False
        if op is CompareOp.CO:
            return expected in have
        if op is CompareOp.SW:
            return have.startswith(expected)
        return have.endswith(expected)
    try:
        if op is CompareOp.GT:
            return bool(have > expected)
        if op is CompareOp.GE:
            return bool(have >= expected)
        if op is CompareOp.LT:
            return bool(have < expected)
        return bool(have <= expected)
    except TypeError:
        return False


def same_item(attribute: AttributeDef, a: Any, b: Any) -> bool:
    """Whether two values of a multi-valued attribute denote the same entry."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return bool(a == b)
    value_sub = attribute.sub_attribute("value")
    if value_sub is None or "value" not in a or "value" not in b:
        return bool(a == b)
    if not _same_scalar(value_sub, a["value"], b["value"]):
        return False
    type_sub = attribute.sub_attribute("type")
    if type_sub is None:
        return True
    return _same_scalar(type_sub, a.get("type"), b.get("type"))


def _same_scalar(definition: AttributeDef, a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str) and not definition.case_exact:
        return a.casefold() == b.casefold()
    return bool(a == b)
