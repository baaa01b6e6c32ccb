"""The whole service under uvicorn on a loopback port of its own, in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import Settings
from gateway.store.scim_identity import IdentityApplier


@dataclass(frozen=True)
class Live:
    base_url: str  # the SCIM base, .../scim/v2
    app: Starlette

    @property
    def applier(self) -> IdentityApplier:
        for route in self.app.routes:
            if getattr(route, "path", None) == "/scim/v2":
                applier: IdentityApplier = route.app.state.scim.applier  # type: ignore[attr-defined]
                return applier
        raise LookupError("no SCIM mount")


@contextmanager
def serving(settings: Settings) -> Iterator[Live]:
    """Serve ``create_app`` on 127.0.0.1 port 0; ``public_url`` becomes the real address."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    public = f"http://127.0.0.1:{port}"
    app = create_app(settings.model_copy(update={"public_url": public}))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    try:
        yield Live(f"{public}/scim/v2", app)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
