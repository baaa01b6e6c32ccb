"""Per-tenant request rate limit: a token bucket per tenant, in this process."""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """``rate`` requests per second per tenant, with bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, tenant_id: str, now: float | None = None) -> float:
        """Take one request from the tenant's bucket: 0 when allowed, else the
        seconds to wait before the next one would be (for ``Retry-After``)."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(tenant_id, (self._burst, moment))
            tokens = min(self._burst, tokens + (moment - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[tenant_id] = (tokens - 1.0, moment)
                return 0.0
            self._buckets[tenant_id] = (tokens, moment)
            return (1.0 - tokens) / self._rate


def retry_after_header(wait: float) -> str:
    """Whole seconds, at least one (RFC 9110 §10.2.3)."""
    return str(max(1, math.ceil(wait)))
