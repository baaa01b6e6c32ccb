"""Weak ETags from resource versions, and ``If-Match`` / ``If-None-Match`` (RFC 7644 §3.14)."""

from __future__ import annotations

from scim.errors import ScimError


def parse_if_match(header: str | None) -> int | None:
    """The version an ``If-Match`` header requires (``None``: any, or no header).

    An ETag this server never issued can match nothing: 412.
    """
    if header is None or header.strip() == "*":
        return None
    versions = [_version(tag) for tag in header.split(",")]
    known = [v for v in versions if v is not None]
    if not known:
        raise ScimError(412, None, "If-Match names no version of this resource.")
    return known[0]


def matches(header: str | None, version: int) -> bool:
    """Whether an ``If-None-Match`` (or ``If-Match``) header matches ``version``."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(_version(tag) == version for tag in header.split(","))


def _version(tag: str) -> int | None:
    text = tag.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    return int(text) if text.isdigit() else None
