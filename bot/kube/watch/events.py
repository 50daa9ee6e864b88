"""What a watch yields and reports: the public vocabulary shared by the reader threads and the consumer.

Kept apart from the machinery so the alert service, the namespace cache and the tests can name events,
`Synced` markers, restart reasons and metric hooks without reading how the stream is produced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, NamedTuple, TypeVar

import orjson

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
EVENT_TYPES: frozenset[str] = frozenset({"ADDED", "MODIFIED", "DELETED"})
JsonDict = dict[str, Any]

E = TypeVar("E")
EventFactory = Callable[[EventType, JsonDict, bool], E]
"""`make_event(type, object, relist)`: builds the yielded event (e.g. `PodEvent`) from a decoded object."""
LineEventFactory = Callable[[EventType, bytes], E]
"""`make_line_event(type, line)`: builds the yielded event from a watch event line, still undecoded."""


class PodGlance(NamedTuple):
    """What a pod watch event says about who the pod is and how its containers are, without the rest
    (see `glance`).

    `namespace` as a consumer reads it from a full pod (`str(namespace or "")`); the status's
    `initContainerStatuses` and `containerStatuses` (None when absent), each container status holding
    only what detection reads of it (`name`, `restartCount`, `state`, `lastState`), as in the full pod.
    """

    uid: str
    namespace: str
    init_container_statuses: Any
    container_statuses: Any


class PodEvent:
    """One pod change: a watch event, or (type ADDED) an item of a list.

    `relist` is True for the items of a relist after `410 Gone`: the consumer has probably seen these
    pods before and must compare them with what it cached rather than treat them as new.

    A watch event may arrive still in its wire form (`line`) with a `glance` at it (uid, namespace,
    container statuses): a consumer that finds in the glance that nothing changed never pays for
    decoding the rest. `pod` decodes the line on first use; for such a line that the full decode refuses
    (never sent by an apiserver, see `glance`) it raises `ValueError`. An event built from a decoded
    pod (a list item, a test) has no glance.
    """

    __slots__ = ("_line", "_pod", "glance", "relist", "type")

    def __init__(
        self,
        type: EventType,
        pod: JsonDict | None = None,
        relist: bool = False,
        line: bytes | None = None,
        glance: PodGlance | None = None,
    ) -> None:
        self.type = type
        self.relist = relist
        self.glance = glance
        self._pod = pod
        self._line = line

    @property
    def pod(self) -> JsonDict:
        """The pod as the API returns it (camelCase dicts), decoded from the line on first use."""
        pod = self._pod
        if pod is None:
            if self._line is None:
                raise ValueError("this PodEvent was made with neither the pod nor its watch event line")
            pod = self._pod = orjson.loads(self._line)["object"]
            self._line = None
        return pod

    def __repr__(self) -> str:
        shown = self._pod if self._pod is not None else (self.glance or "<undecoded>")
        return f"PodEvent({self.type!r}, {shown!r}, relist={self.relist})"


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
