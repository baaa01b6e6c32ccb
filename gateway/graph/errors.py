"""Entra and Graph failures, translated once into causes an admin can act on.

Every error carries a stable ``cause`` code, a message saying what to do, and
Entra's trace and correlation ids (or Graph's request id) when the service
gave them, so a support ticket can quote them. No message contains a secret
or a token.
"""

from __future__ import annotations

from typing import Any

REQUIRED_ROLES = ("User.Read.All", "Group.Read.All")


class GraphError(Exception):
    """Base of every failure talking to Entra or Microsoft Graph."""

    cause: str = "graph_error"
    # Whether a later attempt may succeed without anyone changing anything.
    transient: bool = False

    def __init__(self, message: str, *, ids: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.ids = dict(ids or {})

    def detail(self) -> dict[str, Any]:
        """A JSON-ready description (cause, message, trace ids)."""
        return {"cause": self.cause, "message": self.message, **self.ids}

    def __str__(self) -> str:
        suffix = "".join(f"; {key} {value}" for key, value in sorted(self.ids.items()))
        return f"{self.message}{suffix}"


class EntraAuthError(GraphError):
    """The token endpoint refused the credentials (an AADSTS error)."""

    cause = "entra_auth_failed"

    def __init__(self, cause: str, message: str, *, ids: dict[str, str] | None = None) -> None:
        super().__init__(message, ids=ids)
        self.cause = cause


class MissingPermissionError(GraphError):
    """The app lacks an application permission, or admin consent for it."""

    cause = "admin_consent_missing"

    def __init__(self, missing: tuple[str, ...], *, ids: dict[str, str] | None = None) -> None:
        names = ", ".join(missing)
        super().__init__(
            f"The app registration lacks the Microsoft Graph application permission(s) {names}. "
            "Add them under API permissions and click 'Grant admin consent', then save again.",
            ids=ids,
        )
        self.missing = missing


class UnreachableError(GraphError):
    """No answer from the login or Graph host (DNS, TLS, network, wrong cloud)."""

    cause = "unreachable"
    transient = True


class ThrottledError(GraphError):
    """Graph kept answering 429/503/504 beyond the retry budget."""

    cause = "throttled"
    transient = True


class DeltaExpiredError(GraphError):
    """A stored delta link is no longer valid (``syncStateNotFound`` or 410)."""

    cause = "delta_expired"


class NotFoundError(GraphError):
    cause = "not_found"


class GraphRequestError(GraphError):
    """Any other error answer of Graph."""

    cause = "graph_request_failed"

    def __init__(
        self, status: int, code: str, message: str, *, ids: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"Microsoft Graph answered {status} {code}: {message}", ids=ids)
        self.status = status
        self.code = code
        self.transient = status >= 500


class WriteRefusedError(GraphError):
    """The gateway only reads from Entra: a non-GET request was refused before sending."""

    cause = "write_refused"


class ReadCancelledError(Exception):
    """The caller asked to stop (not a Graph failure: nothing is wrong with Entra)."""
