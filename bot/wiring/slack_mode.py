"""Slack mode: serve PORT, connect to Slack, start the watcher, and run until SIGTERM/SIGINT.

A signal during startup (Slack slow to answer) still stops the bot promptly; shutdown is bounded.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.access import BotConfig
from bot.application.startup import EXIT_OK
from bot.knowledge import KnowledgeBase
from bot.settings import Settings
from bot.wiring.lifecycle import close_server, listen, stop_on_signals
from bot.wiring.slack_bot import SlackBot

if TYPE_CHECKING:
    from bot.application.cluster import ClusterConnection
    from bot.application.clusters import ClusterRegistry

log = logging.getLogger(__name__)


async def run_slack_mode(
    settings: Settings,
    knowledge: KnowledgeBase,
    *,
    cluster: ClusterConnection | None = None,
    config: BotConfig | None = None,
    clusters: ClusterRegistry | None = None,
) -> int:
    """Serve PORT, connect to Slack, and run until SIGTERM/SIGINT (`cluster` is closed by the caller)."""
    stop = stop_on_signals()
    bot = SlackBot(settings, knowledge, cluster=cluster, config=config, clusters=clusters)
    server = await listen(bot.web_app, settings)
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
        await close_server(server)
    return EXIT_OK
