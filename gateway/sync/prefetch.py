"""Overlapping work in threads: reading Graph ahead, and applying chunks behind the reads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


def read_ahead(source: Iterable[T], depth: int = 3) -> Iterator[T]:
    """Yield ``source``'s items, produced by a thread up to ``depth`` items ahead.

    An exception in the producer is raised to the consumer at the point it
    happened; closing the iterator early stops the producer.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_DONE)
        except BaseException as exc:
            items.put(exc)

    thread = threading.Thread(target=produce, name="graph-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)


class ChunkApplier:
    """Runs submitted jobs one after another in a thread of its own, in order.

    The first failure stops it: later jobs are dropped, and the failure is
    raised by :meth:`raise_failure` or :meth:`finish`.
    """

    def __init__(self, depth: int = 2) -> None:
        self._jobs: queue.Queue[Callable[[], Any] | None] = queue.Queue(maxsize=depth)
        self._results: list[Any] = []
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="sync-apply", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if self._failure is not None:
                continue
            try:
                self._results.append(job())
            except BaseException as exc:
                self._failure = exc

    def submit(self, job: Callable[[], Any]) -> None:
        self.raise_failure()
        self._jobs.put(job)

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def finish(self) -> list[Any]:
        """Wait for every submitted job; their results in order."""
        self._jobs.put(None)
        self._thread.join()
        self.raise_failure()
        return list(self._results)
