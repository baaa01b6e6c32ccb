"""Handlers served on the event loop take turns: first come, first served, and
the loop looks at its sockets at least every couple of milliseconds.

A handler on the loop runs to its end without awaiting, so one pass of the
loop would run every request that became ready in it back to back, and a
connection that arrives meanwhile waits for that whole pass before it is even
accepted (uvloop made one new connection per pass in the SCIM benchmark), then
again to be read. At the start of a burst, with eight new connections, the
last one waited for about 28 handlers instead of 7. Here a pass runs handlers
for about ``budget`` seconds (and at least one); the rest queue, in order, for
the next passes, after the loop has accepted and read what arrived meanwhile.
Cheap handlers still share a pass, so the loop does not make one pass (with
its system calls) per request.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar, cast

T = TypeVar("T")

BUDGET_SECONDS = 0.001


class Turns:
    """Runs synchronous handlers on the event loop, in turns (see the module docstring)."""

    def __init__(self, budget: float = BUDGET_SECONDS) -> None:
        self._budget = budget
        self._queue: deque[tuple[Callable[[], object], asyncio.Future[object]]] = deque()
        # Handler time spent in this pass, and whether the rest of it is closed.
        self._spent = 0.0
        self._closed = False

    async def run(self, handler: Callable[[], T]) -> T:
        """``handler()``, now if this pass has time left and nobody waits, else in turn."""
        if not self._closed and not self._queue:
            return self._timed(handler)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._queue.append((handler, future))
        return cast(T, await future)

    def _timed(self, handler: Callable[[], T]) -> T:
        began = time.perf_counter()
        try:
            return handler()
        finally:
            self._spent += time.perf_counter() - began
            if self._spent >= self._budget and not self._closed:
                # The rest of this pass waits: the loop looks at its sockets first.
                self._closed = True
                asyncio.get_running_loop().call_soon(self._next_pass)

    def _next_pass(self) -> None:
        self._spent = 0.0
        self._closed = False
        while self._queue and not self._closed:
            handler, future = self._queue.popleft()
            if future.cancelled():
                continue
            try:
                result: object = self._timed(handler)
            except Exception as error:
                future.set_exception(error)
            else:
                future.set_result(result)
