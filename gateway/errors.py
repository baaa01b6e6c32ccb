"""Errors an admin can act on, each carrying its HTTP status and building its own body.

The store and the admin API raise these; the web layers register one handler
for :class:`ApiError` and never format errors anywhere else. Messages and
details must never contain a secret or a submitted value that might be one.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    """Base of every error the admin API reports as ``{"error": {...}}``."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def headers(self) -> dict[str, str]:
        """Extra response headers (none by default)."""
        return {}


class BadRequestError(ApiError):
    status = 400
    code = "bad_request"


class MalformedJsonError(ApiError):
    status = 400
    code = "malformed_json"


class UnauthorizedError(ApiError):
    """Missing, unknown or revoked bearer token (RFC 6750 section 3)."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str, *, invalid_token: bool = False) -> None:
        super().__init__(message)
        self.invalid_token = invalid_token

    def headers(self) -> dict[str, str]:
        if self.invalid_token:
            return {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        return {"WWW-Authenticate": "Bearer"}


class ForbiddenError(ApiError):
    status = 403
    code = "forbidden"


class NotFoundError(ApiError):
    status = 404
    code = "not_found"


class MethodNotAllowedError(ApiError):
    status = 405
    code = "method_not_allowed"


class ConflictError(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLargeError(ApiError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(ApiError):
    status = 415
    code = "unsupported_media_type"


class ValidationFailedError(ApiError):
    """The request is well-formed but names something invalid; details say what."""

    status = 422
    code = "validation_failed"


class InternalServerError(ApiError):
    """What a client sees of an unexpected failure: no internals."""

    status = 500
    code = "internal_error"


def error_for_status(status: int, message: str) -> ApiError:
    """The error class matching a framework status (unknown route, wrong method)."""
    for cls in (
        BadRequestError,
        UnauthorizedError,
        ForbiddenError,
        NotFoundError,
        MethodNotAllowedError,
        ConflictError,
        PayloadTooLargeError,
        UnsupportedMediaTypeError,
        ValidationFailedError,
    ):
        if cls.status == status:
            return cls(message)
    return InternalServerError(message) if status >= 500 else BadRequestError(message)
