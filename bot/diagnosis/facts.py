"""The pod-level facts every rule consults, read once per diagnosis.

Rules receive a `PodFacts` rather than raw JSON so that each of them stays a few lines of "if this
evidence, then that story", and so the JSON is walked once however many rules look at it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.diagnosis.evidence import EVENTS, NODE_EVENTS, PodEvidence
from bot.diagnosis.frozen import positional
from bot.diagnosis.jobs import JobContext, job_context
from bot.diagnosis.lifecycle import ALL_RESTARTING_CONDITION, RestartAllTrigger, restart_all_trigger
from bot.diagnosis.model import ContainerReport, EventSummary, OwnerRef, TerminationInfo
from bot.diagnosis.podjson import integer, obj, objects, text, timestamp
from bot.diagnosis.ports import JsonDict
from bot.diagnosis.textscan import fold, may_match, needing

DEFAULT_GRACE_SECONDS = 30
_COLLECTIONS = (tuple, frozenset, set)
"""Reasons given as one of these are matched as given (the rules pass tuples of one or two)."""
_SPECS = "container specs"
EVENT_WINDOW_SLACK = timedelta(seconds=60)
"""Events are stamped by another component than the status; allow for clock and batching skew."""

# With the words any match contains (`bot.diagnosis.textscan`): searching a line with these patterns
# costs 3–4 µs (the first tries `[A-Za-z_][\w.]*` at every position), testing it for the words a tenth.
_EXCEPTION_LINE = needing(
    re.compile(
        r"(?:^|[\s.])[A-Za-z_][\w.]*(?:Error|Exception|Fault)\b[:(]"
        r"|^panic: |fatal error|\bFATAL\b|^Caused by: "
    ),
    "Error",
    "Exception",
    "Fault",
    "panic: ",
    "fatal error",
    "FATAL",
    "Caused by: ",
)
_ERROR_WORDS = (
    "error",
    "exception",
    "fatal",
    "panic",
    "failed",
    "traceback",
    "refused",
    "denied",
    "cannot",
    "can't",
    "could not",
    "not found",
    "invalid",
)
_ERROR_LINE = needing(re.compile("|".join(_ERROR_WORDS), re.IGNORECASE), *_ERROR_WORDS)


@dataclass(frozen=True, slots=True)
class Disruption:
    """The pod's `DisruptionTarget` condition: Kubernetes itself decided to stop this pod."""

    reason: str
    message: str | None
    since: datetime | None


