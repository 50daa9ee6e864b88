"""Alerts as PagerDuty Events API v2 events, and the severity rules that decide how loudly they page.

PagerDuty's model is not a chat's: an *alert* is opened by a `trigger` and closed by a `resolve`, and
every event naming the same `dedup_key` (through the same routing key) lands on the same open alert. So:

- a crash is a `trigger` whose `dedup_key` is the incident's key (`Delivery.incident`); a follow-up
  (the count went up) is another `trigger` with the same key, which PagerDuty appends to the open
  alert's log instead of paging again;
- a recovery is a `resolve` of that key; a storm digest is a `trigger` of the digest's key, and the
  storm's final, calm digest resolves it;
- a retry of the same event is harmless: the same `dedup_key` deduplicates it into the same alert.

The summary (`payload.summary`, at most 1024 characters) is what reaches a phone at 3 a.m., so it
starts with the namespace, the workload and what happened. The diagnosis goes into `custom_details`,
shown as key/value pairs on the alert: the same facts the Slack alert shows (the phrases come from
`alert_text`, never re-derived), each clipped so an event stays far below PagerDuty's 512 KB.

Text from the cluster is not markup to PagerDuty, so escaping means producing valid JSON: orjson
escapes quotes and control characters, and `event_bytes` replaces what JSON cannot carry (lone
surrogates) instead of failing. The routing key is a secret: events are built without it, and only
`event_bytes` puts it in the bytes that go on the wire.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from bot.alerting.policy import AlertKind
from bot.alerting.termination import Termination
from bot.render.alert_text import (
    GENERIC_REASONS,
    MAX_EVIDENCE,
    CrashAlert,
    DigestAlert,
    RepeatAlert,
    code_phrase,
    count_phrase,
    crash_facts,
    digest_row_phrase,
    headline,
    runbook_steps,
    state_phrase,
    utc,
)
from bot.render.diagnosis_text import CONFIDENCE_LABEL
from bot.render.surface import AlertEvent, Delivery, short_key

__all__ = [
    "DEFAULT_SEVERITY",
    "MAX_DEDUP_KEY",
    "MAX_SUMMARY",
    "SEVERITIES",
    "SeverityRule",
    "SeverityRuleError",
    "SeverityRules",
    "acknowledge_event",
    "dedup_key",
    "event_bytes",
    "pagerduty_event",
    "parse_severity_rules",
]

JsonDict = dict[str, Any]

SEVERITIES: Final = ("critical", "error", "warning", "info")
"""PagerDuty's `payload.severity` values, loudest first."""
DEFAULT_SEVERITY: Final = "error"
"""A crash is an error unless a rule says otherwise: loud enough to page, not a P1 by default."""
MAX_SUMMARY: Final = 1024
MAX_DEDUP_KEY: Final = 255
MAX_FIELD: Final = 1024
"""Characters of one custom detail (a reason, a verdict): enough to read, small enough to scan."""
MAX_MESSAGE: Final = 2048
"""Characters of the termination message shown (Kubernetes allows 4096)."""
MAX_LOG_LINE: Final = 500
MAX_LOG_LINES: Final = 50
MAX_DIGEST_ROWS: Final = 50
CLIENT: Final = "exitcode-bot"
KINDS: Final = {
    "crash": AlertKind.CRASH,
    "eviction": AlertKind.EVICTION,
    "completed": AlertKind.COMPLETED_TOO_OFTEN,
}
"""The rule words for an alert's kind (`completed`: exit 0 that a controller keeps restarting)."""


# --- severity rules ---------------------------------------------------------------------------------------


class SeverityRuleError(ValueError):
    """A severity rule cannot be used; the message names the rule (its position) and the field."""


@dataclass(frozen=True, slots=True)
class SeverityRule:
    """One rule: every condition given must hold (globs for names); `severity` is what it assigns."""

    severity: str
    namespace: str | None = None
    """A namespace glob (`prod-*`); `cluster` likewise (CLUSTER_NAME, or a cluster of CLUSTERS)."""
    cluster: str | None = None
    reason: str | None = None
    """A termination reason (`OOMKilled`, `Error`, `Evicted`), in any letter case."""
    exit_code: int | None = None
    kind: AlertKind | None = None

    def matches(
        self,
        *,
        namespace: str,
        cluster: str | None,
        reasons: Iterable[str | None],
        exit_code: int | None,
        kind: AlertKind | None,
    ) -> bool:
        """A condition on something the alert does not know (no cluster name, no reason) fails."""
        if self.namespace is not None and not fnmatch.fnmatchcase(namespace, self.namespace):
            return False
        if self.cluster is not None and not fnmatch.fnmatchcase(cluster or "", self.cluster):
            return False
        if self.reason is not None and self.reason.casefold() not in {
            reason.casefold() for reason in reasons if reason
        }:
            return False
        if self.exit_code is not None and self.exit_code != exit_code:
            return False
        return self.kind is None or self.kind is kind


