"""A leadership term always ends when it is told to: a stepped-down leader must stop posting.

Python 3.11's `asyncio.wait_for` swallows a cancellation that arrives just as the awaited call
completes; a loop of the term that met it kept running and the term's shutdown waited forever (seen as
a bot that never stopped, under a loaded test run). `cancel_all` cancels again until every task ended.
"""

from __future__ import annotations

import asyncio

from bot.alert_service.term import cancel_all


async def test_a_task_that_misses_a_cancellation_is_cancelled_again() -> None:
    missed: list[int] = []

    async def loop_that_swallows_one_cancel() -> None:
        while True:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if missed:
                    raise
                missed.append(1)  # as `wait_for` does when its call completes at that moment

    task = asyncio.create_task(loop_that_swallows_one_cancel())
    await asyncio.sleep(0.01)

    await asyncio.wait_for(cancel_all([task]), 10)

    assert task.cancelled() and missed == [1]


async def test_tasks_that_end_with_an_error_do_not_stop_the_others_being_cancelled() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    async def sleeps() -> None:
        await asyncio.sleep(60)

    failing, sleeping = asyncio.create_task(fails()), asyncio.create_task(sleeps())
    await asyncio.sleep(0)

    await asyncio.wait_for(cancel_all([failing, sleeping]), 10)

    assert sleeping.cancelled() and isinstance(failing.exception(), RuntimeError)
