"""Requests served on the event loop take turns: first come, first served, one
per pass of the loop.

A handler on the loop runs to its end without awaiting, so one pass of the
loop would run every request that became ready in it back to back, and a
connection that arrives meanwhile waits for that whole pass before it is even
accepted (uvloop accepts one connection per pass), then again to be read. At
the start of a burst, with eight new connections, the last one waited for
about 28 handlers instead of 7. Handing the turn on in the next pass lets the
loop accept and read between two requests, so a new request queues behind the
ones already waiting, in order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType


class Turns:
    """An asyncio FIFO of turns; ``async with turns:`` holds one."""

    def __init__(self) -> None:
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._taken = False

    async def __aenter__(self) -> None:
        if not self._taken and not self._waiting:
            # Nobody is served or waiting: no detour through the loop.
            self._taken = True
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                # The turn came as the waiter was cancelled: pass it on.
                self._hand_on()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._hand_on()

    def _hand_on(self) -> None:
        # In the next pass of the loop, after it has looked at its sockets.
        asyncio.get_running_loop().call_soon(self._next)

    def _next(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._taken = False
