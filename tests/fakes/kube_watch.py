"""Watch semantics of the fake apiserver: what one watch sees, and how its events reach the wire.

A write in the store becomes a `Change`; each open watch (`Subscription`) gets every change on its own
queue and decides what it sees through its `WatchFilter`, as the apiserver's watch cache does: an object
entering the selection arrives as ADDED, one leaving it as DELETED. `Progress` marks the point up to which
everything has been queued, the only resourceVersion a BOOKMARK may safely carry (a client resuming from
it must not miss anything). `Drop` ends a watch, by resetting the connection or ending the stream cleanly.

On the wire: chunked, newline-delimited JSON `{"type": …, "object": …}` as the apiserver streams it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.kube_resources import ResourceType
from tests.fakes.kube_selectors import FieldSelector, LabelSelector

JsonDict = dict[str, Any]

MAX_WRITE_BYTES = 64 * 1024
"""Largest HTTP chunk of queued events: the apiserver flushes every event, so a client never gets a
backlog of 100,000 pods as one chunk (which the client would have to hold in memory at once)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One write, as the watch cache keeps it: the new state and the state it replaced."""

    resource_version: int
    type: str  # ADDED, MODIFIED or DELETED
    rt: ResourceType
    obj: JsonDict
    old: JsonDict | None


@dataclass(frozen=True, slots=True)
class Progress:
    """Every change up to `resource_version` has been queued: a bookmark may safely carry it."""

    resource_version: int


@dataclass(frozen=True, slots=True)
class Drop:
    """End this watch: `abort` resets the TCP connection, otherwise the chunked stream ends cleanly."""

    abort: bool


WatchItem = Change | Progress | Drop


@dataclass(frozen=True, slots=True)
class WatchFilter:
    """What one watch asked for: resource, namespace (None = all) and selectors."""

    rt: ResourceType
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector

    def matches(self, obj: JsonDict) -> bool:
        metadata = obj.get("metadata") or {}
        if self.namespace is not None and metadata.get("namespace") != self.namespace:
            return False
        return self.labels.matches(metadata.get("labels")) and self.fields.matches(obj)

    def event_for(self, change: Change) -> tuple[str, JsonDict] | None:
        """The event this watch sees, as the apiserver filters: entering the selection is ADDED, leaving it
        is DELETED, and changes outside it are not seen at all."""
        if change.rt is not self.rt:
            return None
        now_in = change.type != "DELETED" and self.matches(change.obj)
        was_in = change.old is not None and self.matches(change.old)
        if change.type == "DELETED":
            return ("DELETED", change.obj) if was_in else None
        if now_in:
            return ("MODIFIED" if was_in else "ADDED", change.obj)
        return ("DELETED", change.obj) if was_in else None


@dataclass(eq=False)
class Subscription:
    """One open watch: its queue lives on the server's loop; the store posts to it from any thread."""

    filter: WatchFilter
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[WatchItem] = field(default_factory=asyncio.Queue)
    expired_message: str | None = None

    def post(self, item: WatchItem) -> bool:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the watch is gone
            return False
        return True


def watch_event(kind: str, obj: JsonDict) -> bytes:
    """One line of a watch stream, compact as the apiserver writes it. orjson, so a backlog of 100,000
    events streams faster than a watcher consumes it (`bench/watch_memory.py` measures the watcher)."""
    return orjson.dumps({"type": kind, "object": obj}) + b"\n"


async def pump_watch(
    request: web.Request,
    response: web.StreamResponse,
    subscription: Subscription,
    seconds: float,
    bookmarks: bool,
    bookmark_interval: float,
) -> None:
    """Send queued changes as events until the timeout, a drop, or the client going away."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    next_bookmark = loop.time() + bookmark_interval
    progress: int | None = None  # known only after the initial/replayed events are all queued
    rt = subscription.filter.rt
    while (now := loop.time()) < deadline:
        wait = deadline - now
        if bookmarks and progress is not None:
            wait = max(0.0, min(wait, next_bookmark - now))
        try:
            items = [await asyncio.wait_for(subscription.queue.get(), wait)]
        except TimeoutError:
            if bookmarks and progress is not None and loop.time() >= next_bookmark:
                bookmark = {
                    "kind": rt.kind,
                    "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": str(progress)},
                }
                await response.write(watch_event("BOOKMARK", bookmark))
                next_bookmark = loop.time() + bookmark_interval
            continue
        while not subscription.queue.empty():
            items.append(subscription.queue.get_nowait())
        chunk = bytearray()
        for item in items:
            if isinstance(item, Drop):
                if chunk:
                    await response.write(bytes(chunk))
                if item.abort and request.transport is not None:
                    request.transport.abort()
                return
            if isinstance(item, Progress):
                progress = item.resource_version
            elif isinstance(item, Change):
                if progress is not None:
                    progress = item.resource_version
                event = subscription.filter.event_for(item)
                if event is not None:
                    chunk += watch_event(*event)
                    if len(chunk) >= MAX_WRITE_BYTES:  # a backlog goes out in pieces, as TCP would carry it
                        await response.write(bytes(chunk))
                        chunk.clear()
        if chunk:
            await response.write(bytes(chunk))
