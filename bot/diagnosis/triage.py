"""`/exitcode ns` and `/exitcode pod NS/PREFIX`: many pods at once, read straight from their JSON.

A namespace can hold thousands of pods, so this works on the raw pod dicts with no events, owners or
logs (one list call), and leaves the full diagnosis to the one pod the engineer picks next.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.diagnosis.crashes import short_meaning
from bot.diagnosis.lifecycle import stop_exit_code, stop_signal
from bot.diagnosis.model import ContainerKind
from bot.diagnosis.podjson import dig, integer, obj, objects, text, timestamp
from bot.diagnosis.ports import JsonDict
from bot.knowledge.base import KnowledgeBase

BROKEN_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
"""Waiting reasons that mean the container cannot run, as opposed to "not started yet"."""

_CLEAN_STOP_CODES = frozenset({0, 143})
_STATUS_FIELDS: tuple[tuple[str, ContainerKind], ...] = (
    ("initContainerStatuses", "init"),
    ("containerStatuses", "regular"),
)
_CRONJOB_JOB = re.compile(r"^(?P<cronjob>.+)-\d{8,}$")


@dataclass(frozen=True, slots=True)
class TriageRow:
    """One troubled pod: the container that failed most recently, and how."""

    namespace: str
    pod: str
    container: str | None
    container_kind: ContainerKind | None
    exit_code: int | None
    meaning: str | None
    reason: str | None
    """The termination's reason (OOMKilled, Error, StartError) or the pod's (Evicted)."""
    state: str | None
    """What the container is doing now when that is the problem (CrashLoopBackOff, ImagePullBackOff)."""
    restarts: int
    when: datetime | None
    """When the container last ended (`finishedAt`)."""
    age: timedelta | None
    """How long ago that was, at the time of the triage."""
    workload: str | None
    """`Deployment/api`-style name of what owns the pod, from the pod alone."""


@dataclass(frozen=True, slots=True)
class _Failure:
    container: str
    kind: ContainerKind
    exit_code: int | None
    reason: str | None
    state: str | None
    restarts: int
    when: datetime | None
    stop_code: int | None = None
    """128 + the container's custom stop signal (KEP-4960): a clean stop when the pod is deleted."""


def triage_namespace(
    pods: Iterable[JsonDict], now: datetime, *, kb: KnowledgeBase | None = None
) -> list[TriageRow]:
    """Pods with a non-zero last termination or a container that cannot run, newest failure first.

    Pods being deleted whose containers stopped cleanly (0, 143) are left out: a rollout is not a crash.
    With `kb`, each code carries its meaning (`137 → SIGKILL`).
    """
    rows = [row for pod in pods if (row := _row(pod, now, kb)) is not None]
    return sorted(
        rows, key=lambda row: (row.when is None, -(row.when.timestamp() if row.when else 0.0), row.pod)
    )


def _row(pod: JsonDict, now: datetime, kb: KnowledgeBase | None) -> TriageRow | None:
    failure = latest_failure(pod)
    pod_reason = text(dig(pod, "status", "reason"))
    if failure is None and pod_reason is None:
        return None
    if failure is not None and _stopped_for_deletion(pod, failure):
        return None
    if failure is None and text(dig(pod, "status", "phase")) != "Failed":
        return None
    code = failure.exit_code if failure else None
    meaning = short_meaning(kb.explain_code(code).title) if kb is not None and code is not None else None
    when = failure.when if failure else None
    return TriageRow(
        namespace=text(dig(pod, "metadata", "namespace")) or "default",
        pod=text(dig(pod, "metadata", "name")) or "?",
        container=failure.container if failure else None,
        container_kind=failure.kind if failure else None,
        exit_code=code,
        meaning=meaning,
        reason=pod_reason or (failure.reason if failure else None),
        state=failure.state if failure else None,
        restarts=failure.restarts if failure else 0,
        when=when,
        age=max(now - when, timedelta(0)) if when else None,
        workload=workload_ref(pod),
    )


