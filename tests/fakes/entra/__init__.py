"""A stateful fake of the Entra token endpoint and the parts of Microsoft Graph v1.0 the sync uses.

Tests mutate an :class:`EntraState` directly and point clients at :func:`create_app`
(an ASGI app, for ``httpx.ASGITransport``) or at :func:`serve` (a loopback server,
HTTPS with a private CA by default).
"""

from tests.fakes.entra.app import create_app
from tests.fakes.entra.faults import Fault, Faults
from tests.fakes.entra.server import ServedFake, serve
from tests.fakes.entra.state import (
    GRAPH_ROLES,
    App,
    Clock,
    EntraState,
    Secret,
    Tenant,
)

__all__ = [
    "GRAPH_ROLES",
    "App",
    "Clock",
    "EntraState",
    "Fault",
    "Faults",
    "Secret",
    "ServedFake",
    "Tenant",
    "create_app",
    "serve",
]
