"""The ``timus-gateway`` command (see the operator contract in the README).

Exit codes: 0 success, 1 operational failure (database, keys, unknown tenant),
2 usage error. Every leaf command takes ``--json`` for machine-readable output;
errors are then JSON on stdout too. Secrets (tokens, keys) are printed only by
the commands that create them, and only once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, NoReturn, TypeVar

import click
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from gateway import __version__
from gateway.crypto import (
    CryptoError,
    SecretBox,
    check_keys_cover_store,
    generate_key,
    load_secret_box,
    rotate_secrets,
)
from gateway.errors import ApiError, ValidationFailedError
from gateway.settings import Settings, load_settings
from gateway.store.engine import make_engine
from gateway.store.migrate import SchemaNotCurrentError, check_schema_current, upgrade_schema

CLI_ACTOR = "cli"
F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """A failure reported as text on stderr, or as JSON on stdout with ``--json``."""

    exit_code = 1

    def __init__(self, message: str, *, code: str, as_json: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.as_json = as_json

    def show(self, file: IO[Any] | None = None) -> None:
        if self.as_json:
            error = {"code": self.code, "message": self.message, "details": None}
            click.echo(json.dumps({"error": error}))
        else:
            click.echo(f"Error: {self.message}", err=True)


class CliUsageError(CliError):
    """A well-formed command whose arguments the gateway rejects (exit code 2)."""

    exit_code = 2


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(
        func
    )


def _emit(as_json: bool, text: str, data: dict[str, Any]) -> None:
    click.echo(json.dumps(data) if as_json else text)


def _fail(as_json: bool, code: str, message: str, exit_code: int = 1) -> NoReturn:
    cls = CliUsageError if exit_code == 2 else CliError
    raise cls(message, code=code, as_json=as_json)


def _settings(as_json: bool) -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        # Name the variables, never echo their values (one may be a database password).
        problems = "; ".join(
            f"GATEWAY_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        _fail(as_json, "invalid_settings", f"invalid environment: {problems}")


@contextmanager
def _failures(as_json: bool) -> Iterator[None]:
    """Translate the gateway's own errors into clear messages and exit codes."""
    try:
        yield
    except CliError:
        raise
    except ValidationFailedError as exc:
        _fail(as_json, exc.code, exc.message, exit_code=2)
    except ApiError as exc:
        _fail(as_json, exc.code, exc.message)
    except CryptoError as exc:
        _fail(as_json, "key_error", str(exc))
    except SchemaNotCurrentError as exc:
        _fail(as_json, "schema_not_current", str(exc))
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        _fail(
            as_json,
            "database_error",
            f"database error: {reason}; check GATEWAY_DATABASE_URL and that the "
            "database is running",
        )


@contextmanager
def _store(settings: Settings, *, current: bool = True) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    try:
        if current:
            check_schema_current(engine)
        yield engine
    finally:
        engine.dispose()


@click.group(name="timus-gateway", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="timus-gateway")
def main() -> None:
    """Identity provisioning gateway for Microsoft Entra ID.

    Configuration comes from GATEWAY_* environment variables
    (GATEWAY_DATABASE_URL, GATEWAY_SECRET_KEYS, GATEWAY_PUBLIC_URL).
    """


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@json_option
def serve(host: str, port: int, as_json: bool) -> None:
    """Bring the schema up to date, then serve HTTP (--json: JSON log lines)."""
    import uvicorn

    from gateway.app import create_app
    from gateway.observability import configure_logging

    settings = _settings(as_json)
    configure_logging(settings.log_level, json_lines=as_json)
    with _failures(as_json):
        box = load_secret_box(settings)
        with _store(settings, current=False) as engine:
            upgrade_schema(engine)
            check_keys_cover_store(engine, box)
        app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_config=None,  # ours, from configure_logging
        access_log=False,  # the app logs requests itself, without query strings
        server_header=False,
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        _fail(as_json, "startup_failed", "the server did not start; see the log above")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@json_option
def db_upgrade(as_json: bool) -> None:
    """Bring the database schema to the newest revision."""
    settings = _settings(as_json)
    with _failures(as_json), _store(settings, current=False) as engine:
        revision = upgrade_schema(engine)
    _emit(as_json, f"Schema is at revision {revision} (newest).", {"revision": revision})


