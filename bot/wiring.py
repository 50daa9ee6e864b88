"""Builds the bot from its settings and runs the right transport until a signal stops it.

The only module that knows every adapter: the Slack app, the web server and the console never
import each other, they are handed what they need here. Modes, decided once at startup:
- no SLACK_BOT_TOKEN: console mode (stdin/stdout);
- SLACK_APP_TOKEN set: Socket Mode, plus the web server for probes, metrics and runbook pages;
- otherwise HTTP mode: the web server also receives Slack's signed requests on `/slack/events`.

The Kubernetes client is built once here, before either mode starts, from the cluster kubectl would use
(KUBECONFIG, ~/.kube/config, in-cluster). Without one the bot still runs: explanations need no cluster,
and `/exitcode pod|ns` answer with the sentence saying why there is none. It is closed at shutdown.

With a cluster (and WATCH_ENABLED) the crash watcher runs too (`AlertRunner`):
- Slack mode: it campaigns for the leader Lease and, while it leads, posts alerts; every replica
  registers the alert buttons, since a click may reach any of them. It starts once Slack accepted the
  token and stops first at shutdown, releasing the Lease so a standby takes over at once.
- console mode: alerts print to stdout between the replies, with no Lease and an in-memory ledger (a
  laptop must never take over the cluster's Lease or write its ledger).

Exit codes: 0 after SIGTERM/SIGINT or end of console input (the bot must never itself exit with the
137 it explains), 2 for configuration an operator must fix, 1 for anything unexpected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from functools import cache
from typing import TYPE_CHECKING, Any

from bot.access import BotConfig, ConfigFileError, NamespaceAccess, load_bot_config
from bot.application.startup import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, StartupError, load_knowledge_base
from bot.knowledge import KnowledgeBase
from bot.knowledge.explanation import Explanation
from bot.logs import configure_logging
from bot.settings import Settings

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from bot.alert_service import AlertService, AlertSink
    from bot.alert_service.tuning import AlertTuning
    from bot.application.cluster import ClusterConnection
    from bot.application.clusters import ClusterRegistry
    from bot.application.diagnose import DiagnoseService
    from bot.metrics import AlertMetrics, BotMetrics
    from bot.slack import ClustersHandler, DiagnoseHandler
    from bot.slack.responder import Responder
    from bot.slack.snooze_list import SnoozeListing
    from bot.web import RunbookPages

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 2.0
"""How long in-flight replies may take to finish at shutdown (Kubernetes allows 30 s; we need far less)."""
ALERT_SHUTDOWN_SECONDS = 5.0
"""How long the crash watcher may take to stop (its last ledger write, then the Lease release; normally
well under a second). After that it is cancelled like a killed process: the standby then takes over
when the Lease expires instead of at once."""


def run_bot(settings: Settings) -> int:
    """Run until stopped; returns the process exit code. Errors an operator must fix print one line."""
    configure_logging(settings.log_level, settings.log_format, secrets=secret_values(settings))
    try:
        check_transport(settings)
        knowledge = load_knowledge_base(settings)
        config = load_config_file(settings)
        clusters = open_clusters(settings)
        cluster = clusters.home_connection if clusters is not None else open_cluster(settings)
        try:
            if not settings.slack_enabled:
                return asyncio.run(
                    run_console_mode(settings, knowledge, cluster=cluster, config=config, clusters=clusters)
                )
            return asyncio.run(
                run_slack_mode(settings, knowledge, cluster=cluster, config=config, clusters=clusters)
            )
        finally:
            if clusters is not None:
                clusters.close()
            cluster.close()
    except StartupError as error:
        sys.stderr.write(f"exitcode-bot: {error}\n")
        return EXIT_USAGE
    except Exception:
        log.exception("exitcode-bot stopped after an unexpected error")
        return EXIT_FAILURE


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret, so the log formatter can redact it wherever it appears."""
    secrets = (settings.slack_bot_token, settings.slack_app_token, settings.slack_signing_secret)
    return [secret.get_secret_value() for secret in secrets if secret is not None]


def check_transport(settings: Settings) -> None:
    """HTTP mode cannot verify Slack's requests without the signing secret: refuse to start."""
    if settings.slack_enabled and not settings.socket_mode and settings.slack_signing_secret is None:
        raise StartupError(
            "SLACK_SIGNING_SECRET is required in HTTP mode (SLACK_BOT_TOKEN set, no SLACK_APP_TOKEN): "
            "copy it from the Slack app's Basic Information page, or set SLACK_APP_TOKEN to use Socket Mode"
        )


