"""Alembic revisions build exactly the tables, on SQLite and PostgreSQL, even when racing."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from gateway.store.engine import make_engine
from gateway.store.migrate import (
    SchemaNotCurrentError,
    alembic_config,
    check_schema_current,
    current_revision,
    head_revision,
    upgrade_schema,
)
from gateway.store.tables import metadata

WITHOUT_ROWID_TABLES = {"user_sources", "group_memberships", "team_memberships"}


def test_revisions_produce_exactly_the_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == [], (
        "gateway/store/tables.py and the Alembic revisions differ; generate the next "
        'revision with `make migration m="what changed"` (see gateway/store/migrate.py)'
    )


def test_upgrade_is_idempotent(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    assert upgrade_schema(engine) == head_revision()
    assert upgrade_schema(engine) == head_revision()
    check_schema_current(engine)


def test_backend_specific_ddl_survives(engine: Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
            ddl: dict[str, str] = {name: sql for name, sql in rows}
            for name in WITHOUT_ROWID_TABLES:
                assert ddl[name].rstrip().endswith("WITHOUT ROWID"), name
            # Only INTEGER PRIMARY KEY autoincrements on SQLite.
            assert '"id" INTEGER NOT NULL' in ddl["users"] or "id INTEGER NOT NULL" in ddl["users"]
        else:
            columns = {c["name"]: c for c in inspect(conn).get_columns("users")}
            assert str(columns["id"]["type"]) == "BIGINT"
            assert columns["id"]["autoincrement"] is True
            assert str(columns["created_at"]["type"]) == "TIMESTAMP"
            assert columns["created_at"]["type"].timezone is True  # type: ignore[attr-defined]


def test_sqlite_foreign_keys_enforced_again_after_upgrade(tmp_path: Path) -> None:
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}", pool_size=1)
    try:
        upgrade_schema(fresh)
        with fresh.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    finally:
        fresh.dispose()


def test_schema_check_on_fresh_database(tmp_path: Path) -> None:
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert current_revision(fresh) is None
        with pytest.raises(SchemaNotCurrentError, match="timus-gateway db upgrade"):
            check_schema_current(fresh)
        upgrade_schema(fresh)
        check_schema_current(fresh)
    finally:
        fresh.dispose()


def test_migrations_do_not_depend_on_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert upgrade_schema(fresh) == head_revision()
    finally:
        fresh.dispose()
    assert list(elsewhere.iterdir()) == []


def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        upgrade_schema(fresh)
        with fresh.connect() as conn, conn.begin():
            command.downgrade(alembic_config(conn), "base")
        assert set(inspect(fresh).get_table_names()) == {"alembic_version"}
        upgrade_schema(fresh)
        assert set(metadata.tables) <= set(inspect(fresh).get_table_names())
    finally:
        fresh.dispose()


def test_in_memory_sqlite_upgrades(tmp_path: Path) -> None:
    from sqlalchemy.pool import StaticPool

    memory = make_engine("sqlite://", poolclass=StaticPool)
    try:
        assert upgrade_schema(memory) == head_revision()
    finally:
        memory.dispose()
    assert list(tmp_path.iterdir()) == []


# --- concurrency -------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, never-migrated database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'race.db'}"
        return
    # A fresh schema in the session's database is much cheaper than a fresh database.
    session_url: str = request.getfixturevalue("postgres_url")
    admin = make_engine(session_url, isolation_level="AUTOCOMMIT", pool_size=1)
    schema = f"gw_mig_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(session_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


_RACER = """
import sys, time
from pathlib import Path
from gateway.store.engine import make_engine
from gateway.store.migrate import upgrade_schema
engine = make_engine(sys.argv[1])
gate = Path(sys.argv[2])
(gate / sys.argv[3]).touch()
while not (gate / "go").exists():
    time.sleep(0.005)
print(upgrade_schema(engine))
engine.dispose()
"""


def test_two_processes_upgrade_a_fresh_database_at_once(fresh_url: str, tmp_path: Path) -> None:
    # Both processes import first, say they are ready, then migrate on the same signal.
    gate = tmp_path / "gate"
    gate.mkdir()
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, fresh_url, str(gate), f"ready-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    deadline = time.monotonic() + 60
    while len(list(gate.glob("ready-*"))) < len(racers):
        assert all(r.poll() is None for r in racers), "a racer died before the start"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (gate / "go").touch()
    results = [racer.communicate(timeout=60) for racer in racers]
    for racer, (out, err) in zip(racers, results, strict=True):
        assert racer.returncode == 0, err
        assert out.strip() == head_revision()
    _assert_migrated_once(fresh_url)


def _assert_migrated_once(url: str) -> None:
    engine = make_engine(url)
    try:
        check_schema_current(engine)
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                # The fixture's own schema, not the session database's public one.
                assert conn.execute(text("SELECT current_schema()")).scalar_one() != "public"
            assert set(metadata.tables) <= set(inspect(conn).get_table_names())
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    finally:
        engine.dispose()


def test_threads_upgrade_a_fresh_database_at_once(fresh_url: str) -> None:
    engines = [make_engine(fresh_url) for _ in range(3)]
    barrier = threading.Barrier(len(engines))
    results: list[str] = []
    errors: list[BaseException] = []

    def race(engine: Engine) -> None:
        barrier.wait()
        try:
            results.append(upgrade_schema(engine))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert errors == []
    assert results == [head_revision()] * len(engines)
    _assert_migrated_once(fresh_url)
