"""Shared fixtures: one store-contract suite runs on SQLite and PostgreSQL.

PostgreSQL tests use ``GATEWAY_TEST_DATABASE_URL`` (default: the local server).
Without a reachable server they skip on a developer's machine and fail in CI
(``CI=true``), so CI can never pass without having run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from gateway.store.engine import make_engine
from gateway.store.migrate import upgrade_schema
from gateway.store.tables import metadata

# The Entra/Graph fake's fixtures (entra_state, entra_tenant, entra_app, entra_https, entra_http).
pytest_plugins = ["tests.fakes.entra.fixtures"]

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_admin_url() -> str:
    return os.environ.get("GATEWAY_TEST_DATABASE_URL", DEFAULT_PG_URL)


@contextmanager
def _new_postgres_database() -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, drop it afterwards."""
    admin_url = make_url(_pg_admin_url())
    try:
        admin = make_engine(
            admin_url.render_as_string(hide_password=False),
            isolation_level="AUTOCOMMIT",
            pool_size=1,
        )
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = f"PostgreSQL not reachable at {admin_url.render_as_string()}: {exc}"
        if IN_CI:
            pytest.fail(f"{reason} (PostgreSQL tests are mandatory in CI)")
        pytest.skip(reason)
    name = f"gw_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    with _new_postgres_database() as url:
        yield url


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own, for a process that needs an empty store."""
    with _new_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def _postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    upgrade_schema(engine)
    yield engine
    engine.dispose()


def _truncate(engine: Engine) -> None:
    names = [t.name for t in reversed(metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in names:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated store on each backend."""
    if request.param == "sqlite":
        sqlite_engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
        upgrade_schema(sqlite_engine)
        yield sqlite_engine
        sqlite_engine.dispose()
        return
    pg_engine: Engine = request.getfixturevalue("_postgres_engine")
    _truncate(pg_engine)
    yield pg_engine


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated SQLite store, for tests that need only one backend."""
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    upgrade_schema(engine)
    yield engine
    engine.dispose()
