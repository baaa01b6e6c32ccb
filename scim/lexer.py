"""Tokens of SCIM filters and PATCH paths (RFC 7644 §3.4.2.2 and §3.5.2).

``tokenize(text, error)`` returns the list of ``Token``s ending with one of kind
``END``; on bad input it calls ``error(message, position)``, which must raise.
Keywords (``and``, ``eq``, ``true``…) are ``WORD`` tokens: only the parser
knows from the position whether a word is a keyword or an attribute path, so
an attribute called ``never`` or ``and`` stays an attribute.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final, NoReturn

from scim.errors import quote


class Kind(Enum):
    WORD = "word"
    STRING = "string"
    NUMBER = "number"
    LPAREN = "("
    RPAREN = ")"
    LBRACKET = "["
    RBRACKET = "]"
    DOT = "."
    END = "end"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    position: int  # 0-based offset of the first character
    value: str | int | float | None = None  # decoded STRING / NUMBER

    def describe(self) -> str:
        """How an error message names this token."""
        if self.kind is Kind.END:
            return "the end of the input"
        return quote(self.text)


ErrorFactory = Callable[[str, int], NoReturn]

_PUNCTUATION: Final = {
    "(": Kind.LPAREN,
    ")": Kind.RPAREN,
    "[": Kind.LBRACKET,
    "]": Kind.RBRACKET,
    ".": Kind.DOT,
}
_SPACE: Final = frozenset(" \t\r\n")
# A word runs until whitespace or a character with a meaning of its own; the
# parser checks its shape, so a bad name gets a message about names.
_WORD: Final = re.compile(r"""[A-Za-z$_][^\s()\[\]"]*""")
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_STRING: Final = re.compile(r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*"')
# Longer literals are no identifier or quantity any store holds, and Python
# refuses to convert integers of thousands of digits.
_MAX_NUMBER_LENGTH: Final = 64
_DELIMITERS: Final = frozenset(" \t\r\n()[]")


def tokenize(text: str, error: ErrorFactory) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    length = len(text)
    while position < length:
        char = text[position]
        if char in _SPACE:
            position += 1
        elif char in _PUNCTUATION:
            tokens.append(Token(_PUNCTUATION[char], char, position))
            position += 1
        elif char == '"':
            tokens.append(_string(text, position, error))
            position += len(tokens[-1].text)
        elif char == "-" or (char.isascii() and char.isdigit()):
            tokens.append(_number(text, position, error))
            position += len(tokens[-1].text)
        else:
            match = _WORD.match(text, position)
            if match is None:
                error(f"unexpected character {quote(char)}", position)
            tokens.append(Token(Kind.WORD, match.group(), position))
            position = match.end()
    tokens.append(Token(Kind.END, "", length))
    return tokens


def _string(text: str, start: int, error: ErrorFactory) -> Token:
    match = _STRING.match(text, start)
    if match is None:
        _string_error(text, start, error)
    raw = match.group()
    return Token(Kind.STRING, raw, start, json.loads(raw))


def _string_error(text: str, start: int, error: ErrorFactory) -> NoReturn:
    """Say what is wrong in a string literal: where it breaks and why."""
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == '"':
            break
        if char == "\\":
            escape = text[position : position + 6]
            if len(escape) > 1 and escape[1] in '"\\/bfnrt':
                position += 2
                continue
            if re.fullmatch(r"\\u[0-9A-Fa-f]{4}", escape):
                position += 6
                continue
            error(f"invalid escape {quote(escape[:2])} in a string", position)
        if ord(char) < 0x20:
            error("control character in a string (write it as a \\u escape)", position)
        position += 1
    error("unterminated string", start)


def _number(text: str, start: int, error: ErrorFactory) -> Token:
    match = _NUMBER.match(text, start)
    if match is None:
        error("invalid number", start)
    end = match.end()
    if end < len(text) and text[end] not in _DELIMITERS:
        error("invalid number", start)
    raw = match.group()
    if len(raw) > _MAX_NUMBER_LENGTH:
        error("number out of range", start)
    value: int | float
    if any(c in raw for c in ".eE"):
        value = float(raw)
        if value in (float("inf"), float("-inf")):
            error("number out of range", start)
    else:
        value = int(raw)
    return Token(Kind.NUMBER, raw, start, value)
