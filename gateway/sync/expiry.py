"""Warnings about the client secret's expiry date (30, 7 and 1 days ahead)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from gateway.store.tables import utcnow

WARN_DAYS = (1, 7, 30)


@dataclass(frozen=True, slots=True)
class SecretExpiry:
    days: int | None
    code: str | None
    message: str | None


def secret_expiry(expires_at: datetime | None, now: datetime | None = None) -> SecretExpiry:
    """How soon the secret expires and the warning due, if any."""
    if expires_at is None:
        return SecretExpiry(None, None, None)
    left = (expires_at - (now or utcnow())).total_seconds() / 86400
    days = math.floor(left)
    if left <= 0:
        return SecretExpiry(
            days,
            "expired",
            "The client secret has expired: syncs fail and synced users are kept. Create a "
            "new secret in Entra ID and save it here.",
        )
    for limit in WARN_DAYS:
        if left <= limit:
            unit = "day" if limit == 1 else "days"
            return SecretExpiry(
                days,
                f"expires_within_{limit}_{unit}",
                f"The client secret expires within {limit} {unit} "
                f"({expires_at.date().isoformat()}); create a new secret in Entra ID and save "
                "it here before then.",
            )
    return SecretExpiry(days, None, None)
