"""List + watch Kubernetes objects off the event loop, resuming without losing or repeating an event.

The crash watcher must see every pod change exactly once across dropped connections, apiserver restarts,
watch timeouts and etcd compactions, and a cluster outage must never stop the process. So:

- **List, then watch from the list's resourceVersion** (paged: `limit`/`continue`, so 10,000 pods never
  sit in memory at once), with `allowWatchBookmarks=true`. The resume point is the resourceVersion of the
  last event *or bookmark*: a bookmark moves it forward in a quiet namespace of a busy cluster, so the
  resume still lies inside the apiserver's watch window.
- **Resume, don't relist**: a dropped connection, a restarted apiserver or the watch's own
  `timeoutSeconds` ending reconnects from the last resourceVersion; the apiserver replays what happened
  in between, so nothing is missed and nothing repeated.
- **`410 Gone`** (an ERROR event carrying a Status with code 410, or an HTTP 410) means the resume point
  left the window: relist. Those list events carry `relist=True`, and a `Synced` marker follows each
  complete (re)list with the uids it contained, so the consumer can forget pods that vanished meanwhile.
- **Backoff with full jitter** (`uniform(0, min(cap, base·2ⁿ))`, cap 30 s) while the apiserver is down;
  the iterator never raises for a cluster problem: it logs (first failure a warning, then quietly, then
  "recovered") and reports each restart to `WatchHooks.on_restart`.
- **Raw bytes, not models**: the body is read with `_preload_content=False`, split into lines and
  `json`-decoded, yielding the API's camelCase dicts. The client's `Watch.stream` builds a model object
  per event, which costs far more than everything else the watcher does (see `bench/watch_detect.py`).

Threads: each scope (all namespaces, or each namespace of `namespaces`) runs its blocking list/watch loop
on a daemon thread that hands *batches* to the loop (`call_soon_threadsafe`), at most
`max_pending_batches` at a time, so a slow consumer slows the reader instead of filling memory. The
thread does the I/O, splits lines and tracks the resourceVersion; each event's JSON is decoded when the
iterator yields it. `aclose()` shuts the open socket for reading, so a thread blocked on a quiet watch
returns at once and is joined; the watch's `timeoutSeconds` and the read timeout bound the rest.
Per scope, events come in the apiserver's order; scopes interleave.

Use (the alert service):

    stream = PodStream(build_api_client(), namespaces=settings.watch_namespaces,
                       label_selector=settings.watch_label_selector, hooks=WatchHooks(on_restart=...))
    async for item in stream:            # PodEvent | Synced; ends only after `await stream.aclose()`
        if isinstance(item, Synced):
            forget cached pods where item.covers(namespace) and uid not in item.uids
        elif item.type == "DELETED": drop the pod's cache entry
        else: terminations = detect_terminations(cache.get(uid), item.pod); cache[uid] = compact_previous(...)

Give the stream its own `ApiClient` (`build_api_client()` again): each scope holds one connection open
for minutes, which should not take slots of the connection pool the slash commands' reads use.
`ResourceStream` is the same machinery for any list/watch call (the namespace cache uses it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from bot.diagnosis.ports import Forbidden
from bot.kube.errors import ApiCall, translate_error

__all__ = [
    "Backoff",
    "EventType",
    "PodEvent",
    "PodStream",
    "ResourceStream",
    "RestartReason",
    "Synced",
    "WatchHooks",
    "WatchSettings",
]

log = logging.getLogger(__name__)

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
_EVENT_TYPES: frozenset[str] = frozenset({"ADDED", "MODIFIED", "DELETED"})
JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class PodEvent:
    """One pod change: a watch event, or (type ADDED) an item of a list.

    `relist` is True for the items of a relist after `410 Gone`: the consumer has probably seen these
    pods before and must compare them with what it cached rather than treat them as new.
    """

    type: EventType
    pod: JsonDict
    relist: bool = False


@dataclass(frozen=True, slots=True)
class Synced:
    """A complete (re)list of one scope has been delivered: `uids` are all the objects it contained.

    `namespace` is the scope (None: all namespaces). Anything the consumer caches in that scope whose
    uid is not in `uids` was deleted while the watch was not looking (no DELETED event will come).
    """

    namespace: str | None
    uids: frozenset[str]
    relist: bool
    resource_version: str

    def covers(self, namespace: str | None) -> bool:
        """Whether an object in `namespace` belongs to the scope this list covered."""
        return self.namespace is None or namespace == self.namespace


class RestartReason(StrEnum):
    """Why a watch ended and was started again (the `reason` label of the watch-restarts metric)."""

    CLOSED = "closed"
    """The apiserver ended the watch cleanly (its `timeoutSeconds`): resumed at once."""
    DROPPED = "dropped"
    """The connection broke or went silent mid-stream (apiserver restart, network): resumed."""
    EXPIRED = "expired"
    """`410 Gone`: the resume point is too old; relisted."""
    UNREACHABLE = "unreachable"
    """The apiserver could not be reached (refused, DNS, TLS, timeout)."""
    FORBIDDEN = "forbidden"
    """RBAC refused the list or watch; retried with backoff in case the Role is fixed."""
    ERROR = "error"
    """Any other HTTP error, an ERROR event other than 410, or an unreadable response."""


def _ignore(_: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class WatchHooks:
    """Metric callbacks (plain callables, so this module needs no Prometheus); called on the event loop.

    `on_event(type)` once per delivered event ("ADDED", "MODIFIED", "DELETED"); `on_restart(reason)` once
    per watch restart, with a `RestartReason` value.
    """

    on_event: Callable[[str], None] = _ignore
    on_restart: Callable[[str], None] = _ignore


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog): many replicas reconnecting after an
    apiserver outage spread out instead of arriving together."""

    base_seconds: float = 0.5
    cap_seconds: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `attempt` (0 = the first retry)."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** min(attempt, 32))
        return rng.uniform(0.0, ceiling)


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """Timeouts and sizes; the defaults suit a real cluster, tests shorten them."""

    request_timeout_seconds: float = 10.0
    """Connect timeout of every call, and read timeout of list pages (KUBE_TIMEOUT_SECONDS)."""
    watch_timeout_seconds: int = 290
    """`timeoutSeconds` of each watch: the apiserver ends it cleanly after this and the stream resumes."""
    page_size: int = 500
    """`limit` of each list page (kubectl's chunk size)."""
    max_pending_batches: int = 4
    """Batches (a list page, or what one network read brought) waiting for the consumer per stream."""
    backoff: Backoff = Backoff()
    join_timeout_seconds: float = 5.0
    """How long `aclose()` waits for each reader thread."""

    @property
    def watch_read_timeout(self) -> float:
        """Silence after which a watch connection counts as dead. The apiserver sends a bookmark about
        once a minute and ends the watch at `timeoutSeconds`, so only a dead connection stays silent
        longer than that plus a margin."""
        return self.watch_timeout_seconds + max(30.0, self.request_timeout_seconds)


