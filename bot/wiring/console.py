"""Console mode (no SLACK_BOT_TOKEN): stdin lines answered on stdout, alerts printed between them.

A laptop's way to try the bot: the watcher runs with no Lease and an in-memory ledger, so it never takes
over a cluster's Lease or writes its ledger.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.access import BotConfig
from bot.knowledge import KnowledgeBase
from bot.settings import Settings
from bot.wiring.alerts import build_alert_runner
from bot.wiring.lifecycle import run_until_stopped, stop_on_signals
from bot.wiring.services import build_diagnose_service

if TYPE_CHECKING:
    from bot.application.cluster import ClusterConnection
    from bot.application.clusters import ClusterRegistry

log = logging.getLogger(__name__)


async def run_console_mode(
    settings: Settings,
    knowledge: KnowledgeBase,
    *,
    cluster: ClusterConnection | None = None,
    config: BotConfig | None = None,
    clusters: ClusterRegistry | None = None,
) -> int:
    """Answer stdin lines until end of input or a signal: explanations, and `pod …`/`ns …` through a
    `DiagnoseService` over `cluster` (without one, those lines are answered as queries, with usage).
    With CLUSTERS (`clusters`), `pod`/`ns` name their cluster and `clusters` lists them; the watcher
    still watches only the home cluster (`cluster`) here.

    With a cluster the crash watcher runs meanwhile and prints its alerts between the replies
    (`ConsoleAlertSink`), with no Lease and no ledger writes. End of input or a signal stops both; exit 0.
    """
    from bot.alert_service import ConsoleAlertSink
    from bot.application.replies import ConsoleReplies
    from bot.console import ConsoleOutput, run_console

    config = config if config is not None else BotConfig()
    diagnose_service = (
        build_diagnose_service(settings, knowledge, cluster, config) if cluster is not None else None
    )
    output = ConsoleOutput()
    alerts = build_alert_runner(
        settings, knowledge, cluster, config, sink=ConsoleAlertSink(output), console=True
    )
    if diagnose_service is not None and alerts is not None:  # `ns` and `incidents` list them
        diagnose_service.incidents = alerts.service.open_incidents

    replies: Callable[[str], Awaitable[str]] = ConsoleReplies(
        knowledge,
        diagnose_service,
        slash_command=settings.slash_command,
        cluster_name=settings.cluster_name,
    )
    if clusters is not None:
        replies = console_cluster_replies(settings, knowledge, clusters, config)
    stop = stop_on_signals()
    if alerts is not None:
        log.info("watching pods for crashes: alerts print here (console mode: no Lease, no ledger writes)")
        alerts.start()
    try:
        console = run_console(replies, output=output, slash_command=settings.slash_command)
        return await run_until_stopped(stop, asyncio.ensure_future(console))
    finally:
        if alerts is not None:
            await alerts.stop()


def console_cluster_replies(
    settings: Settings, knowledge: KnowledgeBase, clusters: ClusterRegistry, config: BotConfig
) -> Callable[[str], Awaitable[str]]:
    """Console mode's answers with CLUSTERS: one diagnose use case per cluster, routed by name."""
    from bot.access import ClusterAccess
    from bot.application.cluster_commands import ClusterDiagnose, ClusterOverview, ConsoleClusterReplies

    services = {
        connection.name or clusters.home: build_diagnose_service(settings, knowledge, connection, config)
        for connection in clusters
    }
    overview = ClusterOverview(
        clusters,
        lease_names=None,
        lease_namespace=settings.pod_namespace,
        timeout_seconds=settings.kube_timeout_seconds,
        slash_command=settings.slash_command,
    )
    diagnose = ClusterDiagnose(clusters, services, ClusterAccess(config.channel_clusters))
    return ConsoleClusterReplies(knowledge, diagnose, overview, slash_command=settings.slash_command)
