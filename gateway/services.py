"""The service's long-lived parts, built once by ``create_app`` and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from gateway.crypto import SecretBox
from gateway.graph.connector import GraphConnector
from gateway.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    engine: Engine
    secrets: SecretBox
    # How to reach Entra and Graph; tests hand in one built on the fake Entra.
    graph: GraphConnector = field(default_factory=GraphConnector)
