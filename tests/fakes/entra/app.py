"""The fake as one Starlette app: the Entra token endpoint and Microsoft Graph v1.0."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.entra import token_endpoint
from tests.fakes.entra.batch import run_batch
from tests.fakes.entra.errors import GraphError, Reply, graph_error_reply
from tests.fakes.entra.graph import GraphRequest, dispatch, normalise_query
from tests.fakes.entra.state import EntraState

GRAPH_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _respond(reply: Reply) -> Response:
    content = b"" if reply.body is None else json.dumps(reply.body).encode()
    return Response(content, reply.status, reply.headers, media_type=GRAPH_CONTENT_TYPE)


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def create_app(state: EntraState) -> Starlette:
    """An ASGI app serving ``state``: pass it to ``httpx.ASGITransport`` or to :func:`serve`."""

    async def graph(request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        graph_request = GraphRequest(
            method=request.method,
            path="/" + request.path_params["path"],
            query=normalise_query(parse_qsl(request.url.query, keep_blank_values=True)),
            headers=headers,
            base=_base(request),
        )
        return _respond(dispatch(state, graph_request))

    async def batch(request: Request) -> Response:
        state.requests.record("POST", "/v1.0/$batch")
        headers = {k.lower(): v for k, v in request.headers.items()}
        fault = state.faults.take("POST", "/v1.0/$batch")
        if fault is not None:
            error = GraphError(
                fault.status,
                "TooManyRequests" if fault.status == 429 else "serviceNotAvailable",
                "Programmed failure of the batch.",
                {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)},
            )
            return _respond(graph_error_reply(error, state.clock.now()))
        try:
            payload = json.loads(await request.body())
        except ValueError:
            payload = None
        return _respond(run_batch(state, payload, headers, _base(request)))

    routes = [
        Route("/v1.0/$batch", batch, methods=["POST"]),
        Route("/v1.0/{path:path}", graph, methods=ALL_METHODS),
        *token_endpoint.routes(state),
    ]
    return Starlette(routes=routes)
