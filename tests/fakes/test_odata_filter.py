"""The $filter parser against a reference evaluation of generated expressions (hypothesis)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fakes.entra.errors import GraphError
from tests.fakes.entra.odata import parse_filter
from tests.fakes.entra.state import USER_PROPERTIES

WORDS = ["ada", "Ada", "o'neil", "ADA L", "", "b"]
texts = st.sampled_from(WORDS)
users = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["a1", "b2", "c3"]),
        "displayName": st.one_of(st.none(), texts),
        "mail": st.one_of(st.none(), texts),
        "accountEnabled": st.booleans(),
    }
)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _fold(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


Expr = tuple[str, Any]


def _leaf() -> st.SearchStrategy[tuple[str, Any]]:
    prop = st.sampled_from(["displayName", "mail"])
    eq = st.tuples(prop, texts).map(
        lambda pv: (f"{pv[0]} eq {_quote(pv[1])}", lambda u, pv=pv: _fold(u[pv[0]]) == _fold(pv[1]))
    )
    starts = st.tuples(prop, texts).map(
        lambda pv: (
            f"startswith({pv[0]},{_quote(pv[1])})",
            lambda u, pv=pv: (
                isinstance(u[pv[0]], str) and u[pv[0]].lower().startswith(pv[1].lower())
            ),
        )
    )
    enabled = st.booleans().map(
        lambda b: (f"accountEnabled eq {str(b).lower()}", lambda u, b=b: u["accountEnabled"] is b)
    )
    in_ids = st.lists(st.sampled_from(["a1", "b2", "c3"]), min_size=1, max_size=3).map(
        lambda ids: (
            f"id in ({', '.join(_quote(i) for i in ids)})",
            lambda u, ids=ids: u["id"] in ids,
        )
    )
    return st.one_of(eq, starts, enabled, in_ids)


def _combine(children: st.SearchStrategy[tuple[str, Any]]) -> st.SearchStrategy[tuple[str, Any]]:
    both = st.tuples(children, children, st.sampled_from(["and", "or"]))
    return both.map(
        lambda t: (
            f"({t[0][0]}) {t[2]} ({t[1][0]})",
            (lambda u, t=t: t[0][1](u) and t[1][1](u))
            if t[2] == "and"
            else (lambda u, t=t: t[0][1](u) or t[1][1](u)),
        )
    )


expressions = st.recursive(_leaf(), _combine, max_leaves=6)


@given(expressions, st.lists(users, min_size=1, max_size=5))
def test_parsed_filter_agrees_with_the_reference(
    expression: tuple[str, Any], sample: list[dict[str, Any]]
) -> None:
    text, reference = expression
    parsed = parse_filter(text, USER_PROPERTIES)
    assert parsed is not None
    for user in sample:
        assert parsed.predicate(user) == reference(user), (text, user)


@given(st.lists(st.sampled_from(["a1", "b2", "c3"]), min_size=1, max_size=60))
def test_id_disjunctions_are_recognised_for_delta(ids: list[str]) -> None:
    parsed = parse_filter(" or ".join(f"id eq {_quote(i)}" for i in ids), USER_PROPERTIES)
    assert parsed is not None
    assert parsed.ids == tuple(ids)
    mixed = parse_filter("id eq 'a1' and displayName eq 'x'", USER_PROPERTIES)
    assert mixed is not None
    assert mixed.ids is None


@given(st.text(max_size=30))
def test_any_text_parses_or_is_a_400(text: str) -> None:
    status = 200
    try:
        parse_filter(text, USER_PROPERTIES)
    except GraphError as error:
        status = error.status
    assert status in (200, 400)


@pytest.mark.parametrize(
    "text", ["mail ne null", "not (accountEnabled eq true)", "endswith(mail,'x')"]
)
def test_advanced_operators_are_flagged(text: str) -> None:
    parsed = parse_filter(text, USER_PROPERTIES)
    assert parsed is not None
    assert parsed.advanced
