"""What every SCIM request shares: the tenant's token, the rate limit, the body,
the mapping of store errors to SCIM errors, and the identity applier."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import anyio
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response

from gateway.services import Services
from gateway.settings import Settings
from gateway.store.engine import WriteLockBusy
from gateway.store.scim_identity import IdentityApplier
from gateway.store.scim_resources import (
    ResourceNotFound,
    UniquenessConflict,
    UnknownMembers,
    VersionMismatch,
)
from scim.auth import CHALLENGE, TokenCheck
from scim.discovery import Discovery, build_discovery
from scim.errors import ScimError, quote
from scim.ratelimit import RateLimiter, retry_after_header
from scim.responses import error_response
from scim.turns import Turns

logger = logging.getLogger("gateway.scim")

# A moment without requests: between two of Entra's (about 25 a second at
# most) there are such moments, in a burst of concurrent requests there are not.
_QUIET_SECONDS = 0.02


class ScimServer:
    """The long-lived parts of the SCIM app."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings: Settings = services.settings
        self.engine: Engine = services.engine
        self.base_url = f"{services.settings.public_url}/scim/v2"
        self.discovery: Discovery = build_discovery(services.settings, self.base_url)
        self.limiter = RateLimiter(
            services.settings.scim_rate_limit_per_second, services.settings.scim_rate_limit_burst
        )
        self.tokens = TokenCheck(services.engine)
        # Under WAL a SQLite read never waits for a writer, and handing it to a
        # worker thread costs more CPU than the read itself. A one-resource
        # write takes well under a millisecond once it has the write lock: it
        # runs on the event loop when the lock is free at once, and otherwise
        # tries again there a little later before it waits in a worker thread.
        self.inline = services.engine.dialect.name == "sqlite"
        self.turns = Turns()
        self.in_flight = 0
        self._last_served = 0.0
        self.applier = IdentityApplier(
            services.engine,
            delay=services.settings.scim_identity_apply_delay_seconds,
            quiet=self.quiet,
        )

    def quiet(self) -> bool:
        """Whether no SCIM request is being served, nor was in the last moment
        (the identity applier's background applies wait for such a moment)."""
        return self.in_flight == 0 and time.monotonic() - self._last_served >= _QUIET_SECONDS

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Count a request in flight (on the event loop's thread)."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._last_served = time.monotonic()

    def changed(self, tenant_id: str) -> None:
        """A request committed resource changes: let the identity applier know."""
        self.applier.notify(tenant_id)


@dataclass(slots=True)
class Call:
    """One authenticated SCIM request, handed to a handler."""

    server: ScimServer
    tenant_id: str
    method: str
    path_params: Mapping[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any
    # On the event loop a write must not wait for SQLite's write lock.
    on_loop: bool = False

    @property
    def waits(self) -> bool:
        """Whether the handler's writes may wait for a write lock held elsewhere;
        when not, they raise ``WriteLockBusy`` and the request moves to a worker
        thread."""
        return not self.on_loop

    def json_object(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise ScimError(400, "invalidSyntax", "The request body must be a JSON object.")
        return self.body


Handler = Callable[[Call], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


def endpoint(
    server: ScimServer,
    handler: Handler,
    *,
    reads_body: bool = False,
    short_write: bool = False,
    params: Mapping[str, str] | None = None,
) -> Endpoint:
    """An ASGI endpoint running ``handler`` for an authenticated tenant;
    ``params`` are added to the path parameters (the resource kind).

    On SQLite, reads and ``short_write`` handlers (one resource) run on the
    event loop, in turns (:mod:`scim.turns`); an unremembered token is
    checked in a worker thread first (a database read). A write that finds
    SQLite's write lock held elsewhere tries again on the loop a little later
    and, when the lock stays held, waits for it in a worker thread. Everything
    else runs in a worker thread."""
    fixed = dict(params or {})

    async def run(request: Request) -> Response:
        with server.serving():
            return await serve(request)

    async def serve(request: Request) -> Response:
        try:
            body = await _read_body(request, server.settings.max_body_bytes) if reads_body else None
            if not (server.inline and (request.method == "GET" or short_write)):
                return await anyio.to_thread.run_sync(_serve, server, handler, request, body, fixed)
            authorization = request.headers.get("authorization")
            if server.tokens.remembered(authorization):
                tenant_id = server.tokens.tenant_for(authorization)
            else:
                tenant_id = await anyio.to_thread.run_sync(server.tokens.tenant_for, authorization)

            def first_try() -> Response | Call:
                prepared = _prepare(server, request, body, fixed, tenant_id)
                if isinstance(prepared, Response):
                    return prepared
                return _on_loop(handler, prepared)

            answer = await server.turns.run(first_try)
            if isinstance(answer, Response):
                return answer
            return await _when_the_lock_is_free(server, handler, answer)
        except ScimError as error:
            return _error(error)
        except Exception:
            logger.exception("SCIM request %s %s failed", request.method, request.url.path)
            return error_response(
                ScimError(500, None, "Internal error; the operator can find it in the log.")
            )

    return run


# Pauses before each new try on the event loop, about a quarter of a second in
# all: an identity apply holds the write lock for tens of milliseconds at most.
_RETRY_PAUSES = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128)


async def _when_the_lock_is_free(server: ScimServer, handler: Handler, call: Call) -> Response:
    """Run a write that found SQLite's write lock held elsewhere.

    It tries again on the event loop, in turn, a little later each time. It is
    not handed to a worker thread at once: a thread holds the lock while it
    waits for the GIL, so this process's next on-loop writes would find the
    lock held in turn and follow it into threads, where they wait in SQLite's
    busy handler (sleeps of up to 100 ms) for one another. Only a lock held
    for longer (another process's transaction) is waited for in a thread."""
    for pause in _RETRY_PAUSES:
        await anyio.sleep(pause)
        answer = await server.turns.run(lambda: _on_loop(handler, call))
        if isinstance(answer, Response):
            return answer
    return await anyio.to_thread.run_sync(dispatch, handler, call)


def _on_loop(handler: Handler, call: Call) -> Response | Call:
    """The handler's answer, or the call back when SQLite's write lock is held elsewhere."""
    try:
        return dispatch(handler, replace(call, on_loop=True))
    except WriteLockBusy:
        return call


def _serve(
    server: ScimServer,
    handler: Handler,
    request: Request,
    raw: bytes | None,
    fixed: dict[str, str],
) -> Response:
    try:
        tenant_id = server.tokens.tenant_for(request.headers.get("authorization"))
    except ScimError as error:
        return _error(error)
    prepared = _prepare(server, request, raw, fixed, tenant_id)
    return prepared if isinstance(prepared, Response) else dispatch(handler, prepared)


def _prepare(
    server: ScimServer,
    request: Request,
    raw: bytes | None,
    fixed: dict[str, str],
    tenant_id: str,
) -> Call | Response:
    """The tenant's rate limit and the request's body: a call, or the error answer."""
    try:
        wait = server.limiter.acquire(tenant_id)
        if wait > 0:
            return error_response(
                ScimError(429, None, "Too many requests for this tenant; retry later."),
                {"Retry-After": retry_after_header(wait)},
            )
        body = _parse_json(raw) if raw is not None else None
    except ScimError as error:
        return _error(error)
    return Call(
        server=server,
        tenant_id=tenant_id,
        method=request.method,
        path_params={**request.path_params, **fixed},
        query=request.query_params,
        headers=request.headers,
        body=body,
    )


def dispatch(handler: Handler, call: Call) -> Response:
    """Run a handler; protocol and store errors become SCIM error responses."""
    try:
        return handler(call)
    except ScimError as error:
        return _error(error)
    except ResourceNotFound as exc:
        return _error(ScimError(404, None, f"Resource {quote(str(exc))} not found."))
    except UniquenessConflict as exc:
        return _error(
            ScimError(409, "uniqueness", f"{quote(str(exc))} is already taken in this tenant.")
        )
    except VersionMismatch:
        return _error(
            ScimError(412, None, "The resource changed: If-Match names an older version.")
        )
    except UnknownMembers as exc:
        shown = ", ".join(quote(i) for i in exc.ids[:5])
        return _error(ScimError(400, "invalidValue", f"No user with id {shown} in this tenant."))


def _error(error: ScimError) -> Response:
    headers = CHALLENGE if error.status == 401 else None
    return error_response(error, headers)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ScimError(413, None, f"The request body is larger than {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ScimError(413, None, f"The request body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ScimError(400, "invalidSyntax", "The request body is not valid JSON.") from None
