"""SCIM filters (the typed AST of :mod:`scim.filter`) as SQL over the SCIM tables.

The server never loads a tenant's resources to filter them: every filter,
sort key and value path becomes one SQL condition. Attributes with a column of
their own (``userName``, ``externalId``, ``displayName``, ``active``, ``id``,
``meta.created``, ``meta.lastModified``) use it, and ``userName eq`` /
``displayName eq`` use the case-folded unique index; every other attribute is
read from the stored JSON (SQLite ``json_extract`` / ``json_each``, PostgreSQL
``jsonb`` operators); ``members`` and ``groups`` join the membership table.
Strings whose schema says ``caseExact: false`` compare case-insensitively
(RFC 7644 §3.4.2.2). Attribute names in the SQL text come from the catalog;
only values are bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.store.scim_resources import Condition, Kind, placeholder
from scim.attributes import AttributeDef, AttributeType
from scim.errors import ScimError, quote
from scim.filter import (
    And,
    AttrPath,
    CompareOp,
    Comparison,
    Filter,
    Not,
    Or,
    Present,
    ValuePath,
    coerce_value,
)

_TABLES = {Kind.USER: "scim_users", Kind.GROUP: "scim_groups"}

# Core attributes with a column: (column, folded key column for caseExact false eq).
_COLUMNS: dict[Kind, dict[tuple[str, str | None], tuple[str, str | None]]] = {
    Kind.USER: {
        ("id", None): ("id", None),
        ("userName", None): ("user_name", "user_name_key"),
        ("externalId", None): ("external_id", None),
        ("displayName", None): ("display_name", None),
        ("active", None): ("active", None),
        ("meta", "created"): ("created_at", None),
        ("meta", "lastModified"): ("updated_at", None),
    },
    Kind.GROUP: {
        ("id", None): ("id", None),
        ("displayName", None): ("display_name", "display_name_key"),
        ("externalId", None): ("external_id", None),
        ("meta", "created"): ("created_at", None),
        ("meta", "lastModified"): ("updated_at", None),
    },
}

# The membership relations: attribute -> (joined table, join condition, sub-attribute columns).
_RELATIONS: dict[tuple[Kind, str], tuple[str, str, dict[str, str]]] = {
    (Kind.GROUP, "members"): (
        "scim_group_members m JOIN scim_users r ON r.seq = m.user_seq",
        "m.group_seq = scim_groups.seq",
        {"value": "r.id", "display": "r.display_name", "type": "'User'"},
    ),
    (Kind.USER, "groups"): (
        "scim_group_members m JOIN scim_groups r ON r.seq = m.group_seq",
        "m.user_seq = scim_users.seq",
        {"value": "r.id", "display": "r.display_name", "type": "'direct'"},
    ),
}


@dataclass(slots=True)
class _Item:
    """Where a path inside ``attr[…]`` reads from."""

    json_base: str | None  # an SQL expression holding the item's JSON
    columns: dict[str, str] = field(default_factory=dict)  # relation sub-attribute columns
    prefix: list[str | int] = field(default_factory=list)  # keys from json_base to the item


class _Compiler:
    def __init__(self, dialect: str, kind: Kind) -> None:
        self.pg = dialect == "postgresql"
        self.kind = kind
        self.table = _TABLES[kind]
        self.params: dict[str, Any] = {}

    # -- values ---------------------------------------------------------------

    def bind(self, value: Any) -> str:
        name = f"f{len(self.params)}"
        self.params[name] = self.adapt(value)
        return placeholder(self.pg, name)

    def adapt(self, value: Any) -> Any:
        """A value as the driver binds it (timestamps as the store keeps them)."""
        if isinstance(value, datetime) and not self.pg:
            # SQLAlchemy's SQLite DateTime format, so column comparisons hold.
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def json_text(self, base: str, keys: list[str | int], *, typed: AttributeType | None) -> str:
        """The JSON value at ``keys`` under ``base`` as SQL (text, number or boolean)."""
        if self.pg:
            source = base if base != self._resource() else f"CAST({base} AS jsonb)"
            path = "{" + ",".join(f'"{k}"' for k in keys) + "}"
            if typed is AttributeType.BOOLEAN:
                return f"({source} #> '{path}')"
            extracted = f"({source} #>> '{path}')"
            if typed in (AttributeType.INTEGER, AttributeType.DECIMAL):
                return f"CAST({extracted} AS numeric)"
            return extracted
        path = "$" + "".join(f"[{k}]" if isinstance(k, int) else f'."{k}"' for k in keys)
        return f"json_extract({base}, '{path}')"

    def _resource(self) -> str:
        return f"{self.table}.resource"

    def elements(self, keys: list[str | int], body: Callable[[str], str]) -> str:
        """EXISTS over the items of the multi-valued attribute at ``keys``."""
        if self.pg:
            doc = f"CAST({self._resource()} AS jsonb)"
            path = "{" + ",".join(f'"{k}"' for k in keys) + "}"
            array = (
                f"CASE WHEN jsonb_typeof({doc} #> '{path}') = 'array' "
                f"THEN {doc} #> '{path}' ELSE '[]'::jsonb END"
            )
            return (
                f"EXISTS (SELECT 1 FROM jsonb_array_elements({array}) AS e(value) "
                f"WHERE {body('e.value')})"
            )
        path = "$" + "".join(f'."{k}"' for k in keys)
        return (
            f"EXISTS (SELECT 1 FROM json_each({self._resource()}, '{path}') AS e "
            f"WHERE e.type = 'object' AND {body('e.value')})"
        )

    # -- filters --------------------------------------------------------------

    def filter(self, node: Filter, item: _Item | None = None) -> str:
        if isinstance(node, And):
            return "(" + " AND ".join(self.filter(t, item) for t in node.terms) + ")"
        if isinstance(node, Or):
            return "(" + " OR ".join(self.filter(t, item) for t in node.terms) + ")"
        if isinstance(node, Not):
            return f"(NOT COALESCE({self.filter(node.filter, item)}, FALSE))"
        if isinstance(node, ValuePath):
            return self.value_path(node, item)
        return self.test(node, item)

    def value_path(self, node: ValuePath, item: _Item | None) -> str:
        if item is not None:
            raise ScimError(400, "invalidFilter", "value paths cannot nest")
        path = node.path
        definition = path.definition
        assert definition is not None
        relation = _RELATIONS.get((self.kind, path.attribute))
        inner = node.matching_filter
        if relation is not None:
            tables, join, columns = relation
            condition = self.filter(inner, _Item(None, columns))
            return f"EXISTS (SELECT 1 FROM {tables} WHERE {join} AND {condition})"
        keys = self._keys(path.schema, path.attribute)
        if definition.multi_valued:
            return self.elements(keys, lambda base: self.filter(inner, _Item(base)))
        # A single-valued complex attribute: its sub-attributes are under its key.
        return self.filter(inner, _Item(self._resource(), prefix=list(keys)))

    def test(self, node: Comparison | Present, item: _Item | None) -> str:
        path = node.path
        target = path.target
        assert target is not None
        if item is not None:
            return self.test_on(node, self.item_expression(item, path), target)
        relation = _RELATIONS.get((self.kind, path.attribute))
        if relation is not None:
            tables, join, columns = relation
            sub = path.sub_attribute or "value"
            column = columns.get(sub)
            if column is None:
                raise ScimError(
                    400, "invalidFilter", f"{quote(path.attribute + '.' + sub)} cannot be filtered"
                )
            if isinstance(node, Present) and path.sub_attribute is None:
                return f"EXISTS (SELECT 1 FROM {tables} WHERE {join})"
            condition = self.test_on(node, column, target)
            return f"EXISTS (SELECT 1 FROM {tables} WHERE {join} AND {condition})"
        mapped = _COLUMNS[self.kind].get((path.attribute, path.sub_attribute))
        if path.schema is None and mapped is not None:
            column, key_column = mapped
            if (
                key_column is not None
                and isinstance(node, Comparison)
                and node.op is CompareOp.EQ
                and isinstance(node.value, str)
            ):
                return f"{self.table}.{key_column} = {self.bind(node.value.strip().lower())}"
            return self.test_on(node, f"{self.table}.{column}", target, column=True)
        definition = path.definition
        assert definition is not None
        keys = self._keys(path.schema, path.attribute)
        if definition.multi_valued:
            item_keys: list[str | int] = [path.sub_attribute] if path.sub_attribute else []
            return self.elements(
                keys,
                lambda base: self.test_on(
                    node,
                    self.json_text(base, item_keys, typed=target.type) if item_keys else base,
                    target,
                ),
            )
        if path.sub_attribute:
            keys.append(path.sub_attribute)
        expression = self.json_text(self._resource(), keys, typed=target.type)
        if isinstance(node, Present) and target.type is AttributeType.COMPLEX:
            expression = self.json_text(self._resource(), keys, typed=None)
            return f"({expression} IS NOT NULL)"
        return self.test_on(node, expression, target)

    def item_expression(self, item: _Item, path: AttrPath) -> str:
        target = path.target
        assert target is not None
        if item.columns:
            column = item.columns.get(path.attribute)
            if column is None:
                raise ScimError(400, "invalidFilter", f"{quote(path.attribute)} cannot be filtered")
            return column
        assert item.json_base is not None
        return self.json_text(item.json_base, [*item.prefix, path.attribute], typed=target.type)

    def test_on(
        self,
        node: Comparison | Present,
        expression: str,
        target: AttributeDef,
        *,
        column: bool = False,
    ) -> str:
        kind = target.type
        if isinstance(node, Present):
            if kind in (AttributeType.STRING, AttributeType.REFERENCE, AttributeType.BINARY):
                return f"({expression} IS NOT NULL AND {expression} <> '')"
            return f"({expression} IS NOT NULL)"
        value = coerce_value(target, node.value)
        op = node.op
        if value is None:
            if op is CompareOp.EQ:
                return f"({expression} IS NULL)"
            if op is CompareOp.NE:
                return f"({expression} IS NOT NULL)"
            raise ScimError(400, "invalidFilter", f"{op.value!r} cannot compare with null")
        if kind is AttributeType.BOOLEAN:
            assert isinstance(value, bool)
            if column or not self.pg:
                literal = ("1" if value else "0") if not self.pg else ("TRUE" if value else "FALSE")
                compared = f"({expression} = {literal})"
            else:
                compared = f"({expression} = '{'true' if value else 'false'}'::jsonb)"
            if op is CompareOp.NE:
                return f"({expression} IS NULL OR NOT {compared})"
            return compared
        if isinstance(value, datetime) and not column:
            value = value.isoformat().replace("+00:00", "Z")
        fold = isinstance(value, str) and not target.case_exact
        left = f"lower({expression})" if fold else expression
        if isinstance(value, str) and fold:
            value = value.lower()
        if op in (CompareOp.CO, CompareOp.SW, CompareOp.EW):
            text_value = str(value)
            if self.pg:
                left = f"CAST({left} AS text)"
            if op is CompareOp.CO:
                function = "strpos" if self.pg else "instr"
                return f"({function}({left}, {self.bind(text_value)}) > 0)"
            if op is CompareOp.SW:
                return f"(substr({left}, 1, {len(text_value)}) = {self.bind(text_value)})"
            return (
                f"(length({left}) >= {len(text_value)} AND "
                f"substr({left}, length({left}) - {len(text_value) - 1}) = {self.bind(text_value)})"
            )
        symbol = {
            CompareOp.EQ: "=",
            CompareOp.NE: "<>",
            CompareOp.GT: ">",
            CompareOp.GE: ">=",
            CompareOp.LT: "<",
            CompareOp.LE: "<=",
        }[op]
        compared = f"({left} {symbol} {self.bind(value)})"
        if op is CompareOp.NE:
            return f"({expression} IS NULL OR {compared})"
        return compared

    def _keys(self, schema: str | None, attribute: str) -> list[str | int]:
        return [schema, attribute] if schema else [attribute]


def compile_filter(dialect: str, kind: Kind, node: Filter) -> Condition:
    """The SQL condition of a resolved filter over ``scim_users`` / ``scim_groups``,
    in the driver's parameter style."""
    compiler = _Compiler(dialect, kind)
    sql = compiler.filter(node)
    return Condition(sql, compiler.params)


def sort_expression(dialect: str, kind: Kind, path: AttrPath) -> str:
    """An ORDER BY expression for ``sortBy`` (multi-valued: the first item)."""
    compiler = _Compiler(dialect, kind)
    target = path.target
    assert target is not None
    assert path.definition is not None
    mapped = _COLUMNS[kind].get((path.attribute, path.sub_attribute))
    if path.schema is None and mapped is not None:
        column, key_column = mapped
        return f"{compiler.table}.{key_column or column}"
    relation = _RELATIONS.get((kind, path.attribute))
    if relation is not None:
        raise ScimError(400, "invalidValue", f"cannot sort by {quote(path.attribute)}")
    keys: list[str | int] = list(compiler._keys(path.schema, path.attribute))
    if path.definition.multi_valued:
        keys.append(0)  # RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its first value
    if path.sub_attribute:
        keys.append(path.sub_attribute)
    expression = compiler.json_text(compiler._resource(), keys, typed=target.type)
    if target.type is AttributeType.STRING and not target.case_exact:
        expression = f"lower({expression})"
    return expression
