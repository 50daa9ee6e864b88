"""A pod watch event decoded only as far as the watcher looks first: uid, namespace, container statuses.

Almost every pod event of a busy cluster is a readiness flip or a condition timestamp: nothing a crash
is made of. Whether an event is one of those needs the pod's uid and its two container status lists,
about a tenth of the event's JSON; the rest (spec, managed fields, conditions, annotations) is only
needed when something changed. msgspec decodes into a typed view that names just those fields and skips
everything else without building a Python object for it, in about a third of the time orjson takes to
decode the whole event (`bench/watch_detect.py`). The full pod is still decoded with orjson, on demand
(`PodEvent.pod`).

msgspec checks the JSON's syntax everywhere, also where it skips, but not that a skipped string is valid
UTF-8 nor that a skipped number fits a float: the only events it accepts that the full decode refuses.
The apiserver never sends one (Go's encoder replaces invalid UTF-8 and cannot write such a number);
should one arrive, the consumer's full decode refuses it and says so (`PodEvent.pod` raises).
"""

from __future__ import annotations

from typing import Any, TypedDict

import msgspec
import orjson

from .events import EventType, PodEvent, PodGlance

__all__ = ["glance_at", "pod_event_from_line"]


class _ContainerStatus(TypedDict, total=False):
    """A container status with only what detection compares (a dict, as in the full pod)."""

    name: Any
    restartCount: Any
    state: Any
    lastState: Any


class _Metadata(msgspec.Struct, gc=False):
    uid: Any = None
    namespace: Any = None


class _Status(msgspec.Struct, gc=False):
    initContainerStatuses: list[_ContainerStatus] | None = None
    containerStatuses: list[_ContainerStatus] | None = None


class _Pod(msgspec.Struct, gc=False):
    metadata: _Metadata | None = None
    status: _Status | None = None


class _Event(msgspec.Struct, gc=False):
    pod: _Pod | None = msgspec.field(default=None, name="object")


_decode_event = msgspec.json.Decoder(_Event).decode


def glance_at(line: bytes) -> PodGlance | None:
    """The glance of one watch event line, or None when the line is not a pod event in the API's shape
    (not JSON, no uid, an odd type where an object belongs): the consumer then decodes it whole, and
    whatever is wrong with it is reported there, as for any event.

    Each container status keeps only `name`, `restartCount`, `state` and `lastState` (what detection
    compares), as the same dicts the full decode would give.
    """
    try:
        pod = _decode_event(line).pod
    except msgspec.MsgspecError:
        return None
    if pod is None or (metadata := pod.metadata) is None:
        return None
    uid = metadata.uid
    if type(uid) is not str or not uid:
        return None
    namespace = str(metadata.namespace or "")
    status = pod.status
    if status is None:
        return PodGlance(uid, namespace, None, None)
    return PodGlance(uid, namespace, status.initContainerStatuses, status.containerStatuses)


def pod_event_from_line(kind: EventType, line: bytes) -> PodEvent:
    """The `PodEvent` of one watch event line: glanced at now, decoded whole when `pod` is first read.

    A line the glance cannot read is decoded whole at once, so an unreadable one raises here
    (`ValueError`, `LookupError`, `TypeError`), where the stream logs and skips it as it always did.
    """
    glance = glance_at(line)
    if glance is None:
        return PodEvent(kind, orjson.loads(line)["object"])
    return PodEvent(kind, None, False, line, glance)
