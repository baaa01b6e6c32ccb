"""Schema migrations (Alembic), safe to run from several processes at once.

Revisions live in ``gateway/store/migrations/versions``. After changing
``gateway/store/tables.py``, generate the next revision from the tables::

    make migration m="add users.locale"
    # = python -m gateway.store.migrate revision "add users.locale"

which upgrades a scratch SQLite database to the current head, autogenerates
the difference to ``tables.metadata`` and writes ``NNNN_<slug>.py``. Review it
(Alembic cannot see renames, and SQLite table options such as
``sqlite_with_rowid`` must survive), then run ``pytest tests/store/test_migrations.py``
which checks on SQLite and PostgreSQL that the revisions produce exactly the
tables.
"""

from __future__ import annotations

import fcntl
import logging
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any fixed 64-bit number works; it only has to be the same in every process.
PG_LOCK_KEY = 0x7417_6A7E_3A1D_0001


class SchemaNotCurrentError(RuntimeError):
    """The database schema is older than this code (or missing)."""


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration, built in code (no ini file, no working directory)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration revisions found"
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None when it has never been migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_schema(engine: Engine) -> str:
    """Bring the database schema to the newest revision; returns that revision.

    Safe when several processes start at once: they queue on a lock and the
    later ones find nothing left to do.
    """
    with (
        _migration_lock(engine),
        engine.connect().execution_options(gateway_write=True) as conn,
        _sqlite_foreign_keys_off(conn),
        conn.begin(),
    ):
        if engine.dialect.name == "postgresql":
            # Released when this transaction ends, so a crash cannot leave it held.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        before = MigrationContext.configure(conn).get_current_revision()
        command.upgrade(alembic_config(conn), "head")
        revision = MigrationContext.configure(conn).get_current_revision()
        if engine.dialect.name == "sqlite":
            violations = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
            if violations:
                raise RuntimeError(
                    f"migration left {len(violations)} foreign key violation(s), "
                    f"first in table {violations[0][0]}; nothing was changed"
                )
    assert revision is not None
    if revision != before:
        logger.info("database schema upgraded from revision %s to %s", before, revision)
    return revision


def check_schema_current(engine: Engine) -> None:
    """Raise :class:`SchemaNotCurrentError` when the schema is missing or older than the code.

    A schema newer than the code (a newer release already migrated) is accepted:
    migrations only add, so an older release keeps working during a rollout.
    """
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaNotCurrentError(
            "the database has no schema yet; run `timus-gateway db upgrade` "
            "(or `timus-gateway serve`, which upgrades first)"
        )
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    if current in known:
        raise SchemaNotCurrentError(
            f"the database schema is at revision {current} but this release needs {head}; "
            "run `timus-gateway db upgrade`"
        )


@contextmanager
def _sqlite_foreign_keys_off(conn: Connection) -> Iterator[None]:
    """SQLite: no foreign key actions while migrating.

    Batch migrations rebuild a table by copy, drop and rename; with enforcement
    on, dropping a parent table would fire ON DELETE CASCADE on its children.
    The pragma is ignored inside a transaction, so it is set on the raw
    connection before SQLAlchemy begins one; the violation check inside the
    migration transaction stands in for enforcement.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name != "sqlite":
        yield  # PostgreSQL locks inside the migration transaction.
        return
    database = engine.url.database
    if not database or database == ":memory:" or "mode=memory" in str(engine.url):
        yield  # Private to this process: nobody to race with.
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    # flock conflicts between separate opens even inside one process, so
    # threads queue here as well as processes. The file stays: removing a lock
    # file races with the next process opening it.
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def autogenerate_revision(message: str) -> Path:
    """Write the next revision: the difference between the current head and ``tables``."""
    from gateway.store.engine import make_engine

    script = ScriptDirectory.from_config(alembic_config())
    rev_id = f"{len(list(script.walk_revisions())) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{scratch}/scratch.db")
        try:
            if script.get_current_head() is not None:
                upgrade_schema(engine)
            with engine.connect() as conn, conn.begin():
                result = command.revision(
                    alembic_config(conn), message=message, autogenerate=True, rev_id=rev_id
                )
        finally:
            engine.dispose()
    assert result is not None
    assert not isinstance(result, list)
    path = Path(result.path)
    _tidy(path)
    return path


def _tidy(path: Path) -> None:
    # Alembic writes its own layout; bring the file to the project's style so
    # `make lint` passes without hand edits. Skipped when ruff is not installed.
    for args in (["format"], ["check", "--fix", "--quiet"]):
        subprocess.run(  # noqa: S603 - fixed arguments, our own interpreter
            [sys.executable, "-m", "ruff", *args, str(path)], check=False
        )


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "revision":
        print('usage: python -m gateway.store.migrate revision "what changed"', file=sys.stderr)
        return 2
    print(autogenerate_revision(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
