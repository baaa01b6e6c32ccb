"""Property: a filter compiled to SQL selects exactly what RFC 7644 §3.4.2.2 says.

Random filters over a fixed set of users are run in the store (SQLite and
PostgreSQL) and checked against a direct evaluation of the same filter on the
users' JSON: every operator, ``and`` / ``or`` / ``not``, value paths and
multi-valued attributes, compared case-insensitively (every attribute used
here is ``caseExact: false``). Values come from a small alphabet so that
matches are frequent and collation plays no part.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from gateway.store.scim_resources import Kind, UserFields, create_resource, search_resources
from gateway.store.tenants import create_tenant
from scim.attributes import USER
from scim.filter import parse_filter
from scim.filter_sql import compile_filter

ALPHABET = "abAB"
SINGLE = ("userName", "title", "displayName", "name.givenName")
OPS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")

Predicate = Callable[[dict[str, Any]], bool]


def _users() -> list[dict[str, Any]]:
    words = ["a", "ab", "ba", "bb", "aab", "b"]
    users = []
    for i in range(24):
        user: dict[str, Any] = {"userName": f"{words[i % 6]}{'ab'[i % 2]}{i:02d}"}
        if i % 3:
            user["title"] = words[(i * 5) % 6].upper() if i % 4 == 0 else words[(i * 5) % 6]
        if i % 5:
            user["displayName"] = words[(i * 7) % 6]
        if i % 2:
            user["name"] = {"givenName": words[i % 4]}
        emails = [
            {"type": ["work", "home"][j % 2], "value": words[(i + j) % 6]} for j in range(i % 3)
        ]
        if emails:
            user["emails"] = emails
        users.append(user)
    return users


def _get(user: dict[str, Any], path: str) -> Any:
    value: Any = user
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _compare(op: str, have: Any, want: str) -> bool:
    if op == "pr":
        return have is not None and have != ""
    if have is None:
        return op == "ne"
    left, right = str(have).lower(), want.lower()
    return {
        "eq": left == right,
        "ne": left != right,
        "co": right in left,
        "sw": left.startswith(right),
        "ew": left.endswith(right),
        "gt": left > right,
        "ge": left >= right,
        "lt": left < right,
        "le": left <= right,
    }[op]


def _literal(value: str) -> str:
    return json.dumps(value)


@st.composite
def _test(draw: st.DrawFn) -> tuple[str, Predicate]:
    kind = draw(st.sampled_from(["single", "multi", "value_path"]))
    value = draw(st.text(ALPHABET, min_size=1, max_size=3))
    op = draw(st.sampled_from((*OPS, "pr")))
    tail = "pr" if op == "pr" else f"{op} {_literal(value)}"
    if kind == "single":
        path = draw(st.sampled_from(SINGLE))
        return f"{path} {tail}", lambda u: _compare(op, _get(u, path), value)
    if kind == "multi":
        sub = draw(st.sampled_from(["value", "type"]))
        text = f"emails.{sub} {tail}"
        return text, lambda u: any(_compare(op, e.get(sub), value) for e in u.get("emails", []))
    email_type = draw(st.sampled_from(["work", "home"]))
    text = f'emails[type eq "{email_type}" and value {tail}]'
    return text, lambda u: any(
        e["type"] == email_type and _compare(op, e.get("value"), value) for e in u.get("emails", [])
    )


def _combine(children: st.SearchStrategy[tuple[str, Predicate]]) -> st.SearchStrategy[Any]:
    def both(pair: tuple[tuple[str, Predicate], tuple[str, Predicate]], joiner: str) -> Any:
        (left, lp), (right, rp) = pair
        if joiner == "and":
            return f"({left}) and ({right})", lambda u: lp(u) and rp(u)
        return f"({left}) or ({right})", lambda u: lp(u) or rp(u)

    def negate(child: tuple[str, Predicate]) -> Any:
        text, predicate = child
        return f"not ({text})", lambda u: not predicate(u)

    return st.one_of(
        st.tuples(children, children).map(lambda pair: both(pair, "and")),
        st.tuples(children, children).map(lambda pair: both(pair, "or")),
        children.map(negate),
    )


FILTERS = st.recursive(_test(), _combine, max_leaves=4)


def test_sql_filters_select_what_the_rfc_says(engine: Engine) -> None:
    tenant = create_tenant(engine, "Props", actor="test")
    users = _users()
    ids: dict[str, dict[str, Any]] = {}
    for user in users:
        body = {**user, "emails": user.get("emails", [])}
        stored = create_resource(
            engine,
            tenant.id,
            UserFields(
                user_name=user["userName"],
                external_id=None,
                display_name=user.get("displayName"),
                active=True,
                resource=json.dumps(body),
            ),
        )
        ids[stored.id] = user
    dialect = engine.dialect.name

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(FILTERS)
    def check(case: tuple[str, Predicate]) -> None:
        text, predicate = case
        condition = compile_filter(dialect, Kind.USER, parse_filter(text, resource_type=USER))
        found = search_resources(engine, tenant.id, Kind.USER, condition=condition, limit=100)
        selected = {stored.id for stored in found.items}
        expected = {user_id for user_id, user in ids.items() if predicate(user)}
        assert selected == expected, text
        assert found.total == len(expected)

    check()
