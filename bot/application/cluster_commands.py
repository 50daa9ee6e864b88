"""Commands across many clusters (issue 13): `pod [CLUSTER/]NS/POD`, `ns [CLUSTER/]NS`, `clusters`.

`ClusterDiagnose` picks the cluster a query names (or the channel's default, or the home cluster),
checks the channel may ask that cluster (`ClusterAccess`) and hands the rest of the argument to that
cluster's own `DiagnoseService`, which checks the namespace as it always did. An unknown cluster, or one
the bot cannot reach, is answered with one sentence and the list of the clusters it knows.

`ClusterOverview` answers `clusters`: each cluster's name, whether it answers, its server version and the
replica holding its watch Lease, asked of every cluster at once, so one that is down costs the listing
one KUBE_TIMEOUT_SECONDS, never one timeout per cluster.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.access import ClusterAccess, SlackChannel
from bot.application.clusters import ClusterRegistry
from bot.application.diagnose import DiagnoseService
from bot.command import ClustersCommand, DiagnoseCommand, QueryKind, parse_command, split_cluster
from bot.diagnosis.answers import Answer, Refusal
from bot.diagnosis.ports import ClusterError
from bot.knowledge.base import KnowledgeBase
from bot.render.answer_blocks import answer_message
from bot.render.answer_text import answer_text
from bot.render.cluster_list import ClusterStatus, cluster_list_message, cluster_list_text
from bot.render.commands import apology, usage_sentence, without_code_marks
from bot.render.text import printable, reply_text

if TYPE_CHECKING:
    from bot.slack import DiagnoseRequest, Responder

log = logging.getLogger(__name__)

_UNREACHABLE_KINDS = frozenset({"unreachable", "timeout", "not_configured"})


@dataclass(frozen=True, slots=True)
class ClusterAnswer:
    """An answer and the cluster it is about (None when no cluster was chosen: a refusal before)."""

    cluster: str | None
    answer: Answer


class ClusterDiagnose:
    """Routes `pod`/`ns` queries to the cluster they name; one `DiagnoseService` per cluster."""

    def __init__(
        self, registry: ClusterRegistry, services: Mapping[str, DiagnoseService], access: ClusterAccess
    ) -> None:
        self.registry = registry
        self.services = dict(services)
        self.access = access

    def known(self) -> str:
        return ", ".join(self.registry.names)

    def unknown(self, cluster: str) -> Refusal:
        return Refusal(
            "invalid", f"This bot knows no cluster “{cluster[:80]}”; its clusters are: {self.known()}."
        )

    def cluster_for(self, cluster: str | None, channel: SlackChannel | None) -> str | Refusal:
        """The registered cluster a query means (typed, else the channel's default, else home), or the
        refusal to show: unknown, or not allowed from this channel."""
        wanted = cluster if cluster is not None else self.access.default_for(channel)
        name = self.registry.find(wanted) if wanted is not None else self.registry.home
        if name is None:
            return self.unknown(wanted or "")
        denied = self.access.denial(name, channel)
        if denied is not None:
            return Refusal("denied", denied)
        return name

    async def answer(
        self, kind: QueryKind, argument: str, *, channel: SlackChannel | None = None
    ) -> ClusterAnswer:
        """The answer to `pod|ns [CLUSTER/]…`; never raises a `ClusterError`."""
        typed, rest = split_cluster(kind, argument)
        chosen = self.cluster_for(typed, channel)
        if isinstance(chosen, Refusal):
            return ClusterAnswer(None, chosen)
        answer = await self.services[chosen].answer(kind, rest, channel=channel)
        if isinstance(answer, Refusal) and answer.kind in _UNREACHABLE_KINDS:
            others = [name for name in self.registry.names if name != chosen]
            if others:
                message = f"Cluster “{chosen}”: {answer.message} The other clusters: {', '.join(others)}."
                answer = Refusal(answer.kind, message, answer.suggestions, answer.usage)
        return ClusterAnswer(chosen, answer)


class SlackClusterReplies:
    """The Slack adapter's `DiagnoseHandler` with CLUSTERS: like `SlackDiagnoseReplies`, but every answer
    names the cluster it read."""

    def __init__(self, diagnose: ClusterDiagnose, *, slash_command: str) -> None:
        self.diagnose = diagnose
        self.slash_command = slash_command

    async def __call__(self, request: DiagnoseRequest, responder: Responder) -> None:
        channel = SlackChannel(request.channel_id, request.channel_name)
        result = await self.diagnose.answer(request.kind, request.argument, channel=channel)
        shared = request.share and not isinstance(result.answer, Refusal)
        text, blocks = answer_message(
            result.answer,
            slash_command=self.slash_command,
            shared_by=request.user_id if shared else None,
            cluster_name=result.cluster,
            command_cluster=result.cluster,
        )
        await responder.send(text, blocks, in_channel=shared)


class ClusterOverview:
    """`/exitcode clusters`: what each cluster is doing right now, asked of all of them at once."""

    def __init__(
        self,
        registry: ClusterRegistry,
        *,
        lease_names: Mapping[str, str] | None,
        lease_namespace: str,
        timeout_seconds: float,
        slash_command: str,
    ) -> None:
        self.registry = registry
        self.lease_names = dict(lease_names or {})
        self.lease_namespace = lease_namespace
        self.timeout_seconds = timeout_seconds
        self.slash_command = slash_command

    async def statuses(self) -> list[ClusterStatus]:
        return list(await asyncio.gather(*(self._status(name) for name in self.registry.names)))

    async def _status(self, name: str) -> ClusterStatus:
        from bot.kube.cluster_info import lease_holder, server_version

        connection = self.registry.connections[name]
        home = self.registry.home_connection.api_client
        watcher: str | None = None
        watcher_problem: str | None = None
        lease = self.lease_names.get(name)
        if lease is None:
            watcher_problem = "not watched (WATCH_ENABLED=false)"
        elif home is None:
            watcher_problem = "unknown (the home cluster is not configured)"
        else:
            try:
                watcher = await lease_holder(home, self.lease_namespace, lease, self.timeout_seconds)
            except ClusterError as error:
                watcher_problem = f"unknown ({error.user_message})"
        if connection.api_client is None:
            return ClusterStatus(
                name, name == self.registry.home, None, connection.problem, watcher, watcher_problem
            )
        try:
            version = await server_version(connection.api_client, self.timeout_seconds)
        except ClusterError as error:
            return ClusterStatus(
                name, name == self.registry.home, None, error.user_message, watcher, watcher_problem
            )
        return ClusterStatus(name, name == self.registry.home, version, None, watcher, watcher_problem)

    async def __call__(self, share: bool, responder: Responder) -> None:
        """The Slack adapter's `ClustersHandler`: answer through the command's `response_url`."""
        text, blocks = cluster_list_message(await self.statuses(), slash_command=self.slash_command)
        await responder.send(text, blocks, in_channel=share)


class ConsoleClusterReplies:
    """Console mode with CLUSTERS: `pod`/`ns` routed like in Slack (no channel: every cluster, the home
    one by default), `clusters` listed, anything else explained."""

    def __init__(
        self,
        knowledge: KnowledgeBase,
        diagnose: ClusterDiagnose,
        overview: ClusterOverview,
        *,
        slash_command: str,
    ) -> None:
        self.knowledge = knowledge
        self.diagnose = diagnose
        self.overview = overview
        self.slash_command = slash_command

    async def __call__(self, line: str) -> str:
        """The text to print for one line; never raises."""
        command = parse_command(line)
        try:
            if isinstance(command, ClustersCommand):
                return cluster_list_text(await self.overview.statuses())
            if isinstance(command, DiagnoseCommand):
                if not command.argument:
                    return without_code_marks(usage_sentence(command.kind, self.slash_command)) + "\n"
                result = await self.diagnose.answer(command.kind, command.argument)
                text = answer_text(result.answer, program=self.slash_command)
                return f"Cluster: {printable(result.cluster)}\n{text}" if result.cluster else text
        except Exception:  # a bug must cost one answer, not the console session
            log.exception("console: %r failed", line[:200])
            return without_code_marks(apology(self.slash_command)) + "\n"
        return reply_text(self.knowledge.answer(line))
