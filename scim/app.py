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
from scim.server import Call, ScimServer, endpoint

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

    routes: list[BaseRoute] = [
        Route(
            "/ServiceProviderConfig",
            endpoint(server, discovery.service_provider_config),
            methods=["GET"],
        ),
        Route("/ResourceTypes", endpoint(server, discovery.resource_types), methods=["GET"]),
        Route("/ResourceTypes/{name}", endpoint(server, discovery.resource_type), methods=["GET"]),
        Route("/Schemas", endpoint(server, discovery.schemas), methods=["GET"]),
        Route("/Schemas/{urn}", endpoint(server, discovery.schema), methods=["GET"]),
        Route("/Bulk", endpoint(server, run_bulk, reads_body=True), methods=["POST"]),
        Route("/.search", endpoint(server, res.search_all, reads_body=True), methods=["POST"]),
    ]
    for prefix, kind in (("/Users", "user"), ("/Groups", "group")):
        params = {"kind": kind}
        routes += [
            Route(prefix, endpoint(server, res.list_resources, params=params), methods=["GET"]),
            Route(
                prefix,
                endpoint(server, res.create, reads_body=True, short_write=True, params=params),
                methods=["POST"],
            ),
            Route(
                f"{prefix}/.search",
                endpoint(server, res.search_resources, reads_body=True, params=params),
                methods=["POST"],
            ),
            Route(prefix + "/{id}", endpoint(server, res.get_one, params=params), methods=["GET"]),
            Route(
                prefix + "/{id}",
                endpoint(server, res.replace, reads_body=True, short_write=True, params=params),
                methods=["PUT"],
            ),
            Route(
                prefix + "/{id}",
                endpoint(server, res.patch, reads_body=True, short_write=True, params=params),
                methods=["PATCH"],
            ),
            Route(
                prefix + "/{id}",
                endpoint(server, res.delete, short_write=True, params=params),
                methods=["DELETE"],
            ),
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
