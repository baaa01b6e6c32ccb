"""OData query options as Graph applies them to users and groups: $select, $top, $filter.

Plus the opaque state tokens of ``$skiptoken`` / ``$deltatoken``: JSON the fake
signs, so a client can only follow them verbatim (a changed token is a 400).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.fakes.entra.errors import GraphError, bad_request, unsupported_query

MAX_TOP = 999

Predicate = Callable[[Mapping[str, Any]], bool]


def parse_select(
    raw: str | None, allowed: Iterable[str], type_name: str, extra: Iterable[str] = ()
) -> tuple[str, ...] | None:
    """The selected property names, ``id`` always among them; None without $select."""
    if raw is None:
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    known = set(allowed) | set(extra)
    for name in names:
        if name not in known:
            raise bad_request(f"Could not find a property named '{name}' on type '{type_name}'.")
    return tuple(dict.fromkeys(["id", *names]))


def parse_top(raw: str | None, default: int) -> int:
    if raw is None:
        return default
    try:
        top = int(raw)
    except ValueError:
        raise bad_request(f"Invalid value '{raw}' for query option $top.") from None
    if not 1 <= top <= MAX_TOP:
        raise unsupported_query(
            f"Invalid page size specified: '{top}'. Must be between 1 and {MAX_TOP} inclusive."
        )
    return top


# --- $filter ---------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<punct>[(),:/])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)"
    r"|(?P<num>-?\d+))"
)


@dataclass(frozen=True)
class Filter:
    """A parsed $filter: the predicate, and whether it needs Graph's advanced query mode."""

    predicate: Predicate
    advanced: bool
    # The ids of an ``id eq 'a' or id eq 'b'`` filter, the only form delta queries accept.
    ids: tuple[str, ...] | None


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise bad_request(f"Syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, properties: frozenset[str]) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.properties = properties
        self.advanced = False
        self.only_ids = True
        self.ids: list[str] = []

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise bad_request(f"Syntax error: unexpected end of '{self.text}'.")
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        _, text = self.next()
        if text.lower() != value:
            raise bad_request(f"Syntax error: expected '{value}' but found '{text}'.")

    def word_is(self, value: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1].lower() == value

    def parse(self) -> Filter:
        predicate = self.parse_or()
        if self.peek() is not None:
            raise bad_request(f"Syntax error at '{self.peek()[1]}' in '{self.text}'.")  # type: ignore[index]
        ids = tuple(self.ids) if self.only_ids and self.ids else None
        return Filter(predicate, self.advanced, ids)

    def parse_or(self) -> Predicate:
        terms = [self.parse_and()]
        while self.word_is("or"):
            self.next()
            terms.append(self.parse_and())
        if len(terms) == 1:
            return terms[0]
        return lambda obj: any(term(obj) for term in terms)

    def parse_and(self) -> Predicate:
        terms = [self.parse_unary()]
        while self.word_is("and"):
            self.next()
            self.only_ids = False
            terms.append(self.parse_unary())
        if len(terms) == 1:
            return terms[0]
        return lambda obj: all(term(obj) for term in terms)

    def parse_unary(self) -> Predicate:
        if self.word_is("not"):
            self.next()
            self.advanced = True
            self.only_ids = False
            inner = self.parse_unary()
            return lambda obj: not inner(obj)
        token = self.peek()
        if token is not None and token[1] == "(":
            self.next()
            inner = self.parse_or()
            self.expect(")")
            return inner
        if self.word_is("startswith") or self.word_is("endswith"):
            return self.parse_function()
        return self.parse_comparison()

    def parse_function(self) -> Predicate:
        name = self.next()[1].lower()
        self.only_ids = False
        if name == "endswith":
            self.advanced = True
        self.expect("(")
        prop = self.property()
        self.expect(",")
        value = self.literal()
        self.expect(")")
        if not isinstance(value, str):
            raise bad_request(f"{name} needs a string literal.")
        needle = value.lower()
        # A null property matches no prefix or suffix, not even ''.
        if name == "startswith":
            return lambda obj: isinstance(v := obj.get(prop), str) and v.lower().startswith(needle)
        return lambda obj: isinstance(v := obj.get(prop), str) and v.lower().endswith(needle)

    def parse_comparison(self) -> Predicate:
        prop = self.property()
        token = self.peek()
        if token is not None and token[1] == "/":
            return self.parse_any(prop)
        op = self.next()[1].lower()
        if op == "in":
            self.only_ids = False
            self.expect("(")
            values = [self.literal()]
            while self.peek() is not None and self.peek()[1] == ",":  # type: ignore[index]
                self.next()
                values.append(self.literal())
            self.expect(")")
            folded = {_fold(v) for v in values}
            return lambda obj: _fold(obj.get(prop)) in folded
        if op not in ("eq", "ne"):
            raise unsupported_query(f"Unsupported operator '{op}' in '{self.text}'.")
        value = self.literal()
        if op == "ne":
            self.advanced = True
            self.only_ids = False
            return lambda obj: _fold(obj.get(prop)) != _fold(value)
        if prop == "id" and isinstance(value, str):
            self.ids.append(value)
        else:
            self.only_ids = False
        folded = _fold(value)
        return lambda obj: _fold(obj.get(prop)) == folded

    def parse_any(self, prop: str) -> Predicate:
        # groupTypes/any(c:c eq 'Unified')
        self.expect("/")
        self.expect("any")
        self.expect("(")
        var = self.next()[1]
        self.expect(":")
        if self.next()[1] != var:
            raise bad_request(f"Syntax error in lambda of '{self.text}'.")
        self.expect("eq")
        value = self.literal()
        self.expect(")")
        self.only_ids = False
        folded = _fold(value)
        return lambda obj: any(_fold(item) == folded for item in obj.get(prop) or ())

    def property(self) -> str:
        kind, name = self.next()
        if kind != "word" or name not in self.properties:
            raise bad_request(f"Could not find a property named '{name}'.")
        return name

    def literal(self) -> Any:
        kind, text = self.next()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return int(text)
        if kind == "word" and text in ("true", "false"):
            return text == "true"
        if kind == "word" and text == "null":
            return None
        raise bad_request(f"Syntax error: '{text}' is not a literal.")


def _fold(value: Any) -> Any:
    # Directory string comparisons are case-insensitive.
    return value.lower() if isinstance(value, str) else value


def parse_filter(raw: str | None, properties: frozenset[str]) -> Filter | None:
    if raw is None or not raw.strip():
        return None
    return _Parser(raw, properties).parse()


def require_advanced(
    filter_: Filter | None, consistency_level: str | None, count: str | None
) -> None:
    """``ne``, ``not`` and ``endswith`` need ``ConsistencyLevel: eventual`` and ``$count=true``."""
    if filter_ is None or not filter_.advanced:
        return
    if (consistency_level or "").lower() != "eventual" or (count or "").lower() != "true":
        raise unsupported_query(
            "Operation not supported without ConsistencyLevel: eventual and $count=true "
            "(advanced query)."
        )


# --- state tokens ------------------------------------------------------------------


class TokenCodec:
    """Opaque, tamper-evident page and delta tokens."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def encode(self, payload: dict[str, Any]) -> str:
        data = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        mac = hmac.new(self._key, data, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(mac + data).decode().rstrip("=")

    def decode(self, token: str, error: GraphError | None = None) -> dict[str, Any]:
        failure = error or bad_request("The page token is not valid.", "Request_BadRequest")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            raise failure from None
        mac, data = raw[:12], raw[12:]
        expected = hmac.new(self._key, data, hashlib.sha256).digest()[:12]
        if not hmac.compare_digest(mac, expected):
            raise failure
        payload: dict[str, Any] = json.loads(data)
        return payload


# --- $search ---------------------------------------------------------------------

_SEARCH_CLAUSE = re.compile(r'\s*"(?P<prop>[A-Za-z]+):(?P<term>[^"]*)"\s*(?P<op>AND|OR)?', re.I)
_WORD = re.compile(r"[^\W_]+")


def parse_search(raw: str, properties: frozenset[str], consistency_level: str | None) -> Predicate:
    """``$search="displayName:sal" OR "mail:ada"``: word-prefix matches, as Graph tokenises.

    Directory objects answer $search only in advanced query mode.
    """
    if (consistency_level or "").lower() != "eventual":
        raise bad_request(
            "Request with $search query parameter only works through MSGraph with a special "
            "request header: 'ConsistencyLevel: eventual'"
        )
    clauses: list[tuple[str, str, str | None]] = []
    pos = 0
    while pos < len(raw):
        match = _SEARCH_CLAUSE.match(raw, pos)
        if match is None or match.end() == pos:
            raise bad_request(f"Syntax error in $search '{raw}'.")
        prop = match["prop"]
        if prop not in properties:
            raise bad_request(f"Could not find a property named '{prop}'.")
        op = match["op"].upper() if match["op"] else None
        clauses.append((prop, match["term"].lower(), op))
        pos = match.end()
    if not clauses or clauses[-1][2] is not None:
        raise bad_request(f"Syntax error in $search '{raw}'.")

    def hit(obj: Mapping[str, Any], prop: str, term: str) -> bool:
        value = obj.get(prop)
        if not isinstance(value, str):
            return False
        return any(word.startswith(term) for word in _WORD.findall(value.lower()))

    def predicate(obj: Mapping[str, Any]) -> bool:
        result = hit(obj, clauses[0][0], clauses[0][1])
        for (_, _, op), (prop, term, _) in itertools.pairwise(clauses):
            if op == "AND":
                result = result and hit(obj, prop, term)
            else:
                result = result or hit(obj, prop, term)
        return result

    return predicate