E = TypeVar("E")
EventFactory = Callable[[EventType, JsonDict, bool], E]


_EVENT_HEAD = re.compile(r'\{"type":"(ADDED|MODIFIED|DELETED)","object":')
_RESOURCE_VERSION = re.compile(r'"resourceVersion":"([^"\\]*)"')
_TYPES: dict[str, EventType] = {"ADDED": "ADDED", "MODIFIED": "MODIFIED", "DELETED": "DELETED"}
_JSON = json.JSONDecoder()


class _RawEvent:
    """A watch event still in its wire form; the consumer decodes it (see `_ScopeReader._deliver`)."""

    __slots__ = ("line", "type")

    def __init__(self, type: EventType, line: str) -> None:
        self.type = type
        self.line = line


@dataclass(frozen=True, slots=True)
class _Restart:
    reason: RestartReason


class _End:
    """Put on the queue by `aclose()`: the iterator ends."""


_END = _End()
_Batch = list[E | Synced | _Restart | _End | _RawEvent]


class _Expired(Exception):
    """The resume point (or a continue token) is older than the apiserver's window: 410 Gone."""


class _StreamError(Exception):
    """An ERROR event or an unreadable watch line; the watch restarts from the last resourceVersion."""


class _Dropped(Exception):
    """The connection broke or went silent mid-stream (the cause is chained); resume from the last RV."""


