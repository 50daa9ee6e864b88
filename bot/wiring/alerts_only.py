"""Alerts-only mode (issue 12): no Slack app at all, crash alerts to Teams, PagerDuty and/or the webhook.

Chosen when none of Slack's tokens is set and at least one other surface is (TEAMS_WEBHOOK_URL,
PAGERDUTY_ROUTING_KEY, WEBHOOK_URL, or a CONFIG_FILE `surfaces` target). It reads no stdin and prints no
prompt: it is a Deployment like Slack mode, with the same Lease (one replica sends), the same ledger
(exactly once across restarts and failovers), and the same web server for `/healthz`, `/readyz`,
`/metrics` and `/runbooks` (the alerts' runbook links). Slash commands and buttons need Slack; alerts don't.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.access import BotConfig
from bot.application.startup import EXIT_OK, StartupError
from bot.knowledge import KnowledgeBase
from bot.settings import Settings
from bot.wiring.alerts import (
    AlertRunner,
    ClusterAlertRunners,
    build_alert_runner,
    build_cluster_alert_runners,
)
from bot.wiring.lifecycle import Lifecycle, close_server, listen, stop_on_signals
from bot.wiring.services import runbook_pages
from bot.wiring.surfaces import build_surfaces

if TYPE_CHECKING:
    from bot.application.cluster import ClusterConnection
    from bot.application.clusters import ClusterRegistry

log = logging.getLogger(__name__)


class AlertsOnlyBot:
    """What alerts-only mode runs: the watcher(s) with no chat sink, and the web routes; tests drive it."""

    def __init__(
        self,
        settings: Settings,
        knowledge: KnowledgeBase,
        *,
        cluster: ClusterConnection | None,
        config: BotConfig,
        clusters: ClusterRegistry | None = None,
    ) -> None:
        from bot.metrics import AlertMetrics, BotMetrics
        from bot.web import WebEndpoints, always_healthy, build_web_app

        if not settings.watch_enabled:
            raise StartupError(
                "alerts-only mode (no Slack tokens, an alert surface configured) with WATCH_ENABLED=false "
                "has nothing to do: turn the watcher on, or set SLACK_BOT_TOKEN for slash commands"
            )
        self.lifecycle = Lifecycle()
        self.metrics = BotMetrics()
        alert_metrics = AlertMetrics(self.metrics.registry)
        surfaces = build_surfaces(settings, config, metrics=alert_metrics)
        if surfaces is None:
            raise StartupError(
                "alerts-only mode needs an alert surface: TEAMS_WEBHOOK_URL, PAGERDUTY_ROUTING_KEY or "
                "WEBHOOK_URL"
            )
        self.alerts: AlertRunner | ClusterAlertRunners | None
        if clusters is not None:
            self.alerts = build_cluster_alert_runners(
                settings, knowledge, clusters, config, sink=None, metrics=alert_metrics, surfaces=surfaces
            )
        else:
            self.alerts = build_alert_runner(
                settings, knowledge, cluster, config, sink=None, metrics=alert_metrics, surfaces=surfaces
            )
        if self.alerts is None:
            problem = cluster.problem if cluster is not None else "no cluster is configured"
            raise StartupError(f"alerts-only mode needs a cluster to watch: {problem}")
        self.web_app = build_web_app(
            WebEndpoints(
                metrics=self.metrics.exposition,
                healthy=always_healthy,
                ready=self.lifecycle.readiness,
                runbooks=runbook_pages(knowledge, settings.public_url) if settings.public_url else None,
            )
        )

    def start(self) -> None:
        assert self.alerts is not None
        self.alerts.start()
        self.lifecycle.started = True

    async def close(self) -> None:
        self.lifecycle.stopping = True
        if self.alerts is not None:
            await self.alerts.stop()


async def run_alerts_only(
    settings: Settings,
    knowledge: KnowledgeBase,
    *,
    cluster: ClusterConnection | None = None,
    config: BotConfig | None = None,
    clusters: ClusterRegistry | None = None,
) -> int:
    """Serve PORT, watch and alert until SIGTERM/SIGINT (`cluster` is closed by the caller)."""
    stop = stop_on_signals()
    bot = AlertsOnlyBot(settings, knowledge, cluster=cluster, config=config or BotConfig(), clusters=clusters)
    try:
        server = await listen(bot.web_app, settings)
    except StartupError:
        await bot.close()
        raise
    try:
        bot.start()
        log.info(
            "exitcode-bot is running alerts-only (no Slack app): crash alerts to the configured surfaces; "
            "/healthz, /readyz, /metrics and /runbooks on port %s",
            server.port,
        )
        await stop.wait()
        log.info("stopping")
    finally:
        await bot.close()
        await close_server(server)
    return EXIT_OK
