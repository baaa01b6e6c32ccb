"""Prometheus view of the client secrets' expiry, read from the store at each scrape."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from gateway.store.graph_sync import secret_expiry_dates
from gateway.store.tables import utcnow
from gateway.sync.expiry import secret_expiry

logger = logging.getLogger("gateway.sync.metrics")


class SecretExpiryCollector(Collector):
    """``gateway_entra_secret_expiry_days`` and ``gateway_entra_secret_expiry_warning``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterator[Metric]:
        # Registering must not query the database (the app is built before it is up).
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        days, warning = self._families()
        try:
            dates = secret_expiry_dates(self.engine)
        except Exception as exc:
            # A scrape must answer even while the database is down (readyz says so).
            logger.warning("secret expiry metrics unavailable: %s", type(exc).__name__)
            dates = []
        now = utcnow()
        for tenant_id, expires_at in dates:
            days.add_metric([tenant_id], (expires_at - now).total_seconds() / 86400)
            due = secret_expiry(expires_at, now)
            if due.code is not None:
                warning.add_metric([tenant_id, due.code], 1)
        yield days
        yield warning

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        days = GaugeMetricFamily(
            "gateway_entra_secret_expiry_days",
            "Days until the Entra client secret of a tenant's integration expires.",
            labels=["tenant_id"],
        )
        warning = GaugeMetricFamily(
            "gateway_entra_secret_expiry_warning",
            "1 while a secret expiry warning is due (within 30, 7, 1 days, or expired).",
            labels=["tenant_id", "warning"],
        )
        return days, warning
