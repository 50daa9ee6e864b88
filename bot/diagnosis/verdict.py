"""From pod facts to one verdict: which container's story matters, told in context, with next steps.

The pod-level stories that explain everything come first (evicted, unschedulable, cannot create,
Job gave up); then the failing container that matters most (an init container blocks the pod, else
the most recent crash); then, when nothing failed, what the pod is doing.
"""

from __future__ import annotations

from datetime import timedelta

from bot.diagnosis.classify import classify
from bot.diagnosis.facts import PodFacts
from bot.diagnosis.findings import Finding, contradiction_fact, duration, event_fact, first_lower, stamp
from bot.diagnosis.frozen import positional
from bot.diagnosis.jobs import policy_facts
from bot.diagnosis.lifecycle import RESTART_ALL, matching_rule
from bot.diagnosis.model import ContainerReport, OwnerRef, TerminationInfo, Verdict
from bot.diagnosis.podjson import timestamp
from bot.diagnosis.podlevel import (
    cannot_create,
    evicted,
    init_blocked,
    job_failure,
    job_gave_up,
    pod_deadline,
    pod_failure_policy_step,
    sidecar_crashing,
    unschedulable,
)
from bot.diagnosis.stops import EVENTS_STEP, LOGS_STEP
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.explanation import RunbookStep

MAX_STEPS = 8


def decide(facts: PodFacts) -> Finding:
    """The finding that best explains the pod as it is now."""
    if facts.reason == "Evicted":
        return evicted(facts)
    job = job_failure(facts)
    if facts.reason == "DeadlineExceeded" and job is None:
        return pod_deadline(facts)
    blocked = unschedulable(facts) or cannot_create(facts)
    if blocked is not None:
        return blocked
    report = failing_container(facts)
    if report is not None:
        finding = _with_job_policy(facts, container_finding(facts, report))
        if job is not None:
            return job_gave_up(job, finding, facts.job)
        return _with_job_hint(facts, finding)
    if job is not None:
        return job_gave_up(job, None, facts.job)
    return quiet_pod(facts)


def is_failing(report: ContainerReport, restart_policy: str) -> bool:
    """Crash-looping, or last ended non-zero, or ended 0 where it is restarted anyway."""
    if report.crash_looping:
        return True
    latest = report.latest_termination
    if latest is None:
        return False
    if latest.exit_code != 0:
        return True
    if report.kind == "init":
        return False
    restarted = report.kind == "sidecar" or restart_policy == "Always"
    return restarted and report.restart_count > 0


RESTART_ALL_SLACK = timedelta(seconds=30)


def collateral_of_restart_all(facts: PodFacts, report: ContainerReport) -> bool:
    """True when this container's last exit was the kubelet stopping it because another container's exit
    asked for all of them to restart (KEP-5532): it ended within a grace period after the trigger."""
    trigger = facts.restart_all
    latest = report.latest_termination
    if trigger is None or report.name == trigger.container or latest is None:
        return False
    started = timestamp(trigger.finished_at)
    finished = latest.finished_at
    if started is None or finished is None:
        return facts.all_containers_restarting
    window = timedelta(seconds=facts.effective_grace_seconds) + RESTART_ALL_SLACK
    return started - RESTART_ALL_SLACK <= finished <= started + window


def sidecar_stopped_with_pod(facts: PodFacts, report: ContainerReport) -> bool:
    """A native sidecar the kubelet stopped because every regular container had finished: not a crash."""
    if report.kind != "sidecar" or report.termination is None:
        return False
    if facts.phase in ("Succeeded", "Failed"):
        return True
    regular = [r for r in facts.containers if r.kind == "regular"]
    return bool(regular) and all(r.termination is not None for r in regular)


