"""Turns on the event loop: first come, first served, one per pass of the loop."""

from __future__ import annotations

import asyncio

import pytest

from scim.turns import Turns

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _served(turns: Turns, name: str, log: list[str]) -> None:
    async with turns:
        log.append(name)


async def test_a_free_turn_is_taken_without_waiting_for_the_loop() -> None:
    turns = Turns()
    log: list[str] = []
    asyncio.get_running_loop().call_soon(log.append, "the loop ran")
    async with turns:
        log.append("served")
    assert log == ["served"]


async def test_turns_are_served_in_the_order_they_were_asked_for() -> None:
    turns = Turns()
    log: list[str] = []
    await asyncio.gather(*(_served(turns, f"r{i}", log) for i in range(5)))
    assert log == ["r0", "r1", "r2", "r3", "r4"]


async def test_the_loop_runs_what_became_ready_before_the_next_turn() -> None:
    """What the loop has to do (accept, read) comes before the next request."""
    turns = Turns()
    log: list[str] = []

    async def first() -> None:
        async with turns:
            log.append("first")
            asyncio.get_running_loop().call_soon(log.append, "the loop's own work")

    await asyncio.gather(first(), _served(turns, "second", log))
    assert log == ["first", "the loop's own work", "second"]


async def test_a_cancelled_waiter_does_not_hold_up_the_others() -> None:
    turns = Turns()
    log: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with turns:
            await release.wait()
            log.append("holder")

    tasks = [asyncio.create_task(holder())]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(_served(turns, name, log)) for name in ("gone", "next")]
    await asyncio.sleep(0)
    tasks[1].cancel()
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    assert log == ["holder", "next"]
    await asyncio.wait_for(_served(turns, "later", log), 1)


async def test_a_waiter_cancelled_as_its_turn_came_passes_the_turn_on() -> None:
    turns = Turns()
    log: list[str] = []
    release = asyncio.Event()
    waiters: list[asyncio.Task[None]] = []

    async def holder() -> None:
        async with turns:
            await release.wait()
        # Runs right after the turn is handed to the first waiter, before it wakes.
        asyncio.get_running_loop().call_soon(waiters[0].cancel)

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiters += [asyncio.create_task(_served(turns, name, log)) for name in ("doomed", "after")]
    await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(asyncio.gather(first, *waiters, return_exceptions=True), 5)
    assert waiters[0].cancelled()
    assert log == ["after"]
    await asyncio.wait_for(_served(turns, "later", log), 1)