class _Sink(Generic[E]):
    """The hand-over from reader threads to the event loop, bounded in batches."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_batches: int, stopping: threading.Event) -> None:
        self._loop = loop
        self._stopping = stopping
        self._slots = threading.Semaphore(max(1, max_batches))
        self.queue: asyncio.Queue[_Batch[E]] = asyncio.Queue()

    def put(self, batch: _Batch[E]) -> bool:
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

    async def get(self) -> _Batch[E]:
        batch = await self.queue.get()
        if not (len(batch) == 1 and batch[0] is _END):
            self._slots.release()
        return batch


ListCall = Callable[..., Any]


class _ScopeReader(Generic[E]):
    """The blocking list/watch loop of one scope, run on its own thread."""

    def __init__(
        self,
        *,
        resource: str,
        scope: str | None,
        list_call: ListCall,
        label_selector: str | None,
        make_event: EventFactory[E],
        settings: WatchSettings,
        sink: _Sink[E],
        stopping: threading.Event,
    ) -> None:
        self.resource = resource
        self.scope = scope
        self.resource_version: str | None = None
        self._list_call = list_call
        self._selector = {"label_selector": label_selector} if label_selector else {}
        self._make_event = make_event
        self._settings = settings
        self._sink = sink
        self._stopping = stopping
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self._active: Any = None  # the urllib3 response being read, for `interrupt()`
        self._active_lock = threading.Lock()
        self._phase = "list"  # the verb in progress, for error sentences
        self._last_seen: str | None = None  # resourceVersion of the last line `_decode` read
        self._progressed = False  # whether the current attempt delivered anything
        self._failures = 0  # failed attempts since the apiserver last answered
        self._warned = False  # one warning per outage, then quieter lines

    # --- the loop -------------------------------------------------------------------------------------

    def run(self) -> None:
        attempt = 0
        relist = False
        while not self._stopping.is_set():
            self._progressed = False
            error: BaseException | None = None
            try:
                if self.resource_version is None:
                    self._list(relist)
                    if self._stopping.is_set():
                        return
                reason = self._watch()
            except _Expired:
                reason = RestartReason.EXPIRED
            except Exception as caught:  # every cluster failure is retried; nothing leaves the thread
                error = caught
                reason = self._classify(caught)
            if self._stopping.is_set():
                return
            if reason is RestartReason.EXPIRED:
                self.resource_version = None
                relist = True
            if error is not None:
                self._failures += 1
                self._log_failure(error, reason)
            if not self._sink.put([_Restart(reason)]):
                return
            if self._progressed:
                attempt = 0
                if reason in (RestartReason.CLOSED, RestartReason.EXPIRED):
                    continue  # a normal end, or a relist: no reason to wait
            delay = self._settings.backoff.delay(attempt, self._rng)
            attempt += 1
            if self._stopping.wait(delay):
                return

    def _connected(self) -> None:
        """The apiserver answered: the next failure is a new incident, logged as such."""
        if self._failures > 1:
            log.info(
                "%s of %s %s works again after %d failed attempts",
                self._phase,
                self.resource,
                self._where,
                self._failures,
            )
        self._failures = 0
        self._warned = False

    @property
    def _where(self) -> str:
        return f'in namespace "{self.scope}"' if self.scope else "across all namespaces"

    def _classify(self, error: BaseException) -> RestartReason:
        if isinstance(error, _Dropped):
            return RestartReason.DROPPED
        if isinstance(error, _StreamError):
            return RestartReason.ERROR
        if isinstance(error, ApiException) and error.status == 410:
            return RestartReason.EXPIRED
        translated = translate_error(error, self._call(), self._settings.request_timeout_seconds)
        if isinstance(translated, Forbidden):
            return RestartReason.FORBIDDEN
        if isinstance(error, ApiException) and error.status not in (0, 502, 503, 504):
            return RestartReason.ERROR
        return RestartReason.UNREACHABLE

    def _call(self) -> ApiCall:
        return ApiCall(self._phase, self.resource, self.scope)

    def _log_failure(self, error: BaseException, reason: RestartReason) -> None:
        failures = self._failures
        if isinstance(error, _Dropped):
            cause = error.__cause__
            log.log(
                logging.INFO if failures == 1 else logging.DEBUG,
                "watch of %s %s was interrupted (%s); resuming from resourceVersion %s",
                self.resource,
                self._where,
                type(cause).__name__ if cause else "connection closed",
                self.resource_version,
            )
            return
        if isinstance(error, _StreamError):
            sentence = str(error)
        else:
            translated = translate_error(error, self._call(), self._settings.request_timeout_seconds)
            sentence = translated.user_message
        level = logging.DEBUG if self._warned else logging.WARNING
        self._warned = True
        log.log(
            level,
            "watch of %s %s failed (%s), retrying with backoff: %s",
            self.resource,
            self._where,
            reason.value,
            sentence,
        )

    # --- list -----------------------------------------------------------------------------------------

    def _list(self, relist: bool) -> None:
        """Deliver every object as an ADDED event, then `Synced`; sets the resume resourceVersion."""
        uids: set[str] = set()
        token: str | None = None
        resource_version = ""
        restarted = False
        while True:
            paging: dict[str, Any] = {"limit": self._settings.page_size}
            if token:
                paging["_continue"] = token
            try:
                body = self._read_page(paging)
            except ApiException as error:
                if error.status == 410 and token and not restarted:
                    # The continue token outlived the apiserver's window: start the list over once.
                    restarted, token, uids = True, None, set()
                    continue
                raise
            metadata = body.get("metadata") or {}
            resource_version = str(metadata.get("resourceVersion") or resource_version)
            batch: _Batch[E] = []
            kind = str(body.get("kind") or "").removesuffix("List")
            api_version = str(body.get("apiVersion") or "")
            for item in body.get("items") or ():
                item.setdefault("kind", kind)  # list items lack them; a watched object has them
                item.setdefault("apiVersion", api_version)
                uid = (item.get("metadata") or {}).get("uid")
                if uid:
                    uids.add(str(uid))
                batch.append(self._make_event("ADDED", item, relist))
            if batch and not self._sink.put(batch):
                return
            self._progressed = True
            token = metadata.get("continue") or None
            if not token:
                break
        synced = Synced(self.scope, frozenset(uids), relist, resource_version)
        if self._sink.put([synced]):
            self.resource_version = resource_version

    def _read_page(self, paging: dict[str, Any]) -> JsonDict:
        timeout = self._settings.request_timeout_seconds
        self._phase = "list"
        response = self._list_call(
            **self._selector, **paging, _preload_content=False, _request_timeout=(timeout, timeout)
        )
        self._set_active(response)
        self._connected()
        try:
            raw = response.data
        finally:
            self._set_active(None)
            response.release_conn()
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise _StreamError(f"the list of {self.resource} {self._where} is not a JSON object")
        return body

    # --- watch ----------------------------------------------------------------------------------------

    def _watch(self) -> RestartReason:
        """Stream events until the apiserver ends the watch (CLOSED); failures raise."""
        settings = self._settings
        self._phase = "watch"
        response = self._list_call(
            **self._selector,
            watch=True,
            resource_version=self.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=settings.watch_timeout_seconds,
            _preload_content=False,
            _request_timeout=(settings.request_timeout_seconds, settings.watch_read_timeout),
        )
        self._set_active(response)
        self._connected()
        try:
            buffer = bytearray()
            for chunk in response.stream(amt=None, decode_content=True):
                buffer += chunk
                end = buffer.rfind(b"\n")
                if end < 0:
                    continue
                # Decoded once per read, not per line: a newline never splits a UTF-8 sequence.
                complete = buffer[:end].decode("utf-8", "replace")
                del buffer[: end + 1]
                self._progressed = True
                if not self._deliver(complete):
                    break
        except (_Expired, _StreamError):
            raise
        except Exception as error:  # reset, incomplete chunk, read timeout: the stream broke
            raise _Dropped from error
        finally:
            self._set_active(None)
            _close(response)
        return RestartReason.CLOSED

    def _deliver(self, lines: str) -> bool:
        """Hand complete lines over and advance the resume point. False when stopping.

        An ADDED/MODIFIED/DELETED line goes over as its text, decoded on the consumer's side: this
        thread only finds the event type at the head and the first `"resourceVersion":"…"`, which for
        every Kubernetes object is its own (the apiserver writes `metadata` before `spec`/`status`,
        and `resourceVersion` before any nested object). Decoding where the event is used keeps the
        two threads from trading the GIL per event, which cost more than the decoding itself
        (`bench/watch_detect.py`). Anything else (BOOKMARK, ERROR, an unusual layout) is decoded here.
        """
        batch: _Batch[E] = []
        append = batch.append
        resource_version = self.resource_version
        head_match = _EVENT_HEAD.match
        version_search = _RESOURCE_VERSION.search
        last_version: str | None = None
        try:
            for line in lines.split("\n"):
                head = head_match(line)
                if head is not None:
                    found = version_search(line, head.end())
                    if found is not None:
                        last_version = found.group(1)
                        append(_RawEvent(_TYPES[head.group(1)], line))
                        continue
                if not line or line.isspace():
                    continue
                if last_version is not None:
                    resource_version, last_version = last_version, None
                event = self._decode(line)
                if event is not None:
                    append(event)
                resource_version = self._last_seen or resource_version
        finally:
            if last_version is not None:
                resource_version = last_version
            # What was read before a failure is delivered, and the resume point is right after it.
            delivered = not batch or self._sink.put(batch)
            if delivered:
                self.resource_version = resource_version
        return delivered

    def _decode(self, line: str) -> E | None:
        """Decode one line here (BOOKMARK, ERROR, or a layout the fast path does not recognise)."""
        self._last_seen = None
        try:
            event = json.loads(line)
            kind = event["type"]
            obj = event["object"]
            if kind == "ERROR":
                self._raise_status(obj)
            metadata = obj.get("metadata")
            if metadata:
                self._last_seen = metadata.get("resourceVersion") or None
        except (ValueError, LookupError, TypeError, AttributeError) as error:
            raise _StreamError(
                f"the watch of {self.resource} {self._where} sent an unreadable event "
                f"({type(error).__name__}: {error})"
            ) from None
        return self._make_event(kind, obj, False) if kind in _EVENT_TYPES else None

    def _raise_status(self, status: Any) -> None:
        code = status.get("code") if isinstance(status, dict) else None
        if code == 410:
            raise _Expired
        message = status.get("message") if isinstance(status, dict) else None
        raise _StreamError(
            f"the watch of {self.resource} {self._where} ended with an error (code {code}): {message}"
        )

    # --- stopping -------------------------------------------------------------------------------------

    def _set_active(self, response: Any) -> None:
        with self._active_lock:
            self._active = response
        if response is not None and self._stopping.is_set():
            self.interrupt()

    def interrupt(self) -> None:
        """Called from the loop's thread: unblock a read in progress by shutting the socket for reading."""
        with self._active_lock:
            response = self._active
        if response is None:
            return
        try:
            response.shutdown()
        except Exception:  # already released, or no socket: nothing is blocked on it
            log.debug("could not shut down the %s watch connection", self.resource, exc_info=True)