def failing_container(facts: PodFacts) -> ContainerReport | None:
    """A failing init container first (it blocks the pod), else the container that failed most recently.

    Containers stopped only because another container's exit restarted them all, and native sidecars
    stopped because the pod finished, are not candidates: their exits are consequences, not causes."""
    failing = [
        r
        for r in facts.containers
        if is_failing(r, facts.restart_policy)
        and not collateral_of_restart_all(facts, r)
        and not sidecar_stopped_with_pod(facts, r)
    ]
    if not failing:
        return None
    if len(failing) == 1:  # the common case: one candidate, nothing to rank
        return failing[0]
    blocking = [r for r in failing if r.kind == "init"]
    if blocking:
        return blocking[0]
    return max(failing, key=_finished_key)


def _finished_key(report: ContainerReport) -> float:
    latest = report.latest_termination
    if latest is None or latest.finished_at is None:
        return float("-inf")
    return latest.finished_at.timestamp()


def container_finding(facts: PodFacts, report: ContainerReport) -> Finding:
    termination = report.latest_termination
    if termination is None:
        finding = Finding(
            cause="crash_loop",
            headline=f"Container {report.name} is crash-looping, but the kubelet kept no record of its exit",
            confidence="low",
            evidence=(
                f"state.waiting.reason = {report.state_reason}",
                f"restartCount = {report.restart_count}",
            ),
            steps=(LOGS_STEP, EVENTS_STEP),
            container=report.name,
        )
    else:
        finding = classify(facts, report, termination)
        finding = _as_the_spec_asked(facts, report, termination, finding)
        contradiction = contradiction_fact(termination)
        if contradiction is not None:
            finding = finding.but(evidence=(finding.evidence[0], contradiction, *finding.evidence[1:]))
    if report.kind == "init":
        finding = init_blocked(report, facts, finding)
    elif report.kind == "sidecar" and finding.is_failure:
        finding = sidecar_crashing(report, finding)
    return finding.adding(evidence=_now_facts(report))


def _as_the_spec_asked(
    facts: PodFacts, report: ContainerReport, termination: TerminationInfo, inner: Finding
) -> Finding:
    """Label a restart the container's own restart rules asked for on this exit code (KEP-5307), and an
    exit that restarted every container of the pod (KEP-5532)."""
    rule = matching_rule(report.restart_rules, termination.exit_code) if report.restart_rules else None
    if rule is None:
        return inner
    evidence = [f"spec: {rule.describe()} matches exit {termination.exit_code}"]
    if rule.action == RESTART_ALL:
        others = [
            r.name for r in facts.containers if r.name != report.name and collateral_of_restart_all(facts, r)
        ]
        if facts.all_containers_restarting:
            evidence.append("condition AllContainersRestarting = True")
        if others:
            evidence.append(
                f"stopped and restarted with it (their exits are not crashes): {', '.join(others)}"
            )
        return inner.but(
            cause="restart_all_containers",
            headline=f"Exit {termination.exit_code} of {report.name} restarted every container of the pod, "
            f"as its restart rule asks (RestartAllContainers): {first_lower(inner.headline)}",
            evidence=(*inner.evidence, *evidence),
            underlying=inner.cause,
        )
    if report.restart_policy:
        evidence.append(f"container restartPolicy = {report.restart_policy} (overrides the pod's)")
    kind = "listed" if rule.names_code else "not excluded"
    return inner.but(
        cause="rule_restart",
        headline=f"Restarted in place as the spec asks (exit {termination.exit_code} is {kind} by its "
        f"restart rule): {first_lower(inner.headline)}",
        evidence=(*inner.evidence, *evidence),
        underlying=inner.cause,
    )


def _now_facts(report: ContainerReport) -> tuple[str, ...]:
    """What the container is doing now, when that adds to the story (running again, back-off)."""
    if report.state == "running" and report.last_termination is not None and report.state_since is not None:
        return (f"running again since {stamp(report.state_since)}",)
    back_off = report.back_off
    if back_off is None:
        return ()
    if back_off.delay is None:
        return (
            "CrashLoopBackOff: the kubelet's message does not state its back-off (the curve and its cap are "
            "configurable, so none is assumed)",
        )
    when = ""
    if back_off.next_restart_in is not None:
        when = (
            "; next restart any moment now"
            if not back_off.next_restart_in
            else f"; next restart in about {duration(back_off.next_restart_in)}"
        )
    return (f"CrashLoopBackOff: the kubelet's back-off is {duration(back_off.delay)}{when}",)


