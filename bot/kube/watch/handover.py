"""The bounded hand-over from the reader threads to the event loop, and what travels through it.

A slow consumer must slow the readers down rather than fill memory, and a thread must never touch the
loop's queue directly: `Sink.put` blocks the reader while `max_pending_batches` batches wait, and posts
each batch with `call_soon_threadsafe`. Besides events, a batch carries `Synced` markers, `Restart`
notices (for the metric hook, counted on the loop) and the `END` that `aclose()` puts to end iteration.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Generic

from .events import E, EventType, RestartReason, Synced


class RawEvent:
    """A watch event still in its wire form; the consumer decodes it (see `ScopeReader._deliver`)."""

    __slots__ = ("line", "type")

    def __init__(self, type: EventType, line: bytes) -> None:
        self.type = type
        self.line = line


@dataclass(frozen=True, slots=True)
class Restart:
    """A watch of one scope ended and starts again: reported to `WatchHooks.on_restart` on the loop."""

    reason: RestartReason


class End:
    """Put on the queue by `aclose()`: the iterator ends."""


END = End()
Batch = list[E | Synced | Restart | End | RawEvent]


class Sink(Generic[E]):
    """The hand-over from reader threads to the event loop, bounded in batches."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_batches: int, stopping: threading.Event) -> None:
        self._loop = loop
        self._stopping = stopping
        self._slots = threading.Semaphore(max(1, max_batches))
        self.queue: asyncio.Queue[Batch[E]] = asyncio.Queue()

    def put(self, batch: Batch[E]) -> bool:
        """Called on a reader thread; blocks while the consumer is behind. False once stopping."""
        while not self._slots.acquire(timeout=0.2):
            if self._stopping.is_set():
                return False
        if self._stopping.is_set():
            return False
        try:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, batch)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self._stopping.set()
            return False
        return True

    async def get(self) -> Batch[E]:
        batch = await self.queue.get()
        if not (len(batch) == 1 and batch[0] is END):
            self._slots.release()
        return batch
