"""The service's long-lived parts, built once by ``create_app`` and passed in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from gateway.crypto import SecretBox
from gateway.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    engine: Engine
    secrets: SecretBox
