"""The admin API's exception handlers, registered by exception class in one place."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import ApiError, InternalServerError, error_for_status

logger = logging.getLogger("gateway.admin")

ExceptionHandler = Callable[[Request, Exception], Response | Awaitable[Response]]


def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _json(exc)


def _http_error(_request: Request, exc: Exception) -> Response:
    # Raised by the router itself: unknown path (404) or method (405).
    assert isinstance(exc, HTTPException)
    messages = {
        404: "No such admin API route; see /api/v1/openapi.json.",
        405: "This route does not accept that method; see /api/v1/openapi.json.",
    }
    error = error_for_status(exc.status_code, messages.get(exc.status_code, str(exc.detail)))
    return _json(error, status=exc.status_code, extra_headers=exc.headers)


def _unexpected(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log only; the client learns nothing internal.
    logger.error(
        "admin request %s %s failed: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        exc_info=exc,
    )
    return _json(InternalServerError("Internal error; the operator can find it in the log."))


def _json(
    error: ApiError, *, status: int | None = None, extra_headers: Mapping[str, str] | None = None
) -> Response:
    headers = {**error.headers(), **(extra_headers or {})}
    return JSONResponse(error.body(), status_code=status or error.status, headers=headers)


def exception_handlers() -> dict[Any, ExceptionHandler]:
    """Handlers keyed by exception class, for ``Starlette(exception_handlers=...)``."""
    return {ApiError: _api_error, HTTPException: _http_error, Exception: _unexpected}
