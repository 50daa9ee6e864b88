"""What the diagnosis says about one pod, as frozen plain data.

Every surface (Block Kit, console text, CLI JSON, alerts) renders these objects and none re-derives a
fact, so a renderer can never disagree with the verdict. Text fields hold raw values from the cluster
(pod names, termination messages, log lines): escaping them is each renderer's job.

Nothing here carries environment variables, secret references or annotations: the engine never copies
them out of the pod, so no renderer can show them by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.diagnosis.frozen import quick_init
from bot.diagnosis.lifecycle import RestartRule
from bot.knowledge.explanation import RunbookStep, SignalInfo

Confidence = Literal["high", "medium", "low"]
CONFIDENCE_RANK: dict[Confidence, int] = {"low": 0, "medium": 1, "high": 2}
"""Orders confidences, so tests and callers can say "at least medium"."""

ContainerKind = Literal["init", "regular", "sidecar"]
"""`sidecar` is a native sidecar: an init container with `restartPolicy: Always` (Kubernetes ≥ 1.28)."""

ContainerStateName = Literal["running", "waiting", "terminated", "unknown"]

ProbeKind = Literal["liveness", "readiness", "startup"]

LimitSource = Literal["status", "spec", "pod"]
"""Where the limit in force was read: `containerStatuses[].resources` (what the kubelet applied, after an
in-place resize), the container's spec, or the pod-level `spec.resources` (one cgroup for the whole pod)."""

LIMIT_FIELDS: dict[LimitSource, str] = {
    "status": "status.containerStatuses[].resources.limits",
    "spec": "limits",
    "pod": "spec.resources.limits",
}
"""How evidence names each source (`limits.memory = 256Mi` stays the classic spelling for the spec)."""


@quick_init
@dataclass(frozen=True, slots=True)
class OwnerRef:
    """One link of the owner chain (`ReplicaSet` → `Deployment`, `Job` → `CronJob`)."""

    kind: str
    name: str

    @property
    def ref(self) -> str:
        """`Kind/name`, as kubectl accepts it."""
        return f"{self.kind}/{self.name}"


@quick_init
@dataclass(frozen=True, slots=True)
class TerminationInfo:
    """One ended container instance: what the kubelet recorded, and what its exit code means.

    `source` names the status field it came from (`state.terminated` for the instance as it is now,
    `lastState.terminated` for the previous one), so evidence can quote the exact field.
    """

    source: Literal["state.terminated", "lastState.terminated"]
    exit_code: int
    reason: str | None
    message: str | None
    signal: SignalInfo | None
    started_at: datetime | None
    finished_at: datetime | None
    meaning_title: str
    meaning_summary: str

    @property
    def ran_for(self) -> timedelta | None:
        """How long the instance ran; None when the runtime never started it or times are missing."""
        if self.started_at is None or self.finished_at is None or self.finished_at < self.started_at:
            return None
        return self.finished_at - self.started_at


@quick_init
@dataclass(frozen=True, slots=True)
class BackOff:
    """The kubelet's restart back-off for a container in CrashLoopBackOff.

    `from_kubelet` is True when the delay was read from the kubelet's own message
    (`back-off 5m0s restarting failed container=…`), False when estimated from the restart count
    (10 s doubling per restart, capped at 5 min).
    """

    delay: timedelta | None
    """None when the kubelet did not state it: the curve is configurable (KEP-4603, KEP-5593), so the bot
    never guesses it from the restart count."""
    from_kubelet: bool
    next_restart_at: datetime | None
    next_restart_in: timedelta | None
    """Time from the diagnosis to the next restart; zero means "any moment now"."""


@quick_init
@dataclass(frozen=True, slots=True)
class ProbeSummary:
    """A probe, in the words an engineer would use; exec commands are reduced to the program name."""

    kind: ProbeKind
    action: str
    period_seconds: int
    timeout_seconds: int
    failure_threshold: int
    initial_delay_seconds: int

    def describe(self) -> str:
        """`liveness: HTTP GET :8080/healthz every 10s, timeout 1s, fails after 3 misses`."""
        delay = f", first after {self.initial_delay_seconds}s" if self.initial_delay_seconds else ""
        return (
            f"{self.kind}: {self.action} every {self.period_seconds}s, timeout {self.timeout_seconds}s, "
            f"fails after {self.failure_threshold} misses{delay}"
        )


