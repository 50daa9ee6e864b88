"""How many lists run at once in this process, over every stream and every cluster.

A list holds decoded pages of objects (up to `max_pending_batches` per stream) until its consumer has
read them. A bot that starts watching 20 clusters lists all of them at once and, at that moment, holds
the pages of all of them together: its peak memory (`bench clusters`: 452 MiB for 20 clusters of 2,000
pods, where one cluster of 40,000 peaks at 112). Taken a few at a time, the lists finish as fast in total
and the peak holds a few clusters' pages (193–203 MiB).

A slot is taken only once the apiserver has answered the first page, and held until the list ends: a
cluster that does not answer (a blackholed address waits out the connect timeout) holds none, so it
never delays another cluster's list, which keeps a dead cluster's trouble its own. A watch needs no slot.
"""

from __future__ import annotations

import threading

__all__ = ["LIST_SLOTS", "ListSlot"]

LIST_SLOTS = threading.BoundedSemaphore(4)
"""Lists of this process that may hold pages at once."""

_POLL_SECONDS = 0.2
"""How often a reader waiting for a slot checks whether its stream is stopping."""


class ListSlot:
    """One list's claim on `LIST_SLOTS`: `take()` once the apiserver answered, `release()` at the end."""

    def __init__(self, stopping: threading.Event, slots: threading.BoundedSemaphore = LIST_SLOTS) -> None:
        self._stopping = stopping
        self._slots = slots
        self._held = False

    def take(self) -> bool:
        """Hold a slot from now on (at once if already held); False if the stream stops while waiting."""
        while not self._held:
            if self._slots.acquire(timeout=_POLL_SECONDS):
                self._held = True
            elif self._stopping.is_set():
                return False
        return True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()