def load_config_file(settings: Settings) -> BotConfig:
    """`CONFIG_FILE` (channel access, alert routing); a broken file is a `StartupError` naming it."""
    try:
        return load_bot_config(settings.config_file)
    except ConfigFileError as error:
        raise StartupError(str(error)) from None


def open_cluster(settings: Settings) -> ClusterConnection:
    """The Kubernetes client, built once; without a cluster the bot runs on and says so when asked."""
    from bot.application.cluster import connect_cluster

    cluster = connect_cluster(settings.kube_timeout_seconds)
    if cluster.api_client is not None:
        log.info("reading the Kubernetes cluster at %s", cluster.api_client.configuration.host)
    else:
        alerts = ", and no crash alerts are watched" if settings.watch_enabled else ""
        log.warning(
            "no Kubernetes cluster: %s pod and ns will say so%s. %s",
            settings.slash_command,
            alerts,
            cluster.problem,
        )
    return cluster


def open_clusters(settings: Settings) -> ClusterRegistry | None:
    """With CLUSTERS, every selected cluster's client, built once (issue 13); None without CLUSTERS.
    A CLUSTERS entry the kubeconfig lacks is a `StartupError`; a cluster that cannot be reached is not."""
    from bot.application.clusters import ClusterSelectionError, connect_clusters

    if not settings.clusters:
        return None
    try:
        clusters = connect_clusters(
            settings.clusters,
            cluster_name=settings.cluster_name,
            timeout_seconds=settings.kube_timeout_seconds,
        )
    except ClusterSelectionError as error:
        raise StartupError(str(error)) from None
    for connection in clusters:
        if connection.api_client is not None:
            log.info("cluster %s: %s", connection.name, connection.api_client.configuration.host)
        else:
            log.warning("cluster %s cannot be used: %s", connection.name, connection.problem)
    log.info("home cluster (Leases and ledgers): %s", clusters.home)
    return clusters


def build_diagnose_service(
    settings: Settings,
    knowledge: KnowledgeBase,
    cluster: ClusterConnection,
    config: BotConfig,
    metrics: BotMetrics | None = None,
) -> DiagnoseService:
    """The diagnose use case with the settings' namespaces, log lines and access policy."""
    from bot.application.diagnose import DiagnoseService
    from bot.metrics import DiagnoseMetrics

    return DiagnoseService(
        knowledge,
        cluster.reader,
        access=NamespaceAccess.from_config(settings.allowed_namespaces, config),
        default_namespace=settings.default_namespace,
        log_lines=settings.log_lines,
        unavailable=cluster.problem,
        metrics=DiagnoseMetrics(metrics.registry) if metrics is not None else None,
    )


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (Kubernetes stopping the pod, or Ctrl-C)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def run_until_stopped(stop: asyncio.Event, work: asyncio.Task[int]) -> int:
    """`work`'s exit code, or 0 when a signal came first (then `work` is cancelled)."""
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if work.done():
        return work.result()
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work
    return EXIT_OK


# --- console mode ---------------------------------------------------------------------------------


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


# --- Slack mode -----------------------------------------------------------------------------------


class Lifecycle:
    """Readiness as `/readyz` reports it: not before startup completed, not once shutdown began."""

    def __init__(self) -> None:
        self.started = False
        self.stopping = False

    async def readiness(self) -> str | None:
        if self.stopping:
            return "shutting down"
        return None if self.started else "starting"


