"""Work that continues after Slack has been acknowledged.

Bolt runs listeners with `process_before_response=True` so a plain explanation is acknowledged (and
answered) the moment it is computed, with no polling delay. Anything slower (posting a shared answer,
reading the cluster) is handed to this group, which keeps a reference to each task (the event loop
only keeps weak ones), logs what escapes, and gives running work a short grace period at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundTasks:
    """A set of fire-and-forget tasks that can be drained at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    @property
    def pending(self) -> int:
        """How many tasks are still running (not `__len__`: an idle group must still be truthy)."""
        return len(self._tasks)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            log.error("background task %s failed: %r", task.get_name(), error, exc_info=error)

    async def drain(self, grace_seconds: float) -> None:
        """Let running work finish for up to `grace_seconds`, then cancel what is left."""
        pending = set(self._tasks)
        if not pending:
            return
        _, still_running = await asyncio.wait(pending, timeout=grace_seconds)
        for task in still_running:
            task.cancel()
        if still_running:
            await asyncio.wait(still_running, timeout=1.0)
            log.warning("cancelled %d unfinished replies at shutdown", len(still_running))
