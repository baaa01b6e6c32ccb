"""JSON batching (``POST /v1.0/$batch``): up to 20 requests, each answered on its own.

As "Combine multiple HTTP requests using JSON batching" documents: items carry
``id``, ``method``, ``url`` (relative to the version root), optional ``headers``,
``body`` and ``dependsOn``; each answer has its own ``status``, ``headers`` (a
throttled item gets its own ``Retry-After``) and ``body``; answers come in any
order; an item whose dependency failed gets 424.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.entra.errors import GraphError, Reply, graph_error_reply
from tests.fakes.entra.graph import GraphRequest, dispatch, normalise_query
from tests.fakes.entra.state import EntraState

MAX_BATCH_ITEMS = 20
ITEM_CONTENT_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"


def _bad(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def _validate(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("requests"), list):
        raise _bad("Invalid batch payload format: a JSON object with 'requests' is required.")
    items: list[dict[str, Any]] = payload["requests"]
    if not items:
        raise _bad("Invalid batch payload format: 'requests' is empty.")
    if len(items) > MAX_BATCH_ITEMS:
        raise _bad(
            f"The batch has {len(items)} requests; the maximum is {MAX_BATCH_ITEMS} per batch."
        )
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            raise _bad("Invalid batch payload format: each request must be a JSON object.")
        for name in ("id", "method", "url"):
            if not isinstance(item.get(name), str) or not item[name]:
                raise _bad(f"Invalid batch payload format: a request lacks '{name}'.")
        if item["id"] in seen:
            raise _bad(f"Batch request contains duplicate request id '{item['id']}'.")
        depends = item.get("dependsOn", [])
        if not isinstance(depends, list) or any(d not in seen for d in depends):
            raise _bad(f"Request '{item['id']}' depends on an id that does not come before it.")
        seen.add(item["id"])
    return items


def run_batch(state: EntraState, payload: Any, headers: Mapping[str, str], base: str) -> Reply:
    """Answer a whole batch: 400 for a malformed one, else 200 with one answer per item."""
    now = state.clock.now()
    try:
        items = _validate(payload)
    except GraphError as error:
        return graph_error_reply(error, now, headers.get("client-request-id"))
    statuses: dict[str, int] = {}
    answers: list[dict[str, Any]] = []
    for item in items:
        reply = _run_item(state, item, headers, base, statuses)
        statuses[item["id"]] = reply.status
        answers.append(
            {
                "id": item["id"],
                "status": reply.status,
                "headers": {"Content-Type": ITEM_CONTENT_TYPE, **reply.headers},
                "body": reply.body,
            }
        )
    if state.config.shuffle_batch_responses:
        random.Random(len(answers) * 7919 + sum(map(ord, items[0]["id"]))).shuffle(answers)
    return Reply(200, {"responses": answers})


def _run_item(
    state: EntraState,
    item: Mapping[str, Any],
    headers: Mapping[str, str],
    base: str,
    statuses: Mapping[str, int],
) -> Reply:
    now = state.clock.now()
    failed = [d for d in item.get("dependsOn", []) if not 200 <= statuses[d] < 300]
    if failed:
        return graph_error_reply(
            GraphError(424, "FailedDependency", f"A request it depends on failed: {failed[0]}."),
            now,
        )
    url: str = item["url"]
    if "://" in url:
        return graph_error_reply(_bad("A batch request url must be relative."), now)
    parts = urlsplit(url if url.startswith("/") else f"/{url}")
    if parts.path.rstrip("/") == "/$batch":
        return graph_error_reply(_bad("A batch cannot contain another batch."), now)
    item_headers = {k.lower(): str(v) for k, v in (item.get("headers") or {}).items()}
    merged = {**{k: v for k, v in headers.items() if k in ("authorization",)}, **item_headers}
    request = GraphRequest(
        method=str(item["method"]).upper(),
        path=parts.path,
        query=normalise_query(parse_qsl(parts.query, keep_blank_values=True)),
        headers=merged,
        base=base,
        in_batch=True,
    )
    return dispatch(state, request)
