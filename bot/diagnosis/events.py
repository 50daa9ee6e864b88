"""Events as the diagnosis reads them: parsed once, then filtered to what explains a crash.

core/v1 events come in two shapes: the classic one (`count`, `firstTimestamp`, `lastTimestamp`) and the
events.k8s.io-backed one (`eventTime`, `series.count`, `series.lastObservedTime`); both are read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.diagnosis.frozen import positional
from bot.diagnosis.model import EventSummary
from bot.diagnosis.podjson import dig, integer, text, timestamp
from bot.diagnosis.ports import JsonDict

RELEVANT_REASONS = frozenset(
    {
        "Unhealthy",
        "Killing",
        "BackOff",
        "OOMKilling",
        "SystemOOM",
        "Evicted",
        "EvictionThresholdMet",
        "FailedScheduling",
        "Failed",
        "Preempting",
        "FailedMount",
        "FailedAttachVolume",
        "FailedCreatePodSandBox",
        "FailedKillPod",
        "FailedPreStopHook",
        "FailedPostStartHook",
        "ExceededGracePeriod",
        "NodeNotReady",
        "TaintManagerEviction",
        "Rebooted",
        "NodeHasInsufficientMemory",
        "SandboxChanged",
        "DeadlineExceeded",
    }
)
"""Reasons worth showing even when the event type is Normal (Killing, Preempting are Normal)."""

MAX_SHOWN_EVENTS = 10


def parse_events(raw_events: Iterable[JsonDict]) -> tuple[EventSummary, ...]:
    """The events that can explain a crash (`is_relevant`), newest first.

    Every rule and surface looks only at these (a Killing, an Unhealthy, a node's SystemOOM…), so the
    routine Normal ones (Scheduled, Pulling, Pulled, Created, Started) are not parsed at all."""
    parsed: list[EventSummary] = []
    for event in raw_events:
        # `is_relevant` on the raw event, with the defaults `_summary` applies ("?" is not a relevant
        # reason, and a missing type is Normal): a relevant reason, or the type Warning
        reason = event.get("reason")
        if (type(reason) is str and reason in RELEVANT_REASONS) or event.get("type") == "Warning":
            parsed.append(_summary(event))
    if len(parsed) < 2:  # nothing to order
        return tuple(parsed)
    return tuple(sorted(parsed, key=_newest_first))


def _newest_first(event: EventSummary) -> tuple[bool, float]:
    seen = event.last_seen
    return (seen is None, -seen.timestamp() if seen is not None else 0.0)


def _summary(event: JsonDict) -> EventSummary:
    involved = event.get("involvedObject")
    if not isinstance(involved, dict):
        involved = _EMPTY
    series = event.get("series")
    if not isinstance(series, dict):
        series = _EMPTY
    event_time = event.get("eventTime")
    first = timestamp(event.get("firstTimestamp")) or timestamp(event_time)
    last = (timestamp(series.get("lastObservedTime")) if series else None) or timestamp(
        event.get("lastTimestamp")
    )
    if last is None:
        last = timestamp(event_time) or timestamp(dig(event, "metadata", "creationTimestamp"))
    field_path = involved.get("fieldPath")
    container = None
    if isinstance(field_path, str):
        opening = field_path.find("{")  # `spec.containers{api}`: the first `{…}` names the container
        if opening >= 0:
            closing = field_path.find("}", opening + 1)
            if closing >= 0:
                container = field_path[opening + 1 : closing]
    source = event.get("source")
    if isinstance(source, dict):
        component = text(source.get("component")) or text(event.get("reportingComponent"))
        host = text(source.get("host"))
    else:
        component = text(event.get("reportingComponent"))
        host = None
    message = event.get("message")
    count = max(integer(series.get("count")) or 0 if series else 0, integer(event.get("count")) or 1)
    return _SUMMARY(
        text(event.get("reason")) or "?",  # reason
        message.strip() if isinstance(message, str) else "",  # message
        text(event.get("type")) or "Normal",  # type
        count,  # count
        first or last,  # first_seen
        last,  # last_seen
        text(involved.get("kind")) or "Pod",  # object_kind
        text(involved.get("name")) or "",  # object_name
        container,  # container
        f"{component}, {host}" if component and host else component or host,  # source
    )


_EMPTY: JsonDict = {}


def is_relevant(event: EventSummary) -> bool:
    return event.reason in RELEVANT_REASONS or event.type == "Warning"


def probe_kind(event: EventSummary) -> str:
    """`liveness`, `readiness` or `startup` for an Unhealthy event, from its message."""
    first_word = event.message.split(" ", 1)[0].lower()
    return first_word if first_word in ("liveness", "readiness", "startup") else ""


def relevant_events(
    events: Iterable[EventSummary], since: datetime | None, limit: int = MAX_SHOWN_EVENTS
) -> tuple[EventSummary, ...]:
    """The events that explain a crash, newest first, one per reason (counts merged).

    Unhealthy events stay apart per probe kind (a liveness failure is not a readiness failure) and
    Failed events per message (a pull failure and a config error are different stories). Node events
    from before the pod existed say nothing about it and are dropped.
    """
    merged: dict[tuple[str, str, str, str], EventSummary] = {}
    for event in events:
        if not is_relevant(event):
            continue
        if event.object_kind == "Node" and since and event.last_seen and event.last_seen < since:
            continue
        variant = probe_kind(event) if event.reason == "Unhealthy" else ""
        if event.reason == "Failed":
            variant = event.message
        key = (event.object_kind, event.container or "", event.reason, variant)
        kept = merged.get(key)
        if kept is None:
            merged[key] = event
        elif _newest_first(kept) <= _newest_first(event):
            merged[key] = _merge(kept, event)
        else:
            merged[key] = _merge(event, kept)
    if len(merged) < 2:  # most pods: one relevant event or none, nothing to order
        return tuple(merged.values())[:limit]
    ordered = sorted(merged.values(), key=_newest_first)
    return tuple(ordered[:limit])


def _merge(newer: EventSummary, older: EventSummary) -> EventSummary:
    first = newer.first_seen
    if older.first_seen is not None and (first is None or older.first_seen < first):
        first = older.first_seen
    return EventSummary(
        reason=newer.reason,
        message=newer.message,
        type=newer.type,
        count=newer.count + older.count,
        first_seen=first,
        last_seen=newer.last_seen,
        object_kind=newer.object_kind,
        object_name=newer.object_name,
        container=newer.container,
        source=newer.source,
    )


_SUMMARY = positional(
    EventSummary,
    "reason",
    "message",
    "type",
    "count",
    "first_seen",
    "last_seen",
    "object_kind",
    "object_name",
    "container",
    "source",
)
"""`EventSummary`, built positionally in this module (see `frozen.positional`)."""
