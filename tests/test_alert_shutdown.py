"""A leadership term's shutdown ends every loop, even one that swallowed its first cancellation.

On Python 3.11 `asyncio.wait_for` (around every Kubernetes call) can swallow a cancellation that arrives
as the wrapped call completes (CPython gh-86296); the ledger refresh loop then ran on, and a shutdown that
cancelled once and waited hung until the harness gave up. The loop below swallows its first cancellation
on purpose, the way that bug does.
"""

from __future__ import annotations

import asyncio

from bot.alert_service.term import cancel_until_done


async def test_a_loop_that_swallows_its_first_cancellation_is_still_stopped() -> None:
    swallowed = asyncio.Event()

    async def stubborn_loop() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed.is_set():
                    raise
                swallowed.set()  # as wait_for on 3.11 may: the loop goes round again

    loop = asyncio.create_task(stubborn_loop())
    plain = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)  # both started

    await asyncio.wait_for(cancel_until_done([loop, plain]), 30)

    assert swallowed.is_set() and loop.cancelled() and plain.cancelled()


async def test_tasks_already_done_are_left_as_they_are() -> None:
    async def finished() -> None:
        return None

    done = asyncio.create_task(finished())
    await done
    await cancel_until_done([done])
    assert done.done() and not done.cancelled()
