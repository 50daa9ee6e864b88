"""Per-container facts: the spec (limits, probes) joined with the status (state, terminations, back-off).

Only the fields the diagnosis shows are copied out of the pod. Environment variables, `envFrom`,
command arguments and probe headers are never read here, so they cannot reach any rendering.
"""

from __future__ import annotations

import posixpath
from datetime import datetime
from typing import Literal

from bot.diagnosis.backoff import back_off
from bot.diagnosis.frozen import positional
from bot.diagnosis.lifecycle import restart_rules, stop_signal
from bot.diagnosis.model import (
    ContainerKind,
    ContainerReport,
    ContainerStateName,
    LimitSource,
    ProbeKind,
    ProbeSummary,
    TerminationInfo,
)
from bot.diagnosis.podjson import dig, integer, obj, text, timestamp
from bot.diagnosis.ports import JsonDict
from bot.knowledge.base import KnowledgeBase

_PROBES: tuple[tuple[ProbeKind, str], ...] = (
    ("liveness", "livenessProbe"),
    ("readiness", "readinessProbe"),
    ("startup", "startupProbe"),
)
# Kubernetes API defaults for probe fields that are left out.
_DEFAULT_PERIOD = 10
_DEFAULT_TIMEOUT = 1
_DEFAULT_FAILURES = 3


def container_reports(pod: JsonDict, kb: KnowledgeBase, now: datetime) -> tuple[ContainerReport, ...]:
    """Init containers and native sidecars first (spec order), then the regular containers."""
    spec = obj(pod.get("spec"))
    status = obj(pod.get("status"))
    pod_resources = spec.get("resources")
    pod_limits = obj(pod_resources.get("limits")) if isinstance(pod_resources, dict) else _NO_STATUS
    reports: list[ContainerReport] = []
    init_containers = spec.get("initContainers")
    if isinstance(init_containers, list) and init_containers:  # most pods have none
        init_statuses = _by_name(status.get("initContainerStatuses"))
        for container in init_containers:
            if isinstance(container, dict):
                kind: ContainerKind = "sidecar" if container.get("restartPolicy") == "Always" else "init"
                reports.append(_report(container, kind, init_statuses, pod_limits, kb, now))
    containers = spec.get("containers")
    if isinstance(containers, list):
        statuses = _by_name(status.get("containerStatuses"))
        for container in containers:
            if isinstance(container, dict):
                reports.append(_report(container, "regular", statuses, pod_limits, kb, now))
    return tuple(reports)


_NO_STATUS: JsonDict = {}
"""Shared empty object for absent parts (read-only)."""


def _by_name(value: object) -> dict[str, JsonDict]:
    """Statuses by container name (the last of two with the same name, as a dict comprehension keeps)."""
    found: dict[str, JsonDict] = {}
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                name = item.get("name")
                if isinstance(name, str) and name:
                    found[name] = item
    return found


def _report(
    container: JsonDict,
    kind: ContainerKind,
    statuses: dict[str, JsonDict],
    pod_limits: JsonDict,
    kb: KnowledgeBase,
    now: datetime,
) -> ContainerReport:
    name = container.get("name")
    if not isinstance(name, str) or not name:
        name = "?"
    status = statuses.get(name, _NO_STATUS)
    current = status.get("state")
    if not isinstance(current, dict):
        current = _NO_STATUS
    state, state_reason, state_message, state_since = _state(current)
    record = current.get("terminated")
    termination = termination_info(record, "state.terminated", kb) if record is not None else None
    previous = status.get("lastState")
    record = previous.get("terminated") if isinstance(previous, dict) else None
    last = termination_info(record, "lastState.terminated", kb) if record is not None else None
    restarts = status.get("restartCount")
    if not isinstance(restarts, int) or isinstance(restarts, bool):
        restarts = 0
    crash_back_off = None
    if state_reason == "CrashLoopBackOff":
        latest = termination or last
        finished = latest.finished_at if latest else None
        crash_back_off = back_off(state_message, finished, now)
    resources = container.get("resources")
    if isinstance(resources, dict) and resources:
        limits = obj(resources.get("limits"))
        requests = obj(resources.get("requests"))
    else:
        limits = requests = _NO_STATUS
    applied = status.get("resources")
    if isinstance(applied, dict) and applied:  # only after an in-place resize
        applied_limits = obj(applied.get("limits"))
        applied_requests = obj(applied.get("requests"))
    else:
        applied_limits = applied_requests = _NO_STATUS
    memory, memory_source = _in_force("memory", applied_limits, limits, pod_limits)
    cpu, _ = _in_force("cpu", applied_limits, limits, pod_limits)
    own_policy = container.get("restartPolicy") if kind == "regular" else None
    memory_request = quantity(applied_requests.get("memory")) if applied_requests else None
    cpu_request = quantity(applied_requests.get("cpu")) if applied_requests else None
    return _REPORT(
        name,  # name
        kind,  # kind
        text(status.get("image")) or text(container.get("image")),  # image
        state,  # state
        state_reason,  # state_reason
        state_message,  # state_message
        state_since,  # state_since
        status.get("ready") is True,  # ready
        restarts,  # restart_count
        termination,  # termination
        last,  # last_termination
        crash_back_off,  # back_off
        memory,  # memory_limit
        memory_request or (quantity(requests.get("memory")) if requests else None),  # memory_request
        cpu,  # cpu_limit
        cpu_request or (quantity(requests.get("cpu")) if requests else None),  # cpu_request
        probe_summaries(container),  # probes
        memory_source,  # memory_limit_source
        quantity(limits.get("memory")) if memory_source == "status" else None,  # spec_memory_limit
        stop_signal(container, status),  # stop_signal
        text(own_policy),  # restart_policy
        restart_rules(container) if "restartPolicyRules" in container else (),  # restart_rules
    )


