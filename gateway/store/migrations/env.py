"""Alembic environment, configured in code by :mod:`gateway.store.migrate`.

There is no ``alembic.ini`` and nothing depends on the working directory: the
caller hands over an open connection (already holding the migration lock and
inside the transaction it will commit) through ``config.attributes``.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from gateway.store.tables import UtcDateTime, metadata


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Revisions must not import application types that may change later;
    # UtcDateTime only converts values in Python, its column is a plain one.
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run migrations through gateway.store.migrate (`timus-gateway db upgrade`), "
            "not the alembic command"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        render_as_batch=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


_run()
