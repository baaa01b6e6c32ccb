"""Reading ahead in a thread, so the next Graph page arrives while this one is staged."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

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
