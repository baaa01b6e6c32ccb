"""Bring the schema up to date (placeholder: Alembic arrives in the platform work)."""

from __future__ import annotations

from sqlalchemy import Engine

from gateway.store.tables import metadata


def upgrade_schema(engine: Engine) -> None:
    """Bring the database schema to the newest revision; safe to call concurrently."""
    metadata.create_all(engine)