def _with_job_policy(facts: PodFacts, finding: Finding) -> Finding:
    """Say which podFailurePolicy rule acted on this pod's exit and what the Job did; per-index limits."""
    context = facts.job
    if context is None:
        return finding
    lines = policy_facts(context, facts.completion_index)
    if not lines:
        return finding
    match = context.policy_match
    headline = finding.headline
    if match is not None and finding.is_failure:
        headline += f"; Job {context.name}'s {match.describe()}: {match.outcome}"
    return finding.but(headline=headline, evidence=(*finding.evidence, *lines))


def _with_job_hint(facts: PodFacts, finding: Finding) -> Finding:
    """A failing pod of a Job that has not given up yet: suggest podFailurePolicy for its exit code."""
    if not finding.is_failure or not finding.exit_code:
        return finding
    job = None
    for owner in facts.owners:  # a loop, not next(<generator>): this runs for every failing pod
        if owner.kind == "Job":
            job = owner
            break
    if job is None:
        return finding
    if facts.job is not None and facts.job.policy_match is not None:
        return finding
    return finding.adding(steps=(pod_failure_policy_step(job.name, finding.container, finding.exit_code),))


def quiet_pod(facts: PodFacts) -> Finding:
    """Nothing failed: say what the pod is doing, and whether anything is wrong at all."""
    phase = facts.phase or "Unknown"
    regular = [r for r in facts.containers if r.kind != "init"]
    if facts.deleting:
        return Finding(
            cause="normal_shutdown",
            headline="The pod is being deleted; no container failed",
            confidence="high",
            evidence=(
                f"metadata.deletionTimestamp = {stamp(facts.deletion_at)}" if facts.deletion_at else "",
            ),
            is_failure=False,
        )
    if phase == "Succeeded":
        stopped = [r for r in facts.containers if sidecar_stopped_with_pod(facts, r)]
        return Finding(
            cause="completed",
            headline="Completed successfully: every container exited 0"
            if not stopped
            else "Completed successfully: the main containers exited 0, and the kubelet then stopped the "
            f"native sidecar{'s' if len(stopped) > 1 else ''} {', '.join(r.name for r in stopped)}, "
            "as it does once a pod's work is done (not a crash)",
            confidence="high",
            evidence=(
                "status.phase = Succeeded",
                *(
                    f"sidecar {r.name}: {r.termination.source}.exitCode = {r.termination.exit_code}"
                    for r in stopped
                    if r.termination is not None
                ),
            ),
            is_failure=False,
        )
    if phase == "Running" and regular and all(r.ready for r in regular):
        restarts = sum(r.restart_count for r in facts.containers)
        return Finding(
            cause="healthy",
            headline="Healthy: the pod is running and every container is ready",
            confidence="high",
            evidence=(
                "status.phase = Running",
                f"{len(regular)} of {len(regular)} containers ready, {restarts} restarts",
            ),
            is_failure=False,
        )
    if phase == "Running":
        unready = [r.name for r in regular if not r.ready]
        probes = [e for e in facts.events if e.reason == "Unhealthy" and e.message.startswith("Readiness")]
        return Finding(
            cause="not_ready",
            headline=f"Running but not ready: {', '.join(unready)} "
            + ("fail their readiness probe" if probes else "are not ready yet"),
            confidence="medium" if probes else "low",
            evidence=(f"not ready: {', '.join(unready)}", *(event_fact(e) for e in probes[:2])),
            steps=(EVENTS_STEP,),
        )
    waiting = [f"{r.name}: {r.state_reason}" for r in facts.containers if r.state_reason]
    return Finding(
        cause="pending" if phase == "Pending" else "unknown",
        headline=f"The pod is {phase}"
        + (f" ({'; '.join(waiting)})" if waiting else "")
        + "; no container has failed",
        confidence="low",
        evidence=(f"status.phase = {phase}", f"status.reason = {facts.reason}" if facts.reason else ""),
        steps=(EVENTS_STEP,),
        is_failure=phase != "Pending",
    )


