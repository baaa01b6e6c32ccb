"""Handlers on the event loop take turns: first come, first served, and the
loop looks at its sockets between passes of at most about a budget."""

from __future__ import annotations

import asyncio

import pytest

from scim.turns import Turns

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _note(log: list[str], name: str) -> str:
    log.append(name)
    return name


async def test_a_handler_runs_at_once_when_nobody_waits() -> None:
    turns = Turns()
    log: list[str] = []
    asyncio.get_running_loop().call_soon(log.append, "the loop ran")
    assert await turns.run(lambda: _note(log, "served")) == "served"
    assert log == ["served"]


async def test_cheap_handlers_share_a_pass_of_the_loop() -> None:
    turns = Turns(budget=60.0)
    log: list[str] = []
    requests = [asyncio.create_task(turns.run(lambda i=i: _note(log, f"r{i}"))) for i in range(4)]
    asyncio.get_running_loop().call_soon(log.append, "the loop ran")
    await asyncio.gather(*requests)
    assert log == ["r0", "r1", "r2", "r3", "the loop ran"]


async def test_past_its_budget_a_pass_leaves_the_rest_for_later_in_order() -> None:
    """What the loop has to do meanwhile (accept, read) comes before them."""
    turns = Turns(budget=0.0)
    log: list[str] = []

    def first() -> str:
        asyncio.get_running_loop().call_soon(log.append, "the loop's own work")
        return _note(log, "r0")

    await asyncio.gather(
        turns.run(first), *(turns.run(lambda i=i: _note(log, f"r{i}")) for i in range(1, 4))
    )
    assert log == ["r0", "the loop's own work", "r1", "r2", "r3"]


async def test_a_handler_error_reaches_its_own_request_only() -> None:
    turns = Turns(budget=0.0)

    def broken() -> str:
        raise ValueError("broken")

    answers = await asyncio.gather(
        turns.run(lambda: "first"),
        turns.run(broken),
        turns.run(lambda: "last"),
        return_exceptions=True,
    )
    assert answers[0] == "first"
    assert isinstance(answers[1], ValueError)
    assert answers[2] == "last"


async def test_a_cancelled_request_is_not_served() -> None:
    turns = Turns(budget=0.0)
    log: list[str] = []
    first, doomed, after = (
        asyncio.create_task(turns.run(lambda name=name: _note(log, name)))
        for name in ("r0", "doomed", "after")
    )
    await asyncio.sleep(0)  # r0 was served and closed the pass; the others wait
    doomed.cancel()
    await asyncio.wait_for(asyncio.gather(first, doomed, after, return_exceptions=True), 5)
    assert log == ["r0", "after"]
    assert await asyncio.wait_for(turns.run(lambda: "later"), 5) == "later"
