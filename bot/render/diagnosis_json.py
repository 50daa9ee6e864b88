"""A pod diagnosis and a namespace triage as JSON-ready data (`exitcode-bot pod|ns --json`, scripts).

The shape is a contract for people's scripts, so it is spelled out field by field rather than derived
from the dataclasses. Times are RFC 3339 UTC strings, durations whole seconds; every value is a str,
int, float, bool, None, list or dict, so `json.dumps` always succeeds. Text is raw.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.diagnosis.findings import stamp
from bot.diagnosis.model import (
    BackOff,
    ContainerReport,
    Diagnosis,
    EventSummary,
    ProbeSummary,
    TerminationInfo,
    Verdict,
)
from bot.diagnosis.triage import TriageRow

SCHEMA_VERSION = 1


def diagnosis_json(diagnosis: Diagnosis) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "kind": "diagnosis",
        "namespace": diagnosis.namespace,
        "pod": diagnosis.pod,
        "uid": diagnosis.uid,
        "phase": diagnosis.phase,
        "reason": diagnosis.pod_reason,
        "message": diagnosis.pod_message,
        "node": diagnosis.node,
        "qos_class": diagnosis.qos_class,
        "created_at": _time(diagnosis.created_at),
        "deletion_timestamp": _time(diagnosis.deletion_at),
        "owners": [{"kind": owner.kind, "name": owner.name} for owner in diagnosis.owners],
        "verdict": _verdict(diagnosis.verdict),
        "containers": [_container(report) for report in diagnosis.containers],
        "events": [_event(event) for event in diagnosis.events],
        "log_tails": [
            {"container": tail.container, "lines": list(tail.lines)} for tail in diagnosis.log_tails
        ],
        "notes": list(diagnosis.notes),
        "diagnosed_at": _time(diagnosis.diagnosed_at),
    }


def _verdict(verdict: Verdict) -> dict[str, Any]:
    return {
        "cause": verdict.cause,
        "headline": verdict.headline,
        "confidence": verdict.confidence,
        "is_failure": verdict.is_failure,
        "container": verdict.container,
        "exit_code": verdict.exit_code,
        "underlying_cause": verdict.underlying,
        "meaning": verdict.explanation_title,
        "evidence": list(verdict.evidence),
        "next_steps": [{"text": step.text, "command": step.command} for step in verdict.next_steps],
        "runbook_url": verdict.runbook_url,
    }


def _container(report: ContainerReport) -> dict[str, Any]:
    return {
        "name": report.name,
        "kind": report.kind,
        "image": report.image,
        "state": report.state,
        "state_reason": report.state_reason,
        "state_message": report.state_message,
        "state_since": _time(report.state_since),
        "ready": report.ready,
        "restart_count": report.restart_count,
        "termination": _termination(report.termination),
        "last_termination": _termination(report.last_termination),
        "back_off": _back_off(report.back_off),
        "resources": {
            "memory_limit": report.memory_limit,
            "memory_limit_source": report.memory_limit_source,
            "stop_signal": report.stop_signal,
            "memory_request": report.memory_request,
            "cpu_limit": report.cpu_limit,
            "cpu_request": report.cpu_request,
        },
        "probes": [_probe(probe) for probe in report.probes],
    }


def _termination(termination: TerminationInfo | None) -> dict[str, Any] | None:
    if termination is None:
        return None
    signal = termination.signal
    return {
        "exit_code": termination.exit_code,
        "meaning": termination.meaning_title,
        "summary": termination.meaning_summary,
        "signal": None if signal is None else {"number": signal.number, "name": signal.name},
        "reason": termination.reason,
        "message": termination.message,
        "started_at": _time(termination.started_at),
        "finished_at": _time(termination.finished_at),
        "ran_seconds": _seconds(termination.ran_for),
    }


def _back_off(back_off: BackOff | None) -> dict[str, Any] | None:
    if back_off is None:
        return None
    return {
        "delay_seconds": _seconds(back_off.delay),
        "from_kubelet": back_off.from_kubelet,
        "next_restart_at": _time(back_off.next_restart_at),
        "next_restart_in_seconds": _seconds(back_off.next_restart_in),
    }


def _probe(probe: ProbeSummary) -> dict[str, Any]:
    return {
        "kind": probe.kind,
        "action": probe.action,
        "period_seconds": probe.period_seconds,
        "timeout_seconds": probe.timeout_seconds,
        "failure_threshold": probe.failure_threshold,
        "initial_delay_seconds": probe.initial_delay_seconds,
    }


def _event(event: EventSummary) -> dict[str, Any]:
    return {
        "reason": event.reason,
        "type": event.type,
        "message": event.message,
        "count": event.count,
        "first_seen": _time(event.first_seen),
        "last_seen": _time(event.last_seen),
        "object": {"kind": event.object_kind, "name": event.object_name, "container": event.container},
        "source": event.source,
    }


def triage_json(
    rows: Sequence[TriageRow], *, namespace: str, pods_checked: int | None = None
) -> dict[str, Any]:
    """`exitcode-bot ns NAMESPACE --json`."""
    return {
        "schema": SCHEMA_VERSION,
        "kind": "triage",
        "namespace": namespace,
        "pods_checked": pods_checked,
        "pods": [
            {
                "pod": row.pod,
                "container": row.container,
                "container_kind": row.container_kind,
                "exit_code": row.exit_code,
                "meaning": row.meaning,
                "reason": row.reason,
                "state": row.state,
                "restarts": row.restarts,
                "finished_at": _time(row.when),
                "age_seconds": _seconds(row.age),
                "workload": row.workload,
            }
            for row in rows
        ],
    }


def _time(moment: datetime | None) -> str | None:
    return stamp(moment) if moment is not None else None


def _seconds(span: timedelta | None) -> int | None:
    return int(span.total_seconds()) if span is not None else None
