"""The diagnose use case: a `pod`/`ns` query in, an `Answer` out; the same for every surface.

Collaborators are explicit: a `ClusterReader` (or None: no cluster, and the sentence why), the knowledge
base, the namespace access policy, a clock and an optional metrics observer. Names are checked and
access decided before the cluster is asked anything; every cluster problem becomes a `Refusal` with the
one sentence to show. What the answer looks like is the renderers' business (`bot.render.answer_*`), and
how it reaches the user the surface's (`bot.application.replies`, `bot.cli`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from bot.access import NamespaceAccess, SlackChannel
from bot.command import QueryKind
from bot.diagnosis.answers import (
    NO_CLUSTER,
    Answer,
    IncidentsAnswer,
    OpenIncident,
    PodAnswer,
    Refusal,
    TriageAnswer,
    WorkloadMatch,
    outcome,
    pod_line,
    refusal_for,
    workload_named,
)
from bot.diagnosis.engine import diagnose
from bot.diagnosis.gather import gather_evidence
from bot.diagnosis.model import Diagnosis
from bot.diagnosis.names import parse_target, suggest_close_names, validate_namespace
from bot.diagnosis.podjson import dig, text
from bot.diagnosis.ports import ClusterError, ClusterNotConfigured, ClusterReader, InvalidName, NotFound
from bot.diagnosis.triage import latest_failure, select_pods_by_prefix, triage_namespace
from bot.knowledge.base import KnowledgeBase

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


IncidentSource = Callable[[], Awaitable[Sequence[OpenIncident]]]
"""The open alert incidents, as the alert service's ledger holds them (raises `ClusterError`)."""


class AnswerMetrics(Protocol):
    """Where answers are counted and timed (`bot.metrics.DiagnoseMetrics`)."""

    def observe(self, kind: str, outcome: str, seconds: float) -> None: ...


async def diagnose_pod(
    reader: ClusterReader,
    knowledge: KnowledgeBase,
    namespace: str,
    name: str,
    *,
    log_lines: int,
    now: datetime | None = None,
) -> Diagnosis:
    """Read one pod (and its events, owners and log tails) and diagnose it.

    Shared by `pod` queries and an alert's "Re-diagnose" button, so both say the same thing about the
    same pod. Raises `ClusterError`: `InvalidName` before any call, `NotFound`, `Forbidden`,
    `ClusterTimeout`, `ClusterUnreachable`; each carries `user_message`, the sentence to show.
    """
    evidence = await gather_evidence(reader, namespace, name, log_lines=log_lines)
    return diagnose(evidence, knowledge, now if now is not None else utc_now())


