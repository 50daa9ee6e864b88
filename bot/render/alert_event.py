"""An alert as the signed webhook's JSON event (schema `docs/webhook-event.v1.schema.json`), pure.

A webhook receiver is a program, not a reader: it gets the same facts the Slack alert shows (the same
views, the same phrases from `alert_text`, nothing re-derived), as typed fields it can route, store and
thread on. Every event carries every field of the schema: a field that does not apply to that event
is `null`, so receivers never have to guess whether a key is missing or empty.

Text from the cluster (pod names, termination messages, log lines) is untrusted; JSON encoding is its
escaping, and a string Python holds but UTF-8 cannot (a lone surrogate from a log line) is replaced,
never an encoding error. A body larger than `MAX_BODY_BYTES` is fitted by cutting the log tail (oldest
lines first), then long strings, then lists, and marked `truncated`, never by failing: a crash whose log
is a megabyte of one line still gets its alert.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from bot.alerting.actions import DigestRow
from bot.alerting.incidents import IncidentStatus
from bot.alerting.policy import AlertKind
from bot.alerting.termination import Termination, Workload
from bot.knowledge.explanation import Explanation
from bot.render.alert_text import (
    CrashAlert,
    DigestAlert,
    RecoveryAlert,
    RepeatAlert,
    headline,
    recovery_phrase,
    runbook_steps,
    utc,
)
from bot.render.surface import Delivery

__all__ = ["FIELDS", "MAX_BODY_BYTES", "SCHEMA_VERSION", "event_body", "event_record", "rfc3339"]

SCHEMA_VERSION = "1"
"""Changes only for an incompatible change; new fields may be added within a version."""
MAX_BODY_BYTES = 256 * 1024
"""What a body is fitted to: far above a normal alert (a few KiB), below what common receivers (API
gateways, serverless functions, reverse proxies) accept by default."""

FIELDS = (
    "schema_version",
    "event",
    "idempotency_key",
    "incident_key",
    "occurred_at",
    "sent_at",
    "summary",
    "cluster",
    "kind",
    "namespace",
    "pod",
    "container",
    "container_kind",
    "node",
    "workload",
    "exit_code",
    "signal",
    "reason",
    "message",
    "finished_at",
    "restarts",
    "verdict",
    "confidence",
    "meaning",
    "evidence",
    "log_tail",
    "next_steps",
    "runbook_url",
    "count",
    "pod_count",
    "incident",
    "digest",
    "truncated",
)
"""Every event's keys, in the order they are written (the schema lists the same)."""

Record = dict[str, Any]

# How far each fitting step cuts (characters of one string, items of one list).
_LINE_CHARS = 2000
_SHORT_CHARS = 256
_LAST_ROWS = 20