@dataclass(slots=True)
class PodFacts:
    """What the rules need to know about the pod, its owners, events and logs.

    Read-only by convention, not `frozen`: one is built per diagnosis and a frozen dataclass pays for
    every field it sets (the diagnosis benchmark shows it); no rule assigns to it."""

    namespace: str
    name: str
    node: str | None
    phase: str | None
    reason: str | None
    message: str | None
    qos_class: str | None
    restart_policy: str
    grace_seconds: int
    created_at: datetime | None
    deletion_at: datetime | None
    deletion_grace_seconds: int | None
    disruption: Disruption | None
    conditions: Mapping[str, JsonDict]
    owners: tuple[OwnerRef, ...]
    owner_objects: tuple[JsonDict, ...]
    containers: tuple[ContainerReport, ...]
    pod: JsonDict
    events: tuple[EventSummary, ...]
    events_unavailable: bool
    node_events_unavailable: bool
    logs: Mapping[str, str]
    restart_all: RestartAllTrigger | None = None
    """The exit that asked every container of the pod to restart (KEP-5532), if one did."""
    completion_index: str | None = None
    """`batch.kubernetes.io/job-completion-index` of an Indexed Job's pod."""
    job: JobContext | None = None
    """The pod's Job: the podFailurePolicy rule that matched, per-index limits, success policy."""
    memo: dict[object, object] = field(default_factory=dict)
    """Values rules derive more than once from the same facts (a container's joined texts)."""

    @property
    def container_specs(self) -> Mapping[str, JsonDict]:
        """Container specs by name, init containers first; read on first use (only a few stories quote a
        container's command, so most diagnoses never need them)."""
        specs = self.memo.get(_SPECS)
        if not isinstance(specs, dict):
            spec = obj(self.pod.get("spec"))
            specs = self.memo[_SPECS] = {
                name: c
                for c in objects(spec.get("initContainers")) + objects(spec.get("containers"))
                if (name := text(c.get("name")))
            }
        return specs

    @property
    def all_containers_restarting(self) -> bool:
        condition = self.conditions.get(ALL_RESTARTING_CONDITION)
        return condition is not None and condition.get("status") == "True"

    @property
    def deleting(self) -> bool:
        return self.deletion_at is not None

    @property
    def deletion_requested_at(self) -> datetime | None:
        """When the delete was asked for: `deletionTimestamp` is the *end* of the grace period."""
        if self.deletion_at is None:
            return None
        return self.deletion_at - timedelta(seconds=self.deletion_grace_seconds or 0)

    @property
    def effective_grace_seconds(self) -> int:
        """The grace period the stop had: the delete's own, else the pod spec's."""
        if self.deletion_grace_seconds is not None and self.deletion_grace_seconds > 0:
            return self.deletion_grace_seconds
        return self.grace_seconds

    def log(self, container: str) -> str:
        return self.logs.get(container, "")

    def container_events(
        self, container: str, reasons: Iterable[str], termination: TerminationInfo | None = None
    ) -> list[EventSummary]:
        """Pod events about `container` with one of `reasons`, limited to the termination's lifetime."""
        if not self.events:
            return []
        key = ("pod events of", container)
        mine = self.memo.get(key)
        if not isinstance(mine, tuple):
            mine = tuple([e for e in self.events if e.object_kind == "Pod" and e.container == container])
            self.memo[key] = mine
        if not mine:
            return []
        wanted = reasons if isinstance(reasons, _COLLECTIONS) else frozenset(reasons)
        return [
            event
            for event in mine
            if event.reason in wanted and (termination is None or in_window(event, termination))
        ]

    def node_events(self, reasons: Iterable[str]) -> list[EventSummary]:
        if not self.events:
            return []
        wanted = frozenset(reasons)
        return [event for event in self.events if event.object_kind == "Node" and event.reason in wanted]


def in_window(
    event: EventSummary, termination: TerminationInfo, slack: timedelta = EVENT_WINDOW_SLACK
) -> bool:
    """True when the event may belong to this container instance (it overlaps its lifetime)."""
    if event.last_seen is None:
        return True
    if termination.started_at is not None and event.last_seen < termination.started_at - slack:
        return False
    first = event.first_seen or event.last_seen
    return termination.finished_at is None or first <= termination.finished_at + slack


