"""Stories told at the pod level rather than by one exit code: eviction, scheduling, containers that
could not be created, Job give-ups, and the wrappers for init containers and native sidecars.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.diagnosis.facts import PodFacts
from bot.diagnosis.findings import Finding, event_fact, first_lower, quote
from bot.diagnosis.jobs import JobContext
from bot.diagnosis.model import ContainerReport
from bot.diagnosis.owners import find_owner
from bot.diagnosis.podjson import dig, integer, obj, objects, text
from bot.diagnosis.stops import EVENTS_STEP, LOGS_STEP
from bot.knowledge.explanation import RunbookStep

IMAGE_PULL_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}
)
CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError"})
JOB_FAILURE_REASONS = frozenset(
    {
        "BackoffLimitExceeded",
        "DeadlineExceeded",
        "PodFailurePolicy",
        "MaxFailedIndexesExceeded",
        "FailedIndexes",
    }
)

_LOW_ON = re.compile(r"low on resource: ([\w-]+)")
_USING = re.compile(r"Container (\S+) was using (\S+), request is (\S+)")
_PULL_STORIES = (
    (re.compile(r"not found|manifest unknown", re.IGNORECASE), "the image or tag does not exist"),
    (
        re.compile(r"unauthorized|denied|authentication required|forbidden", re.IGNORECASE),
        "the registry refused the credentials (check imagePullSecrets)",
    ),
    (
        re.compile(r"no such host|i/o timeout|connection refused|dial tcp|TLS handshake", re.IGNORECASE),
        "the registry cannot be reached from the node",
    ),
    (re.compile(r"toomanyrequests|rate limit", re.IGNORECASE), "the registry is rate-limiting pulls"),
)


def evicted(facts: PodFacts) -> Finding:
    """Pod `status.reason = Evicted`: the kubelet reclaimed a node resource by killing this pod."""
    message = facts.message or ""
    low_on = _LOW_ON.search(message)
    resource = low_on.group(1).rstrip(".") if low_on else None
    if resource is None and "ephemeral local storage" in message:
        resource = "ephemeral storage (the pod's own limit)"
    headline = "Evicted by the kubelet: the node ran low on " + (resource or "a resource")
    using = _USING.search(message)
    if using:
        headline += (
            f"; container {using.group(1)} used {using.group(2)} against a request of {using.group(3)}"
        )
    evidence = [f"status.reason = {facts.reason}"]
    if message:
        evidence.append(f"status.message = “{quote(message)}”")
    if facts.disruption is not None:
        evidence.append(f"condition DisruptionTarget reason = {facts.disruption.reason}")
    evidence.append(f"status.qosClass = {facts.qos_class}")
    evidence.extend(event_fact(e) for e in facts.events if e.reason in ("Evicted", "EvictionThresholdMet"))
    return Finding(
        cause="evicted",
        headline=headline,
        confidence="high",
        evidence=tuple(evidence),
        steps=(
            RunbookStep(
                "See which pressure the node reports and what runs there", "kubectl describe node {node}"
            ),
            RunbookStep(
                "Set requests close to real usage: under pressure the kubelet evicts the pods using most "
                "above their requests first, BestEffort before Burstable before Guaranteed"
            ),
            RunbookStep(
                "Evicted pods stay listed until deleted; cleaning them up is housekeeping, not a fix",
                "kubectl -n {namespace} get pods --field-selector=status.phase=Failed",
            ),
        ),
        reason_key="Evicted",
    )


def pod_deadline(facts: PodFacts) -> Finding:
    """Pod `status.reason = DeadlineExceeded`: `spec.activeDeadlineSeconds` ran out."""
    evidence = [f"status.reason = {facts.reason}"]
    if facts.message:
        evidence.append(f"status.message = “{quote(facts.message)}”")
    return Finding(
        cause="pod_deadline_exceeded",
        headline="Stopped by its deadline: the pod ran longer than spec.activeDeadlineSeconds allows",
        confidence="high",
        evidence=tuple(evidence),
        steps=(RunbookStep("Raise activeDeadlineSeconds or make the work finish sooner"), EVENTS_STEP),
        reason_key="DeadlineExceeded",
    )


def unschedulable(facts: PodFacts) -> Finding | None:
    """PodScheduled False/Unschedulable: no node can take the pod, so nothing has run yet."""
    condition = facts.conditions.get("PodScheduled")
    if condition is None or condition.get("status") != "False":
        return None
    message = text(condition.get("message")) or ""
    evidence = [f"condition PodScheduled = False, reason {text(condition.get('reason')) or '?'}"]
    if message:
        evidence.append(f"condition message: “{quote(message)}”")
    evidence.extend(event_fact(e) for e in facts.events if e.reason == "FailedScheduling")
    summary = message.split(". preemption:", 1)[0] if message else ""
    return Finding(
        cause="unschedulable",
        headline="Not scheduled: no node can take the pod" + (f" ({quote(summary, 160)})" if summary else ""),
        confidence="high",
        evidence=tuple(evidence[:4]),
        steps=(
            RunbookStep(
                "Compare the pod's requests, nodeSelector, affinity and tolerations with what nodes offer",
                "kubectl describe nodes | grep -A 8 'Allocated resources'",
            ),
            EVENTS_STEP,
        ),
        reason_key="FailedScheduling",
    )


def cannot_create(facts: PodFacts) -> Finding | None:
    """A container waiting on an image pull or on its configuration: it has never run."""
    for report in facts.containers:
        reason = report.state_reason
        if report.state != "waiting" or reason is None:
            continue
        if reason in IMAGE_PULL_REASONS:
            return _image_pull(facts, report, reason)
        if reason in CONFIG_REASONS:
            return _config_error(facts, report, reason)
    return None


def _image_pull(facts: PodFacts, report: ContainerReport, reason: str) -> Finding:
    failed = [e for e in facts.events if e.reason == "Failed" and e.container == report.name]
    pull_failures = [e for e in failed if e.message.startswith("Failed to pull")]
    details = " ".join(e.message for e in pull_failures) or (report.state_message or "")
    story = next((s for pattern, s in _PULL_STORIES if pattern.search(details)), None)
    image = f" {report.image}" if report.image else ""
    evidence = [f"state.waiting.reason = {reason}"]
    if report.state_message:
        evidence.append(f"state.waiting.message = “{quote(report.state_message)}”")
    evidence.extend(event_fact(e) for e in (pull_failures or failed)[:2])
    return Finding(
        cause="image_pull_failed",
        headline=f"The image{image} cannot be pulled ({reason})"
        + (f": {story}" if story else "")
        + "; the container never ran",
        confidence="high",
        evidence=tuple(evidence),
        steps=(
            RunbookStep(
                "Check the image name and tag exist and that the node may pull them (imagePullSecrets)",
                "kubectl -n {namespace} get pod {pod} -o jsonpath='{.spec.imagePullSecrets}'",
            ),
            EVENTS_STEP,
        ),
        container=report.name,
        reason_key=reason,
    )


def _config_error(facts: PodFacts, report: ContainerReport, reason: str) -> Finding:
    message = report.state_message or ""
    evidence = [f"state.waiting.reason = {reason}"]
    if message:
        evidence.append(f"state.waiting.message = “{quote(message)}”")
    evidence.extend(
        event_fact(e) for e in facts.events if e.reason == "Failed" and e.container == report.name
    )
    return Finding(
        cause="config_error",
        headline=f"The container cannot be created ({reason})"
        + (f": {quote(message, 200)}" if message else "")
        + "; it never ran",
        confidence="high",
        evidence=tuple(evidence[:4]),
        steps=(
            RunbookStep(
                "Check that every Secret and ConfigMap the pod references exists in the namespace with the "
                "referenced keys",
                "kubectl -n {namespace} get secrets,configmaps",
            ),
            EVENTS_STEP,
        ),
        container=report.name,
        reason_key=reason,
    )


@dataclass(frozen=True, slots=True)
class JobFailure:
    """A Job's `Failed` condition: the Job controller has given up on it."""

    name: str
    reason: str
    message: str | None
    backoff_limit: int | None
    failed_pods: int | None
    active_deadline_seconds: int | None