class DiagnoseService:
    """Answers `pod` and `ns` queries; built once, shared by Slack, console and CLI."""

    def __init__(
        self,
        knowledge: KnowledgeBase,
        reader: ClusterReader | None,
        *,
        access: NamespaceAccess | None = None,
        default_namespace: str = "default",
        log_lines: int = 20,
        unavailable: str | None = None,
        clock: Callable[[], datetime] | None = None,
        metrics: AnswerMetrics | None = None,
        incidents: IncidentSource | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.reader = reader
        self.access = access if access is not None else NamespaceAccess()
        self.default_namespace = default_namespace
        self.log_lines = log_lines
        self.unavailable = unavailable or NO_CLUSTER
        self.clock = clock if clock is not None else utc_now
        self.metrics = metrics
        self.incidents = incidents
        """Where the open alert incidents are read (the alert service's ledger); None: no watcher."""

    async def diagnose_pod(self, namespace: str, name: str) -> Diagnosis:
        """`diagnose_pod()` with this service's reader, log lines and clock; raises `ClusterError`
        (`ClusterNotConfigured` when the bot has no cluster). Access is the caller's decision:
        `self.access.denial(namespace, channel)`."""
        if self.reader is None:
            raise ClusterNotConfigured(self.unavailable)
        return await diagnose_pod(
            self.reader, self.knowledge, namespace, name, log_lines=self.log_lines, now=self.clock()
        )

    async def open_incidents(self, channel: SlackChannel | None) -> list[OpenIncident]:
        """The open alert incidents `channel` may see (the same access policy as every query); none
        when this bot runs no alert watcher, or its ledger cannot be read right now."""
        if self.incidents is None:
            return []
        try:
            found = await self.incidents()
        except ClusterError as error:
            log.warning("open incidents unreadable: %s", error.user_message)
            return []
        return [item for item in found if self.access.denial(item.namespace, channel) is None]

    async def answer(self, kind: QueryKind, argument: str, *, channel: SlackChannel | None = None) -> Answer:
        """The answer to `pod ARGUMENT` or `ns ARGUMENT` (asked from `channel`, in Slack).

        Never raises a `ClusterError`: every cluster problem becomes a `Refusal`.
        """
        started = time.perf_counter()
        if kind == "pod":
            answer = await self._pod(argument, channel)
        elif kind == "incidents":
            answer = IncidentsAnswer(tuple(await self.open_incidents(channel)))
        else:
            answer = await self._namespace(argument, channel)
        if isinstance(answer, Refusal) and answer.kind in ("forbidden", "timeout", "unreachable"):
            log.warning("diagnose %s %r: %s", kind, argument[:100], answer.message)
        if self.metrics is not None:
            self.metrics.observe(kind, outcome(answer), time.perf_counter() - started)
        return answer

    async def _pod(self, argument: str, channel: SlackChannel | None) -> Answer:
        try:
            target = parse_target(argument, self.default_namespace)
        except InvalidName as error:
            return refusal_for(error, usage="pod")
        denied = self.access.denial(target.namespace, channel)
        if denied is not None:
            return Refusal("denied", denied)
        if self.reader is None:
            return Refusal("not_configured", self.unavailable)
        try:
            return PodAnswer(await self.diagnose_pod(target.namespace, target.name))
        except NotFound as missing:
            return await self._by_prefix(self.reader, target.namespace, target.name, missing)
        except ClusterError as error:
            return refusal_for(error)

    async def _by_prefix(
        self, reader: ClusterReader, namespace: str, query: str, missing: NotFound
    ) -> Answer:
        """No pod has that exact name: a workload's (or a name prefix's) most recently crashed pod, or
        "not found" with the closest names in the namespace."""
        try:
            pods = await reader.list_pods(namespace)
        except ClusterError:  # listing is forbidden (or failing): the pod is still not found
            return Refusal("not_found", missing.user_message)
        matches = select_pods_by_prefix(pods, query)
        if not matches:
            names = [name for pod in pods if (name := text(dig(pod, "metadata", "name")))]
            close = suggest_close_names(query, names)
            return Refusal("not_found", missing.user_message, tuple(f"{namespace}/{name}" for name in close))
        chosen, *others = matches
        name = text(dig(chosen, "metadata", "name")) or query
        try:
            diagnosis = await self.diagnose_pod(namespace, name)
        except ClusterError as error:
            return refusal_for(error)
        selection = WorkloadMatch(
            query=query,
            workload=workload_named(chosen, query),
            crashed=latest_failure(chosen) is not None,
            others=tuple(pod_line(pod) for pod in others),
        )
        return PodAnswer(diagnosis, selection)

    async def _namespace(self, argument: str, channel: SlackChannel | None) -> Answer:
        try:
            namespace = validate_namespace(argument.strip())
        except InvalidName as error:
            return refusal_for(error, usage="ns")
        denied = self.access.denial(namespace, channel)
        if denied is not None:
            return Refusal("denied", denied)
        if self.reader is None:
            return Refusal("not_configured", self.unavailable)
        try:
            pods = await self.reader.list_pods(namespace)
        except ClusterError as error:
            return refusal_for(error)
        rows = triage_namespace(pods, self.clock(), kb=self.knowledge)
        incidents = [item for item in await self.open_incidents(channel) if item.namespace == namespace]
        return TriageAnswer(namespace, tuple(rows), len(pods), tuple(incidents))
