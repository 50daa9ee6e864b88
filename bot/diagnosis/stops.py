"""Containers that were stopped rather than crashed: OOM kills, probe kills, deletions, SIGKILL, SIGTERM, 0.

This is where "137 = OOM" goes wrong in every other tool. 137 is any SIGKILL: the kernel OOM killer,
the kubelet after a grace period the app ignored, a probe kill of a hung app, or a number the kubelet
made up for a container it lost. Each story is told only with its own evidence; a 137 without OOM
evidence is never called an OOM (see exit-code-facts §5).
"""

from __future__ import annotations

import posixpath
from datetime import datetime, timedelta

from bot.diagnosis.facts import PodFacts, last_error_line
from bot.diagnosis.findings import (
    Finding,
    duration,
    event_fact,
    exit_fact,
    quote,
    ran_for_fact,
    reason_fact,
    stamp,
    termination_facts,
)
from bot.diagnosis.jobs import job_stop_reason
from bot.diagnosis.lifecycle import signal_number, stop_exit_code
from bot.diagnosis.model import ContainerReport, EventSummary, TerminationInfo
from bot.diagnosis.owners import LONG_RUNNING_KINDS
from bot.diagnosis.podjson import string_list
from bot.knowledge.explanation import RunbookStep

SIGKILL_CODE = 137
SIGTERM_CODE = 143
GO_PID1_SIGTERM_CODE = 2
NODE_OOM_REASONS = ("SystemOOM", "OOMKilling")
NODE_OOM_WINDOW = timedelta(minutes=5)
LOOP_RESTARTS = 2
"""Restarts that make a repeated exit a loop rather than a one-off (CrashLoopBackOff always is one)."""
GRACE_TOLERANCE = timedelta(seconds=1)
STOP_SKEW = timedelta(seconds=2)
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "busybox"})
_SIGNAL_DEAF_AS_PID1 = frozenset({"node", "npm", "yarn", "python", "python3"})

_DISRUPTIONS = {
    "PreemptionByScheduler": "preempted by the scheduler for a higher-priority pod",
    "DeletionByTaintManager": "deleted by the taint manager (its node was tainted NoExecute)",
    "EvictionByEvictionAPI": "evicted through the Eviction API (kubectl drain, autoscaler, descheduler)",
    "DeletionByPodGC": "deleted by the pod garbage collector (its node is gone)",
    "TerminationByKubelet": "terminated by the kubelet (node pressure, preemption or node shutdown)",
}

LOGS_STEP = RunbookStep(
    "Read the last lines the previous instance wrote",
    "kubectl -n {namespace} logs {pod} -c {container} --previous --tail=50",
)
EVENTS_STEP = RunbookStep(
    "See every event of the pod, oldest first",
    "kubectl -n {namespace} get events --field-selector involvedObject.name={pod} --sort-by=.lastTimestamp",
)
_USAGE_STEP = RunbookStep(
    "Compare the container's memory use with its limit (needs metrics-server)",
    "kubectl -n {namespace} top pod {pod} --containers",
)
_NODE_STEP = RunbookStep(
    "Check the node's memory pressure, allocations and OOM events", "kubectl describe node {node}"
)
_REQUESTS_STEP = RunbookStep(
    "Set requests.memory to what the container really uses (and a limit), so the scheduler stops "
    "overcommitting the node"
)
_POD_LIMIT_STEP = RunbookStep(
    "Raise the pod-level limit (spec.resources.limits.memory), or give the hungriest container a limit of "
    "its own so it, not its neighbours, is the one bounded",
    "kubectl -n {namespace} get pod {pod} -o jsonpath='{.spec.resources}'",
)
_PID1_STEP = RunbookStep(
    'Make the app PID 1 or forward signals: exec-form ENTRYPOINT ["app"], `exec app` at the end of '
    "entrypoint scripts, or an init such as tini; then check what PID 1 is",
    "kubectl -n {namespace} exec {pod} -c {container} -- cat /proc/1/cmdline",
)
_SHUTDOWN_STEP = RunbookStep(
    "Make shutdown finish within terminationGracePeriodSeconds (stop accepting work on SIGTERM, drain, "
    "exit), or raise the grace period if the work really needs longer"
)