@main.group()
def tenant() -> None:
    """Customer tenants."""


@tenant.command("create")
@click.argument("name")
@json_option
def tenant_create(name: str, as_json: bool) -> None:
    """Create a tenant named NAME and print its id."""
    from gateway.store.tenants import create_tenant

    settings = _settings(as_json)
    with _failures(as_json), _store(settings) as engine:
        record = create_tenant(engine, name, actor=CLI_ACTOR)
    _emit(as_json, record.id, {"id": record.id, "name": record.name})


@main.group()
def token() -> None:
    """Admin and SCIM bearer tokens."""


@token.command("create")
@click.option("--tenant", "tenant_id", metavar="ID", help="Tenant id (omit for an operator token).")
@click.option("--kind", type=click.Choice(["admin", "scim"]), required=True)
@json_option
def token_create(tenant_id: str | None, kind: str, as_json: bool) -> None:
    """Create a token and print it once; it cannot be shown again.

    --kind admin without --tenant makes an operator token for every tenant.
    """
    from gateway.store.tenants import get_tenant
    from gateway.store.tokens import create_token

    if kind == "scim" and tenant_id is None:
        raise click.UsageError("--kind scim needs --tenant ID: a SCIM token selects its tenant")
    settings = _settings(as_json)
    with _failures(as_json), _store(settings) as engine:
        if tenant_id is not None and get_tenant(engine, tenant_id) is None:
            _fail(
                as_json,
                "unknown_tenant",
                f"no tenant with id {tenant_id}; "
                "create one with `timus-gateway tenant create NAME`",
            )
        record, plaintext = create_token(
            engine,
            tenant_id=tenant_id,
            kind="admin" if kind == "admin" else "scim",
            actor=CLI_ACTOR,
        )
    data = {"id": record.id, "tenant_id": record.tenant_id, "kind": kind, "token": plaintext}
    _emit(as_json, plaintext, data)
    if not as_json:
        click.echo("Store this token now: it is not shown again.", err=True)


@main.group()
def keys() -> None:
    """Encryption keys for stored client secrets (GATEWAY_SECRET_KEYS)."""


@keys.command("generate")
@json_option
def keys_generate(as_json: bool) -> None:
    """Print a new random key (32 bytes, URL-safe base64).

    To rotate: put it first in GATEWAY_SECRET_KEYS, keep the old key after it,
    restart, run `timus-gateway keys rotate`, then remove the old key.
    """
    key = generate_key()
    key_id = SecretBox.from_keys([key]).primary_key_id
    _emit(as_json, key, {"key": key, "key_id": key_id})


@keys.command("rotate")
@json_option
def keys_rotate(as_json: bool) -> None:
    """Re-encrypt every stored client secret under the newest key; print the count."""
    settings = _settings(as_json)
    with _failures(as_json):
        box = load_secret_box(settings)
        with _store(settings) as engine:
            count = rotate_secrets(engine, box)
    _emit(
        as_json,
        f"Re-encrypted {count} client secret(s) under key {box.primary_key_id}.",
        {"rotated": count, "key_id": box.primary_key_id},
    )


@main.group()
def sync() -> None:
    """Graph pull sync of a tenant's Entra integration."""


def _sync_services(settings: Settings, engine: Engine) -> Any:
    from gateway.services import Services
    from gateway.sync.service import connector_for

    return Services(
        settings=settings,
        engine=engine,
        secrets=load_secret_box(settings),
        graph=connector_for(settings),
    )


