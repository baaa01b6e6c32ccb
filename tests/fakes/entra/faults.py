"""Failures a test programs into the fake, and the counter of every request it received.

A fault answers instead of the route: 429 (with or without ``Retry-After``), 503,
504, or 410 on a delta link (Graph's "synchronization reset"). It can target the next
N requests, requests whose path matches a pattern, or one page of a paged read.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Fault:
    """One programmed failure.

    ``path`` is a regular expression searched in the request path (no query string);
    ``page`` picks the n-th page (1 = first) of a paged read; ``times`` is how many
    requests fail (``None``: every matching request until :meth:`Faults.clear`).
    ``in_batch`` says whether sub-requests of a ``$batch`` can be hit (they are
    throttled one by one in Graph) and ``outside_batch`` whether plain requests can.
    A fault without ``path`` hits Graph requests only; the token endpoint and the
    OpenID metadata fail only for a fault whose ``path`` names them.
    """

    status: int
    retry_after: int | None = None
    times: int | None = 1
    path: str | None = None
    method: str | None = None
    page: int | None = None
    in_batch: bool = True
    outside_batch: bool = True
    hits: int = 0

    def matches(self, method: str, path: str, page: int | None, in_batch: bool) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if not (self.in_batch if in_batch else self.outside_batch):
            return False
        if self.method is not None and method.upper() != self.method.upper():
            return False
        if self.path is not None and not re.search(self.path, path):
            return False
        return self.page is None or self.page == page


@dataclass
class Faults:
    """The programmed faults of one fake, checked in the order they were added."""

    rules: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.rules.append(fault)
        return fault

    def throttle(
        self, times: int | None = 1, retry_after: int | None = 1, path: str | None = None
    ) -> Fault:
        """429 Too Many Requests, with ``Retry-After: retry_after`` unless it is None."""
        return self.add(Fault(429, retry_after=retry_after, times=times, path=path))

    def unavailable(
        self, times: int | None = 1, path: str | None = None, retry_after: int | None = None
    ) -> Fault:
        """503 Service Unavailable."""
        return self.add(Fault(503, retry_after=retry_after, times=times, path=path))

    def gateway_timeout(self, times: int | None = 1, path: str | None = None) -> Fault:
        """504 Gateway Timeout."""
        return self.add(Fault(504, times=times, path=path))

    def fail_page(
        self, page: int, path: str | None = None, status: int = 503, times: int | None = 1
    ) -> Fault:
        """Fail the n-th page (1 = first) of paged reads whose path matches."""
        return self.add(Fault(status, times=times, path=path, page=page))

    def resync(self, path: str = r"/delta$", times: int | None = 1) -> Fault:
        """410 Gone on a delta request: the client must start a full synchronisation again."""
        return self.add(Fault(410, times=times, path=path))

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def take(
        self,
        method: str,
        path: str,
        page: int | None = None,
        in_batch: bool = False,
        explicit_only: bool = False,
    ) -> Fault | None:
        """The first fault that matches this request, counted as used; None if the route answers.

        ``explicit_only`` considers only faults that name a path (the Entra endpoints).
        """
        with self._lock:
            for fault in self.rules:
                if explicit_only and fault.path is None:
                    continue
                if fault.matches(method, path, page, in_batch):
                    fault.hits += 1
                    return fault
        return None


@dataclass
class RequestLog:
    """Every request the fake received, by method and path (``$batch`` items separately)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    batched: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, path: str, in_batch: bool = False) -> None:
        with self._lock:
            (self.batched if in_batch else self.counts)[(method.upper(), path)] += 1

    def count(self, method: str | None = None, prefix: str = "", in_batch: bool = False) -> int:
        """Requests (or batch items) with this method and a path starting with ``prefix``."""
        with self._lock:
            source = self.batched if in_batch else self.counts
            return sum(
                n
                for (m, p), n in source.items()
                if (method is None or m == method.upper()) and p.startswith(prefix)
            )

    def methods(self, prefix: str = "") -> set[str]:
        """Methods seen on paths under ``prefix``, plain requests and batch items together."""
        with self._lock:
            return {
                m
                for source in (self.counts, self.batched)
                for (m, p) in source
                if p.startswith(prefix)
            }

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.batched.clear()