# ------------------------------------------------------------------------------------------- OOM


def node_oom_events(facts: PodFacts, termination: TerminationInfo) -> list[EventSummary]:
    """Node-level OOM events (kubelet SystemOOM, node-problem-detector OOMKilling) near the exit."""
    events = facts.node_events(NODE_OOM_REASONS)
    finished = termination.finished_at
    if finished is None:
        return events
    return [e for e in events if e.last_seen is None or abs(e.last_seen - finished) <= NODE_OOM_WINDOW]


def oom_killed(facts: PodFacts, report: ContainerReport, termination: TerminationInfo) -> Finding:
    """reason OOMKilled: against the limit in force (the container's, after any resize, or the pod's),
    or the node's memory (no limit at all, or the node reported an OOM kill at the same moment)."""
    node_events = node_oom_events(facts, termination)
    limit = report.memory_limit
    evidence = [*termination_facts(termination)]
    evidence.append(report.memory_limit_fact or f"no limits.memory set (QoS {facts.qos_class})")
    if report.memory_request:
        evidence.append(f"requests.memory = {report.memory_request}")
    evidence.extend(event_fact(event) for event in node_events)
    if report.restart_count:
        evidence.append(f"restartCount = {report.restart_count}")
    child = _oom_exit_note(termination, report)

    def oom(cause: str, headline: str, steps: tuple[RunbookStep, ...]) -> Finding:
        return Finding(
            cause=cause,
            headline=headline,
            confidence="high",
            evidence=tuple(evidence),
            steps=steps,
            container=report.name,
            exit_code=termination.exit_code,
            reason_key="OOMKilled",
        )

    if limit is None or node_events:
        why = "; it has no memory limit, so only the node's memory bounds it" if limit is None else ""
        return oom(
            "node_oom",
            "OOMKilled by the node: the node ran out of memory and the kernel killed this container"
            + why
            + child,
            (_NODE_STEP, _REQUESTS_STEP),
        )
    if report.memory_limit_source == "pod":
        return oom(
            "pod_oom",
            f"OOMKilled by the pod's own memory limit ({limit}, spec.resources): the pod's containers "
            f"together used it up and the kernel killed this one{child}; not a node OOM",
            (_USAGE_STEP, _POD_LIMIT_STEP),
        )
    resized = " in force after an in-place resize" if report.spec_memory_limit else ""
    return oom(
        "oom_killed",
        f"OOMKilled: the container hit its memory limit ({limit}{resized}) and the kernel killed it{child}",
        (_USAGE_STEP,),
    )


def _oom_exit_note(termination: TerminationInfo, report: ContainerReport) -> str:
    """What a non-137 exit under reason OOMKilled says: the main process was not the victim."""
    code = termination.exit_code
    if code == SIGKILL_CODE:
        return ""
    if code == SIGTERM_CODE or code == stop_code(report):
        return (
            f" (but exit {code}: the main process ended on its stop signal; the OOM kill hit another process "
            "in the container, possibly earlier)"
        )
    return f" (exit {code}, not 137: a child process was the victim)"


def unrecorded_node_oom(
    facts: PodFacts, report: ContainerReport, termination: TerminationInfo, node_events: list[EventSummary]
) -> Finding:
    """A 137 not recorded as OOMKilled while the node reported an OOM kill at the same moment."""
    evidence = [*termination_facts(termination), *(event_fact(event) for event in node_events)]
    victim = _victim_matches(facts, report, node_events)
    if victim:
        evidence.append(f"the OOM victim `{victim}` is this container's program")
    evidence.append(
        f"limits.memory = {report.memory_limit}" if report.memory_limit else "no limits.memory set"
    )
    if report.memory_request:
        evidence.append(f"requests.memory = {report.memory_request} (QoS {facts.qos_class})")
    return Finding(
        cause="node_oom",
        headline="Probably a node-level OOM: the node's OOM killer fired as this container died "
        "(137, but not recorded as OOMKilled)",
        confidence="medium",
        evidence=tuple(evidence),
        steps=(_NODE_STEP, _REQUESTS_STEP),
        container=report.name,
        exit_code=termination.exit_code,
        reason_key="OOMKilled",
    )


