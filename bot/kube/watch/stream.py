"""The async side: one iterator over the reader threads of every scope, owned by the event loop.

`ResourceStream` starts one `ScopeReader` thread per scope, merges their batches into one async
iterator, decodes each raw event where it is consumed, reports events and restarts to `WatchHooks`, and
on `aclose()` interrupts and joins the threads. Per scope, events come in the apiserver's order; scopes
interleave. It is generic over the resource so the namespace cache reuses it (see `PodStream` for pods).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import Generic, Self

import orjson

from .events import E, EventFactory, LineEventFactory, Synced, WatchHooks
from .handover import End, Restart, Sink
from .reader import HEAD_TYPES, TYPE_AT, ListCall, ScopeReader
from .settings import WatchSettings

# The package's logger (bot.kube.watch), so operators' and tests' filters match every part of the watch.
log = logging.getLogger(__name__.rpartition(".")[0])


class ResourceStream(Generic[E]):
    """List + watch of one resource over one or more scopes, merged into one async iterator.

    `list_calls` maps each scope (a namespace, or None for all) to the client's list method for it, e.g.
    `{None: core.list_pod_for_all_namespaces}` or `{"shop": partial(core.list_namespaced_pod, "shop")}`.
    `make_event(type, object, relist)` builds the yielded event (e.g. `PodEvent`) from a decoded object;
    `make_line_event(type, line)`, if given, builds it from a watch event line instead, so the consumer
    can decode only what it reads (`glance.pod_event_from_line`); it raises what decoding raises.
    """

    def __init__(
        self,
        *,
        resource: str,
        list_calls: dict[str | None, ListCall],
        make_event: EventFactory[E],
        make_line_event: LineEventFactory[E] | None = None,
        label_selector: str | None = None,
        hooks: WatchHooks | None = None,
        settings: WatchSettings | None = None,
    ) -> None:
        self._resource = resource
        self._list_calls = dict(list_calls)
        self._make_event = make_event
        self._make_line_event = make_line_event
        self._label_selector = label_selector
        self._hooks = hooks or WatchHooks()
        self._settings = settings or WatchSettings()
        self._stopping = threading.Event()
        self._readers: list[ScopeReader[E]] = []
        self._threads: list[threading.Thread] = []
        self._sink: Sink[E] | None = None
        self._pending: deque[E | Synced | Restart | End | bytes] = deque()
        self._closed = False
        self._ended = False  # the END marker was read: nothing follows

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reader threads (iteration starts them too). Needs a running event loop."""
        if self._sink is not None:
            return
        if self._closed:
            raise RuntimeError("this stream was closed; make a new one")
        sink: Sink[E] = Sink(asyncio.get_running_loop(), self._settings.max_pending_batches, self._stopping)
        self._sink = sink
        for scope, list_call in self._list_calls.items():
            reader = ScopeReader(
                resource=self._resource,
                scope=scope,
                list_call=list_call,
                label_selector=self._label_selector,
                make_event=self._make_event,
                settings=self._settings,
                sink=sink,
                stopping=self._stopping,
            )
            name = f"watch-{self._resource}-{scope or 'all'}"
            thread = threading.Thread(target=self._run_reader, args=(reader,), name=name, daemon=True)
            self._readers.append(reader)
            self._threads.append(thread)
            thread.start()

    @staticmethod
    def _run_reader(reader: ScopeReader[E]) -> None:
        try:
            reader.run()
        except Exception:  # a bug, not a cluster problem: say so loudly, the other scopes carry on
            log.exception("the %s watch %s stopped unexpectedly", reader.resource, reader.scope or "")

    async def aclose(self) -> None:
        """Stop the readers, join their threads, end the iteration. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        for reader in self._readers:
            reader.interrupt()
        threads = list(self._threads)
        if threads:
            await asyncio.to_thread(_join, threads, self._settings.join_timeout_seconds)
        if self._sink is not None:
            self._sink.end()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- iteration ------------------------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> E | Synced:
        pending = self._pending
        while True:
            while pending:
                item = self._item(pending.popleft())
                if item is not None:
                    return item
            if not await self._refill():
                raise StopAsyncIteration

    async def batches(self) -> AsyncIterator[Iterator[E | Synced]]:
        """The same items as iterating the stream, a batch at a time: what arrived together, in order.

        For a consumer with many events to get through (the crash watcher): one await per batch, where
        iterating the stream costs one per event, a noticeable part of an event that changes nothing.
        Each batch is an iterator that decodes an event only when it is taken (decoded events held in
        bulk would make the garbage collector walk them); take all of it before the next. Use one way
        or the other on a stream, not both.
        """
        while await self._refill():
            yield self._take()

    def _take(self) -> Iterator[E | Synced]:
        pending, item_of, decode = self._pending, self._item, self._decode
        while pending:
            raw = pending.popleft()
            item = decode(raw) if type(raw) is bytes else item_of(raw)
            if item is not None:
                yield item

    async def _refill(self) -> bool:
        """Wait for the readers' next batch and queue it; False once the stream has ended."""
        if self._ended:
            return False
        if self._sink is None:
            if self._closed:
                return False
            self.start()
        assert self._sink is not None
        if self._closed and self._sink.empty():
            return False
        self._pending.extend(await self._sink.get())
        return True

    def _item(self, item: E | Synced | Restart | End | bytes) -> E | Synced | None:
        """One item of a reader's batch as the consumer sees it (None: nothing to yield)."""
        if isinstance(item, bytes):  # an event as the apiserver sent it (see `handover.Batch`)
            return self._decode(item)
        if isinstance(item, Synced):
            return item
        if isinstance(item, Restart):
            self._hooks.on_restart(item.reason.value)
            return None
        if isinstance(item, End):
            self._ended = True
            self._pending.clear()
            return None
        self._hooks.on_event(getattr(item, "type", ""))
        return item

    def _decode(self, line: bytes) -> E | None:
        kind = HEAD_TYPES[line[TYPE_AT]]
        try:
            if self._make_line_event is not None:
                event = self._make_line_event(kind, line)
            else:
                event = self._make_event(kind, orjson.loads(line)["object"], False)
        except (ValueError, LookupError, TypeError) as error:
            # Its resourceVersion was already passed, so it cannot be fetched again: say so loudly.
            log.error("skipped an unreadable %s watch event (%s): %.200r", self._resource, error, line)
            return None
        self._hooks.on_event(kind)
        return event

    # --- introspection --------------------------------------------------------------------------------

    def resource_version(self, scope: str | None = None) -> str | None:
        """Where the watch of `scope` would resume now (None before its first list completed)."""
        for reader in self._readers:
            if reader.scope == scope:
                return reader.resource_version
        return None

    def watching(self, scope: str | None = None) -> bool:
        """Whether the watch of `scope` is open now: the apiserver accepted it (its answer's headers came
        back), so every change after `resource_version(scope)` reaches this stream. Before that, a change
        may only arrive by a replay or a relist. Tests wait for this, not for a proxy such as "some
        request was made"; a readiness check can use it too."""
        return any(reader.scope == scope and reader.watching for reader in self._readers)

    @property
    def scopes(self) -> list[str | None]:
        return list(self._list_calls)


def _join(threads: Sequence[threading.Thread], timeout: float) -> None:
    for thread in threads:
        thread.join(timeout)
        if thread.is_alive():
            log.warning(
                "watch thread %s did not stop within %.0f s; leaving it (daemon)", thread.name, timeout
            )
