"""Builds the bot from its settings and runs the right transport until a signal stops it.

The only module that knows every adapter: the Slack app, the web server and the console never
import each other, they are handed what they need here. Modes, decided once at startup:
- no SLACK_BOT_TOKEN: console mode (stdin/stdout);
- SLACK_APP_TOKEN set: Socket Mode, plus the web server for probes, metrics and runbook pages;
- otherwise HTTP mode: the web server also receives Slack's signed requests on `/slack/events`.

The Kubernetes client is built once here, before either mode starts, from the cluster kubectl would use
(KUBECONFIG, ~/.kube/config, in-cluster). Without one the bot still runs: explanations need no cluster,
and `/exitcode pod|ns` answer with the sentence saying why there is none. It is closed at shutdown.

Exit codes: 0 after SIGTERM/SIGINT or end of console input (the bot must never itself exit with the
137 it explains), 2 for configuration an operator must fix, 1 for anything unexpected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine
from functools import cache
from typing import TYPE_CHECKING, Any

from bot.access import BotConfig, ConfigFileError, NamespaceAccess, load_bot_config
from bot.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, StartupError, load_knowledge_base
from bot.knowledge import KnowledgeBase
from bot.knowledge.explanation import Explanation
from bot.logs import configure_logging
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.diagnose_service import ClusterConnection, DiagnoseService
    from bot.metrics import BotMetrics
    from bot.slack import DiagnoseHandler
    from bot.web import RunbookPages

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 2.0
"""How long in-flight replies may take to finish at shutdown (Kubernetes allows 30 s; we need far less)."""


def run_bot(settings: Settings) -> int:
    """Run until stopped; returns the process exit code. Errors an operator must fix print one line."""
    configure_logging(settings.log_level, settings.log_format, secrets=secret_values(settings))
    try:
        check_transport(settings)
        knowledge = load_knowledge_base(settings)
        config = load_config_file(settings)
        cluster = open_cluster(settings)
        try:
            if not settings.slack_enabled:
                service = build_diagnose_service(settings, knowledge, cluster, config)
                return asyncio.run(run_console_mode(knowledge, diagnose_service=service))
            return asyncio.run(run_slack_mode(settings, knowledge, cluster=cluster, config=config))
        finally:
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
    from bot.diagnose_service import connect_cluster

    cluster = connect_cluster(settings.kube_timeout_seconds)
    if cluster.api_client is not None:
        log.info("reading the Kubernetes cluster at %s", cluster.api_client.configuration.host)
    else:
        log.warning("no Kubernetes cluster: /exitcode pod and ns will say so. %s", cluster.problem)
    return cluster


def build_diagnose_service(
    settings: Settings,
    knowledge: KnowledgeBase,
    cluster: ClusterConnection,
    config: BotConfig,
    metrics: BotMetrics | None = None,
) -> DiagnoseService:
    """`/exitcode pod|ns` with the settings' namespaces, log lines and access policy."""
    from bot.diagnose_service import DiagnoseService
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
    knowledge: KnowledgeBase, *, diagnose_service: DiagnoseService | None = None
) -> int:
    """Answer stdin lines until end of input or a signal: explanations, and `pod …`/`ns …` through
    `diagnose_service` (without one, those lines are explained as queries, i.e. answered with usage).

    `output` is also the alert sink of console mode: the crash watcher, when it runs here, prints its
    alerts with `output.print_alert(text)` between the replies.
    """
    from bot.console import ConsoleOutput, run_console
    from bot.render.text import reply_text

    output = ConsoleOutput()

    async def answer(text: str) -> str:
        if diagnose_service is not None:
            try:
                diagnosed = await diagnose_service.console_answer(text)
            except Exception:  # a bug must cost one answer, not the console session
                log.exception("console: %r failed", text[:200])
                return "Sorry, something went wrong while answering that; it has been logged.\n"
            if diagnosed is not None:
                return diagnosed
        return reply_text(knowledge.answer(text))

    stop = stop_on_signals()
    return await run_until_stopped(stop, asyncio.ensure_future(run_console(answer, output=output)))


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
    """

    def __init__(
        self,
        settings: Settings,
        knowledge: KnowledgeBase,
        *,
        diagnose: DiagnoseHandler | None = None,
        cluster: ClusterConnection | None = None,
        config: BotConfig | None = None,
    ) -> None:
        from bot.metrics import BotMetrics
        from bot.slack import (
            BackgroundTasks,
            SocketModeConnection,
            build_app,
            build_web_client,
            slack_events_handler,
        )
        from bot.web import WebEndpoints, always_healthy, build_web_app

        if settings.slack_bot_token is None:
            raise StartupError("SLACK_BOT_TOKEN is not set")
        self.lifecycle = Lifecycle()
        self.metrics = BotMetrics()
        self.tasks = BackgroundTasks()
        self.diagnose_service: DiagnoseService | None = None
        if diagnose is None and cluster is not None:
            self.diagnose_service = build_diagnose_service(
                settings, knowledge, cluster, config if config is not None else BotConfig(), self.metrics
            )
            diagnose = self.diagnose_service.handle_slack
        self.client = build_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
        self.app = build_app(
            client=self.client,
            knowledge=knowledge,
            signing_secret=secret,
            metrics=self.metrics,
            tasks=self.tasks,
            diagnose=diagnose,
        )
        self.socket: SocketModeConnection | None = None
        if settings.slack_app_token is not None:
            self.socket = SocketModeConnection(
                self.app, settings.slack_app_token.get_secret_value(), self.client
            )
        self.web_app = build_web_app(
            WebEndpoints(
                metrics=self.metrics.exposition,
                slack_events=None if self.socket is not None else slack_events_handler(self.app),
                healthy=self.slack_connection if self.socket is not None else always_healthy,
                ready=self.lifecycle.readiness,
                runbooks=runbook_pages(knowledge, settings.public_url) if settings.public_url else None,
            )
        )

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
        """Stop taking requests, let replies in flight finish briefly, close connections; bounded."""
        self.lifecycle.stopping = True
        steps: list[Coroutine[Any, Any, None]] = []
        if self.socket is not None:
            steps.append(self.socket.close())
        steps.append(self.tasks.drain(SHUTDOWN_GRACE_SECONDS))
        for step in steps:
            try:
                await asyncio.wait_for(step, timeout=SHUTDOWN_GRACE_SECONDS + 1)
            except Exception as error:  # shutdown must finish; a stuck step is logged, not awaited forever
                log.warning("shutdown step did not finish cleanly: %r", error)


async def run_slack_mode(
    settings: Settings,
    knowledge: KnowledgeBase,
    *,
    cluster: ClusterConnection | None = None,
    config: BotConfig | None = None,
) -> int:
    """Serve PORT, connect to Slack, and run until SIGTERM/SIGINT (`cluster` is closed by the caller)."""
    from bot.web import start_web_server

    stop = stop_on_signals()
    bot = SlackBot(settings, knowledge, cluster=cluster, config=config)
    try:
        server = await start_web_server(bot.web_app, settings.port)
    except OSError as error:
        raise StartupError(f"cannot listen on PORT {settings.port}: {error.strerror or error}") from None
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