def _victim_matches(facts: PodFacts, report: ContainerReport, events: list[EventSummary]) -> str | None:
    """The OOM victim's process name when it is this container's program (`java`, `celery`)."""
    command = string_list(facts.container_specs.get(report.name, {}).get("command"))
    program = posixpath.basename(command[0]) if command else None
    if not program:
        return None
    for event in events:
        if f"victim process: {program}," in event.message or f"({program})" in event.message:
            return program
    return None


# ------------------------------------------------------------------- stopped by Kubernetes itself


def stop_code(report: ContainerReport) -> int | None:
    """128 + the container's custom stop signal (KEP-4960): its exit when it dies of the requested stop."""
    return stop_exit_code(report.stop_signal)


def stop_signal_fact(report: ContainerReport) -> str:
    """`stop signal = SIGQUIT (3): …`, with what a death by it looks like."""
    number = signal_number(report.stop_signal)
    exit_note = f"; dying of it exits {128 + number}" if number else ""
    return (
        f"stop signal = {report.stop_signal} (lifecycle.stopSignal / status stopSignal): the kubelet stops "
        f"this container with it instead of SIGTERM{exit_note}"
    )


def stopped_by_kubernetes(
    facts: PodFacts, report: ContainerReport, termination: TerminationInfo
) -> Finding | None:
    """The pod was being deleted or disrupted when this instance ended: a stop, not a crash."""
    why = _stop_cause(facts, termination)
    if why is None:
        return None
    code = termination.exit_code
    evidence = [*termination_facts(termination)]
    if facts.deletion_at is not None:
        evidence.append(f"metadata.deletionTimestamp = {stamp(facts.deletion_at)} (the pod is being deleted)")
    if facts.disruption is not None:
        message = f": {quote(facts.disruption.message)}" if facts.disruption.message else ""
        evidence.append(f"condition DisruptionTarget reason = {facts.disruption.reason}{message}")
    evidence.extend(event_fact(e) for e in facts.container_events(report.name, ("Killing",), termination))
    requested = stop_code(report)
    if report.stop_signal:
        evidence.append(stop_signal_fact(report))
    if code == SIGKILL_CODE:
        return _grace_overrun(facts, report, termination, why, evidence)
    if requested is not None and code == requested:
        exited_on = f"the stop signal it asked for, {report.stop_signal} ({code} = 128 + {code - 128})"
    elif code in (0, SIGTERM_CODE):
        exited_on = f"SIGTERM ({code})"
    else:
        exited_on = None
    if exited_on is not None:
        return Finding(
            cause="normal_shutdown",
            headline=f"Normal shutdown, not a crash: the pod was {why} and the container exited on "
            f"{exited_on}",
            confidence="high",
            evidence=tuple(evidence),
            steps=(EVENTS_STEP,),
            container=report.name,
            exit_code=code,
            is_failure=False,
        )
    hint = ""
    if code == GO_PID1_SIGTERM_CODE:
        hint = "; a Go program running as PID 1 without signal.Notify exits 2 on SIGTERM"
    return Finding(
        cause="normal_shutdown",
        headline=f"Stopped on purpose: the pod was {why}; the app answered SIGTERM with exit {code}{hint}",
        confidence="medium",
        evidence=tuple(evidence),
        steps=(EVENTS_STEP, LOGS_STEP),
        container=report.name,
        exit_code=code,
        is_failure=False,
    )


def _stop_cause(facts: PodFacts, termination: TerminationInfo) -> str | None:
    """Why Kubernetes stopped the pod, if it did so before this instance finished."""
    requested = facts.deletion_requested_at
    disruption = facts.disruption
    if disruption is not None and _ended_after(termination, disruption.since):
        return _DISRUPTIONS.get(disruption.reason, f"disrupted ({disruption.reason})")
    if requested is not None and _ended_after(termination, requested):
        return job_stop_reason(facts.job) or "deleted (a rollout, a scale-down or kubectl delete)"
    return None


