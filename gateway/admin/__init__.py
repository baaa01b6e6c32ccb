"""The admin REST API, mounted at ``/api/v1`` by :func:`gateway.app.create_app`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.admin.dispatch import build_route
from gateway.admin.error_handlers import exception_handlers
from gateway.admin.openapi import build_document
from gateway.admin.registry import ENDPOINTS
from gateway.services import Services

__all__ = ["ENDPOINTS", "build_admin_app"]


def build_admin_app(services: Services) -> Starlette:
    """The admin API as an ASGI app: the registry's routes plus ``/openapi.json``."""
    document = build_document(ENDPOINTS)

    async def openapi(_request: Request) -> Response:
        return JSONResponse(document)

    routes: list[BaseRoute] = [Route("/openapi.json", openapi, methods=["GET"])]
    routes.extend(build_route(endpoint, services) for endpoint in ENDPOINTS)
    return Starlette(routes=routes, exception_handlers=exception_handlers())
