"""SCIM filters and PATCH paths: parser, typed AST, canonical text, value coercion.

The whole RFC 7644 §3.4.2.2 filter grammar, plus the forms Microsoft Entra
sends (see "Known issues and resolutions with SCIM 2.0 protocol compliance of
the Microsoft Entra user provisioning service").

API:

- ``parse_filter(text, *, resource_type=None, max_length=DEFAULT_MAX_LENGTH,
  max_depth=DEFAULT_MAX_DEPTH) -> Filter``. Operator keywords and
  ``true``/``false``/``null`` are case-insensitive; ``and`` binds tighter than
  ``or``; ``not (…)``; parentheses; value paths ``emails[type eq "work"]``;
  Entra's ``emails[type eq "work"].value eq "x"`` (and ``… .value pr``).
  Any error raises ``ScimError(400, "invalidFilter", detail)`` whose detail
  says what is wrong and at which column (1-based), also for a filter longer
  than ``max_length`` characters or nesting (parentheses, ``not``, brackets)
  deeper than ``max_depth``.
  With ``resource_type`` (``scim.attributes.USER`` / ``GROUP``) every path is
  resolved against the catalog: names take their schema case, ``schema`` is
  set to the extension URN for extension attributes and ``None`` for core and
  common ones (a core URN prefix is dropped), ``definition`` /
  ``sub_definition`` carry the ``AttributeDef``s, a comparison on a complex
  attribute without sub-attribute compares its ``value`` sub-attribute
  (RFC 7644 §3.4.2.2: ``emails co "example.com"``), and unknown attributes,
  operators the attribute type does not allow (``gt`` on a boolean, ``co`` on a
  boolean or complex attribute), attributes never returned (``password``),
  value paths on non-complex attributes and literals that do not fit the type
  (``active eq "maybe"``) raise ``invalidFilter``. Literals are kept as
  written: ``"True"`` stays the string ``"True"``; use ``coerce_value`` to get
  the typed value. ``DEFAULT_MAX_LENGTH`` is 4096 characters,
  ``DEFAULT_MAX_DEPTH`` 32 levels. Results are immutable and cached per
  (text, resource type, limits), so the same text costs one parse.
- ``parse_path(text, *, resource_type=None, max_length=…, max_depth=…) ->
  PatchPath`` for PATCH ``path`` values (RFC 7644 §3.5.2: ``attrPath``,
  ``valuePath``, ``valuePath.subAttr``, URN-qualified), resolved the same way;
  errors raise ``ScimError(400, "invalidPath", detail)``.
- ``to_text(node)`` renders a ``Filter`` or ``PatchPath`` as canonical text
  (lower-case keywords, single spaces, JSON literals, parentheses only where
  needed); ``parse_filter(to_text(f)) == f`` for every filter the parser can
  produce (equality ignores the attached definitions).
- ``coerce_value(attribute, literal, *, scim_type="invalidFilter")``: the
  literal as the type of ``attribute`` (an ``AttributeDef``) wants it: bool
  for booleans (``True``/``"True"``/``"false"``…), int, float, timezone-aware
  ``datetime`` for ``dateTime`` (naive means UTC), str for string, reference
  and binary (numbers become their text), ``None`` stays ``None``. A literal
  that does not fit raises ``ScimError(400, scim_type, detail)``.

AST (immutable dataclasses; ``Filter`` is the union of the node types):

- ``AttrPath(schema, attribute, sub_attribute=None)``; ``definition`` and
  ``sub_definition`` (not compared) and ``target`` (the deepest definition)
  are set once resolved. Inside a value filter, and for the sub-filter of
  Entra's form, paths are relative to the selected attribute: ``attribute``
  names one of its sub-attributes and ``definition`` is that sub-attribute.
- ``Comparison(path, op: CompareOp, value: str | int | float | bool | None)``;
  ``CompareOp`` is a ``StrEnum`` (``CompareOp.EQ.value == "eq"``…);
  ``ORDERING_OPS`` (gt ge lt le) and ``SUBSTRING_OPS`` (co sw ew) group them.
- ``Present(path)`` (``pr``).
- ``And(terms)``, ``Or(terms)``: two or more terms, in order. A chain
  ``a and b and c`` is one node; a parenthesised group stays a node of its own.
- ``Not(filter)``.
- ``ValuePath(path, filter, sub_filter=None)``: ``path[filter]``; Entra's
  ``path[filter].sub op value`` keeps ``sub op value`` in ``sub_filter`` (a
  ``Comparison`` or ``Present`` on a relative path). It matches when one item
  of ``path`` satisfies ``filter`` and ``sub_filter`` together:
  ``matching_filter`` is that conjunction as one ``Filter``.
- ``PatchPath(path, value_filter=None, sub_attribute=None)``:
  ``name.givenName`` is ``PatchPath(AttrPath(None, "name", "givenName"))``;
  ``emails[type eq "work"].value`` is ``PatchPath(AttrPath(None, "emails"),
  <filter>, "value")``; ``sub_definition`` is set once resolved.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, NoReturn, TypeAlias

from scim.attributes import AttributeDef, AttributeType, ResourceType, Returned
from scim.errors import ScimError, quote
from scim.lexer import Kind, Token, tokenize

DEFAULT_MAX_LENGTH: Final = 4096
DEFAULT_MAX_DEPTH: Final = 32

Literal: TypeAlias = str | int | float | bool | None


class CompareOp(StrEnum):
    EQ = "eq"
    NE = "ne"
    CO = "co"
    SW = "sw"
    EW = "ew"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"


ORDERING_OPS: Final = frozenset({CompareOp.GT, CompareOp.GE, CompareOp.LT, CompareOp.LE})
SUBSTRING_OPS: Final = frozenset({CompareOp.CO, CompareOp.SW, CompareOp.EW})


@dataclass(frozen=True, slots=True)
class AttrPath:
    schema: str | None
    attribute: str
    sub_attribute: str | None = None
    definition: AttributeDef | None = field(default=None, compare=False, repr=False)
    sub_definition: AttributeDef | None = field(default=None, compare=False, repr=False)

    @property
    def target(self) -> AttributeDef | None:
        """The definition the path ends at, once resolved."""
        return self.sub_definition if self.sub_attribute is not None else self.definition


@dataclass(frozen=True, slots=True)
class Comparison:
    path: AttrPath
    op: CompareOp
    value: Literal


@dataclass(frozen=True, slots=True)
class Present:
    path: AttrPath


@dataclass(frozen=True, slots=True)
class And:
    terms: tuple[Filter, ...]

    def __post_init__(self) -> None:
        if len(self.terms) < 2:
            raise ValueError("And needs two or more terms")


@dataclass(frozen=True, slots=True)
class Or:
    terms: tuple[Filter, ...]

    def __post_init__(self) -> None:
        if len(self.terms) < 2:
            raise ValueError("Or needs two or more terms")


@dataclass(frozen=True, slots=True)
class Not:
    filter: Filter


@dataclass(frozen=True, slots=True)
class ValuePath:
    path: AttrPath
    filter: Filter
    sub_filter: Comparison | Present | None = None

    @property
    def matching_filter(self) -> Filter:
        """What one item must satisfy: ``filter``, and ``sub_filter`` if any."""
        if self.sub_filter is None:
            return self.filter
        return And((self.filter, self.sub_filter))


Filter: TypeAlias = Comparison | Present | And | Or | Not | ValuePath


@dataclass(frozen=True, slots=True)
class PatchPath:
    path: AttrPath
    value_filter: Filter | None = None
    sub_attribute: str | None = None
    sub_definition: AttributeDef | None = field(default=None, compare=False, repr=False)


# ---------------------------------------------------------------- parsing

_OPERATORS: Final = {op.value: op for op in CompareOp}
_OPERATOR_LIST: Final = "eq, ne, co, sw, ew, gt, ge, lt, le or pr"


# RFC 7644 §3.4.2.2 ATTRNAME (ALPHA *(nameChar)), and RFC 7643's "$ref".
_NAME: Final = re.compile(r"\$ref|[A-Za-z][A-Za-z0-9_-]*")
_NID: Final = re.compile(r"[A-Za-z0-9-]{2,32}")


def _name_ok(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def _urn_ok(urn: str) -> bool:
    # RFC 8141: "urn:" NID ":" NSS, NID of 2 to 32 letters, digits and hyphens.
    parts = urn.split(":", 2)
    return (
        len(parts) == 3
        and parts[0].casefold() == "urn"
        and _NID.fullmatch(parts[1]) is not None
        and bool(parts[2])
    )


class _Parser:
    def __init__(self, text: str, scim_type: str, noun: str, max_depth: int) -> None:
        self.text = text
        self.scim_type = scim_type
        self.noun = noun
        self.max_depth = max_depth
        self.tokens = tokenize(text, self.error)
        self.index = 0
        self.depth = 0

    def failure(self, message: str, position: int) -> ScimError:
        return ScimError(
            400, self.scim_type, f"{message} at column {position + 1} of the {self.noun}"
        )

    def error(self, message: str, position: int) -> NoReturn:
        raise self.failure(message, position)

    def at(self, kind: Kind) -> bool:
        return self.tokens[self.index].kind is kind

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not Kind.END:
            self.index += 1
        return token

    def peek_keyword(self, *words: str) -> bool:
        token = self.token
        return token.kind is Kind.WORD and token.text.casefold() in words

    def expect(self, kind: Kind, what: str) -> Token:
        token = self.token
        if token.kind is not kind:
            self.error(f"expected {what}, found {token.describe()}", token.position)
        return self.advance()

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            self.error(f"the {self.noun} nests deeper than {self.max_depth} levels", token.position)

    def leave(self) -> None:
        self.depth -= 1

    # FILTER = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
    def parse_or(self, in_value: bool) -> Filter:
        terms = [self.parse_and(in_value)]
        while self.peek_keyword("or"):
            self.advance()
            terms.append(self.parse_and(in_value))
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def parse_and(self, in_value: bool) -> Filter:
        terms = [self.parse_unary(in_value)]
        while self.peek_keyword("and"):
            self.advance()
            terms.append(self.parse_unary(in_value))
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def parse_unary(self, in_value: bool) -> Filter:
        token = self.token
        if token.kind is Kind.LPAREN:
            return self.parse_group(in_value)
        if (
            token.kind is Kind.WORD
            and token.text.casefold() == "not"
            and self.tokens[self.index + 1].kind is Kind.LPAREN
        ):
            self.advance()
            return Not(self.parse_group(in_value))
        if token.kind is not Kind.WORD:
            self.error(
                f"expected an attribute name, 'not' or '(', found {token.describe()}",
                token.position,
            )
        return self.parse_attribute_expression(in_value)

    def parse_group(self, in_value: bool) -> Filter:
        opening = self.advance()
        self.enter(opening)
        inner = self.parse_or(in_value)
        token = self.token
        if token.kind is not Kind.RPAREN:
            self.error(
                f"expected 'and', 'or' or ')' to close the '(' at column {opening.position + 1}, "
                f"found {token.describe()}",
                token.position,
            )
        self.advance()
        self.leave()
        return inner

    def parse_attribute_expression(self, in_value: bool) -> Filter:
        name = self.advance()
        path = self.attr_path(name)
        if self.token.kind is Kind.LBRACKET:
            if in_value:
                self.error("a value filter cannot hold another value path", self.token.position)
            if path.sub_attribute is not None:
                self.error(
                    f"a value path applies to an attribute, not to the sub-attribute "
                    f"{quote(name.text)}",
                    name.position,
                )
            value_filter = self.parse_value_filter()
            if not self.at(Kind.DOT):
                return ValuePath(path, value_filter)
            self.advance()
            sub = self.expect(Kind.WORD, "a sub-attribute name after '.'")
            if not _name_ok(sub.text):
                self.error(f"invalid sub-attribute name {quote(sub.text)}", sub.position)
            return ValuePath(path, value_filter, self.parse_test(AttrPath(None, sub.text), sub))
        return self.parse_test(path, name)

    def parse_value_filter(self) -> Filter:
        opening = self.advance()
        self.enter(opening)
        inner = self.parse_or(in_value=True)
        token = self.token
        if token.kind is not Kind.RBRACKET:
            self.error(
                f"expected 'and', 'or' or ']' to close the '[' at column {opening.position + 1}, "
                f"found {token.describe()}",
                token.position,
            )
        self.advance()
        self.leave()
        return inner

    def parse_test(self, path: AttrPath, name: Token) -> Comparison | Present:
        token = self.token
        keyword = token.text.casefold() if token.kind is Kind.WORD else ""
        if keyword == "pr":
            self.advance()
            return Present(path)
        op = _OPERATORS.get(keyword)
        if op is None:
            self.error(
                f"expected an operator ({_OPERATOR_LIST}) after {quote(name.text)}, "
                f"found {token.describe()}",
                token.position,
            )
        self.advance()
        return Comparison(path, op, self.parse_literal(token))

    def parse_literal(self, operator: Token) -> Literal:
        token = self.advance()
        if token.kind in (Kind.STRING, Kind.NUMBER):
            return token.value
        if token.kind is Kind.WORD:
            word = token.text.casefold()
            if word == "true":
                return True
            if word == "false":
                return False
            if word == "null":
                return None
        raise self.failure(
            f"expected a value (a JSON string, a number, true, false or null) after "
            f"{quote(operator.text)}, found {token.describe()}",
            token.position,
        )

    def attr_path(self, token: Token) -> AttrPath:
        """Split ``[URI ":"] ATTRNAME ["." subAttr]`` (the URN ends at the last colon)."""
        text = token.text
        schema: str | None = None
        rest = text
        if text[:4].casefold() == "urn:":
            schema, _, rest = text.rpartition(":")
            if not _urn_ok(schema):
                self.error(
                    f"invalid attribute path {quote(text)} (expected urn:…:attribute)",
                    token.position,
                )
        elif ":" in text:
            self.error(
                f"invalid attribute path {quote(text)} (a schema URN starts with 'urn:')",
                token.position,
            )
        attribute, dot, sub = rest.partition(".")
        if not _name_ok(attribute) or (dot and not _name_ok(sub)):
            self.error(
                f"invalid attribute path {quote(text)} (expected a name such as userName, "
                f"name.givenName or urn:…:User:userName)",
                token.position,
            )
        return AttrPath(schema, attribute, sub if dot else None)

    def finish(self, what: str) -> None:
        token = self.token
        if token.kind is not Kind.END:
            self.error(f"expected {what}, found {token.describe()}", token.position)


def _check_length(text: str, max_length: int, scim_type: str, noun: str) -> None:
    if len(text) > max_length:
        raise ScimError(
            400,
            scim_type,
            f"the {noun} is {len(text)} characters long, over the limit of {max_length}",
        )


# Parsed results are immutable, so repeated filters and paths (every PATCH
# Entra sends names the same few paths) are parsed once. Long texts are not
# kept, so the cache's memory stays small whatever clients send.
_CACHE_SIZE: Final = 4096
_CACHED_LENGTH: Final = 512


def parse_filter(
    text: str,
    *,
    resource_type: ResourceType | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Filter:
    """Parse a filter (RFC 7644 §3.4.2.2); ``ScimError`` ``invalidFilter`` on bad input."""
    if len(text) <= _CACHED_LENGTH:
        return _cached_filter(text, resource_type, max_length, max_depth)
    return _parse_filter(text, resource_type, max_length, max_depth)


def _parse_filter(
    text: str, resource_type: ResourceType | None, max_length: int, max_depth: int
) -> Filter:
    _check_length(text, max_length, "invalidFilter", "filter")
    parser = _Parser(text, "invalidFilter", "filter", max_depth)
    if parser.token.kind is Kind.END:
        parser.error("the filter is empty", 0)
    result = parser.parse_or(in_value=False)
    parser.finish("'and', 'or' or the end of the filter")
    if resource_type is not None:
        result = _Resolver(resource_type, "invalidFilter").filter(result)
    return result


def parse_path(
    text: str,
    *,
    resource_type: ResourceType | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> PatchPath:
    """Parse a PATCH path (RFC 7644 §3.5.2); ``ScimError`` ``invalidPath`` on bad input."""
    if len(text) <= _CACHED_LENGTH:
        return _cached_path(text, resource_type, max_length, max_depth)
    return _parse_path(text, resource_type, max_length, max_depth)


def _parse_path(
    text: str, resource_type: ResourceType | None, max_length: int, max_depth: int
) -> PatchPath:
    _check_length(text, max_length, "invalidPath", "path")
    parser = _Parser(text, "invalidPath", "path", max_depth)
    name = parser.token
    if name.kind is not Kind.WORD:
        parser.error(f"expected an attribute name, found {name.describe()}", name.position)
    parser.advance()
    path = parser.attr_path(name)
    result = PatchPath(path)
    if parser.token.kind is Kind.LBRACKET:
        if path.sub_attribute is not None:
            parser.error(
                f"a value path applies to an attribute, not to the sub-attribute "
                f"{quote(name.text)}",
                name.position,
            )
        value_filter = parser.parse_value_filter()
        sub_attribute: str | None = None
        if parser.at(Kind.DOT):
            parser.advance()
            sub = parser.expect(Kind.WORD, "a sub-attribute name after '.'")
            if not _name_ok(sub.text):
                parser.error(f"invalid sub-attribute name {quote(sub.text)}", sub.position)
            sub_attribute = sub.text
        result = PatchPath(path, value_filter, sub_attribute)
        parser.finish("the end of the path")
    else:
        parser.finish("'[' or the end of the path")
    if resource_type is not None:
        result = _Resolver(resource_type, "invalidPath").patch_path(result)
    return result


_cached_filter = functools.lru_cache(maxsize=_CACHE_SIZE)(_parse_filter)
_cached_path = functools.lru_cache(maxsize=_CACHE_SIZE)(_parse_path)


# ---------------------------------------------------------------- resolution


class _Resolver:
    def __init__(self, resource_type: ResourceType, scim_type: str) -> None:
        self.resource_type = resource_type
        self.scim_type = scim_type

    def fail(self, message: str) -> NoReturn:
        raise ScimError(400, self.scim_type, message)

    def path(self, path: AttrPath) -> AttrPath:
        found = self.resource_type.find(path.schema, path.attribute, path.sub_attribute)
        if found is None:
            shown = _path_text(path)
            if path.schema is not None and self.resource_type.schema_for(path.schema) is None:
                self.fail(f"unknown schema {quote(path.schema)} in {quote(shown)}")
            self.fail(f"unknown attribute {quote(shown)} for {self.resource_type.name} resources")
        if self.scim_type == "invalidFilter" and found.target.returned is Returned.NEVER:
            # A filter on a value never returned (password) would let a client probe it.
            self.fail(f"{quote(found.path)} cannot be filtered on")
        return AttrPath(
            found.schema,
            found.attribute.name,
            found.sub_attribute.name if found.sub_attribute else None,
            found.attribute,
            found.sub_attribute,
        )

    def relative(self, parent: AttrPath, path: AttrPath) -> AttrPath:
        """Resolve a path inside ``parent[...]`` to one of its sub-attributes."""
        assert parent.definition is not None
        shown = _path_text(path)
        if path.sub_attribute is not None or (
            path.schema is not None and path.schema.casefold() != (parent.schema or "").casefold()
        ):
            self.fail(
                f"{quote(shown)} inside {quote(parent.attribute)}[…] must name one of "
                f"its sub-attributes"
            )
        sub = parent.definition.sub_attribute(path.attribute)
        if sub is None:
            self.fail(f"{quote(parent.attribute)} has no sub-attribute {quote(path.attribute)}")
        return AttrPath(None, sub.name, None, sub)

    def filter(self, node: Filter, parent: AttrPath | None = None) -> Filter:
        if isinstance(node, And):
            return And(tuple(self.filter(term, parent) for term in node.terms))
        if isinstance(node, Or):
            return Or(tuple(self.filter(term, parent) for term in node.terms))
        if isinstance(node, Not):
            return Not(self.filter(node.filter, parent))
        if isinstance(node, ValuePath):
            path = self.selection(node.path)
            inner = self.filter(node.filter, path)
            sub_filter = node.sub_filter
            if sub_filter is not None:
                resolved_sub = self.filter(sub_filter, path)
                assert isinstance(resolved_sub, Comparison | Present)
                sub_filter = resolved_sub
            return ValuePath(path, inner, sub_filter)
        path = self.path(node.path) if parent is None else self.relative(parent, node.path)
        if isinstance(node, Present):
            return Present(path)
        return self.comparison(Comparison(path, node.op, node.value))

    def selection(self, path: AttrPath) -> AttrPath:
        resolved = self.path(path)
        assert resolved.definition is not None
        if resolved.definition.type is not AttributeType.COMPLEX:
            self.fail(
                f"{quote(resolved.attribute)} is not a complex attribute: it has no values to "
                f"select with [...]"
            )
        return resolved

    def comparison(self, node: Comparison) -> Comparison:
        path = node.path
        target = path.target
        assert target is not None
        if target.type is AttributeType.COMPLEX:
            value_sub = target.sub_attribute("value") if path.sub_attribute is None else None
            if value_sub is None:
                self.fail(
                    f"{quote(_path_text(path))} is complex: compare one of its sub-attributes"
                )
            path = AttrPath(path.schema, path.attribute, value_sub.name, path.definition, value_sub)
            target = value_sub
        if node.op in ORDERING_OPS and target.type in (
            AttributeType.BOOLEAN,
            AttributeType.BINARY,
        ):
            self.fail(
                f"{node.op.value!r} cannot compare {quote(_path_text(path))}, a {target.type.value}"
            )
        if node.op in SUBSTRING_OPS and target.type is AttributeType.BOOLEAN:
            self.fail(f"{node.op.value!r} cannot compare {quote(_path_text(path))}, a boolean")
        coerce_value(target, node.value, scim_type=self.scim_type)
        return Comparison(path, node.op, node.value)

    def patch_path(self, node: PatchPath) -> PatchPath:
        if node.value_filter is None:
            return PatchPath(self.path(node.path))
        path = self.selection(node.path)
        inner = self.filter(node.value_filter, path)
        if node.sub_attribute is None:
            return PatchPath(path, inner)
        assert path.definition is not None
        sub = path.definition.sub_attribute(node.sub_attribute)
        if sub is None:
            self.fail(f"{quote(path.attribute)} has no sub-attribute {quote(node.sub_attribute)}")
        return PatchPath(path, inner, sub.name, sub)


# ---------------------------------------------------------------- coercion

_TRUE_WORDS: Final = frozenset({"true"})
_FALSE_WORDS: Final = frozenset({"false"})


def coerce_value(
    attribute: AttributeDef, literal: Literal, *, scim_type: str = "invalidFilter"
) -> str | int | float | bool | datetime | None:
    """The literal as ``attribute``'s type wants it (Entra sends booleans as strings)."""
    if literal is None:
        return None

    def refuse(expected: str) -> NoReturn:
        raise ScimError(
            400,
            scim_type,
            f"{quote(attribute.name)} takes {expected}, not {quote(json.dumps(literal))}",
        )

    kind = attribute.type
    if kind is AttributeType.BOOLEAN:
        if isinstance(literal, bool):
            return literal
        if isinstance(literal, str) and literal.strip().casefold() in _TRUE_WORDS | _FALSE_WORDS:
            return literal.strip().casefold() in _TRUE_WORDS
        refuse("a boolean")
    if kind is AttributeType.INTEGER:
        if isinstance(literal, bool):
            refuse("an integer")
        if isinstance(literal, int):
            return literal
        if isinstance(literal, float) and literal.is_integer():
            return int(literal)
        if isinstance(literal, str) and literal.strip().lstrip("+-").isdecimal():
            return int(literal.strip())
        refuse("an integer")
    if kind is AttributeType.DECIMAL:
        if isinstance(literal, bool):
            refuse("a number")
        if isinstance(literal, int | float):
            return float(literal)
        if isinstance(literal, str):
            try:
                number = float(literal)
            except ValueError:
                refuse("a number")
            if math.isfinite(number):
                return number
        refuse("a number")
    if kind is AttributeType.DATETIME:
        if isinstance(literal, str):
            try:
                moment = datetime.fromisoformat(literal.strip())
            except ValueError:
                refuse("a date and time (xsd:dateTime, e.g. 2024-05-01T12:00:00Z)")
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        refuse("a date and time (xsd:dateTime, e.g. 2024-05-01T12:00:00Z)")
    if kind is AttributeType.COMPLEX:
        refuse("an object, compared through its sub-attributes")
    # string, reference, binary
    if isinstance(literal, bool):
        refuse("a string")
    if isinstance(literal, int | float):
        return json.dumps(literal)
    return literal


