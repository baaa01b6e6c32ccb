"""The read-only Microsoft Graph client: paging, ``$batch``, retries and error translation.

Synchronous on purpose: the sync engine stages pages into the store from a
worker thread, and the CLI and scheduler call it the same way.
References: Graph paging (follow ``@odata.nextLink`` verbatim), throttling
guidance (honour ``Retry-After`` on 429/503/504), JSON batching (at most 20
sub-requests, each answered with its own status).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from gateway.graph.errors import (
    DeltaExpiredError,
    GraphError,
    GraphRequestError,
    MissingPermissionError,
    NotFoundError,
    ReadCancelledError,
    ThrottledError,
    UnreachableError,
)
from gateway.graph.tokens import TokenSource

RETRY_STATUSES = frozenset({429, 503, 504})
BATCH_LIMIT = 20
_DELTA_EXPIRED_CODES = frozenset({"syncStateNotFound", "resyncRequired", "syncStateInvalid"})
_BACKOFF_BASE = 0.5
_BACKOFF_MAX = 30.0


@dataclass(slots=True)
class RequestStats:
    """What a run reports about its Graph traffic."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    token_refreshes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, *, retry: bool = False, throttled: bool = False) -> None:
        with self._lock:
            self.requests += 1
            self.retries += retry
            self.throttled += throttled

    def as_dict(self) -> dict[str, int]:
        return {
            "graph_requests": self.requests,
            "graph_retries": self.retries,
            "graph_throttled": self.throttled,
            "token_refreshes": self.token_refreshes,
        }


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """One sub-response of a ``$batch``: a body, or the error it would raise."""

    body: dict[str, Any] | None
    error: GraphError | None

    def unwrap(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        assert self.body is not None
        return self.body


class GraphClient:
    """Reads Microsoft Graph v1.0 with an app-only token; can send nothing but reads."""

    def __init__(
        self,
        http: httpx.Client,
        tokens: TokenSource,
        graph_v1: str,
        *,
        retry_budget_seconds: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self.base = graph_v1.rstrip("/")
        self._budget = retry_budget_seconds
        self._sleep = sleep
        self.stats = RequestStats()
        self._token: str | None = None
        self._token_lock = threading.Lock()
        # Set by a run: a wait for Retry-After ends early when the run must stop.
        self.should_continue: Callable[[], bool] | None = None

    def _wait(self, seconds: float) -> None:
        check = self.should_continue
        if check is None:
            self._sleep(seconds)
            return
        end = time.monotonic() + seconds
        while True:
            if not check():
                raise ReadCancelledError("The run was stopped while waiting to retry.")
            left = end - time.monotonic()
            if left <= 0:
                return
            self._sleep(min(left, 0.5))

    def close(self) -> None:
        self._http.close()
        self._tokens.close()

    def check_access(self) -> None:
        """A token carrying the needed roles (fresh, never a cached one)."""
        with self._token_lock:
            self._token = self._tokens.checked_token().value

    # -- reading ---------------------------------------------------------------

    def get(self, url: str, *, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """One GET of a path (``/users?...``) or an absolute link, as JSON."""
        response = self._send("GET", self._absolute(url), headers=headers)
        body = response.json()
        if not isinstance(body, dict):
            raise GraphRequestError(response.status_code, "invalid_body", "not a JSON object")
        return body

    def pages(self, url: str, *, headers: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a collection, following ``@odata.nextLink`` verbatim.

        The last page is yielded too (it may carry ``@odata.deltaLink``).
        """
        next_url: str | None = url
        while next_url is not None:
            page = self.get(next_url, headers=headers)
            yield page
            link = page.get("@odata.nextLink")
            next_url = str(link) if link else None

    def batch(self, paths: Sequence[str]) -> list[BatchAnswer]:
        """GET each path through ``$batch`` (20 per request); answers in the same order.

        A sub-request throttled or failing transiently is retried on its own,
        within the same budget as every other request.
        """
        answers: list[BatchAnswer | None] = [None] * len(paths)
        for start in range(0, len(paths), BATCH_LIMIT):
            chunk = list(range(start, min(start + BATCH_LIMIT, len(paths))))
            self._batch_chunk(paths, chunk, answers)
        return [a for a in answers if a is not None]

    def _batch_chunk(
        self, paths: Sequence[str], indexes: list[int], answers: list[BatchAnswer | None]
    ) -> None:
        deadline = time.monotonic() + self._budget
        pending = indexes
        attempt = 0
        while pending:
            body = {
                "requests": [
                    {"id": str(i), "method": "GET", "url": _relative(paths[i])} for i in pending
                ]
            }
            response = self._send("POST", f"{self.base}/$batch", json_body=body)
            retry_after = 0.0
            again: list[int] = []
            for item in response.json().get("responses", []):
                index = int(item["id"])
                status = int(item.get("status", 500))
                sub_headers = {
                    str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()
                }
                sub_body = item.get("body") if isinstance(item.get("body"), dict) else {}
                if status in RETRY_STATUSES:
                    again.append(index)
                    retry_after = max(retry_after, _retry_after(sub_headers, attempt))
                    continue
                if status >= 400:
                    answers[index] = BatchAnswer(
                        None, _error_for(status, sub_body, sub_headers, paths[index])
                    )
                else:
                    answers[index] = BatchAnswer(sub_body, None)
            missing = [i for i in pending if answers[i] is None and i not in again]
            again.extend(missing)
            if not again:
                return
            attempt += 1
            if time.monotonic() + retry_after > deadline:
                for index in again:
                    answers[index] = BatchAnswer(None, _throttled())
                return
            self.stats.retries += len(again)
            self._wait(retry_after)
            pending = sorted(again)

    # -- transport ---------------------------------------------------------------

    def _absolute(self, url: str) -> str:
        return url if url.startswith("https://") or url.startswith("http://") else self.base + url

    def _bearer(self, *, fresh: bool = False) -> str:
        with self._token_lock:
            if self._token is None or fresh:
                if fresh:
                    self.stats.token_refreshes += 1
                self._token = self._tokens.token(fresh=fresh).value
            return self._token

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> httpx.Response:
        deadline = time.monotonic() + self._budget
        attempt = 0
        refreshed = False
        while True:
            all_headers = {"Authorization": f"Bearer {self._bearer()}", **(headers or {})}
            try:
                response = self._http.request(method, url, headers=all_headers, json=json_body)
            except httpx.TransportError as exc:
                self.stats.count(retry=attempt > 0)
                wait = _backoff(attempt)
                if time.monotonic() + wait > deadline:
                    raise UnreachableError(
                        f"Could not reach Microsoft Graph at {urlsplit(url).netloc} "
                        f"({type(exc).__name__}); check the cloud setting and the network."
                    ) from None
                attempt += 1
                self._wait(wait)
                continue
            self.stats.count(retry=attempt > 0, throttled=response.status_code == 429)
            if response.status_code < 400:
                return response
            if response.status_code == 401 and not refreshed:
                # Expired or revoked mid-run: get a new token once.
                refreshed = True
                self._bearer(fresh=True)
                continue
            if response.status_code in RETRY_STATUSES:
                wait = _retry_after(response.headers, attempt)
                if time.monotonic() + wait > deadline:
                    raise _throttled(_ids(response.headers))
                attempt += 1
                self._wait(wait)
                continue
            body = _json_or_empty(response)
            raise _error_for(response.status_code, body, response.headers, url)


def _relative(path: str) -> str:
    """``$batch`` URLs are relative to the version root."""
    if path.startswith("http"):
        parts = urlsplit(path)
        path = parts.path.split("/v1.0", 1)[-1] + (f"?{parts.query}" if parts.query else "")
    return path


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _ids(headers: Any) -> dict[str, str]:
    ids = {}
    for header, key in (("request-id", "request_id"), ("client-request-id", "client_request_id")):
        value = headers.get(header) if headers is not None else None
        if value:
            ids[key] = str(value)
    return ids


def _error_for(status: int, body: dict[str, Any], headers: Any, url: str = "") -> GraphError:
    raw_error = body.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    code = str(error.get("code") or "")
    message = str(error.get("message") or "")
    raw_inner = error.get("innerError")
    inner: dict[str, Any] = raw_inner if isinstance(raw_inner, dict) else {}
    ids = _ids(headers)
    if not ids and inner:
        for src, key in (("request-id", "request_id"), ("client-request-id", "client_request_id")):
            if inner.get(src):
                ids[key] = str(inner[src])
    if status == 410 or code in _DELTA_EXPIRED_CODES:
        return DeltaExpiredError(
            "The stored delta link expired; a full synchronisation is needed.", ids=ids
        )
    if status == 403 and code == "Authorization_RequestDenied":
        return MissingPermissionError(_permission_for(url), ids=ids)
    if status == 404:
        return NotFoundError(message or "Not found in Microsoft Graph.", ids=ids)
    return GraphRequestError(status, code or "error", message or "no message", ids=ids)


def _permission_for(url: str) -> tuple[str, ...]:
    path = urlsplit(url).path if url.startswith("http") else url
    if "/groups" in path:
        return ("Group.Read.All",)
    if "/users" in path:
        return ("User.Read.All",)
    return ("User.Read.All", "Group.Read.All")


def _throttled(ids: dict[str, str] | None = None) -> ThrottledError:
    return ThrottledError(
        "Microsoft Graph kept throttling this tenant beyond the retry budget; "
        "the next run will continue.",
        ids=ids,
    )


def _retry_after(headers: Any, attempt: int) -> float:
    value = headers.get("retry-after") if headers is not None else None
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    return _backoff(attempt)


def _backoff(attempt: int) -> float:
    """Exponential back-off with jitter when the server names no wait."""
    return float(min(_BACKOFF_MAX, _BACKOFF_BASE * 2**attempt) * (0.5 + random.random() / 2))