def _ended_after(termination: TerminationInfo, moment: datetime | None) -> bool:
    """True when the instance ended after `moment` (allowing for clock skew), or either time is unknown."""
    finished = termination.finished_at
    return finished is None or moment is None or finished >= moment - STOP_SKEW


def _grace_overrun(
    facts: PodFacts, report: ContainerReport, termination: TerminationInfo, why: str, evidence: list[str]
) -> Finding:
    grace = facts.effective_grace_seconds
    overran = _quote_grace_overrun(facts, report, termination, grace, evidence)
    return Finding(
        cause="grace_period_overrun",
        headline=f"The pod was {why}, but the app did not exit on {report.stop_signal or 'SIGTERM'}: it was "
        f"SIGKILLed after the {grace}s grace period (137, not an OOM)",
        confidence="high" if overran else "medium",
        evidence=tuple(evidence),
        steps=(_PID1_STEP, _SHUTDOWN_STEP),
        container=report.name,
        exit_code=termination.exit_code,
    )


def _quote_grace_overrun(
    facts: PodFacts, report: ContainerReport, termination: TerminationInfo, grace: int, evidence: list[str]
) -> bool:
    """Add how long the instance ran after the stop and the PID-1 hint to `evidence`; True when it ran to
    the end of its grace period (the SIGKILL came from the timeout, not from an OOM)."""
    overran, timing = _overran_grace(facts, report, termination, grace)
    evidence.extend(fact for fact in (timing, pid1_hint(facts, report)) if fact)
    return overran


def _overran_grace(
    facts: PodFacts, report: ContainerReport, termination: TerminationInfo, grace: int
) -> tuple[bool, str | None]:
    """Whether the instance ran to the end of its grace period after the stop, with the timing quoted."""
    finished = termination.finished_at
    if finished is None:
        return False, None
    stops = [
        e
        for e in facts.container_events(report.name, ("Killing",), termination)
        if e.last_seen is not None and e.last_seen <= finished
    ]
    if stops and stops[0].last_seen is not None:
        waited = finished - stops[0].last_seen
        overran = waited + GRACE_TOLERANCE >= timedelta(seconds=grace)
        return overran, f"it finished {duration(waited)} after the Killing event (grace period {grace}s)"
    if facts.deletion_at is not None:
        overran = finished + GRACE_TOLERANCE >= facts.deletion_at
        relation = "at or after" if overran else "before"
        return overran, (
            f"finishedAt {stamp(finished)} is {relation} the end of the grace period "
            f"(deletionTimestamp {stamp(facts.deletion_at)})"
        )
    return False, None


def pid1_hint(facts: PodFacts, report: ContainerReport) -> str | None:
    """Why SIGTERM may never have reached the app: what runs as PID 1 (program name only, no arguments)."""
    command = string_list(facts.container_specs.get(report.name, {}).get("command"))
    stop = report.stop_signal or "SIGTERM"
    if not command:
        return (
            "PID 1 is the image's ENTRYPOINT: if it is shell form (`ENTRYPOINT app --flag`), "
            f"{stop} never reaches the app"
        )
    program = posixpath.basename(command[0])
    if program in _SHELLS and "-c" in command[1:3]:
        return (
            f"PID 1 is a shell (`{command[0]} -c …`): it neither handles {stop} nor passes it on, "
            "so the app never heard it"
        )
    if program in _SIGNAL_DEAF_AS_PID1:
        return f"PID 1 is `{program}`, which ignores {stop} as PID 1 unless the app installs a handler"
    return None


# ------------------------------------------------------------------------------------ probe kills