@dataclass(frozen=True, slots=True)
class SeverityRules:
    """Ordered rules, the first that matches wins; no match (or no rules) means `error`."""

    rules: tuple[SeverityRule, ...] = ()

    def for_termination(self, termination: Termination, kind: AlertKind, cluster: str | None) -> str:
        """A rule's `reason` matches the container's (OOMKilled) or, for an eviction, the pod's (Evicted)."""
        reasons = (termination.reason, termination.pod_reason)
        return self._first(termination.namespace, cluster, reasons, termination.exit_code, kind)

    def for_digest(self, digest: DigestAlert) -> str:
        """A storm pages as loudly as the loudest workload in it (rows carry no reason: rules on a
        reason do not match a row; the overflow row names no workload and is skipped)."""
        found = [
            self._first(row.namespace, digest.cluster, (), row.exit_code, row.kind)
            for row in digest.rows
            if not row.is_overflow
        ]
        return min(found, key=SEVERITIES.index) if found else DEFAULT_SEVERITY

    def _first(
        self,
        namespace: str,
        cluster: str | None,
        reasons: Iterable[str | None],
        exit_code: int | None,
        kind: AlertKind | None,
    ) -> str:
        for rule in self.rules:
            if rule.matches(
                namespace=namespace, cluster=cluster, reasons=reasons, exit_code=exit_code, kind=kind
            ):
                return rule.severity
        return DEFAULT_SEVERITY


_RULE_FIELDS = ("namespace", "cluster", "reason", "exit_code", "kind", "severity")


def parse_severity_rules(data: object) -> SeverityRules:
    """Rules from plain data (`CONFIG_FILE`'s `pagerduty_severity`): a list of mappings such as
    `{namespace: "prod-*", reason: OOMKilled, severity: critical}`. Raises `SeverityRuleError`, whose
    message names the rule and the field, so a typo stops the bot at startup instead of paging quietly."""
    if isinstance(data, SeverityRules):
        return data
    if data is None:
        return SeverityRules()
    if isinstance(data, str | bytes) or not isinstance(data, Sequence):
        raise SeverityRuleError(
            "must be a list of rules, e.g. [{namespace: 'prod-*', reason: OOMKilled, severity: critical}]"
        )
    return SeverityRules(tuple(_rule(index, item) for index, item in enumerate(data)))


def _rule(index: int, item: object) -> SeverityRule:
    where = f"rule {index + 1}"
    if not isinstance(item, Mapping):
        raise SeverityRuleError(f"{where}: must be a mapping with a severity and conditions")
    unknown = sorted(str(key) for key in item if key not in _RULE_FIELDS)
    if unknown:
        raise SeverityRuleError(
            f"{where}: unknown field {unknown[0]!r} (a rule knows {', '.join(_RULE_FIELDS)})"
        )
    severity = item.get("severity")
    if severity not in SEVERITIES:
        raise SeverityRuleError(
            f"{where}, field 'severity': {severity!r} is not one of {', '.join(SEVERITIES)}"
        )
    return SeverityRule(
        severity=str(severity),
        namespace=_namespace(where, item.get("namespace")),
        cluster=_text(where, "cluster", item.get("cluster")),
        reason=_text(where, "reason", item.get("reason")),
        exit_code=_exit_code(where, item.get("exit_code")),
        kind=_kind(where, item.get("kind")),
    )


