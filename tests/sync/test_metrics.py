"""Secret expiry is visible in the metrics."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine

from gateway.store.engine import make_engine
from gateway.store.integrations import save_integration
from gateway.store.tables import utcnow
from gateway.sync.metrics import SecretExpiryCollector
from tests import store_seed as seed
from tests.store.apply_helpers import new_tenant


def test_secret_expiry_days_and_warnings_are_exposed(sqlite_engine: Engine) -> None:
    registry = CollectorRegistry()
    registry.register(SecretExpiryCollector(sqlite_engine))
    soon, later = new_tenant(sqlite_engine, "Soon"), new_tenant(sqlite_engine, "Later")
    box = seed.secret_box()
    for tenant_id, days in ((soon, 5), (later, 100)):
        credentials = replace(seed.credentials(), secret_expires_at=utcnow() + timedelta(days=days))
        save_integration(sqlite_engine, box, tenant_id, credentials, actor="test")

    text = generate_latest(registry).decode()

    warning = f'tenant_id="{soon}",warning="expires_within_7_days"'
    assert f"gateway_entra_secret_expiry_warning{{{warning}}} 1.0" in text
    assert f'tenant_id="{later}",warning=' not in text
    assert f'gateway_entra_secret_expiry_days{{tenant_id="{later}"}} 99.' in text


def test_a_scrape_answers_while_the_database_is_down() -> None:
    broken = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    registry = CollectorRegistry()
    registry.register(SecretExpiryCollector(broken))

    assert "gateway_entra_secret_expiry_days" in generate_latest(registry).decode()
    broken.dispose()
