"""The admin REST API, mounted at ``/api/v1`` by :func:`gateway.app.create_app`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route

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

    def method_not_allowed(request: Request, exc: Exception) -> Response:
        # Each method of a path is its own route, so the router's 405 would
        # name only one of them; RFC 9110 wants every method the path takes.
        allowed = sorted(
            method
            for route in routes
            if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE
            for method in route.methods or ()
        )
        response = exception_handlers()[HTTPException](request, exc)
        assert isinstance(response, Response)
        response.headers["Allow"] = ", ".join(allowed)
        return response

    handlers = {**exception_handlers(), 405: method_not_allowed}
    return Starlette(routes=routes, exception_handlers=handlers)
