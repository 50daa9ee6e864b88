"""One ended container instance → the most likely story, trying the rules from the surest evidence down.

Order matters and is deliberate: what the kubelet or runtime recorded (OOMKilled, ContainerStatusUnknown,
StartError) beats what the log suggests, which beats what the bare number suggests. The number alone
decides only at the end, and then with the lowest confidence its meaning allows.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.diagnosis.crashes import (
    app_error,
    command_problem,
    exec_format,
    go_panic,
    native_crash,
    runtime_heap_oom,
    start_failure,
)
from bot.diagnosis.facts import PodFacts
from bot.diagnosis.findings import Finding, event_fact, termination_facts
from bot.diagnosis.model import ContainerReport, TerminationInfo
from bot.diagnosis.stops import (
    EVENTS_STEP,
    SIGKILL_CODE,
    SIGTERM_CODE,
    exited_zero,
    oom_killed,
    probe_kill,
    sigkill,
    sigterm,
    stopped_by_kubernetes,
)
from bot.knowledge.explanation import RunbookStep

Rule = Callable[[PodFacts, ContainerReport, TerminationInfo], Finding | None]

RUNTIME_UNKNOWN_CODE = 255
_NODE_LOSS_EVENTS = ("NodeNotReady", "TaintManagerEviction", "Rebooted")


def container_status_unknown(
    facts: PodFacts, report: ContainerReport, termination: TerminationInfo
) -> Finding | None:
    """The kubelet could not find the container: its 137 is made up, not a kill (exit-code-facts §4)."""
    if termination.reason != "ContainerStatusUnknown":
        return None
    evidence = list(termination_facts(termination))
    evidence.append("the 137 is synthetic: the kubelet writes it for a container it can no longer find")
    if facts.disruption is not None:
        evidence.append(f"condition DisruptionTarget reason = {facts.disruption.reason}")
    evidence.extend(event_fact(e) for e in facts.events if e.reason in _NODE_LOSS_EVENTS)
    return Finding(
        cause="container_status_unknown",
        headline="The container was lost, not killed (ContainerStatusUnknown): its node or container runtime "
        "went away, or the pod was evicted or force-deleted",
        confidence="high",
        evidence=tuple(evidence),
        steps=(
            RunbookStep("Check whether the node is still there and Ready", "kubectl get node {node}"),
            EVENTS_STEP,
        ),
        container=report.name,
        exit_code=termination.exit_code,
        reason_key="ContainerStatusUnknown",
    )


def runtime_restarted(
    facts: PodFacts, report: ContainerReport, termination: TerminationInfo
) -> Finding | None:
    """containerd's reason Unknown / 255: the runtime or the node restarted under a running container."""
    if termination.reason != "Unknown" or termination.exit_code != RUNTIME_UNKNOWN_CODE:
        return None
    reboots = [e for e in facts.events if e.reason in ("Rebooted", "SandboxChanged", "NodeNotReady")]
    return Finding(
        cause="runtime_restarted",
        headline="The node or its container runtime restarted while the container ran (reason Unknown, 255): "
        "not an application crash",
        confidence="high",
        evidence=(*termination_facts(termination), *(event_fact(e) for e in reboots)),
        steps=(
            RunbookStep(
                "Check the node's uptime, conditions and recent events", "kubectl describe node {node}"
            ),
        ),
        container=report.name,
        exit_code=termination.exit_code,
        reason_key="Unknown",
    )


RULES: tuple[Rule, ...] = (
    container_status_unknown,
    start_failure,
    exec_format,
    runtime_restarted,
    stopped_by_kubernetes,
    probe_kill,
    runtime_heap_oom,
    go_panic,
    command_problem,
    native_crash,
)


def classify(facts: PodFacts, report: ContainerReport, termination: TerminationInfo) -> Finding:
    """The story of one termination; always returns one (the last resort is "the application exited")."""
    if termination.reason == "OOMKilled":
        return oom_killed(facts, report, termination)
    for rule in RULES:
        finding = rule(facts, report, termination)
        if finding is not None:
            return finding
    if termination.exit_code == SIGKILL_CODE:
        return sigkill(facts, report, termination)
    if termination.exit_code == SIGTERM_CODE:
        return sigterm(facts, report, termination)
    if termination.exit_code == 0:
        return exited_zero(facts, report, termination)
    return app_error(facts, report, termination)
