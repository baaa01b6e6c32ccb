"""The one exception the SCIM protocol core raises (RFC 7644 §3.12).

API:

- ``ScimError(status, scim_type, detail)``: ``status`` is the HTTP status (int),
  ``scim_type`` one of the RFC 7644 Table 9 keywords (``invalidFilter``,
  ``invalidSyntax``, ``invalidPath``, ``invalidValue``, ``noTarget``,
  ``uniqueness``, ``mutability``, ``tooMany``, ``invalidVers``,
  ``sensitive``) or ``None`` (e.g. for 404), ``detail`` a message for the
  client. The detail never carries internal state (no traceback, no SQL);
  it may quote the client's own input, shortened.
- ``ScimError.to_dict()``: the ``urn:ietf:params:scim:api:messages:2.0:Error``
  body, with ``status`` as a string as RFC 7644 §3.12 requires.
- ``ERROR_SCHEMA``: that schema URN.

Every function of ``scim.attributes``, ``scim.filter`` and ``scim.patch`` raises
only ``ScimError`` on bad input.
"""

from __future__ import annotations

from typing import Any, Final

ERROR_SCHEMA: Final = "urn:ietf:params:scim:api:messages:2.0:Error"

SCIM_TYPES: Final = frozenset(
    {
        "invalidFilter",
        "tooMany",
        "uniqueness",
        "mutability",
        "invalidSyntax",
        "invalidPath",
        "noTarget",
        "invalidValue",
        "invalidVers",
        "sensitive",
    }
)

# Client input quoted in a detail is cut to this many characters, so an error
# body never grows with a hostile request.
_QUOTE_LIMIT: Final = 80


class ScimError(Exception):
    """A SCIM protocol error: HTTP status, ``scimType`` and a detail message."""

    def __init__(self, status: int, scim_type: str | None, detail: str) -> None:
        if scim_type is not None and scim_type not in SCIM_TYPES:
            raise ValueError(f"unknown scimType {scim_type!r}")
        super().__init__(detail)
        self.status = status
        self.scim_type = scim_type
        self.detail = detail

    def to_dict(self) -> dict[str, Any]:
        """The RFC 7644 §3.12 error body."""
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(self.status)}
        if self.scim_type is not None:
            body["scimType"] = self.scim_type
        body["detail"] = self.detail
        return body

    def __repr__(self) -> str:
        return f"ScimError({self.status}, {self.scim_type!r}, {self.detail!r})"


def quote(text: object) -> str:
    """Quote a piece of client input for an error detail, shortened."""
    shown = str(text)
    if len(shown) > _QUOTE_LIMIT:
        shown = shown[: _QUOTE_LIMIT - 1] + "…"
    return repr(shown)
