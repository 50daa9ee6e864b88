"""The bounded hand-over from the reader threads to the event loop, and what travels through it.

A slow consumer must slow the readers down rather than fill memory, and a thread must never touch the
loop's queue directly: `Sink.put` blocks the reader while `max_pending_batches` batches wait, and posts
each batch with `call_soon_threadsafe`. Besides events, a batch carries `Synced` markers, `Restart`
notices (for the metric hook, counted on the loop) and the `END` that `aclose()` puts to end iteration.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass
from typing import Generic

from .events import E, RestartReason, Synced


@dataclass(frozen=True, slots=True)
class Restart:
    """A watch of one scope ended and starts again: reported to `WatchHooks.on_restart` on the loop."""

    reason: RestartReason


class End:
    """Put on the queue by `aclose()`: the iterator ends."""


END = End()
Batch = list[E | Synced | Restart | End | bytes]
"""A `bytes` item is a watch event still in its wire form (one line), decoded by the consumer: bytes are
not tracked by the garbage collector, so a backlog of them costs the collector nothing."""


class Sink(Generic[E]):
    """The hand-over from reader threads to the event loop, bounded in batches.

    A shared deque under one lock: a reader appends and wakes the loop (`call_soon_threadsafe`) only
    when the consumer is waiting for it, so while the consumer is busy a hand-over costs a lock and an
    append, not a wake-up of the loop per network read (an apiserver flushes every event it sends).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_batches: int, stopping: threading.Event) -> None:
        self._loop = loop
        self._stopping = stopping
        self._max_batches = max(1, max_batches)
        self._batches: deque[Batch[E]] = deque()
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._waiter: asyncio.Future[None] | None = None  # the consumer's, while it waits

    def put(self, batch: Batch[E]) -> bool:
        """Called on a reader thread; blocks while the consumer is behind. False once stopping."""
        with self._lock:
            while len(self._batches) >= self._max_batches:
                if self._stopping.is_set():
                    return False
                self._room.wait(0.2)
            if self._stopping.is_set():
                return False
            self._batches.append(batch)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            try:
                self._loop.call_soon_threadsafe(_wake, waiter)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                self._stopping.set()
                return False
        return True

    def end(self) -> None:
        """Called on the loop by `aclose()`: the iterator ends after what is queued (not bounded)."""
        with self._lock:
            self._batches.append([END])
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            _wake(waiter)

    def empty(self) -> bool:
        with self._lock:
            return not self._batches

    async def get(self) -> Batch[E]:
        while True:
            with self._lock:
                if self._batches:
                    batch = self._batches.popleft()
                    self._room.notify()
                    return batch
                waiter = self._loop.create_future()
                self._waiter = waiter
            await waiter


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
