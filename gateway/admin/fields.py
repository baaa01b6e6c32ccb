"""Field types of the admin API, each with the message an admin needs to fix a bad value."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
ID_PATTERN = r"^[1-9][0-9]{0,17}$"
HEX_ID_PATTERN = r"^[0-9a-f]{32}$"
SECRET_LIFETIME_MAX = timedelta(days=730)

_GUID = re.compile(GUID_PATTERN)
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
)
_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_API_VERSION_SUFFIX = re.compile(r"/(v1\.0|beta)$", re.IGNORECASE)


def _guid(value: str) -> str:
    if not _GUID.fullmatch(value):
        raise ValueError("must be a GUID like 00000000-0000-0000-0000-000000000000")
    return value.lower()


def _id_string(value: str) -> str:
    if not re.fullmatch(ID_PATTERN, value):
        raise ValueError('must be a numeric id as a string, like "12"')
    return value


def _entra_tenant(value: str) -> str:
    cleaned = value.strip().lower()
    if _GUID.fullmatch(cleaned) or _DOMAIN.fullmatch(cleaned):
        return cleaned
    raise ValueError(
        "must be the Directory (tenant) ID as a GUID, or a verified domain such as "
        "contoso.onmicrosoft.com"
    )


def _https_root(value: str) -> str:
    cleaned = value.strip()
    if not cleaned.isascii() or any(ch.isspace() or not ch.isprintable() for ch in cleaned):
        raise ValueError("must be an https:// URL in plain ASCII (punycode for other scripts)")
    parts = urlsplit(cleaned)
    if parts.scheme != "https" or not _is_host(parts.hostname or ""):
        raise ValueError("must be an https:// URL with a host name or IP address")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must not contain credentials, a query or a fragment")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError("must have a port from 0 to 65535, if any") from None
    return cleaned.rstrip("/")


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _HOST.fullmatch(host) is not None
    return True


def _graph_root(value: str) -> str:
    if _API_VERSION_SUFFIX.search(value):
        raise ValueError("must be the Graph root without a version (drop /v1.0 or /beta)")
    return value


def _secret_expiry(value: datetime) -> datetime:
    now = datetime.now(UTC)
    if value <= now:
        raise ValueError("must be in the future (the secret's expiry date from Entra)")
    if value > now + SECRET_LIFETIME_MAX:
        raise ValueError("must be at most 730 days from now, the longest Entra allows")
    return value.astimezone(UTC)


Guid = Annotated[
    str,
    AfterValidator(_guid),
    Field(
        json_schema_extra={"pattern": GUID_PATTERN},
        examples=["00000000-0000-0000-0000-000000000000"],
    ),
]
_ENTRA_TENANT_PATTERN = (
    r"^\s*(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9])"
    r"\s*$"
)
EntraTenantId = Annotated[
    str,
    StringConstraints(max_length=253),
    AfterValidator(_entra_tenant),
    Field(
        description="Directory (tenant) ID as a GUID, or a verified domain.",
        json_schema_extra={"pattern": _ENTRA_TENANT_PATTERN},
    ),
]
HttpsUrl = Annotated[
    str,
    StringConstraints(max_length=2000),
    AfterValidator(_https_root),
    Field(json_schema_extra={"format": "uri", "pattern": "^https://"}),
]
GraphRootUrl = Annotated[HttpsUrl, AfterValidator(_graph_root)]
SecretExpiry = Annotated[AwareDatetime, AfterValidator(_secret_expiry)]
IdString = Annotated[
    str,
    AfterValidator(_id_string),
    Field(
        description="A numeric id, as a string.",
        examples=["12"],
        json_schema_extra={"pattern": ID_PATTERN},
    ),
]
# Names are trimmed, so the document says "not blank" rather than only "non-empty".
_NOT_BLANK = Field(json_schema_extra={"pattern": r"\S"})
Name100 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), _NOT_BLANK
]
Name200 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), _NOT_BLANK
]
# A tag name, at most 29 characters as every tag (rule 6).
TagName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=29), _NOT_BLANK
]
