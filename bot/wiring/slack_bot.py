"""`SlackBot`: everything Slack mode runs (Bolt app, web server routes, metrics, watcher, alert buttons),
assembled from the settings; tests and benchmarks drive this same object.

Apart from `slack_mode` (which serves it until a signal) so this module stays one sitting's read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from bot.access import BotConfig, NamespaceAccess
from bot.application.startup import StartupError
from bot.knowledge import KnowledgeBase
from bot.settings import Settings
from bot.wiring.alerts import (
    AlertRunner,
    ClusterAlertRunners,
    build_alert_runner,
    watcher_wanted,
)
from bot.wiring.lifecycle import SHUTDOWN_GRACE_SECONDS, Lifecycle
from bot.wiring.services import build_diagnose_service, runbook_pages
from bot.wiring.slack_clusters import ClusterWiring

if TYPE_CHECKING:
    from bot.application.cluster import ClusterConnection
    from bot.application.clusters import ClusterRegistry
    from bot.application.diagnose import DiagnoseService
    from bot.slack import ClustersHandler, DiagnoseHandler
    from bot.slack.app import SnoozesHandler
    from bot.slack.responder import Responder

log = logging.getLogger(__name__)


class SlackBot(ClusterWiring):
    """Everything Slack mode runs, assembled from the settings; tests drive this same object.

    `web_app` is the one aiohttp application (served on PORT by `run_slack_mode`, or by a test
    server); `start()` checks the tokens and connects Socket Mode; `close()` shuts down in bounded time.

    `/exitcode pod|ns` are answered by `diagnose` when given, else by a `DiagnoseService` over `cluster`
    (with `config`'s channel access) when given, else with the adapter's "not configured" sentence. The
    caller owns `cluster` and closes it after `close()`.

    `alerts` is the crash watcher when `cluster` is configured and WATCH_ENABLED (else None): built here
    (a bad WATCH_LABEL_SELECTOR is a `StartupError`), started by `run_slack_mode` with
    `alerts.start()`, stopped by `close()`. Given a `cluster` (as `run_bot` always does, configured or
    not), the alert buttons are registered too, on every replica, leader or not; without one a test may
    register its own.
    """

    def __init__(
        self,
        settings: Settings,
        knowledge: KnowledgeBase,
        *,
        diagnose: DiagnoseHandler | None = None,
        cluster: ClusterConnection | None = None,
        config: BotConfig | None = None,
        clusters: ClusterRegistry | None = None,
    ) -> None:
        from bot.application.replies import SlackDiagnoseReplies
        from bot.metrics import BotMetrics
        from bot.slack import (
            BackgroundTasks,
            SocketModeConnection,
            build_app,
            build_web_client,
            slack_events_handler,
        )
        from bot.slack.web_api import WebApiStatus
        from bot.web import WebEndpoints, always_healthy, build_web_app, first_problem

        if settings.slack_bot_token is None:
            raise StartupError("SLACK_BOT_TOKEN is not set")
        self.lifecycle = Lifecycle()
        self.metrics = BotMetrics()
        self.tasks = BackgroundTasks()
        self.diagnose_service: DiagnoseService | None = None
        self.clusters = clusters
        self.cluster_services: dict[str, DiagnoseService] = {}
        clusters_handler: ClustersHandler | None = None
        if clusters is not None:
            diagnose, clusters_handler = self._build_cluster_commands(
                settings, knowledge, clusters, config if config is not None else BotConfig()
            )
        if diagnose is None and cluster is not None:
            self.diagnose_service = build_diagnose_service(
                settings, knowledge, cluster, config if config is not None else BotConfig(), self.metrics
            )
            diagnose = SlackDiagnoseReplies(
                self.diagnose_service,
                slash_command=settings.slash_command,
                cluster_name=settings.cluster_name,
            )
        self.client = build_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
        self.slack_api = WebApiStatus(self.client)  # what /readyz says of Slack's Web API
        self.slack_api.on_change = self.metrics.slack_web_api_up.set
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
        self.app = build_app(
            client=self.client,
            knowledge=knowledge,
            signing_secret=secret,
            metrics=self.metrics,
            tasks=self.tasks,
            diagnose=diagnose,
            slash_command=settings.slash_command,
            web_api=self.slack_api,
            clusters=clusters_handler,
            snoozes=self._list_snoozes,
        )
        self.snooze_listing: SnoozesHandler | None = None
        """`/exitcode snoozes`, once the alert service (which keeps the snoozes) exists."""
        self.alerts: AlertRunner | ClusterAlertRunners | None
        if clusters is not None:
            self.alerts = self._build_cluster_alerts(settings, knowledge, clusters, config or BotConfig())
        else:
            self.alerts = self._build_alerts(settings, knowledge, cluster, config or BotConfig())
        self._connect_incidents()
        if clusters is not None:
            self._register_cluster_alert_buttons(knowledge, clusters, config or BotConfig(), settings)
        elif cluster is not None:
            self._register_alert_buttons(knowledge, cluster, config or BotConfig(), settings)
        self.socket: SocketModeConnection | None = None
        if settings.slack_app_token is not None:
            self.socket = SocketModeConnection(
                self.app, settings.slack_app_token.get_secret_value(), self.client
            )
        self.web_app = build_web_app(
            WebEndpoints(
                metrics=self.metrics.exposition,
                slack_events=None
                if self.socket is not None
                else slack_events_handler(self.app, secret or "", self.metrics.registry),
                healthy=self.slack_connection if self.socket is not None else always_healthy,
                ready=first_problem(self.lifecycle.readiness, self.slack_api.readiness),
                degraded=self.slack_api.degradation,
                runbooks=runbook_pages(knowledge, settings.public_url) if settings.public_url else None,
            )
        )

    def _connect_incidents(self) -> None:
        """`ns` and `incidents` list open incidents, read from the alert service of the cluster asked."""
        if isinstance(self.alerts, ClusterAlertRunners):
            for name, runner in self.alerts.runners.items():
                if name in self.cluster_services:
                    self.cluster_services[name].incidents = runner.service.open_incidents
        elif self.diagnose_service is not None and self.alerts is not None:
            self.diagnose_service.incidents = self.alerts.service.open_incidents

    def _build_alerts(
        self,
        settings: Settings,
        knowledge: KnowledgeBase,
        cluster: ClusterConnection | None,
        config: BotConfig,
    ) -> AlertRunner | None:
        """The watcher posting to Slack, its metrics on this bot's `/metrics`."""
        from bot.metrics import AlertMetrics
        from bot.slack.poster import SlackAlertSink

        if not watcher_wanted(settings, cluster):
            return None
        from bot.wiring.surfaces import build_surfaces

        metrics = AlertMetrics(self.metrics.registry)
        sink = SlackAlertSink(self.client, on_error=metrics.slack_error)
        surfaces = build_surfaces(settings, config, metrics=metrics)
        alerts = build_alert_runner(
            settings, knowledge, cluster, config, sink=sink, metrics=metrics, surfaces=surfaces
        )
        if alerts is not None and not settings.alert_channel and not config.namespace_channels:
            log.warning(
                "crash alerts have no channel: set ALERT_CHANNEL (or namespace_channels in CONFIG_FILE). "
                "Until then only pods and namespaces annotated exitcode-bot/channel are alerted; every "
                "crash is still counted in /metrics"
            )
        return alerts

    def _register_alert_buttons(
        self, knowledge: KnowledgeBase, cluster: ClusterConnection, config: BotConfig, settings: Settings
    ) -> None:
        """The buttons of alerts, on every replica (a click reaches whichever one Slack or the Service
        picked), even without a watcher here (WATCH_ENABLED=false, or no cluster configured): alerts
        posted earlier keep working, and what is missing is said in the reply."""
        from bot.slack.alert_actions import AlertActions, register_alert_actions
        from bot.slack.snooze_list import SnoozeListing

        if self.alerts is not None:
            self.snooze_listing = SnoozeListing(
                self.alerts.service.snoozes,
                NamespaceAccess.from_config(settings.allowed_namespaces, config),
            )
        register_alert_actions(
            self.app,
            AlertActions(
                knowledge=knowledge,
                tasks=self.tasks,
                diagnose_pod=self.diagnose_service.diagnose_pod if self.diagnose_service else None,
                logs=cluster.reader,
                snoozes=self.alerts.service.snoozes if self.alerts is not None else None,
                owners=self.alerts.service.snoozes if self.alerts is not None else None,
                access=NamespaceAccess.from_config(settings.allowed_namespaces, config),
                slash_command=settings.slash_command,
            ),
        )

    async def _list_snoozes(self, channel_id: str, channel_name: str | None, responder: Responder) -> None:
        if self.snooze_listing is None:
            await responder.send("Snoozes belong to crash alerts, and this bot does not watch a cluster.")
            return
        await self.snooze_listing(channel_id, channel_name, responder)

    @property
    def mode(self) -> str:
        return "Socket Mode" if self.socket is not None else "HTTP mode"

    async def slack_connection(self) -> str | None:
        """`/healthz` in Socket Mode: healthy only while the websocket to Slack is really up."""
        if self.socket is None or await self.socket.is_connected():
            return None
        return "not connected to Slack (Socket Mode)"

    async def start(self) -> None:
        """Verify the tokens with Slack (a rejected one is a `StartupError`) and connect Socket Mode."""
        from bot.slack import SlackTokenRejected, verify_bot_token

        try:
            await verify_bot_token(self.client)
            if self.socket is not None:
                await self.socket.start()
        except SlackTokenRejected as error:
            raise StartupError(str(error)) from None
        self.lifecycle.started = True

    async def close(self) -> None:
        """Stop taking requests, let replies in flight finish briefly, close connections; bounded.

        The watcher stops alongside (bounded by `ALERT_SHUTDOWN_SECONDS`), releasing the Lease as early
        as it can so a standby replica takes over while this one is still draining."""
        self.lifecycle.stopping = True
        alerts = asyncio.ensure_future(self.alerts.stop()) if self.alerts is not None else None
        steps: list[Coroutine[Any, Any, None]] = []
        if self.socket is not None:
            steps.append(self.socket.close())
        steps.append(self.tasks.drain(SHUTDOWN_GRACE_SECONDS))
        for step in steps:
            try:
                await asyncio.wait_for(step, timeout=SHUTDOWN_GRACE_SECONDS + 1)
            except Exception as error:  # shutdown must finish; a stuck step is logged, not awaited forever
                log.warning("shutdown step did not finish cleanly: %r", error)
        if alerts is not None:
            await alerts
