"""The SCIM 2.0 app that ``gateway.app`` mounts at ``/scim/v2``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.services import Services
from scim.bulk import Routes, bulk
from scim.errors import ScimError
from scim.responses import error_response
from scim.routes import discovery
from scim.routes import resources as res
from scim.server import Call, Endpoint, ScimServer, endpoint

__all__ = ["build_scim_app"]


def build_scim_app(services: Services) -> Starlette:
    """The SCIM endpoints for every tenant (the bearer token selects the tenant).

    ``app.state.scim.applier`` is the identity applier; the service starts it
    with its lifespan and stops it (applying what is pending) on shutdown.
    """
    server = ScimServer(services)
    bulk_routes: Routes = {
        ("POST", False): res.create,
        ("PUT", True): res.replace,
        ("PATCH", True): res.patch,
        ("DELETE", True): res.delete,
    }

    def run_bulk(call: Call) -> Response:
        return bulk(call, bulk_routes)

    # The resource routes come first and one route serves every method of a
    # path: each request is matched against the routes in order twice (the
    # router, then the request metrics' route template), so Entra's requests
    # should match early.
    routes: list[BaseRoute] = []
    for prefix, kind in (("/Users", "user"), ("/Groups", "group")):
        params = {"kind": kind}
        routes += [
            _route(
                prefix,
                GET=endpoint(server, res.list_resources, params=params),
                POST=endpoint(server, res.create, reads_body=True, short_write=True, params=params),
            ),
            _route(
                f"{prefix}/.search",
                POST=endpoint(server, res.search_resources, reads_body=True, params=params),
            ),
            _route(
                prefix + "/{id}",
                GET=endpoint(server, res.get_one, params=params),
                PUT=endpoint(server, res.replace, reads_body=True, short_write=True, params=params),
                PATCH=endpoint(server, res.patch, reads_body=True, short_write=True, params=params),
                DELETE=endpoint(server, res.delete, short_write=True, params=params),
            ),
        ]
    routes += [
        _route("/ServiceProviderConfig", GET=endpoint(server, discovery.service_provider_config)),
        _route("/ResourceTypes", GET=endpoint(server, discovery.resource_types)),
        _route("/ResourceTypes/{name}", GET=endpoint(server, discovery.resource_type)),
        _route("/Schemas", GET=endpoint(server, discovery.schemas)),
        _route("/Schemas/{urn}", GET=endpoint(server, discovery.schema)),
        _route("/Bulk", POST=endpoint(server, run_bulk, reads_body=True)),
        _route("/.search", POST=endpoint(server, res.search_all, reads_body=True)),
    ]

    def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = {404: "No such SCIM endpoint.", 405: "This endpoint does not take that method."}
        return error_response(
            ScimError(exc.status_code, None, detail.get(exc.status_code, "Request refused."))
        )

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.state.scim = server
    return app


def _route(path: str, **by_method: Endpoint) -> Route:
    """One route for a path, dispatching on the method (HEAD is served as GET)."""
    if "GET" in by_method:
        by_method.setdefault("HEAD", by_method["GET"])

    async def dispatch(request: Request) -> Response:
        return await by_method[request.method](request)

    return Route(path, dispatch, methods=list(by_method))
