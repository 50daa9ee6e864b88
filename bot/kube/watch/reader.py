"""The blocking list/watch loop of one scope, run on its own daemon thread.

This is the part that talks HTTP: list in pages, then watch from the list's resourceVersion with
bookmarks; resume after a drop or a clean end; relist after `410 Gone`; wait with backoff while the
apiserver is away. The watch body is read raw (`_preload_content=False`, chunk framing removed by
`body_lines`), the events that have already arrived are gathered into one batch, and the lines go over
undecoded: the consumer decodes each event (see `_deliver`), and the resume point is read from the last
line only when needed (`resource_version`). `interrupt()` lets `aclose()` unblock a quiet watch at once.
"""

from __future__ import annotations

import logging
import random
import select
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic

import orjson
from kubernetes.client.exceptions import ApiException

from bot.kube.errors import ApiCall

from .events import E, EventFactory, EventType, JsonDict, RestartReason, Synced
from .handover import Batch, Restart, Sink
from .list_slots import ListSlot
from .outage import Dropped, Expired, OutageLog, StreamError, classify, describe_scope
from .settings import WatchSettings

# The package's logger (bot.kube.watch), so operators' and tests' filters match every part of the watch.
log = logging.getLogger(__name__.rpartition(".")[0])

ListCall = Callable[..., Any]

# The head of every object event as the apiserver encodes it (Go's struct order: type, then object).
_EVENT_HEADS = (b'{"type":"ADDED",', b'{"type":"MODIFIED",', b'{"type":"DELETED",')
TYPE_AT = len(b'{"type":"')
"""Where the type starts in such a line: its first letter tells the three apart (`HEAD_TYPES`)."""
_READ_BYTES = 64 * 1024
_GATHER_LINES = 256  # at most this many events per batch, so a backlog still streams in steps
_TYPES: dict[str, EventType] = {"ADDED": "ADDED", "MODIFIED": "MODIFIED", "DELETED": "DELETED"}
HEAD_TYPES: dict[int, EventType] = {ord(kind[0]): kind for kind in _TYPES.values()}


