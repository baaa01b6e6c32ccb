"""``attributes`` and ``excludedAttributes`` (RFC 7644 §3.4.2.5, §3.9)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scim.attributes import AttributeRef, ResourceType, Returned
from scim.errors import ScimError

# Returned whatever is asked (RFC 7643 §3.1 "always", plus what a client needs
# to use an answer: its schemas and its version).
_ALWAYS = ("id", "schemas", "meta")


@dataclass(frozen=True, slots=True)
class Projection:
    include: tuple[AttributeRef, ...] | None = None
    exclude: tuple[AttributeRef, ...] = ()

    @property
    def is_default(self) -> bool:
        return self.include is None and not self.exclude

    def returns(self, name: str, *, default: bool = True) -> bool:
        """Whether the top-level core attribute ``name`` is in the answer."""
        if self.include is not None:
            return any(ref.schema is None and ref.attribute.name == name for ref in self.include)
        if any(
            ref.schema is None and ref.attribute.name == name and ref.sub_attribute is None
            for ref in self.exclude
        ):
            return False
        return default

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.include is not None:
            out = {key: body[key] for key in _ALWAYS if key in body}
            for ref in self.include:
                _copy(body, out, ref)
            return out
        out = dict(body)
        for ref in self.exclude:
            if ref.attribute.returned is Returned.ALWAYS or ref.attribute.name in _ALWAYS:
                continue
            _drop(out, ref)
        return out


def parse_projection(
    rtype: ResourceType | None,
    attributes: str | Sequence[str] | None,
    excluded: str | Sequence[str] | None,
) -> Projection:
    """Read the two parameters (comma-separated, or lists in a search body)."""
    include = _refs(rtype, attributes)
    exclude = _refs(rtype, excluded)
    return Projection(include=include if include else None, exclude=exclude or ())


def _refs(
    rtype: ResourceType | None, value: str | Sequence[str] | None
) -> tuple[AttributeRef, ...]:
    if value is None:
        return ()
    names = value.split(",") if isinstance(value, str) else list(value)
    refs: list[AttributeRef] = []
    for raw in names:
        if not isinstance(raw, str):
            raise ScimError(400, "invalidValue", "Attribute names must be strings.")
        name = raw.strip()
        if not name or rtype is None:
            continue
        ref = rtype.lookup(name)
        # An unknown name selects nothing (RFC 7644 §3.9 asks for no error).
        if ref is not None:
            refs.append(ref)
    return tuple(refs)


def _container(body: dict[str, Any], ref: AttributeRef) -> dict[str, Any] | None:
    if ref.schema is None:
        return body
    holder = body.get(ref.schema)
    return holder if isinstance(holder, dict) else None


def _copy(body: dict[str, Any], out: dict[str, Any], ref: AttributeRef) -> None:
    source = _container(body, ref)
    if source is None:
        return
    name = ref.attribute.name
    if name not in source:
        return
    target = out if ref.schema is None else out.setdefault(ref.schema, {})
    if ref.sub_attribute is None:
        target[name] = source[name]
        return
    sub = ref.sub_attribute.name
    value = source[name]
    if isinstance(value, list):
        items = target.setdefault(name, [dict() for _ in value])
        for kept, item in zip(items, value, strict=False):
            if isinstance(item, dict) and sub in item:
                kept[sub] = item[sub]
        target[name] = [item for item in items if item]
    elif isinstance(value, dict) and sub in value:
        target.setdefault(name, {})[sub] = value[sub]
    if ref.schema is not None and not target:
        out.pop(ref.schema, None)


def _drop(out: dict[str, Any], ref: AttributeRef) -> None:
    source = _container(out, ref)
    if source is None:
        return
    name = ref.attribute.name
    if ref.schema is not None:
        source = dict(source)
        out[ref.schema] = source
    if ref.sub_attribute is None:
        source.pop(name, None)
    else:
        sub = ref.sub_attribute.name
        value = source.get(name)
        if isinstance(value, list):
            source[name] = [
                {k: v for k, v in item.items() if k != sub} if isinstance(item, dict) else item
                for item in value
            ]
        elif isinstance(value, dict):
            source[name] = {k: v for k, v in value.items() if k != sub}
    if ref.schema is not None and not source:
        out.pop(ref.schema, None)