def _text(where: str, field: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SeverityRuleError(f"{where}, field '{field}': must be a non-empty string")
    return value.strip()


def _namespace(where: str, value: object) -> str | None:
    glob = _text(where, "namespace", value)
    if glob is not None and glob != glob.lower():
        raise SeverityRuleError(
            f"{where}, field 'namespace': {glob!r}: namespaces are lower case, so this glob would never match"
        )
    return glob


def _exit_code(where: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise SeverityRuleError(f"{where}, field 'exit_code': must be an integer exit code, e.g. 137")
    return value


def _kind(where: str, value: object) -> AlertKind | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in KINDS:
        raise SeverityRuleError(f"{where}, field 'kind': {value!r} is not one of {', '.join(KINDS)}")
    return KINDS[value]


# --- events -----------------------------------------------------------------------------------------------


def dedup_key(incident: str) -> str:
    """The incident key as PagerDuty's `dedup_key` (at most 255 characters: a longer one is hashed,
    stably, so every event of the incident still names the same alert)."""
    return incident if 0 < len(incident) <= MAX_DEDUP_KEY else short_key(incident)


def pagerduty_event(
    delivery: Delivery, *, severity: SeverityRules | None = None, public_url: str | None = None
) -> JsonDict:
    """The event for `delivery`, without the routing key (`event_bytes` adds it)."""
    rules = severity or SeverityRules()
    view = delivery.view
    key = dedup_key(delivery.incident)
    if delivery.event is AlertEvent.RECOVERED or (isinstance(view, DigestAlert) and view.calm):
        return {"event_action": "resolve", "dedup_key": key}
    if isinstance(view, CrashAlert | RepeatAlert):
        payload = _crash_payload(view, rules, delivery.planned_at)
    elif isinstance(view, DigestAlert):
        payload = _digest_payload(view, rules, delivery.planned_at)
    else:  # a recovery view sent as anything but `recovered` still only closes the alert
        return {"event_action": "resolve", "dedup_key": key}
    event: JsonDict = {"event_action": "trigger", "dedup_key": key, "payload": payload, "client": CLIENT}
    if public_url:
        event["client_url"] = public_url
    runbook = view.runbook_url if isinstance(view, CrashAlert) else None
    if runbook:
        event["links"] = [{"href": runbook, "text": "Runbook"}]
    return event


def acknowledge_event(incident: str) -> JsonDict:
    """The "I'm on it" button: the alert stops escalating and notifying (PagerDuty's `acknowledge`)."""
    return {"event_action": "acknowledge", "dedup_key": dedup_key(incident)}


def event_bytes(event: Mapping[str, Any], routing_key: str) -> bytes:
    """The request body: the event with its routing key, as JSON. Text JSON cannot carry (a lone
    surrogate from a garbled log) is replaced, never a reason to lose the page."""
    body = {"routing_key": routing_key, **event}
    try:
        return orjson.dumps(body)
    except TypeError:
        return orjson.dumps(_sanitized(body))


def _sanitized(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, Mapping):
        return {_sanitized(key): _sanitized(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_sanitized(item) for item in value]
    return value


def _crash_payload(view: CrashAlert | RepeatAlert, rules: SeverityRules, planned_at: float) -> JsonDict:
    termination = view.termination
    payload: JsonDict = {
        "summary": _summary(view),
        "source": _source(view.cluster, termination.namespace, termination.pod),
        "severity": rules.for_termination(termination, view.kind, view.cluster),
        "timestamp": _iso(_when(view, planned_at)),
        "component": _clip(termination.workload.ref, MAX_FIELD),
        "group": termination.namespace,
        "class": _event_class(view),
        "custom_details": _crash_details(view),
    }
    return payload


def _summary(view: CrashAlert | RepeatAlert) -> str:
    """`shop: Deployment/api / app crashed: exit 137 (OOMKilled), 3 crashes in 2 pods — cluster prod`."""
    text = f"{view.termination.namespace}: {headline(view)}"
    if isinstance(view, CrashAlert) and view.count > 1:
        crashes = "evictions" if view.kind is AlertKind.EVICTION else "crashes"
        pods = f" in {view.pod_count} pods" if view.pod_count > 1 else ""
        text += f", {view.count} {crashes}{pods}"
    if view.cluster:
        text += f" — cluster {view.cluster}"
    return _clip(" ".join(text.split()), MAX_SUMMARY)


def _source(cluster: str | None, namespace: str, pod: str | None) -> str:
    """`prod-eu/shop/api-7d9f8c6b5-x2x9z`: where it happened, as precisely as PagerDuty's field asks."""
    parts = [part for part in (cluster, namespace, pod) if part]
    return _clip("/".join(parts), MAX_FIELD)


def _when(view: CrashAlert | RepeatAlert, planned_at: float) -> float:
    if isinstance(view, CrashAlert) and view.last_seen is not None:
        return view.last_seen
    finished = view.termination.finished_epoch
    return finished if finished is not None else planned_at


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds")


def _event_class(view: CrashAlert | RepeatAlert) -> str:
    """What kind of failure, for PagerDuty's grouping and rules: a specific reason, else the code."""
    termination = view.termination
    if view.kind is AlertKind.EVICTION:
        return termination.pod_reason or "Evicted"
    if termination.reason and termination.reason not in GENERIC_REASONS:
        return _clip(termination.reason, MAX_FIELD)
    if termination.exit_code is None:
        return "restart (exit code unknown)"
    return f"exit {termination.exit_code}"


def _crash_details(view: CrashAlert | RepeatAlert) -> JsonDict:
    """The Slack alert's facts, as key/value pairs (each clipped; absent facts left out)."""
    termination = view.termination
    details: JsonDict = {"headline": _clip(headline(view), MAX_FIELD)}
    if isinstance(view, CrashAlert) and view.incident is not None:
        details["incident"] = state_phrase(view.incident)
    if isinstance(view, CrashAlert):
        counted = count_phrase(view)
        if counted:
            last = f", last at {utc(view.last_seen)}" if view.last_seen is not None else ""
            details["crashes"] = f"{counted}{last}"
    facts: list[tuple[str, str | None]] = [("cluster", view.cluster)]
    facts += [(key, value) for key, _, value in crash_facts(view)]
    if view.kind is not AlertKind.EVICTION:
        facts.append(("exit", code_phrase(termination, view.meaning)))
    facts.append(("finished_at", termination.finished_at))
    if view.kind is AlertKind.EVICTION:
        facts.append(("node_pressure", termination.pod_message))
    details.update({name: _clip(value, MAX_FIELD) for name, value in facts if value})
    if view.meaning is not None:
        details["meaning"] = _clip(view.meaning.summary, MAX_FIELD)
    if isinstance(view, CrashAlert):
        details.update(_diagnosis_details(view))
    if termination.message and view.kind is not AlertKind.EVICTION:
        details["termination_message"] = _clip(termination.message, MAX_MESSAGE)
    return details


def _diagnosis_details(alert: CrashAlert) -> JsonDict:
    details: JsonDict = {}
    if alert.diagnosis is not None:
        verdict = alert.diagnosis.verdict
        details["verdict"] = _clip(f"{verdict.headline} ({CONFIDENCE_LABEL[verdict.confidence]})", MAX_FIELD)
        if verdict.evidence:
            details["evidence"] = [_clip(fact, MAX_FIELD) for fact in verdict.evidence[:MAX_EVIDENCE]]
    tail = alert.log_tail
    if tail is not None and tail.lines:
        lines = tail.lines[-MAX_LOG_LINES:]
        details["log_tail"] = [_clip(line, MAX_LOG_LINE) for line in lines]
        details["log_tail_of"] = f"{tail.container} (last {len(lines)} lines)"
    steps = runbook_steps(alert)[:3]
    if steps:
        details["next_steps"] = [
            _clip(step.text + (f" — $ {step.command}" if step.command else ""), MAX_FIELD) for step in steps
        ]
    if alert.runbook_url:
        details["runbook"] = alert.runbook_url
    if alert.snoozed_until is not None:
        details["snoozed_until"] = utc(alert.snoozed_until)
    return details


def _digest_payload(digest: DigestAlert, rules: SeverityRules, planned_at: float) -> JsonDict:
    where = f" in {digest.channel}" if digest.channel else ""
    text = f"Crash storm{where}: {digest.total} alerts since {utc(digest.started_at)}"
    if digest.cluster:
        text += f" — cluster {digest.cluster}"
    rows = [digest_row_phrase(row, digest.code_names) for row in digest.rows[:MAX_DIGEST_ROWS]]
    namespaces = sorted({row.namespace for row in digest.rows if not row.is_overflow})
    details: JsonDict = {
        "total": digest.total,
        "since": utc(digest.started_at),
        "workloads": [_clip(row, MAX_FIELD) for row in rows],
        "note": "Individual alerts resume when it calms down; every crash is counted here.",
    }
    if digest.cluster:
        details["cluster"] = digest.cluster
    return {
        "summary": _clip(" ".join(text.split()), MAX_SUMMARY),
        "source": _source(digest.cluster, ",".join(namespaces[:5]) or "cluster", None),
        "severity": rules.for_digest(digest),
        "timestamp": _iso(planned_at),
        "component": "crash storm",
        "group": _clip(",".join(namespaces), MAX_FIELD) or "cluster",
        "class": "crash storm",
        "custom_details": details,
    }


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