def latest_failure(pod: JsonDict) -> _Failure | None:
    """The container whose last end was a failure (or that cannot run), most recent first."""
    status = obj(pod.get("status"))
    spec = obj(pod.get("spec"))
    sidecars = {
        name
        for c in objects(spec.get("initContainers"))
        if c.get("restartPolicy") == "Always" and (name := text(c.get("name")))
    }
    pod_done = _main_containers_done(status)
    failures: list[_Failure] = []
    for field, default_kind in _STATUS_FIELDS:
        for status_entry in objects(status.get(field)):
            name = text(status_entry.get("name")) or "?"
            kind: ContainerKind = "sidecar" if name in sidecars else default_kind
            if kind == "sidecar" and pod_done and dig(status_entry, "state", "terminated") is not None:
                continue  # stopped by the kubelet because the pod's work is done, not a crash
            failure = _container_failure(status_entry, name, kind)
            if failure is not None:
                failures.append(failure)
    if not failures:
        return None
    return max(failures, key=lambda f: f.when.timestamp() if f.when else float("-inf"))


def _container_failure(entry: JsonDict, name: str, kind: ContainerKind) -> _Failure | None:
    record = dig(entry, "state", "terminated")
    if not isinstance(record, dict):
        record = dig(entry, "lastState", "terminated")
    record = obj(record)
    code = integer(record.get("exitCode"))
    waiting = text(dig(entry, "state", "waiting", "reason"))
    broken = waiting if waiting in BROKEN_WAITING else None
    if broken is None and (code is None or code == 0):
        return None
    return _Failure(
        container=name,
        kind=kind,
        exit_code=code,
        reason=text(record.get("reason")),
        state=broken,
        restarts=integer(entry.get("restartCount")) or 0,
        when=timestamp(record.get("finishedAt")),
        stop_code=stop_exit_code(stop_signal({}, entry)) if "stopSignal" in entry else None,
    )


def _main_containers_done(status: JsonDict) -> bool:
    """The pod's regular containers have all ended (or the pod is over): sidecars are stopped then."""
    if status.get("phase") in ("Succeeded", "Failed"):
        return True
    regular = objects(status.get("containerStatuses"))
    return bool(regular) and all(dig(entry, "state", "terminated") is not None for entry in regular)


def workload_ref(pod: JsonDict) -> str | None:
    """The owning workload from the pod alone: a ReplicaSet becomes its Deployment (pod-template-hash),
    a CronJob's Job becomes the CronJob (`name-<schedule time>`)."""
    references = objects(dig(pod, "metadata", "ownerReferences"))
    ref = next((r for r in references if r.get("controller") is True), references[0] if references else None)
    if ref is None:
        return None
    kind = text(ref.get("kind"))
    name = text(ref.get("name"))
    if not kind or not name:
        return None
    template_hash = text(dig(pod, "metadata", "labels", "pod-template-hash"))
    if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
        return f"Deployment/{name[: -len(template_hash) - 1]}"
    if kind == "Job" and (match := _CRONJOB_JOB.match(name)):
        return f"CronJob/{match.group('cronjob')}"
    return f"{kind}/{name}"


def select_pods_by_prefix(pods: Iterable[JsonDict], prefix: str) -> list[JsonDict]:
    """The pods of a workload named `prefix` (Deployment, StatefulSet, DaemonSet, Job, CronJob), or
    else the pods whose name starts with it; the most recently crashed first, then the newest."""
    candidates = list(pods)
    owned = [pod for pod in candidates if _owned_by(pod, prefix)]
    chosen = owned or [
        pod for pod in candidates if (text(dig(pod, "metadata", "name")) or "").startswith(prefix)
    ]
    return sorted(chosen, key=_crash_recency, reverse=True)


def _owned_by(pod: JsonDict, name: str) -> bool:
    workload = workload_ref(pod)
    if workload is not None and workload.split("/", 1)[1] == name:
        return True
    references = objects(dig(pod, "metadata", "ownerReferences"))
    return any(text(ref.get("name")) == name for ref in references)


def _stopped_for_deletion(pod: JsonDict, failure: _Failure) -> bool:
    """A pod being deleted whose container stopped cleanly (0, 143, or 128 + its custom stop signal): a
    rollout or scale-down, not a crash."""
    deleting = dig(pod, "metadata", "deletionTimestamp") is not None
    clean = failure.exit_code in _CLEAN_STOP_CODES or (
        failure.stop_code is not None and failure.exit_code == failure.stop_code
    )
    return deleting and clean and failure.state is None


def _crash_recency(pod: JsonDict) -> tuple[bool, float, float]:
    failure = latest_failure(pod)
    if failure is not None and _stopped_for_deletion(pod, failure):
        failure = None
    crashed_at = failure.when.timestamp() if failure and failure.when else float("-inf")
    created = timestamp(dig(pod, "metadata", "creationTimestamp"))
    return (failure is not None, crashed_at, created.timestamp() if created else float("-inf"))