class _ProgressLine:
    """One status line on stderr, rewritten as pages arrive (only on a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.interactive = bool(sys.stderr.isatty())

    def __call__(self, stage: str, count: int) -> None:
        if not self.enabled:
            return
        labels = {
            "groups": f"read {count} group(s)",
            "users": f"read {count} user(s)",
            "delta": f"read {count} change(s)",
            "applying": "applying",
        }
        text = labels.get(stage, stage)
        if self.interactive:
            click.echo(f"\r\033[K{text}...", err=True, nl=False)
        elif stage != "users" or count % 10_000 < 1000:
            click.echo(f"{text}...", err=True)

    def done(self) -> None:
        if self.enabled and self.interactive:
            click.echo("\r\033[K", err=True, nl=False)


def _report_text(outcome: Any) -> str:
    report = outcome.report
    lines = [
        f"Sync run {outcome.run_id} ({outcome.kind}, {report.get('reason')}): {outcome.status} "
        f"in {report.get('duration_seconds', 0):.1f} s",
        f"Graph: {report.get('graph_requests', 0)} request(s), "
        f"{report.get('graph_retries', 0)} retried, {report.get('graph_throttled', 0)} throttled",
    ]
    changes = {k: v for k, v in sorted(outcome.counts.items()) if v}
    lines.append(
        "Changes: " + (", ".join(f"{k} {v}" for k, v in changes.items()) if changes else "none")
    )
    if outcome.status == "needs_confirmation":
        lines.append(
            f"This run would deactivate {report.get('would_deactivate')} user(s), more than "
            "the threshold allows; nothing was changed. If that is right, run "
            f"`timus-gateway sync confirm --tenant ... --run {outcome.run_id}`."
        )
    if outcome.error:
        lines.append(f"Error: {outcome.error}")
    if outcome.warnings:
        lines.append(f"Warnings ({len(outcome.warnings)}):")
        lines.extend(
            f"  {w.get('code')}: {w.get('subject')}: {w.get('message')}" for w in outcome.warnings
        )
    if outcome.changes:
        lines.append(f"Diff ({len(outcome.changes)} change(s)):")
        lines.extend(
            f"  {c['action']} {c['subject_type']} {c['subject_id']}: "
            f"{json.dumps(c['before'])} -> {json.dumps(c['after'])}"
            for c in outcome.changes
        )
    return "\n".join(lines)


def _finish_sync(outcome: Any, as_json: bool, dry_run: bool) -> None:
    data = {
        "run": {
            "id": str(outcome.run_id),
            "kind": outcome.kind,
            "status": outcome.status,
            "dry_run": dry_run,
            "counts": outcome.counts,
            "warnings": outcome.warnings,
            "error": outcome.error,
            "report": outcome.report,
            "changes": outcome.changes,
        }
    }
    _emit(as_json, _report_text(outcome), data)
    if outcome.status not in {"succeeded", "dry_run"}:
        raise click.exceptions.Exit(1)


@sync.command("run")
@click.option("--tenant", "tenant_id", metavar="ID", required=True, help="Tenant id.")
@click.option("--dry-run", is_flag=True, help="Compute and print the exact diff; change nothing.")
@click.option("--full", is_flag=True, help="Read everything instead of following delta links.")
@json_option
def sync_run(tenant_id: str, dry_run: bool, full: bool, as_json: bool) -> None:
    """Sync the tenant from Microsoft Graph now and print the run report.

    Exits 1 unless the run succeeded (or, with --dry-run, computed its diff).
    """
    from gateway.sync.engine import RunRequest
    from gateway.sync.service import run_sync

    settings = _settings(as_json)
    progress = _ProgressLine(enabled=not as_json)
    with _failures(as_json), _store(settings) as engine:
        outcome = run_sync(
            _sync_services(settings, engine),
            RunRequest(tenant_id, dry_run=dry_run, force_full=full, trigger="cli"),
            progress=progress,
        )
    progress.done()
    _finish_sync(outcome, as_json, dry_run)


@sync.command("confirm")
@click.option("--tenant", "tenant_id", metavar="ID", required=True, help="Tenant id.")
@click.option("--run", "run_id", metavar="RUN_ID", required=True, type=int)
@json_option
def sync_confirm(tenant_id: str, run_id: int, as_json: bool) -> None:
    """Confirm a run stopped at the deactivation threshold: sync again, allowing it."""
    from gateway.sync.service import confirm_run

    settings = _settings(as_json)
    progress = _ProgressLine(enabled=not as_json)
    with _failures(as_json), _store(settings) as engine:
        outcome = confirm_run(
            _sync_services(settings, engine), tenant_id, run_id, progress=progress
        )
    progress.done()
    _finish_sync(outcome, as_json, False)


if __name__ == "__main__":
    main()
