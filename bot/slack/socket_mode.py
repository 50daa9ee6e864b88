"""Socket Mode: Slack delivers requests over a websocket the bot opens, so no public URL is needed.

slack_bolt's `AsyncSocketModeHandler` (aiohttp-based) does the protocol; this wrapper adds what an
operator needs around it: a token that Slack rejects stops the bot at startup with a clear message
(instead of the library retrying forever), connecting happens in the background so health probes and
SIGTERM work while Slack is unreachable, and `is_connected()` backs `/healthz`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.client import SlackTokenRejected, rejected_token_error

log = logging.getLogger(__name__)


class SocketModeConnection:
    """One Socket Mode connection for the app, started in the background."""

    def __init__(
        self, app: AsyncApp, app_token: str, client: AsyncWebClient, *, ping_interval: float = 10
    ) -> None:
        self._app_token = app_token
        self._client = client
        self._handler = AsyncSocketModeHandler(
            app, app_token=app_token, web_client=client, ping_interval=ping_interval
        )
        self._connecting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Check the app token, then connect in the background (retrying while Slack is unreachable).

        Raises `SlackTokenRejected` when Slack answers that the token is wrong; a network failure is
        only logged, because the connection is retried and `/healthz` reports it meanwhile.
        """
        try:
            await self._client.apps_connections_open(app_token=self._app_token)
        except SlackApiError as error:
            code = rejected_token_error(error)
            if code is not None:
                raise SlackTokenRejected(
                    f"Slack rejected SLACK_APP_TOKEN ({code}): use an app-level token (xapp-…) with the "
                    "connections:write scope, from the app's Basic Information page"
                ) from None
            log.warning(
                "apps.connections.open failed (%s); retrying in the background", error.response.get("error")
            )
        except Exception as error:  # network trouble: the handler keeps retrying
            log.warning(
                "Slack is not reachable yet (%s: %s); retrying in the background", type(error).__name__, error
            )
        self._connecting = asyncio.get_running_loop().create_task(self._connect(), name="socket-mode-connect")

    async def _connect(self) -> None:
        await self._handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("connected to Slack (Socket Mode)")

    async def is_connected(self) -> bool:
        return bool(await self._handler.client.is_connected())

    async def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        await self._handler.close_async()  # type: ignore[no-untyped-call]