class ScopeReader(Generic[E]):
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
        sink: Sink[E],
        stopping: threading.Event,
    ) -> None:
        self.resource = resource
        self.scope = scope
        self._resume: str | bytes | None = None  # see `resource_version`
        self._listed = False  # a list completed once: every later list is a relist
        self.watching = False  # a watch is open: the apiserver accepted it (see `ResourceStream.watching`)
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
        self._where = describe_scope(scope)
        self._progressed = False  # whether the current attempt delivered anything
        self._outage = OutageLog(resource, scope)

    # --- the resume point ------------------------------------------------------------------------------

    @property
    def resource_version(self) -> str | None:
        """Where the watch resumes: the resourceVersion of the last event or bookmark handed over.

        Kept as the last handed-over event's line until someone asks (a reconnect, or introspection),
        then read from it: decoding only that one line keeps the reader thread from decoding every event
        (the consumer decodes them; see `_deliver`). None: list first. A line whose resourceVersion
        cannot be read (never seen from an apiserver) leaves no safe resume point, so the stream relists.
        """
        resume = self._resume
        if not isinstance(resume, bytes):
            return resume
        try:
            version = orjson.loads(resume)["object"]["metadata"]["resourceVersion"]
        except (ValueError, LookupError, TypeError) as error:
            log.error(
                "the watch of %s %s cannot resume after an unreadable event (%s); relisting",
                self.resource,
                self._where,
                error,
            )
            version = None
        version = str(version) if version else None
        if self._resume is resume:  # unless the thread moved on meanwhile
            self._resume = version
        return version

    @resource_version.setter
    def resource_version(self, value: str | None) -> None:
        self._resume = value

    # --- the loop -------------------------------------------------------------------------------------

    def run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            self._progressed = False
            error: BaseException | None = None
            try:
                if self.resource_version is None:
                    self._list(relist=self._listed)
                    if self._stopping.is_set():
                        return
                reason = self._watch()
            except Expired:
                reason = RestartReason.EXPIRED
            except Exception as caught:  # every cluster failure is retried; nothing leaves the thread
                error = caught
                reason = classify(caught, self._call(), self._settings.request_timeout_seconds)
            if self._stopping.is_set():
                return
            if reason is RestartReason.EXPIRED:
                self.resource_version = None
            if error is not None:
                self._outage.failed(
                    error,
                    reason,
                    call=self._call(),
                    request_timeout=self._settings.request_timeout_seconds,
                    resource_version=self.resource_version,
                )
            if not self._sink.put([Restart(reason)]):
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
        self._outage.connected(self._phase)

    def _call(self) -> ApiCall:
        return ApiCall(self._phase, self.resource, self.scope)

    # --- list -----------------------------------------------------------------------------------------

    def _list(self, relist: bool) -> None:
        """Deliver every object as an ADDED event, then `Synced`; sets the resume resourceVersion."""
        slot = ListSlot(self._stopping)
        try:
            self._list_pages(relist, slot)
        finally:
            slot.release()

    def _list_pages(self, relist: bool, slot: ListSlot) -> None:
        uids: set[str] = set()
        token: str | None = None
        resource_version = ""
        restarted = False
        while True:
            paging: dict[str, Any] = {"limit": self._settings.page_size}
            if token:
                paging["_continue"] = token
            try:
                body = self._read_page(paging, slot)
            except ApiException as error:
                if error.status == 410 and token and not restarted:
                    # The continue token outlived the apiserver's window (etcd compacted its revision):
                    # start the list over once, at a new resourceVersion. The consumer has seen the
                    # pages so far, so what follows is a relist.
                    restarted, token, uids, relist = True, None, set(), True
                    continue
                raise
            metadata = body.get("metadata") or {}
            resource_version = str(metadata.get("resourceVersion") or resource_version)
            batch: Batch[E] = []
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
            self._listed = True

    def _read_page(self, paging: dict[str, Any], slot: ListSlot) -> JsonDict:
        """One page of the list, decoded. The list's slot (`list_slots`) is taken once the apiserver
        has answered, before the page is read: an apiserver that never answers holds none."""
        timeout = self._settings.request_timeout_seconds
        self._phase = "list"
        response = self._list_call(
            **self._selector, **paging, _preload_content=False, _request_timeout=(timeout, timeout)
        )
        self._set_active(response)
        self._connected()
        try:
            if not slot.take():
                _close(response)  # unread: never back into the pool
                raise StreamError(f"the list of {self.resource} {self._where} stopped waiting for its turn")
            raw = response.data
        finally:
            self._set_active(None)
            response.release_conn()
        try:
            body = orjson.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise StreamError(f"the list of {self.resource} {self._where} is not a JSON object")
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
        self.watching = True
        more_ready = _more_ready(response)
        waiting: list[bytes] = []  # complete lines not handed over yet
        try:
            for lines in body_lines(response):
                waiting += lines
                # The apiserver sends each event as a chunk of its own: gather what has already
                # arrived into one batch, and hand it over before a read that would wait.
                if len(waiting) < _GATHER_LINES and more_ready():
                    continue
                ready, waiting = waiting, []
                self._progressed = True
                if not self._deliver(ready):
                    break
        except (Expired, StreamError):
            raise
        except Exception as error:  # reset, incomplete chunk, read timeout: the stream broke
            self._deliver_rest(waiting)  # what was read before the failure still counts
            raise Dropped from error
        else:
            self._deliver_rest(waiting)
        finally:
            self.watching = False
            self._set_active(None)
            _close(response)
        return RestartReason.CLOSED

    def _deliver_rest(self, lines: list[bytes]) -> None:
        if lines:
            self._progressed = True
            self._deliver(lines)

    def _deliver(self, lines: list[bytes]) -> bool:
        """Hand complete lines over and advance the resume point. False when stopping.

        An ADDED/MODIFIED/DELETED line goes over as its bytes, recognised by the head the
        apiserver always writes (`{"type":"ADDED",…`), and is decoded where it is used. Decoded objects
        waiting in a queue between threads outlive the young garbage-collector generation and make
        every full collection scan them, which cost more than the decoding itself; bytes are not
        tracked by the collector (`bench/watch_detect.py`). Anything else (BOOKMARK, ERROR, another
        layout) is decoded here. One batch per network read, so the threads meet once per read. What
        was read before a failure (an ERROR event, an unreadable line) is still delivered, and the
        resume point is right after it.
        """
        batch: Batch[E] = []
        append = batch.append
        resume = self._resume
        try:
            for line in lines:
                if line.startswith(_EVENT_HEADS):
                    append(line)
                    resume = line
                    continue
                if not line or line.isspace():
                    continue
                kind, obj, version = self._decode(line)
                if version:
                    resume = version
                if kind in _TYPES:
                    append(self._make_event(_TYPES[kind], obj, False))
        finally:
            delivered = not batch or self._sink.put(batch)
            if delivered:
                self._resume = resume
        return delivered

    def _decode(self, line: bytes) -> tuple[str, JsonDict, str | None]:
        """One line decoded here: its type, its object and the object's resourceVersion (BOOKMARKs too).

        An ERROR event raises (`Expired` for 410), as does a line that is not a watch event.
        """
        try:
            event = orjson.loads(line)
            kind = event["type"]
            obj = event["object"]
            if not isinstance(kind, str):
                raise TypeError(f"the event type is {kind!r}")
            if kind == "ERROR":
                self._raise_status(obj)
            version = (obj.get("metadata") or {}).get("resourceVersion") or None
        except (ValueError, LookupError, TypeError, AttributeError) as error:
            raise StreamError(
                f"the watch of {self.resource} {self._where} sent an unreadable event "
                f"({type(error).__name__}: {error})"
            ) from None
        return kind, obj, version

    def _raise_status(self, status: Any) -> None:
        code = status.get("code") if isinstance(status, dict) else None
        if code == 410:
            raise Expired
        message = status.get("message") if isinstance(status, dict) else None
        raise StreamError(
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


def body_lines(response: Any) -> Iterator[list[bytes]]:
    """The watch body's complete lines as they arrive: one list per network read (never empty).

    The apiserver sends each event as an HTTP chunk of its own, and urllib3's chunk-by-chunk reading
    costs about as much per event as decoding it. A chunked body without content encoding is read here
    straight from the connection's buffered stream (`read1`: what has arrived, one read at most) and its
    framing (`<hex size>\r\n<data>\r\n` … `0\r\n\r\n`) removed by the sizes it declares. A chunk
    that holds exactly one whole line (the common case) becomes that line with one copy; any other
    (an event split over several chunks, several lines in one) goes through a line splitter, so every
    way of framing the same lines reads the same. Anything else goes through urllib3. A malformed frame
    or a connection closed mid-body raises, which is a dropped watch; a last line without its newline
    is not an event and is dropped.
    """
    stream: Any = getattr(getattr(response, "_fp", None), "fp", None)
    if not (response.chunked and hasattr(stream, "read1")) or response.headers.get("content-encoding"):
        partial = b""
        for piece in response.stream(amt=None, decode_content=True):
            *complete, partial = (partial + piece if partial else piece).split(b"\n")
            if complete:
                yield complete
        return
    buffer = b""
    partial = b""  # the start of a line whose end comes in a later chunk
    while True:
        data = stream.read1(_READ_BYTES)
        if not data:
            raise ConnectionError("the connection closed inside the chunked watch body")
        buffer = buffer + data if buffer else data
        find = buffer.find
        available = len(buffer)
        lines: list[bytes] = []
        position = 0
        while (size_end := find(b"\r\n", position)) >= 0:
            try:
                size = int(buffer[position:size_end], 16)
            except ValueError:  # a chunk extension (`;name=value`), or not chunked framing (raises)
                size = int(buffer[position:size_end].split(b";", 1)[0], 16)
            if size == 0:  # the last chunk (trailers, if any, are not read)
                if lines:
                    yield lines
                return
            start = size_end + 2
            end = start + size
            if end + 2 > available:
                break  # the rest of this chunk comes with the next read
            if not partial and find(b"\n", start, end) == end - 1:
                lines.append(buffer[start : end - 1])  # exactly one whole line
            else:
                *complete, partial = (partial + buffer[start:end]).split(b"\n")
                lines += complete
            position = end + 2
        buffer = buffer[position:]
        if lines:
            yield lines


def _more_ready(response: Any) -> Callable[[], bool]:
    """A check whether more of `response` has arrived, so reading on would not wait for the network.

    Looks at the connection's socket (and TLS's own buffer); anything unexpected counts as "no", which
    only means a smaller batch.
    """
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is None:
        return lambda: False
    pending = getattr(sock, "pending", None)  # TLS: decrypted bytes a select cannot see

    def ready() -> bool:
        try:
            return bool((pending is not None and pending()) or select.select([sock], [], [], 0)[0])
        except (OSError, ValueError):  # closed meanwhile
            return False

    return ready


def _close(response: Any) -> None:
    """Close the connection rather than pool it: after an interrupted or broken stream it is unusable."""
    try:
        response.close()
        response.release_conn()
    except Exception:
        log.debug("closing a watch response failed", exc_info=True)
