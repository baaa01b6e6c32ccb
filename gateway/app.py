"""The composition root: ``create_app`` builds every long-lived part and wires the routes.

This is the only module that knows all the pieces (store, crypto, admin API,
SCIM server, SSO bridge and the sync scheduler). Everything else receives what it
needs through :class:`gateway.services.Services`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.admin import build_admin_app
from gateway.crypto import check_keys_cover_store, load_secret_box
from gateway.errors import ApiError, InternalServerError, error_for_status
from gateway.observability import Metrics, RequestTelemetryMiddleware
from gateway.services import Services
from gateway.settings import Settings, load_settings
from gateway.store.engine import make_engine
from gateway.store.migrate import check_schema_current
from gateway.sync.metrics import SecretExpiryCollector
from gateway.sync.scheduler import Scheduler
from gateway.sync.service import connector_for
from scim.app import build_scim_app
from sso import build_sso_app, close_sso_app, sso_root_routes

logger = logging.getLogger("gateway.app")

# A readiness probe must answer before the orchestrator's own timeout.
READY_TIMEOUT_SECONDS = 3.0


Endpoint = Callable[[Request], Awaitable[Response]]


class NotReadyError(ApiError):
    status = 503
    code = "not_ready"


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the service: store, secrets, admin API, health and metrics.

    Does not touch the database (so it can be built while the database is
    down); the lifespan checks the schema and the encryption keys at start-up.
    """
    settings = settings or load_settings()
    secrets = load_secret_box(settings)
    engine = make_engine(settings.database_url)
    services = Services(
        settings=settings, engine=engine, secrets=secrets, graph=connector_for(settings)
    )
    metrics = Metrics()
    metrics.registry.register(SecretExpiryCollector(engine))
    scim_app = build_scim_app(services)
    sso_app = build_sso_app(services)

    routes: list[BaseRoute] = [
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", _readyz_endpoint(engine), methods=["GET"]),
        Route("/metrics", _metrics_endpoint(metrics), methods=["GET"]),
        Mount("/api/v1", app=build_admin_app(services)),
        Mount("/scim/v2", app=scim_app),
        Mount("/user/external", app=sso_app),
        *sso_root_routes(sso_app),
    ]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            await anyio.to_thread.run_sync(_startup_checks, services)
            scim_app.state.scim.applier.start()
            scheduler = Scheduler(services) if settings.sync_scheduler_enabled else None
            if scheduler is not None:
                scheduler.start()
            try:
                yield
            finally:
                if scheduler is not None:
                    await anyio.to_thread.run_sync(scheduler.stop)
        finally:
            await anyio.to_thread.run_sync(scim_app.state.scim.applier.stop)
            await close_sso_app(sso_app)
            engine.dispose()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(UnhandledErrorMiddleware),
            Middleware(RequestTelemetryMiddleware, metrics=metrics, routes=routes),
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.metrics = metrics
    return app


def _startup_checks(services: Services) -> None:
    try:
        check_schema_current(services.engine)
        check_keys_cover_store(services.engine, services.secrets)
    except Exception as exc:
        # The message is written for the operator and names no secret.
        logger.error("start-up check failed: %s", exc)
        raise


async def _healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _readyz_endpoint(engine: Engine) -> Endpoint:
    def ping() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    async def readyz(_request: Request) -> Response:
        try:
            with anyio.fail_after(READY_TIMEOUT_SECONDS):
                await anyio.to_thread.run_sync(ping, abandon_on_cancel=True)
        except Exception as exc:
            logger.warning("readiness check failed: %s", type(exc).__name__)
            error = NotReadyError("The database is not reachable.")
            return JSONResponse(error.body(), status_code=error.status)
        return JSONResponse({"status": "ok"})

    return readyz


def _metrics_endpoint(metrics: Metrics) -> Endpoint:
    async def metrics_view(_request: Request) -> Response:
        body, content_type = metrics.exposition()
        return Response(body, headers={"Content-Type": content_type})

    return metrics_view


def _http_error(_request: Request, exc: Exception) -> Response:
    # Raised by the router for unknown paths (404) and methods (405).
    assert isinstance(exc, HTTPException)
    messages = {404: "No such route.", 405: "This route does not accept that method."}
    error = error_for_status(exc.status_code, messages.get(exc.status_code, str(exc.detail)))
    return JSONResponse(
        error.body(),
        status_code=exc.status_code,
        headers={**error.headers(), **(exc.headers or {})},
    )


class UnhandledErrorMiddleware:
    """Turn any exception that escapes a route into a bare 500 JSON error.

    Pure ASGI and outermost, so the client sees no traceback, the server logs
    it once, and the exception does not travel on to the server (which would
    log it again in its own format).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if response_started:
                # Someone answered already (a sub-app's own handler, which logged it).
                logger.warning(
                    "request %s %s raised after its response started: %s",
                    scope["method"],
                    scope["path"],
                    type(exc).__name__,
                )
                return
            logger.error(
                "request %s %s failed: %s",
                scope["method"],
                scope["path"],
                type(exc).__name__,
                exc_info=exc,
            )
            error = InternalServerError("Internal error; the operator can find it in the log.")
            await JSONResponse(error.body(), status_code=error.status)(scope, receive, send)
