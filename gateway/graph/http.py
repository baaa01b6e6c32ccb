"""HTTP plumbing shared by the token and Graph clients.

:class:`ReadOnlyTransport` is the read-only guarantee toward Entra: it sits
under the Graph client's httpx client and refuses, before anything leaves the
process, every request that is not a GET, except a JSON ``$batch`` POST whose
sub-requests are all GETs.
"""

from __future__ import annotations

import functools
import json
import os
import ssl
from typing import Any

import certifi
import httpx

from gateway.graph.errors import WriteRefusedError

BATCH_PATH_SUFFIX = "/$batch"


class ReadOnlyTransport(httpx.BaseTransport):
    """Wrap a transport so that only reads can pass through it."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        check_read_only(request)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def check_read_only(request: httpx.Request) -> None:
    """Raise :class:`WriteRefusedError` unless ``request`` only reads."""
    if request.method == "GET":
        return
    if request.method == "POST" and request.url.path.endswith(BATCH_PATH_SUFFIX):
        try:
            body = json.loads(request.read() or b"null")
            methods = [str(item["method"]).upper() for item in body["requests"]]
        except (ValueError, KeyError, TypeError):
            raise WriteRefusedError(
                "Refused a $batch request whose body is not a list of sub-requests."
            ) from None
        if methods and all(method == "GET" for method in methods):
            return
        raise WriteRefusedError(
            "Refused a $batch request carrying a non-GET sub-request; "
            "the gateway only reads from Microsoft Graph."
        )
    raise WriteRefusedError(
        f"Refused {request.method} {request.url.path}; the gateway only reads from Microsoft Graph."
    )


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Public roots plus an operator's private CA (``SSL_CERT_FILE`` / ``REQUESTS_CA_BUNDLE``).

    Loading the roots costs a tenth of a second, as much as the rest of a small
    delta run: one context is shared per CA file, and a CA file replaced in
    place (a new modification time) is read again.
    """
    modified = os.stat(ca_bundle).st_mtime_ns if ca_bundle else None
    return _ssl_context(ca_bundle, modified)


@functools.lru_cache(maxsize=8)
def _ssl_context(ca_bundle: str | None, _modified: int | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


class MsalHttpClient:
    """The ``http_client`` MSAL expects (a small part of ``requests.Session``), over httpx.

    MSAL then uses the same TLS settings and, in tests, the same fake transport
    as the Graph client.
    """

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def get(self, url: str, params: Any = None, headers: Any = None, **_: Any) -> _MsalResponse:
        return self._send("GET", url, params=params, headers=headers)

    def post(
        self,
        url: str,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        **_: Any,
    ) -> _MsalResponse:
        return self._send("POST", url, params=params, headers=headers, data=data)

    def close(self) -> None:
        self._client.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> _MsalResponse:
        if isinstance(kwargs.get("data"), str):
            kwargs["content"] = kwargs.pop("data")
        response = self._client.request(method, url, **kwargs)
        return _MsalResponse(response)


class _MsalResponse:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status_code = response.status_code
        self.text = response.text
        self.headers = response.headers

    def raise_for_status(self) -> None:
        self._response.raise_for_status()
