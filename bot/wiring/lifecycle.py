"""How the bot starts and stops in every mode: stop signals, the bounded wait, readiness, the server.

A signal ends the bot with exit code 0 (never the 137 it explains); `/readyz` is ready only between
startup and shutdown. Kept apart from `startup` (which picks the mode) so console and Slack mode can use
it without importing the module that imports them: the package's modules stay acyclic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING

from bot.application.startup import EXIT_OK, StartupError
from bot.settings import Settings

if TYPE_CHECKING:
    from aiohttp import web

    from bot.web import WebServer

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 2.0
"""How long in-flight replies may take to finish at shutdown (Kubernetes allows 30 s; we need far less)."""


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


class Lifecycle:
    """Readiness as `/readyz` reports it: not before startup completed, not once shutdown began."""

    def __init__(self) -> None:
        self.started = False
        self.stopping = False

    async def readiness(self) -> str | None:
        if self.stopping:
            return "shutting down"
        return None if self.started else "starting"


async def listen(app: web.Application, settings: Settings) -> WebServer:
    """Serve `app` on HOST:PORT; an address that cannot be bound is a `StartupError` naming it."""
    from bot.web import start_web_server

    try:
        return await start_web_server(app, settings.port, settings.host)
    except OSError as error:
        raise StartupError(
            f"cannot listen on PORT {settings.port} at HOST {settings.host}: {error.strerror or error}"
        ) from None


async def close_server(server: WebServer) -> None:
    """Stop serving, bounded: a stuck connection is logged, never waited on forever."""
    try:
        await asyncio.wait_for(server.close(), timeout=SHUTDOWN_GRACE_SECONDS + 1)
    except Exception as error:
        log.warning("web server did not stop cleanly: %r", error)