@quick_init
@dataclass(frozen=True, slots=True)
class ContainerReport:
    """One container: its spec limits and probes, its state now and its last termination."""

    name: str
    kind: ContainerKind
    image: str | None
    state: ContainerStateName
    state_reason: str | None
    state_message: str | None
    state_since: datetime | None
    ready: bool
    restart_count: int
    termination: TerminationInfo | None
    """`state.terminated`: the container as it is now, when it has stopped."""
    last_termination: TerminationInfo | None
    """`lastState.terminated`: the previous instance, when the container has been restarted."""
    back_off: BackOff | None
    memory_limit: str | None
    """The memory limit in force: see `memory_limit_source`."""
    memory_request: str | None
    cpu_limit: str | None
    cpu_request: str | None
    probes: tuple[ProbeSummary, ...]
    memory_limit_source: LimitSource | None = None
    spec_memory_limit: str | None = None
    """The container spec's own memory limit, when the status reports a different one (a resize)."""
    stop_signal: str | None = None
    """The stop signal configured for it (KEP-4960), when not the default SIGTERM/image STOPSIGNAL."""
    restart_policy: str | None = None
    """The container's own `restartPolicy` (KEP-5307), which overrides the pod's."""
    restart_rules: tuple[RestartRule, ...] = ()

    @property
    def memory_limit_fact(self) -> str | None:
        """`limits.memory = 256Mi`, naming where the limit in force was read."""
        if self.memory_limit is None or self.memory_limit_source is None:
            return None
        fact = f"{LIMIT_FIELDS[self.memory_limit_source]}.memory = {self.memory_limit}"
        if self.memory_limit_source == "status":
            fact += " (in force"
            if self.spec_memory_limit and self.spec_memory_limit != self.memory_limit:
                fact += f"; the spec says {self.spec_memory_limit}: resized in place"
            fact += ")"
        elif self.memory_limit_source == "pod":
            fact += " (pod-level: every container of the pod shares this limit; the container has none)"
        return fact

    @property
    def latest_termination(self) -> TerminationInfo | None:
        """The most recent ended instance: the current state if it has ended, else the previous one."""
        return self.termination or self.last_termination

    @property
    def crash_looping(self) -> bool:
        return self.state_reason == "CrashLoopBackOff"


@quick_init
@dataclass(frozen=True, slots=True)
class EventSummary:
    """One relevant event (newest occurrence), with how often it happened."""

    reason: str
    message: str
    type: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    object_kind: str
    object_name: str
    container: str | None
    source: str | None


@quick_init
@dataclass(frozen=True, slots=True)
class LogTail:
    """The last lines of a container's previous instance (what `kubectl logs --previous` shows)."""

    container: str
    lines: tuple[str, ...]


@quick_init
@dataclass(frozen=True, slots=True)
class Verdict:
    """What most likely happened, on what evidence, how sure, and what to do next.

    `cause` is a stable identifier (`oom_killed`, `liveness_probe_kill`, …) for grouping and tests;
    `underlying` is the cause of the container's own exit when `cause` describes its context (an init
    container, a native sidecar or a Job that gave up). `is_failure` is False for a healthy pod, a
    normal shutdown or a completed run, so a surface can say "nothing is wrong" instead of alarming.
    """

    cause: str
    headline: str
    confidence: Confidence
    evidence: tuple[str, ...]
    next_steps: tuple[RunbookStep, ...]
    runbook_url: str | None
    container: str | None = None
    exit_code: int | None = None
    underlying: str | None = None
    explanation_title: str | None = None
    is_failure: bool = True


@quick_init
@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Everything the bot says about one pod."""

    namespace: str
    pod: str
    uid: str | None
    phase: str | None
    pod_reason: str | None
    pod_message: str | None
    node: str | None
    qos_class: str | None
    created_at: datetime | None
    deletion_at: datetime | None
    owners: tuple[OwnerRef, ...]
    containers: tuple[ContainerReport, ...]
    events: tuple[EventSummary, ...]
    log_tails: tuple[LogTail, ...]
    verdict: Verdict
    notes: tuple[str, ...]
    """What could not be read (events forbidden, logs unavailable): said, not hidden."""
    diagnosed_at: datetime

    @property
    def workload(self) -> OwnerRef | None:
        """The top of the owner chain: the thing that was deployed (Deployment, CronJob, …)."""
        return self.owners[-1] if self.owners else None

    def container(self, name: str) -> ContainerReport | None:
        return next((report for report in self.containers if report.name == name), None)