class SlackBot:
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
        self.snooze_listing: SnoozeListing | None = None
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

    def _build_cluster_commands(
        self, settings: Settings, knowledge: KnowledgeBase, clusters: ClusterRegistry, config: BotConfig
    ) -> tuple[DiagnoseHandler, ClustersHandler]:
        """CLUSTERS: one diagnose use case per cluster behind `ClusterDiagnose`, and `clusters`."""
        from bot.access import ClusterAccess
        from bot.application.cluster_commands import ClusterDiagnose, ClusterOverview, SlackClusterReplies
        from bot.application.clusters import lease_name_for
        from bot.application.diagnose import DiagnoseService
        from bot.metrics import DiagnoseMetrics

        answers = DiagnoseMetrics(self.metrics.registry)  # one set of series for every cluster's answers
        access = NamespaceAccess.from_config(settings.allowed_namespaces, config)
        self.cluster_services = {
            connection.name or clusters.home: DiagnoseService(
                knowledge,
                connection.reader,
                access=access,
                default_namespace=settings.default_namespace,
                log_lines=settings.log_lines,
                unavailable=connection.problem,
                metrics=answers,
            )
            for connection in clusters
        }
        self.diagnose_service = self.cluster_services[clusters.home]
        self.cluster_diagnose = ClusterDiagnose(
            clusters, self.cluster_services, ClusterAccess(config.channel_clusters)
        )
        leases = (
            {name: lease_name_for(settings.lease_name, name) for name in clusters.names}
            if settings.watch_enabled
            else None
        )
        overview = ClusterOverview(
            clusters,
            lease_names=leases,
            lease_namespace=settings.pod_namespace,
            timeout_seconds=settings.kube_timeout_seconds,
            slash_command=settings.slash_command,
        )
        return SlackClusterReplies(self.cluster_diagnose, slash_command=settings.slash_command), overview

    def _build_cluster_alerts(
        self, settings: Settings, knowledge: KnowledgeBase, clusters: ClusterRegistry, config: BotConfig
    ) -> ClusterAlertRunners | None:
        """CLUSTERS: one watcher per cluster, each behind its own Lease in the home cluster."""
        from bot.metrics import AlertMetrics
        from bot.slack.poster import SlackAlertSink

        if not settings.watch_enabled:
            log.info("crash alerts are off (WATCH_ENABLED=false)")
            return None
        home = clusters.home_connection.api_client
        if home is None:
            log.warning(
                "no crash alerts: the home cluster %s (Leases and ledgers) cannot be used: %s",
                clusters.home,
                clusters.home_connection.problem,
            )
            return None
        metrics = AlertMetrics(self.metrics.registry)
        sink = SlackAlertSink(self.client, on_error=metrics.slack_error)
        runners = build_cluster_alert_runners(
            settings, knowledge, clusters, config, sink=sink, metrics=metrics
        )
        return runners

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
        metrics = AlertMetrics(self.metrics.registry)
        sink = SlackAlertSink(self.client, on_error=metrics.slack_error)
        alerts = build_alert_runner(settings, knowledge, cluster, config, sink=sink, metrics=metrics)
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

    def _register_cluster_alert_buttons(
        self, knowledge: KnowledgeBase, clusters: ClusterRegistry, config: BotConfig, settings: Settings
    ) -> None:
        """CLUSTERS: the alert buttons, each click routed to the handlers of its alert's cluster (its
        reader, its snooze store), after the channel's cluster check."""
        from bot.access import ClusterAccess
        from bot.slack.alert_actions import AlertActions
        from bot.slack.click_guard import RecentClicks
        from bot.slack.cluster_actions import ClusterAlertActions, register_cluster_alert_actions

        recent = RecentClicks()
        access = NamespaceAccess.from_config(settings.allowed_namespaces, config)
        runners = self.alerts.runners if isinstance(self.alerts, ClusterAlertRunners) else {}
        if self.alerts is not None:  # `/exitcode snoozes` lists the home cluster's
            self.snooze_listing = SnoozeListing(self.alerts.service.snoozes, access)
        by_cluster: dict[str, AlertActions] = {}
        for connection in clusters:
            name = connection.name or clusters.home
            service = self.cluster_services.get(name)
            runner = runners.get(name)
            by_cluster[name] = AlertActions(
                knowledge=knowledge,
                tasks=self.tasks,
                diagnose_pod=service.diagnose_pod if service is not None else None,
                logs=connection.reader,
                snoozes=runner.service.snoozes if runner is not None else None,
                owners=runner.service.snoozes if runner is not None else None,
                access=access,
                recent=recent,
                slash_command=settings.slash_command,
            )
        register_cluster_alert_actions(
            self.app,
            ClusterAlertActions(
                by_cluster, home=clusters.home, access=ClusterAccess(config.channel_clusters)
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


async def run_slack_mode(
    settings: Settings,
    knowledge: KnowledgeBase,
    *,
    cluster: ClusterConnection | None = None,
    config: BotConfig | None = None,
    clusters: ClusterRegistry | None = None,
) -> int:
    """Serve PORT, connect to Slack, and run until SIGTERM/SIGINT (`cluster` is closed by the caller)."""
    from bot.web import start_web_server

    stop = stop_on_signals()
    bot = SlackBot(settings, knowledge, cluster=cluster, config=config, clusters=clusters)
    try:
        server = await start_web_server(bot.web_app, settings.port, settings.host)
    except OSError as error:
        raise StartupError(
            f"cannot listen on PORT {settings.port} at HOST {settings.host}: {error.strerror or error}"
        ) from None
    try:
        # A signal during startup (Slack slow to answer) must still stop the bot promptly.
        starting = asyncio.ensure_future(bot.start())
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            if starting.exception() is not None:
                waiter.cancel()
                starting.result()  # raises the StartupError of a rejected token
            log.info(
                "exitcode-bot is running in %s; /healthz, /readyz, /metrics and /runbooks on port %s",
                bot.mode,
                server.port,
            )
            if bot.alerts is not None:
                bot.alerts.start()
            await waiter
        else:
            starting.cancel()
        log.info("stopping: finishing replies in flight")
    finally:
        await bot.close()
        try:
            await asyncio.wait_for(server.close(), timeout=SHUTDOWN_GRACE_SECONDS + 1)
        except Exception as error:
            log.warning("web server did not stop cleanly: %r", error)
    return EXIT_OK


# --- crash alerts ---------------------------------------------------------------------------------


class AlertRunner:
    """The crash watcher of this process: `start()` once the bot is up, `stop()` at shutdown (bounded).

    It owns the watch's `ApiClient`: a watch holds its connection for minutes, so it gets a connection
    pool of its own and cannot starve the slash commands' reads, the Lease renewals or the ledger writes.
    """

    def __init__(self, service: AlertService, watch_client: ApiClient) -> None:
        self.service = service
        self._watch_client = watch_client
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the service in the background (it waits for the Lease first, unless in console mode)."""
        if self._task is None and not self._stop.is_set():
            self._task = asyncio.create_task(self.service.run(self._stop), name="crash-alerts")
            self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stop.is_set():
            return
        error = task.exception()
        log.error("the crash watcher stopped unexpectedly; slash commands still work", exc_info=error)

    async def stop(self, grace_seconds: float = ALERT_SHUTDOWN_SECONDS) -> None:
        """Stop watching, store the ledger, release the Lease: within `grace_seconds`, else cancel it
        (as a crash: no release)."""
        self._stop.set()
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), grace_seconds)
            except TimeoutError:
                log.warning("the crash watcher did not stop within %g s; cancelled", grace_seconds)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            except Exception:  # a failure while stopping must not stop the rest of the shutdown
                log.exception("the crash watcher failed while stopping")
        self.close_client()

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The running service (None before `start()`)."""
        return self._task

    def close_client(self) -> None:
        self._watch_client.close()  # type: ignore[no-untyped-call]


class ClusterAlertRunners:
    """CLUSTERS: one `AlertRunner` per cluster, started and stopped together but otherwise independent.

    Each campaigns for its own Lease, so a replica may lead some clusters and stand by for others, and
    a cluster that is down (its watch backing off) never holds up another's alerts. They stop
    concurrently, so shutdown takes one ALERT_SHUTDOWN_SECONDS, not one per cluster."""

    def __init__(self, runners: dict[str, AlertRunner], home: str) -> None:
        self.runners = runners
        self.home = home

    @property
    def service(self) -> AlertService:
        """The home cluster's service (the alert buttons' snooze store until buttons name a cluster)."""
        return (
            self.runners[self.home].service
            if self.home in self.runners
            else next(iter(self.runners.values())).service
        )

    def start(self) -> None:
        for runner in self.runners.values():
            runner.start()

    async def stop(self, grace_seconds: float = ALERT_SHUTDOWN_SECONDS) -> None:
        await asyncio.gather(*(runner.stop(grace_seconds) for runner in self.runners.values()))


def build_cluster_alert_runners(
    settings: Settings,
    knowledge: KnowledgeBase,
    clusters: ClusterRegistry,
    config: BotConfig,
    *,
    sink: AlertSink,
    metrics: AlertMetrics | None = None,
    identity: str | None = None,
    tuning: AlertTuning | None = None,
) -> ClusterAlertRunners | None:
    """One watcher per cluster that has a client: `<LEASE_NAME>-<cluster>` and
    `<LEDGER_CONFIGMAP>-<cluster>` in POD_NAMESPACE of the home cluster, alerts named by the cluster.
    None when the home cluster (where the Leases live) has no client. Raises `StartupError` for a
    WATCH_LABEL_SELECTOR that does not parse."""
    from bot.alert_service.build import (
        AlertConfigError,
        build_alert_service,
        default_identity,
        sibling_client,
    )
    from bot.application.clusters import lease_name_for, ledger_name_for

    home = clusters.home_connection.api_client
    if home is None:
        return None
    identity = identity or default_identity()
    runners: dict[str, AlertRunner] = {}
    for connection in clusters:
        name = connection.name or clusters.home
        if connection.api_client is None:
            log.warning("cluster %s is not watched: %s", name, connection.problem)
            continue
        watch_client = sibling_client(connection.api_client)
        try:
            service = build_alert_service(
                settings,
                knowledge,
                connection.api_client,
                sink=sink,
                metrics=metrics,
                reader=connection.reader,
                namespace_channels=config.namespace_channels,
                identity=identity,
                tuning=tuning,
                stream_api_client=watch_client,
                state_api_client=home,
                lease_name=lease_name_for(settings.lease_name, name),
                ledger_name=ledger_name_for(settings.ledger_configmap, name),
                cluster_name=name,
            )
        except AlertConfigError as error:
            watch_client.close()  # type: ignore[no-untyped-call]
            for runner in runners.values():
                runner.close_client()
            raise StartupError(str(error)) from None
        runners[name] = AlertRunner(service, watch_client)
    log.info(
        "crash alerts on for %d clusters: each is watched by the replica holding Lease %s/%s-<cluster>; "
        "this one is %s",
        len(runners),
        settings.pod_namespace,
        settings.lease_name,
        identity,
    )
    return ClusterAlertRunners(runners, clusters.home) if runners else None


def watcher_wanted(settings: Settings, cluster: ClusterConnection | None) -> bool:
    """The watcher runs with a configured cluster and WATCH_ENABLED (without a cluster `open_cluster`
    has said so already)."""
    if cluster is None or cluster.api_client is None:
        return False
    if not settings.watch_enabled:
        log.info("crash alerts are off (WATCH_ENABLED=false)")
        return False
    return True


def build_alert_runner(
    settings: Settings,
    knowledge: KnowledgeBase,
    cluster: ClusterConnection | None,
    config: BotConfig,
    *,
    sink: AlertSink,
    metrics: AlertMetrics | None = None,
    console: bool = False,
) -> AlertRunner | None:
    """The watcher for these settings, or None when it does not run (see `watcher_wanted`).

    `console=True`: no leader election and an in-memory ledger. Raises `StartupError` for a
    WATCH_LABEL_SELECTOR that does not parse.
    """
    from bot.alert_service.build import (
        AlertConfigError,
        build_alert_service,
        default_identity,
        sibling_client,
    )

    if not watcher_wanted(settings, cluster):
        return None
    assert cluster is not None and cluster.api_client is not None
    identity = default_identity()
    watch_client = sibling_client(cluster.api_client)
    try:
        service = build_alert_service(
            settings,
            knowledge,
            cluster.api_client,
            sink=sink,
            metrics=metrics,
            reader=cluster.reader,
            namespace_channels=config.namespace_channels,
            leader_election=not console,
            persistent_ledger=not console,
            identity=identity,
            stream_api_client=watch_client,
        )
    except AlertConfigError as error:
        watch_client.close()  # type: ignore[no-untyped-call]
        raise StartupError(str(error)) from None
    if not console:
        log.info(
            "crash alerts on: the replica holding Lease %s/%s watches and posts; this one is %s",
            settings.pod_namespace,
            settings.lease_name,
            identity,
        )
    return AlertRunner(service, watch_client)


# --- runbook pages --------------------------------------------------------------------------------


def runbook_pages(knowledge: KnowledgeBase, public_url: str) -> RunbookPages:
    """The `/runbooks` pages, with absolute links under `PUBLIC_URL` (works behind path prefixes)."""
    from bot.render.html import runbook_index, runbook_page
    from bot.web import RunbookPages

    base = f"{public_url.rstrip('/')}/runbooks/"

    @cache
    def index() -> str:
        explanations = [e for key in knowledge.runbook_keys() if (e := knowledge.runbook(key)) is not None]
        return runbook_index(explanations, base=base)

    def page(key: str) -> str | None:
        explanation = knowledge.runbook(key)
        return runbook_page(explanation, index_href=base) if explanation is not None else None

    def canonical_key(key: str) -> str | None:
        found = knowledge.runbook(key)
        reply = found if found is not None else knowledge.answer(key)
        return reply.runbook_key if isinstance(reply, Explanation) and reply.runbook_key else None

    return RunbookPages(index=index, page=page, canonical_key=canonical_key)