def rfc3339(epoch: float) -> str:
    """`2026-01-01T00:00:00Z` (milliseconds only when the time has them): RFC 3339 in UTC."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def event_body(delivery: Delivery, *, sent_at: float, limit: int = MAX_BODY_BYTES) -> bytes:
    """The event as UTF-8 JSON bytes of at most `limit` bytes (fitted; see the module docstring)."""
    record = event_record(delivery, sent_at=sent_at)
    body = orjson.dumps(record)
    if len(body) <= limit:
        return body
    record["truncated"] = True
    for step in _FITTING_STEPS:
        body = step(record, limit)
        if len(body) <= limit:
            return body
    return body  # only for a limit below any skeleton event (not a configuration this module allows)


def event_record(delivery: Delivery, *, sent_at: float) -> Record:
    """The event as a JSON-able dict with every key of `FIELDS`, untrusted text made valid UTF-8."""
    record: Record = dict.fromkeys(FIELDS)
    record.update(
        schema_version=SCHEMA_VERSION,
        event=delivery.event.value,
        idempotency_key=delivery.key,
        incident_key=delivery.incident,
        occurred_at=rfc3339(delivery.planned_at),
        sent_at=rfc3339(sent_at),
        truncated=False,
    )
    view = delivery.view
    record["cluster"] = view.cluster
    if isinstance(view, CrashAlert):
        record.update(_crash(view))
    elif isinstance(view, RepeatAlert):
        record.update(_termination(view.termination, view.meaning, view.kind))
        record.update(kind=view.kind.value, summary=headline(view))
    elif isinstance(view, RecoveryAlert):
        record.update(_recovery(view))
    else:
        record.update(_digest(view))
    cleaned: Record = _valid_utf8(record)
    return cleaned


# --- per view -------------------------------------------------------------------------------------------


def _termination(termination: Termination, meaning: Explanation | None, kind: AlertKind) -> Record:
    """The facts of one termination, as the Slack alert's fields show them (an eviction: the pod's
    reason and message, which say which resource the node lacked)."""
    finished = termination.finished_epoch
    evicted = kind is AlertKind.EVICTION
    return {
        "namespace": termination.namespace,
        "pod": termination.pod,
        "container": termination.container,
        "container_kind": termination.container_kind.value,
        "node": termination.node,
        "workload": _workload(termination.workload),
        "exit_code": termination.exit_code,
        "signal": meaning.signal.name if meaning is not None and meaning.signal is not None else None,
        "reason": termination.pod_reason if evicted else termination.reason,
        "message": termination.pod_message if evicted else termination.message,
        "finished_at": rfc3339(finished) if finished is not None else None,
        "restarts": termination.restart_count,
        "meaning": meaning.summary if meaning is not None else None,
        "runbook_url": meaning.runbook_url if meaning is not None else None,
    }


def _crash(alert: CrashAlert) -> Record:
    record = _termination(alert.termination, alert.meaning, alert.kind)
    verdict = alert.diagnosis.verdict if alert.diagnosis is not None else None
    tail = alert.log_tail
    record.update(
        summary=headline(alert),
        kind=alert.kind.value,
        verdict=verdict.headline if verdict is not None else None,
        confidence=verdict.confidence if verdict is not None else None,
        evidence=list(verdict.evidence) if verdict is not None else [],
        log_tail=list(tail.lines) if tail is not None else [],
        next_steps=[{"text": step.text, "command": step.command} for step in runbook_steps(alert)],
        runbook_url=alert.runbook_url,
        count=alert.count,
        pod_count=alert.pod_count,
        incident=_incident(alert.incident) if alert.incident is not None else None,
    )
    return record


def _recovery(alert: RecoveryAlert) -> Record:
    try:
        workload = _workload(Workload.parse(alert.workload))
    except ValueError:
        workload = {"kind": None, "name": alert.workload}
    return {
        "summary": recovery_phrase(alert),
        "kind": alert.kind.value,
        "namespace": alert.namespace,
        "container": alert.container or None,
        "workload": workload,
        "incident": _incident(alert.status),
    }


def _digest(digest: DigestAlert) -> Record:
    over = "is over" if digest.calm else "in progress"
    return {
        "summary": f"Crash storm {over}: {digest.total} alerts since {utc(digest.started_at)}",
        "digest": {
            "started_at": rfc3339(digest.started_at),
            "total": digest.total,
            "calm": digest.calm,
            "rows": [_row(row, digest.code_names) for row in digest.rows],
        },
    }


def _row(row: DigestRow, code_names: Mapping[int, str]) -> Record:
    if row.is_overflow:
        return {
            "namespace": None,
            "workload": None,
            "kind": None,
            "exit_code": None,
            "meaning": None,
            "count": row.count,
            "last_seen_at": rfc3339(row.last_seen),
            "overflow": True,
        }
    return {
        "namespace": row.namespace,
        "workload": _workload(row.workload),
        "kind": row.kind.value if row.kind is not None else None,
        "exit_code": row.exit_code,
        "meaning": code_names.get(row.exit_code) if row.exit_code is not None else None,
        "count": row.count,
        "last_seen_at": rfc3339(row.last_seen),
        "overflow": False,
    }


def _incident(status: IncidentStatus) -> Record:
    return {
        "state": status.phase.value,
        "crashes": status.crashes,
        "started_at": rfc3339(status.started),
        "since": rfc3339(status.since),
        "last_crash_at": rfc3339(status.last_crash),
        "reason": status.reason.value if status.reason is not None else None,
        "detail": status.detail,
    }


def _workload(workload: Workload) -> Record:
    return {"kind": workload.kind, "name": workload.name}


def _valid_utf8(value: Any) -> Any:
    """`value` with every string encodable as UTF-8 (a lone surrogate becomes `?`)."""
    if isinstance(value, str):
        return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {key: _valid_utf8(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_valid_utf8(item) for item in value]
    return value


# --- fitting a body into its limit ----------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut_log_tail(record: Record, limit: int) -> bytes:
    """Drop the oldest log lines (halving) until the body fits: the lines nearest the crash stay."""
    while True:
        body = orjson.dumps(record)
        lines = record["log_tail"]
        if len(body) <= limit or not lines:
            return body
        record["log_tail"] = lines[len(lines) // 2 + len(lines) % 2 :] if len(lines) > 1 else []


def _clip_long_texts(record: Record, limit: int) -> bytes:
    """Cut the texts only a diagnosis or a program can make long: evidence, message, log lines."""
    for name in ("evidence", "log_tail"):
        if record[name]:
            record[name] = [_clip(text, _LINE_CHARS) for text in record[name]]
    if record["message"]:
        record["message"] = _clip(record["message"], _LINE_CHARS * 2)
    return _cut_log_tail(record, limit)


def _clip_everything(record: Record, limit: int) -> bytes:
    """Last resort (hostile names or a limit set very low): every string short, every list short."""
    for name in ("evidence", "log_tail", "next_steps"):
        if record[name]:
            record[name] = record[name][:3] if name != "log_tail" else record[name][-3:]
    digest = record["digest"]
    if digest is not None:
        digest["rows"] = digest["rows"][:_LAST_ROWS]
    keep = {"schema_version", "event", "idempotency_key", "incident_key", "occurred_at", "sent_at"}
    for name in FIELDS:
        if name not in keep:
            record[name] = _short(record[name])
    return orjson.dumps(record)


def _short(value: Any) -> Any:
    if isinstance(value, str):
        return _clip(value, _SHORT_CHARS)
    if isinstance(value, dict):
        return {key: _short(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_short(item) for item in value]
    return value


_FITTING_STEPS: tuple[Callable[[Record, int], bytes], ...] = (
    _cut_log_tail,
    _clip_long_texts,
    _clip_everything,
)