def probe_kill(facts: PodFacts, report: ContainerReport, termination: TerminationInfo) -> Finding | None:
    """Killed by the kubelet after liveness (or startup) probe failures: Killing + Unhealthy events."""
    kills = [
        e
        for e in facts.container_events(report.name, ("Killing",), termination)
        if "failed liveness probe" in e.message or "failed startup probe" in e.message
    ]
    failures = [
        e
        for e in facts.container_events(report.name, ("Unhealthy",), termination)
        if e.message.startswith(("Liveness probe failed", "Startup probe failed"))
    ]
    if not kills and not failures:
        return None
    if not kills and termination.exit_code not in (SIGKILL_CODE, SIGTERM_CODE):
        return None
    kind = "startup" if any("startup" in e.message.lower() for e in kills + failures) else "liveness"
    evidence = [event_fact(e) for e in failures + kills]
    probe = next((p for p in report.probes if p.kind == kind), None)
    if probe is not None:
        evidence.append(probe.describe())
    evidence.extend(termination_facts(termination))
    ran = ran_for_fact(termination)
    if ran:
        evidence.append(ran)
    code = termination.exit_code
    if code == SIGKILL_CODE:
        tail = ": it did not exit on SIGTERM and was SIGKILLed after the grace period (137)"
        hint = pid1_hint(facts, report)
        if hint:
            evidence.append(hint)
    else:
        tail = f" and exited {code} on the kubelet's {report.stop_signal or 'SIGTERM'}"
    return Finding(
        cause="liveness_probe_kill",
        headline=f"Killed by the kubelet after failing its {kind} probe{tail}",
        confidence="high" if kills else "medium",
        evidence=tuple(evidence),
        steps=(
            RunbookStep(
                "Find out why the probe stopped answering (a hang, a dependency, overload): the last log "
                "lines show its final moments",
                "kubectl -n {namespace} logs {pod} -c {container} --previous --tail=50",
            ),
            RunbookStep(
                "If the app is only slow (GC pauses, load, slow start), loosen the probe: raise "
                "timeoutSeconds / failureThreshold, or add a startupProbe"
            ),
            EVENTS_STEP,
        ),
        container=report.name,
        exit_code=code,
    )


# ------------------------------------------------------------------------------- SIGKILL, SIGTERM


def sigkill(facts: PodFacts, report: ContainerReport, termination: TerminationInfo) -> Finding:
    """A 137 with no OOMKilled reason, no probe kill and no deletion."""
    node_events = node_oom_events(facts, termination)
    if node_events:
        return unrecorded_node_oom(facts, report, termination, node_events)
    stops = [
        e
        for e in facts.container_events(report.name, ("Killing",), termination)
        if e.message.startswith("Stopping container")
    ]
    evidence = [*termination_facts(termination)]
    if stops:
        evidence.extend(event_fact(e) for e in stops)
        grace = facts.grace_seconds
        overran = _quote_grace_overrun(facts, report, termination, grace, evidence)
        return Finding(
            cause="grace_period_overrun",
            headline="The kubelet stopped the container and it did not exit on SIGTERM: SIGKILLed after "
            f"the {grace}s grace period (137, not an OOM)",
            confidence="high" if overran else "medium",
            evidence=tuple(evidence),
            steps=(_PID1_STEP, _SHUTDOWN_STEP, EVENTS_STEP),
            container=report.name,
            exit_code=termination.exit_code,
        )
    evidence.append(_absent_evidence(facts))
    ran = ran_for_fact(termination)
    if ran:
        evidence.append(ran)
    return Finding(
        cause="sigkill_unexplained",
        headline="Killed by SIGKILL (137), but nothing on record says by whom: not proven to be an OOM "
        "(could be an unrecorded or node-level OOM, `kill -9`, or a runtime kill)",
        confidence="low",
        evidence=tuple(evidence),
        steps=(
            RunbookStep(
                "Look for kernel OOM kills on the node around the exit time",
                "kubectl debug node/{node} -it --image=busybox --profile=sysadmin -- "
                "chroot /host dmesg -T | grep -iE 'killed process|out of memory'",
            ),
            _USAGE_STEP,
            EVENTS_STEP,
        ),
        container=report.name,
        exit_code=termination.exit_code,
    )


