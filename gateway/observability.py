"""Request metrics (Prometheus), access logging and the process's log format.

Metrics live in a registry owned by one app, not prometheus_client's global
one, so tests (and anything else) can build many apps in one process. Labels
use the route template (``/api/v1/tenants/{tenant_id}``), never the raw path,
so ids cannot blow up the number of series. Nothing here ever reads headers
or bodies, which is how Authorization values and secrets stay out of the log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED_ROUTE = "<unmatched>"
access_logger = logging.getLogger("gateway.access")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The app's Prometheus registry and the HTTP instruments in it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "gateway_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "gateway_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status.",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.http_requests.labels(*labels).inc()
        self.http_duration.labels(*labels).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route that will answer ``scope``, mounts included."""
    for route in routes:
        match, child_scope = route.matches(scope)
        if match is Match.NONE:
            continue
        # PARTIAL means the path matched but not the method (a 405): same template.
        path = getattr(route, "path", "")
        if isinstance(route, Mount):
            inner = route_template(route.routes, {**scope, **child_scope})
            return path + (inner if inner != UNMATCHED_ROUTE else "/{path}")
        return str(path) or UNMATCHED_ROUTE
    return UNMATCHED_ROUTE


class RequestTelemetryMiddleware:
    """Pure ASGI middleware: one metric sample and one access-log line per request."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_template(self.routes, scope)
        status = 500  # what the client gets if the app raises before answering
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            self.metrics.observe(method, route, status, elapsed)
            access_logger.info(
                "%s %s %s",
                method,
                route,
                status,
                extra={
                    "method": method,
                    "route": route,
                    "path": scope["path"],  # no query string: it may carry codes or emails
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )


# --- log format -----------------------------------------------------------------

# Defence in depth: even if some library puts a credential in a message, the
# formatter masks bearer tokens, Authorization values and client secrets.
_SCRUB = re.compile(
    r"(?i)("
    r"authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic)\s+)?"
    r"|bearer\s+"
    r"|client_secret[\"']?\s*[:=]\s*[\"']?"
    r")[^\s\"',;]+"
)
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "color_message"}  # uvicorn's ANSI-coloured copy of msg
)
_HANDLER_MARK = "_gateway_handler"


def scrub(text: str) -> str:
    """Mask credentials that might have slipped into a log text."""
    return _SCRUB.sub(r"\1[redacted]", text)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "msg": scrub(record.getMessage()),
    }
    for key, value in vars(record).items():
        if key not in _STANDARD_ATTRS and not key.startswith("_"):
            fields[key] = scrub(value) if isinstance(value, str) else value
    if record.exc_info:
        fields["exc"] = scrub(logging.Formatter().formatException(record.exc_info))
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    """``key=value`` lines for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        for key, value in _fields(record).items():
            text = str(value)
            if key == "exc" or any(c in text for c in ' ="\n'):
                text = json.dumps(text, ensure_ascii=False)
            parts.append(f"{key}={text}")
        return " ".join(parts)


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Send every logger (uvicorn's included) to stderr in one structured format.

    Called once by the process entry point (``timus-gateway serve``), not by
    ``create_app``: logging is the process's, not the app's. Calling it again
    replaces only the handler it installed before.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else KeyValueFormatter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Alembic narrates every connection at INFO; gateway.store.migrate logs what changed.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