def job_failure(facts: PodFacts) -> JobFailure | None:
    if facts.job is None:  # no Job among the owners read (facts.job is built from the same owners)
        return None
    job = find_owner(facts.owner_objects, "Job")
    if job is None:
        return None
    for condition in objects(dig(job, "status", "conditions")):
        reason = text(condition.get("reason"))
        if condition.get("type") == "Failed" and condition.get("status") == "True" and reason:
            spec = obj(job.get("spec"))
            return JobFailure(
                name=text(dig(job, "metadata", "name")) or "?",
                reason=reason,
                message=text(condition.get("message")),
                backoff_limit=integer(spec.get("backoffLimit")),
                failed_pods=integer(dig(job, "status", "failed")),
                active_deadline_seconds=integer(spec.get("activeDeadlineSeconds")),
            )
    return None


def job_gave_up(job: JobFailure, inner: Finding | None, context: JobContext | None = None) -> Finding:
    """The Job failed as a whole; the pod's own exit is the detail."""
    evidence = [
        f"Job {job.name} condition Failed, reason {job.reason}" + (f": {job.message}" if job.message else "")
    ]
    steps: list[RunbookStep] = []
    match = context.policy_match if context is not None else None
    if job.reason == "PodFailurePolicy":
        cause = "job_pod_failure_policy"
        acted = f": {match.describe()}" if match is not None else ""
        headline = f"Job {job.name} failed at once, as its podFailurePolicy asks{acted}"
        if inner is not None and inner.is_failure:
            headline += f"; this pod: {first_lower(inner.headline)}"
        steps.append(
            RunbookStep(
                "If this exit should be retried after all, change the rule's action (Count or Ignore)",
                f"kubectl -n {{namespace}} get job {job.name} -o jsonpath='{{.spec.podFailurePolicy}}'",
            )
        )
    elif job.reason in ("FailedIndexes", "MaxFailedIndexesExceeded"):
        cause = "job_failed_indexes"
        per_index = context.backoff_limit_per_index if context is not None else None
        failed = context.failed_indexes if context is not None else None
        headline = f"Job {job.name} failed: " + (
            "more indexes failed than maxFailedIndexes allows"
            if job.reason == "MaxFailedIndexesExceeded"
            else "some indexes failed"
        )
        if failed:
            headline += f" (failed indexes {failed}"
            headline += (
                f", each retried up to backoffLimitPerIndex {per_index})" if per_index is not None else ")"
            )
        if inner is not None and inner.is_failure:
            headline += f"; this pod: {first_lower(inner.headline)}"
    elif job.reason == "DeadlineExceeded":
        deadline = f" ({job.active_deadline_seconds}s)" if job.active_deadline_seconds else ""
        cause = "job_deadline_exceeded"
        headline = (
            f"Job {job.name} failed: it ran longer than its activeDeadlineSeconds{deadline}, "
            "so its pods were stopped"
        )
        if job.active_deadline_seconds is not None:
            evidence.append(f"Job spec.activeDeadlineSeconds = {job.active_deadline_seconds}")
        steps.append(RunbookStep("Raise activeDeadlineSeconds, or make the work faster or resumable"))
    else:
        cause = "job_backoff_limit" if job.reason == "BackoffLimitExceeded" else "job_failed"
        limit = f"backoffLimit {job.backoff_limit} reached" if job.backoff_limit is not None else job.reason
        failed = f", {job.failed_pods} failed pods" if job.failed_pods is not None else ""
        headline = f"Job {job.name} gave up ({limit}{failed})"
        if inner is not None and inner.is_failure:
            headline += f"; this pod: {first_lower(inner.headline)}"
        if job.backoff_limit is not None:
            evidence.append(f"Job spec.backoffLimit = {job.backoff_limit}")
        if job.failed_pods is not None:
            evidence.append(f"Job status.failed = {job.failed_pods}")
        if inner is not None and inner.exit_code and match is None:
            steps.append(pod_failure_policy_step(job.name, inner.container, inner.exit_code))
    steps.append(
        RunbookStep(
            "See the Job's conditions, limits and pod history",
            f"kubectl -n {{namespace}} describe job {job.name}",
        )
    )
    if inner is not None:
        evidence.extend(inner.evidence)
        steps.extend(inner.steps)
    return Finding(
        cause=cause,
        headline=headline,
        confidence="high",
        evidence=tuple(evidence),
        steps=tuple(steps),
        container=inner.container if inner else None,
        exit_code=inner.exit_code if inner else None,
        reason_key=job.reason,
        underlying=inner.cause if inner else None,
    )