# ---------------------------------------------------------------- rendering


def _path_text(path: AttrPath) -> str:
    text = (
        path.attribute if path.sub_attribute is None else f"{path.attribute}.{path.sub_attribute}"
    )
    return f"{path.schema}:{text}" if path.schema else text


def _literal_text(value: Literal) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("a filter cannot carry an infinite or NaN number")
    return json.dumps(value, ensure_ascii=False)


def _test_text(node: Comparison | Present) -> str:
    if isinstance(node, Present):
        return f"{_path_text(node.path)} pr"
    return f"{_path_text(node.path)} {node.op.value} {_literal_text(node.value)}"


def _filter_text(node: Filter) -> str:
    if isinstance(node, Comparison | Present):
        return _test_text(node)
    if isinstance(node, Not):
        return f"not ({_filter_text(node.filter)})"
    if isinstance(node, ValuePath):
        text = f"{_path_text(node.path)}[{_filter_text(node.filter)}]"
        if node.sub_filter is not None:
            text += "." + _test_text(node.sub_filter)
        return text
    if isinstance(node, And):
        return " and ".join(
            f"({_filter_text(term)})" if isinstance(term, And | Or) else _filter_text(term)
            for term in node.terms
        )
    return " or ".join(
        f"({_filter_text(term)})" if isinstance(term, Or) else _filter_text(term)
        for term in node.terms
    )


def to_text(node: Filter | PatchPath) -> str:
    """Canonical text of a filter or PATCH path (round-trips through the parser)."""
    if isinstance(node, PatchPath):
        text = _path_text(node.path)
        if node.value_filter is not None:
            text += f"[{_filter_text(node.value_filter)}]"
            if node.sub_attribute is not None:
                text += "." + node.sub_attribute
        return text
    return _filter_text(node)