def _in_force(
    resource: str, applied: JsonDict, spec: JsonDict, pod: JsonDict
) -> tuple[str | None, LimitSource | None]:
    """The limit that applied: the kubelet's report (after an in-place resize) > the container's spec >
    the pod-level limit (KEP-2837: one cgroup for the whole pod, shared by every container)."""
    if not applied and not pod:  # the common case: no resize reported, no pod-level limit
        value = quantity(spec.get(resource))
        return (value, "spec") if value is not None else (None, None)
    sources: tuple[tuple[LimitSource, JsonDict], ...] = (("status", applied), ("spec", spec), ("pod", pod))
    for source, limits in sources:
        value = quantity(limits.get(resource))
        if value is not None:
            return value, source
    return None, None


def _state(state: JsonDict) -> tuple[ContainerStateName, str | None, str | None, datetime | None]:
    running = state.get("running")
    if isinstance(running, dict):
        return "running", None, None, timestamp(running.get("startedAt"))
    waiting = state.get("waiting")
    if isinstance(waiting, dict):
        return "waiting", text(waiting.get("reason")), text(waiting.get("message")), None
    terminated = state.get("terminated")
    if isinstance(terminated, dict):
        reason = text(terminated.get("reason"))
        return "terminated", reason, text(terminated.get("message")), timestamp(terminated.get("finishedAt"))
    return "unknown", None, None, None


def termination_info(
    record: object, source: Literal["state.terminated", "lastState.terminated"], kb: KnowledgeBase
) -> TerminationInfo | None:
    """A `terminated` record with its exit code explained; None when there is no record or no code."""
    if not isinstance(record, dict):
        return None
    code = integer(record.get("exitCode"))
    if code is None:
        return None
    explanation = kb.explain_code(code)
    reported_signal = integer(record.get("signal"))
    signal = kb.signal(reported_signal) if reported_signal else explanation.signal
    return _TERMINATION(
        source,  # source
        code,  # exit_code
        text(record.get("reason")),  # reason
        text(record.get("message")),  # message
        signal,  # signal
        timestamp(record.get("startedAt")),  # started_at
        timestamp(record.get("finishedAt")),  # finished_at
        explanation.title,  # meaning_title
        explanation.summary,  # meaning_summary
    )


def quantity(value: object) -> str | None:
    """A resource quantity as written (`256Mi`, `500m`); numbers are shown as they came."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def probe_summaries(container: JsonDict) -> tuple[ProbeSummary, ...]:
    summaries: list[ProbeSummary] = []
    for kind, field in _PROBES:
        probe = container.get(field)
        if isinstance(probe, dict):
            summaries.append(
                _PROBE(
                    kind,  # kind
                    probe_action(probe),  # action
                    integer(probe.get("periodSeconds")) or _DEFAULT_PERIOD,  # period_seconds
                    integer(probe.get("timeoutSeconds")) or _DEFAULT_TIMEOUT,  # timeout_seconds
                    integer(probe.get("failureThreshold")) or _DEFAULT_FAILURES,  # failure_threshold
                    integer(probe.get("initialDelaySeconds")) or 0,  # initial_delay_seconds
                )
            )
    return tuple(summaries)


def probe_action(probe: JsonDict) -> str:
    """What the probe does. HTTP headers and exec arguments are left out: they can hold credentials."""
    http = probe.get("httpGet")
    if isinstance(http, dict):
        scheme = "HTTPS" if http.get("scheme") == "HTTPS" else "HTTP"
        path = text(http.get("path")) or "/"
        return f"{scheme} GET :{_port(http.get('port'))}{path}"
    tcp = probe.get("tcpSocket")
    if isinstance(tcp, dict):
        return f"TCP :{_port(tcp.get('port'))}"
    grpc = probe.get("grpc")
    if isinstance(grpc, dict):
        service = text(grpc.get("service"))
        return f"gRPC :{_port(grpc.get('port'))}" + (f" ({service})" if service else "")
    command = dig(probe, "exec", "command")
    if isinstance(command, list) and command and isinstance(command[0], str):
        program = posixpath.basename(command[0]) or command[0]
        return f"exec {program}" + (" …" if len(command) > 1 else "")
    return "unknown check"


def _port(value: object) -> str:
    number = integer(value)
    if number is not None:
        return str(number)
    return text(value) or "?"


_REPORT = positional(
    ContainerReport,
    "name",
    "kind",
    "image",
    "state",
    "state_reason",
    "state_message",
    "state_since",
    "ready",
    "restart_count",
    "termination",
    "last_termination",
    "back_off",
    "memory_limit",
    "memory_request",
    "cpu_limit",
    "cpu_request",
    "probes",
    "memory_limit_source",
    "spec_memory_limit",
    "stop_signal",
    "restart_policy",
    "restart_rules",
)
"""`ContainerReport`, built positionally in this module (see `frozen.positional`)."""


_TERMINATION = positional(
    TerminationInfo,
    "source",
    "exit_code",
    "reason",
    "message",
    "signal",
    "started_at",
    "finished_at",
    "meaning_title",
    "meaning_summary",
)
"""`TerminationInfo`, built positionally in this module (see `frozen.positional`)."""


_PROBE = positional(
    ProbeSummary,
    "kind",
    "action",
    "period_seconds",
    "timeout_seconds",
    "failure_threshold",
    "initial_delay_seconds",
)
"""`ProbeSummary`, built positionally in this module (see `frozen.positional`)."""
