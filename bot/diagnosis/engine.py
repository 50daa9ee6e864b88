"""`diagnose(evidence, kb, now) -> Diagnosis`: the pure function behind `/exitcode pod` and the alerts.

No I/O and no clock: `now` is passed in, so the same evidence always gives the same diagnosis (tests,
benchmarks and replays of recorded pods rely on that).
"""

from __future__ import annotations

from datetime import datetime

from bot.diagnosis.containers import container_reports
from bot.diagnosis.events import parse_events, relevant_events
from bot.diagnosis.evidence import PodEvidence
from bot.diagnosis.facts import pod_facts
from bot.diagnosis.model import ContainerReport, Diagnosis, LogTail
from bot.diagnosis.owners import owner_chain
from bot.diagnosis.podjson import dig, text
from bot.diagnosis.verdict import build_verdict, decide
from bot.knowledge.base import KnowledgeBase

MAX_LOG_LINES = 200
"""However many lines were gathered, a diagnosis keeps at most this many per container."""


def diagnose(evidence: PodEvidence, kb: KnowledgeBase, now: datetime) -> Diagnosis:
    """Why this pod's containers ended (or that they did not), with the evidence and next steps."""
    pod = evidence.pod
    containers = container_reports(pod, kb, now)
    events = parse_events(evidence.events)
    owners = owner_chain(pod, evidence.owners)
    facts = pod_facts(evidence, containers, events, owners)
    verdict = build_verdict(decide(facts), facts, kb)
    return Diagnosis(
        namespace=facts.namespace,
        pod=facts.name,
        uid=text(dig(pod, "metadata", "uid")),
        phase=facts.phase,
        pod_reason=facts.reason,
        pod_message=facts.message,
        node=facts.node,
        qos_class=facts.qos_class,
        created_at=facts.created_at,
        deletion_at=facts.deletion_at,
        owners=owners,
        containers=containers,
        events=relevant_events(events, since=facts.created_at),
        log_tails=_log_tails(evidence, containers, verdict.container) if evidence.log_tails else (),
        verdict=verdict,
        notes=tuple(
            f"{error.source.capitalize()} could not be read: {error.message}"
            for error in evidence.partial_errors
        )
        if evidence.partial_errors
        else (),
        diagnosed_at=now,
    )


def _log_tails(
    evidence: PodEvidence, containers: tuple[ContainerReport, ...], first: str | None
) -> tuple[LogTail, ...]:
    """Non-empty log tails, the verdict's container first, then in spec order."""
    if len(evidence.log_tails) == 1:  # the common case: one container's tail, nothing to order
        names: list[str] = list(evidence.log_tails)
    else:
        order = [c.name for c in containers]
        names = sorted(
            evidence.log_tails,
            key=lambda name: (name != first, order.index(name) if name in order else len(order)),
        )
    tails: list[LogTail] = []
    for name in names:
        lines = evidence.log_tails[name].rstrip("\n").splitlines()
        if any(line.strip() for line in lines):
            tails.append(LogTail(container=name, lines=tuple(lines[-MAX_LOG_LINES:])))
    return tuple(tails)
