"""Opaque paging cursors: clients pass ``next_cursor`` back unchanged."""

from __future__ import annotations

import base64
import binascii
import re

from gateway.errors import ValidationFailedError

_BODY = re.compile(r"^([a-z]+):([1-9][0-9]{0,17})$")


def encode_cursor(listing: str, last_id: int | None) -> str | None:
    """The cursor continuing ``listing`` after ``last_id`` (``None`` at the end)."""
    if last_id is None:
        return None
    raw = f"{listing}:{last_id}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(listing: str, cursor: str | None) -> int | None:
    """The id a cursor continues after; a cursor of another listing is refused."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    match = _BODY.fullmatch(text)
    if match is None or match.group(1) != listing:
        raise ValidationFailedError(
            "Invalid cursor; pass the next_cursor of the previous page unchanged.",
            details=[{"field": "cursor", "message": "not a cursor of this listing"}],
        )
    return int(match.group(2))