def _absent_evidence(facts: PodFacts) -> str:
    """What was looked for and not found, and what could not be looked at."""
    unread = [
        what
        for what, missing in (
            ("the pod's events (probe kills)", facts.events_unavailable),
            ("the node's events (node OOM)", facts.node_events_unavailable),
        )
        if missing
    ]
    if unread:
        return (
            "no OOMKilled reason and no deletion on record; "
            + " and ".join(unread)
            + " could not be read, so those causes cannot be ruled out"
        )
    return "no OOMKilled reason, no OOM event on the node, no probe failure and no deletion on record"


def sigterm(facts: PodFacts, report: ContainerReport, termination: TerminationInfo) -> Finding:
    """A 143 that Kubernetes did not cause (no deletion, disruption or probe kill)."""
    evidence = [*termination_facts(termination)]
    looping = report.crash_looping or report.restart_count >= LOOP_RESTARTS
    if report.restart_count:
        evidence.append(f"restartCount = {report.restart_count}")
    evidence.append("no deletion, DisruptionTarget or probe kill on record")
    line = last_error_line(facts.log(report.name))
    if line:
        evidence.append(f"last log line: “{quote(line)}”")
    if looping:
        return Finding(
            cause="sigterm_restart_loop",
            headline="Exits 143 (SIGTERM) again and again, yet nothing in Kubernetes stopped it: a process "
            "inside the container (a supervisor, the entrypoint script, the app itself) sends SIGTERM or "
            "exits 143",
            confidence="medium",
            evidence=tuple(evidence),
            steps=(LOGS_STEP, EVENTS_STEP),
            container=report.name,
            exit_code=termination.exit_code,
        )
    return Finding(
        cause="sigterm_stop",
        headline="Stopped by SIGTERM (143); nothing on record says who sent it",
        confidence="low",
        evidence=tuple(evidence),
        steps=(EVENTS_STEP, LOGS_STEP),
        container=report.name,
        exit_code=termination.exit_code,
    )


# ----------------------------------------------------------------------------------------- exit 0


def exited_zero(facts: PodFacts, report: ContainerReport, termination: TerminationInfo) -> Finding:
    """Exit 0: success, unless a controller that only knows `restartPolicy: Always` keeps restarting it."""
    evidence = [exit_fact(termination)]
    reason = reason_fact(termination)
    if reason:
        evidence.append(reason)
    owner = next((o for o in facts.owners if o.kind in LONG_RUNNING_KINDS), None)
    top = facts.owners[-1] if facts.owners else owner
    restarted = facts.restart_policy == "Always" or report.kind == "sidecar"
    if restarted and (owner is not None or report.restart_count > 0):
        if report.restart_count:
            evidence.append(f"restartCount = {report.restart_count}")
        if report.crash_looping:
            evidence.append("state.waiting.reason = CrashLoopBackOff")
        evidence.append(f"spec.restartPolicy = {facts.restart_policy}")
        who = f"{top.kind} {top.name}" if top is not None else "the pod's restartPolicy: Always"
        looping = report.crash_looping or report.restart_count >= LOOP_RESTARTS
        what = "restarts it forever" if looping else "restarted it"
        return Finding(
            cause="completed_under_controller",
            headline=f"The process finishes successfully (exit 0, Completed), but {who} {what}: run one-shot "
            "work as a Job or CronJob, or keep the server in the foreground",
            confidence="high" if owner is not None and looping else "medium",
            evidence=tuple(evidence),
            steps=(
                RunbookStep("If the work is one-shot (a migration, a script), make it a Job or CronJob"),
                RunbookStep(
                    "If it is a server, make sure it stays in the foreground (e.g. nginx -g 'daemon off;', "
                    "no trailing `&` in the start script); check the command",
                    "kubectl -n {namespace} get pod {pod} -o jsonpath='{.spec.containers[*].command}'",
                ),
            ),
            container=report.name,
            exit_code=0,
            reason_key="Completed",
        )
    return Finding(
        cause="completed",
        headline="Completed successfully (exit 0)",
        confidence="high",
        evidence=tuple(evidence),
        container=report.name,
        exit_code=0,
        is_failure=False,
    )
