"""Serve the fake on loopback: uvicorn on ``127.0.0.1:0`` in a background thread.

HTTPS by default, with a certificate for ``127.0.0.1`` and ``localhost`` issued by a
private CA (trustme); clients trust it through ``ca_bundle`` (``verify=``,
``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE``). Plain HTTP on request.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme
import uvicorn

from tests.fakes.entra.app import create_app
from tests.fakes.entra.state import EntraState


class _Server(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Clients (MSAL's requests session, pooled httpx clients) keep connections alive,
        # and closing a TLS connection waits for the peer's close_notify: cut them instead.
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        await super().shutdown(sockets)


@dataclass(frozen=True)
class ServedFake:
    """A running fake: its base URL (login and Graph root alike) and the CA to trust (HTTPS)."""

    base_url: str
    ca_bundle: Path | None
    state: EntraState

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the fake's private CA (for ``httpx`` ``verify=``)."""
        return ssl.create_default_context(cafile=str(self.ca_bundle) if self.ca_bundle else None)


@contextmanager
def serve(
    state: EntraState, https: bool = True, startup_timeout: float = 10.0
) -> Iterator[ServedFake]:
    """Serve ``state`` until the block ends."""
    with tempfile.TemporaryDirectory(prefix="entra-fake-") as tmp:
        ssl_options: dict[str, str] = {}
        ca_bundle: Path | None = None
        if https:
            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            ca_bundle = Path(tmp) / "ca.pem"
            ca.cert_pem.write_to_path(str(ca_bundle))
            key_path = Path(tmp) / "server.key"
            chain_path = Path(tmp) / "server.pem"
            cert.private_key_pem.write_to_path(str(key_path))
            cert.cert_chain_pems[0].write_to_path(str(chain_path))
            for extra in cert.cert_chain_pems[1:]:
                extra.write_to_path(str(chain_path), append=True)
            ssl_options = {"ssl_keyfile": str(key_path), "ssl_certfile": str(chain_path)}
        config = uvicorn.Config(
            create_app(state),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            access_log=False,
            lifespan="off",
            **ssl_options,  # type: ignore[arg-type]
        )
        server = _Server(config)
        thread = threading.Thread(target=server.run, name="entra-fake", daemon=True)
        thread.start()
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Entra fake did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        scheme = "https" if https else "http"
        try:
            yield ServedFake(f"{scheme}://127.0.0.1:{port}", ca_bundle, state)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