def _close(response: Any) -> None:
    """Close the connection rather than pool it: after an interrupted or broken stream it is unusable."""
    try:
        response.close()
        response.release_conn()
    except Exception:
        log.debug("closing a watch response failed", exc_info=True)


class ResourceStream(Generic[E]):
    """List + watch of one resource over one or more scopes, merged into one async iterator.

    `list_calls` maps each scope (a namespace, or None for all) to the client's list method for it, e.g.
    `{None: core.list_pod_for_all_namespaces}` or `{"shop": partial(core.list_namespaced_pod, "shop")}`.
    `make_event(type, object, relist)` builds the yielded event (e.g. `PodEvent`).
    """

    def __init__(
        self,
        *,
        resource: str,
        list_calls: dict[str | None, ListCall],
        make_event: EventFactory[E],
        label_selector: str | None = None,
        hooks: WatchHooks | None = None,
        settings: WatchSettings | None = None,
    ) -> None:
        self._resource = resource
        self._list_calls = dict(list_calls)
        self._make_event = make_event
        self._label_selector = label_selector
        self._hooks = hooks or WatchHooks()
        self._settings = settings or WatchSettings()
        self._stopping = threading.Event()
        self._readers: list[_ScopeReader[E]] = []
        self._threads: list[threading.Thread] = []
        self._sink: _Sink[E] | None = None
        self._pending: deque[E | Synced | _Restart | _End | _RawEvent] = deque()
        self._closed = False

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reader threads (iteration starts them too). Needs a running event loop."""
        if self._sink is not None:
            return
        if self._closed:
            raise RuntimeError("this stream was closed; make a new one")
        sink: _Sink[E] = _Sink(asyncio.get_running_loop(), self._settings.max_pending_batches, self._stopping)
        self._sink = sink
        for scope, list_call in self._list_calls.items():
            reader = _ScopeReader(
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
    def _run_reader(reader: _ScopeReader[E]) -> None:
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
            self._sink.queue.put_nowait([_END])

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
                item = pending.popleft()
                if isinstance(item, _RawEvent):
                    event = self._decode(item)
                    if event is None:
                        continue
                    self._hooks.on_event(item.type)
                    return event
                if isinstance(item, Synced):
                    return item
                if isinstance(item, _Restart):
                    self._hooks.on_restart(item.reason.value)
                    continue
                if isinstance(item, _End):
                    pending.clear()
                    raise StopAsyncIteration
                self._hooks.on_event(getattr(item, "type", ""))
                return item
            if self._sink is None:
                if self._closed:
                    raise StopAsyncIteration
                self.start()
            assert self._sink is not None
            if self._closed and self._sink.queue.empty():
                raise StopAsyncIteration
            pending.extend(await self._sink.get())

    def _decode(self, raw: _RawEvent) -> E | None:
        try:
            obj = _JSON.raw_decode(raw.line)[0]["object"]
        except (ValueError, LookupError, TypeError) as error:
            # Its resourceVersion was already passed, so it cannot be fetched again: say so loudly.
            log.error("skipped an unreadable %s watch event (%s): %.200r", self._resource, error, raw.line)
            return None
        return self._make_event(raw.type, obj, False)

    # --- introspection --------------------------------------------------------------------------------

    def resource_version(self, scope: str | None = None) -> str | None:
        """Where the watch of `scope` would resume now (None before its first list completed)."""
        for reader in self._readers:
            if reader.scope == scope:
                return reader.resource_version
        return None

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


class PodStream(ResourceStream[PodEvent]):
    """Pods of all namespaces (`namespaces` empty) or of each listed namespace, as `PodEvent`/`Synced`.

    `label_selector` (kubectl syntax) filters on the apiserver: a pod whose labels stop matching arrives
    as DELETED, one that starts matching as ADDED.
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        namespaces: Sequence[str] = (),
        label_selector: str | None = None,
        hooks: WatchHooks | None = None,
        settings: WatchSettings | None = None,
    ) -> None:
        core = CoreV1Api(api_client)
        calls: dict[str | None, ListCall]
        if namespaces:
            calls = {namespace: partial(core.list_namespaced_pod, namespace) for namespace in namespaces}
        else:
            calls = {None: core.list_pod_for_all_namespaces}
        super().__init__(
            resource="pods",
            list_calls=calls,
            make_event=PodEvent,
            label_selector=label_selector or None,
            hooks=hooks,
            settings=settings,
        )