def pod_facts(
    evidence: PodEvidence,
    containers: tuple[ContainerReport, ...],
    events: tuple[EventSummary, ...],
    owners: tuple[OwnerRef, ...],
) -> PodFacts:
    pod = evidence.pod
    meta = obj(pod.get("metadata"))
    spec = obj(pod.get("spec"))
    status = obj(pod.get("status"))
    conditions: dict[str, JsonDict] = {}
    listed = status.get("conditions")
    if isinstance(listed, list):
        for condition in listed:
            if isinstance(condition, dict) and isinstance(kind := condition.get("type"), str) and kind:
                conditions[kind] = condition
    disruption = None
    target = conditions.get("DisruptionTarget")
    if target is not None and target.get("status") == "True":
        disruption = Disruption(
            reason=text(target.get("reason")) or "unknown",
            message=text(target.get("message")),
            since=timestamp(target.get("lastTransitionTime")),
        )
    has_rules = False  # a container with restart rules has them in its report too (`restart_rules`)
    for report in containers:
        if report.restart_rules:
            has_rules = True
            break
    grace = integer(spec.get("terminationGracePeriodSeconds"))
    return _FACTS(
        text(meta.get("namespace")) or "default",  # namespace
        text(meta.get("name")) or "?",  # name
        text(spec.get("nodeName")),  # node
        text(status.get("phase")),  # phase
        text(status.get("reason")),  # reason
        text(status.get("message")),  # message
        text(status.get("qosClass")) or qos_class(spec),  # qos_class
        text(spec.get("restartPolicy")) or "Always",  # restart_policy
        DEFAULT_GRACE_SECONDS if grace is None else grace,  # grace_seconds
        timestamp(meta.get("creationTimestamp")),  # created_at
        timestamp(meta.get("deletionTimestamp")),  # deletion_at
        integer(meta.get("deletionGracePeriodSeconds")),  # deletion_grace_seconds
        disruption,  # disruption
        conditions,  # conditions
        owners,  # owners
        evidence.owners,  # owner_objects
        containers,  # containers
        pod,  # pod
        events,  # events
        bool(evidence.partial_errors) and evidence.failed(EVENTS),  # events_unavailable
        bool(evidence.partial_errors) and evidence.failed(NODE_EVENTS),  # node_events_unavailable
        evidence.log_tails,  # logs
        restart_all_trigger(pod) if has_rules else None,  # restart_all
        text(obj(meta.get("annotations")).get(COMPLETION_INDEX)),  # completion_index
        job_context(evidence.owners, pod) if evidence.owners else None,  # job
    )


COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


def qos_class(spec: JsonDict) -> str:
    """The QoS class as the API server computes it, for pods whose status does not say.

    With pod-level resources (KEP-2837) the pod's own `spec.resources` decides, not its containers'."""
    pod_level = obj(spec.get("resources"))
    if obj(pod_level.get("limits")) or obj(pod_level.get("requests")):
        return _qos_of([pod_level])
    return _qos_of(
        [
            obj(c.get("resources"))
            for c in objects(spec.get("containers")) + objects(spec.get("initContainers"))
        ]
    )


def _qos_of(all_resources: list[JsonDict]) -> str:
    """BestEffort with no requests or limits; Guaranteed when every cpu and memory limit is set and
    equals its request; Burstable otherwise."""
    any_set = False
    guaranteed = True
    for resources in all_resources:
        limits = obj(resources.get("limits"))
        requests = obj(resources.get("requests"))
        any_set = any_set or bool(limits) or bool(requests)
        for resource in ("cpu", "memory"):
            limit = limits.get(resource)
            if limit is None or requests.get(resource, limit) != limit:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def last_error_line(log: str) -> str | None:
    """The line of a log tail most likely to say why the process died.

    Runtimes print the fatal error last, just before exiting, but frameworks often add a generic
    line after it ("Worker failed to boot"). So: the last line naming an exception or a fatal error,
    else the last line that reads like an error, else the last non-empty line.
    """
    lines = log.splitlines()
    lines.reverse()  # from the end: the line wanted is the last one that matches
    folded = fold(log)
    for pattern in (_EXCEPTION_LINE, _ERROR_LINE):
        if not may_match(pattern, log, folded):  # no line of the log can match
            continue
        for line in lines:
            stripped = line.strip()
            if stripped and may_match(pattern, stripped, fold(stripped)) and pattern.search(stripped):
                return stripped
    for line in lines:
        stripped = line.strip()
        if stripped:
            return stripped
    return None


_FACTS = positional(
    PodFacts,
    "namespace",
    "name",
    "node",
    "phase",
    "reason",
    "message",
    "qos_class",
    "restart_policy",
    "grace_seconds",
    "created_at",
    "deletion_at",
    "deletion_grace_seconds",
    "disruption",
    "conditions",
    "owners",
    "owner_objects",
    "containers",
    "pod",
    "events",
    "events_unavailable",
    "node_events_unavailable",
    "logs",
    "restart_all",
    "completion_index",
    "job",
)
"""`PodFacts`, built positionally in this module (see `frozen.positional`)."""
