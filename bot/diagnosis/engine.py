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
from bot.diagnosis.frozen import positional
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
    return _DIAGNOSIS(
        facts.namespace,  # namespace
        facts.name,  # pod
        text(dig(pod, "metadata", "uid")),  # uid
        facts.phase,  # phase
        facts.reason,  # pod_reason
        facts.message,  # pod_message
        facts.node,  # node
        facts.qos_class,  # qos_class
        facts.created_at,  # created_at
        facts.deletion_at,  # deletion_at
        owners,  # owners
        containers,  # containers
        relevant_events(events, since=facts.created_at),  # events
        _log_tails(evidence, containers, verdict.container) if evidence.log_tails else (),  # log_tails
        verdict,  # verdict
        tuple(  # notes
            f"{error.source.capitalize()} could not be read: {error.message}"
            for error in evidence.partial_errors
        )
        if evidence.partial_errors
        else (),
        now,  # diagnosed_at
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
        log = evidence.log_tails[name]
        # a line with something but whitespace exists exactly when the text has it: every line break
        # `splitlines` splits at is whitespace to `str.strip`
        if log.strip():
            lines = log.rstrip("\n").splitlines()
            tails.append(LogTail(name, tuple(lines[-MAX_LOG_LINES:])))
    return tuple(tails)


_DIAGNOSIS = positional(
    Diagnosis,
    "namespace",
    "pod",
    "uid",
    "phase",
    "pod_reason",
    "pod_message",
    "node",
    "qos_class",
    "created_at",
    "deletion_at",
    "owners",
    "containers",
    "events",
    "log_tails",
    "verdict",
    "notes",
    "diagnosed_at",
)
"""`Diagnosis`, built positionally in this module (see `frozen.positional`)."""