def pod_failure_policy_step(job: str, container: str | None, code: int) -> RunbookStep:
    """Suggest `podFailurePolicy.onExitCodes` (stable since Kubernetes 1.31) for this exit code."""
    target = f"containerName: {container}, " if container else ""
    return RunbookStep(
        f"If exit code {code} means retrying cannot help, fail the Job at once instead of burning its "
        f"backoffLimit: podFailurePolicy rule {{action: FailJob, onExitCodes: {{{target}operator: In, "
        f"values: [{code}]}}}} (use action: Ignore for codes that should not count as failures)",
        f"kubectl -n {{namespace}} get job {job} "
        "-o jsonpath='{.spec.backoffLimit} {.spec.podFailurePolicy}'",
    )


def init_blocked(report: ContainerReport, facts: PodFacts, inner: Finding) -> Finding:
    """A failing init container: the pod's app containers never start until it succeeds."""
    evidence = [f"{report.name} is an init container: the pod's containers start only after it succeeds"]
    if report.state_reason:
        evidence.append(f"init container {report.name}: state.waiting.reason = {report.state_reason}")
    initialized = facts.conditions.get("Initialized")
    if initialized is not None and initialized.get("status") == "False":
        message = text(initialized.get("message"))
        evidence.append("condition Initialized = False" + (f": {message}" if message else ""))
    return inner.but(
        cause="init_container_failed",
        headline=f"Init container {report.name} fails, so the app containers never start: "
        f"{first_lower(inner.headline)}",
        confidence="high",
        evidence=tuple(evidence) + inner.evidence,
        underlying=inner.cause,
    )


def sidecar_crashing(report: ContainerReport, inner: Finding) -> Finding:
    """A native sidecar (init container with restartPolicy: Always) that keeps crashing."""
    evidence = [f"{report.name} is a native sidecar (initContainers entry with restartPolicy: Always)"]
    if report.restart_count:
        evidence.append(f"restartCount = {report.restart_count}")
    return inner.but(
        cause="sidecar_crash",
        headline=f"Native sidecar {report.name} keeps crashing while the app runs on: "
        f"{first_lower(inner.headline)}",
        confidence="high" if report.restart_count or report.crash_looping else inner.confidence,
        evidence=tuple(evidence) + inner.evidence,
        steps=(LOGS_STEP, *inner.steps),
        underlying=inner.cause,
    )