def build_verdict(finding: Finding, facts: PodFacts, kb: KnowledgeBase) -> Verdict:
    """The finding with its knowledge-base explanation: runbook steps filled for this pod, and the link.

    A reason's runbook (OOMKilled, Evicted, BackoffLimitExceeded…) is specific to the story and is
    appended to the rule's own steps. An exit code's runbook covers every story that code can tell
    (the 137 runbook starts with memory), so it is appended only when the rule has no steps of its
    own; otherwise the runbook link carries it.
    """
    reason_explanation = kb.explain_reason(finding.reason_key) if finding.reason_key else None
    explanation = reason_explanation
    if explanation is None and finding.exit_code is not None:
        explanation = kb.explain_code(finding.exit_code)
    values = placeholder_values(facts, finding)
    raw = finding.steps
    if explanation is not None and (reason_explanation is not None or not raw):
        raw = raw + explanation.runbook_steps
    return _VERDICT(
        finding.cause,  # cause
        finding.headline,  # headline
        finding.confidence,  # confidence
        _unique_lines(finding.evidence),  # evidence
        _first_unique(raw, values, MAX_STEPS),  # next_steps
        explanation.runbook_url if explanation is not None else None,  # runbook_url
        finding.container,  # container
        finding.exit_code,  # exit_code
        finding.underlying,  # underlying
        explanation.title if explanation is not None else None,  # explanation_title
        finding.is_failure,  # is_failure
    )


def _unique_lines(lines: tuple[str, ...]) -> tuple[str, ...]:
    """The non-empty lines, each once, in order (rules leave "" where a fact does not apply)."""
    unique = dict.fromkeys(lines)
    unique.pop("", None)
    return tuple(unique)


def placeholder_values(facts: PodFacts, finding: Finding) -> dict[str, str]:
    """Values for runbook placeholders; unknown ones stay visible as `<node>`-style hints.

    `{owner}` is the pod's own controller (the Job of a CronJob's pod, the StatefulSet), except that a
    ReplicaSet is skipped for its Deployment: that is the object an engineer runs kubectl against.
    """
    values = {"namespace": facts.namespace, "pod": facts.name}
    if finding.container:
        values["container"] = finding.container
    if facts.node:
        values["node"] = facts.node
    owner = managing_owner(facts.owners)
    if owner is not None:
        values["owner_kind"] = owner.kind.lower()
        values["owner"] = owner.name
    if finding.exit_code is not None:
        values["code"] = str(finding.exit_code)
    return values


def managing_owner(owners: tuple[OwnerRef, ...]) -> OwnerRef | None:
    """The controller an engineer manages: the Deployment above a ReplicaSet, else the direct owner."""
    if not owners:
        return None
    if owners[0].kind == "ReplicaSet" and len(owners) > 1:
        return owners[1]
    return owners[0]


def _first_unique(
    steps: tuple[RunbookStep, ...], values: dict[str, str], limit: int
) -> tuple[RunbookStep, ...]:
    """The first `limit` steps, filled for this pod, without repeats (the same text and command, or a
    command already given); steps past the limit are never filled."""
    seen: set[tuple[str, str | None]] = set()
    commands: set[str] = set()
    unique: list[RunbookStep] = []
    for raw in steps:
        step = raw.filled(values)
        key = (step.text, step.command)
        command = step.command
        if key not in seen and (command is None or command not in commands):
            seen.add(key)
            if command is not None:
                commands.add(command)
            unique.append(step)
            if len(unique) == limit:
                break
    return tuple(unique)


_VERDICT = positional(
    Verdict,
    "cause",
    "headline",
    "confidence",
    "evidence",
    "next_steps",
    "runbook_url",
    "container",
    "exit_code",
    "underlying",
    "explanation_title",
    "is_failure",
)
"""`Verdict`, built positionally in this module (see `frozen.positional`)."""
