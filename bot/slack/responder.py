"""Answering later through a command's or a button's `response_url`.

Slack gives every slash command and button click a `response_url` that accepts up to five messages
within 30 minutes, in the channel where the user acted, without the bot being a member of it. Replies
that cannot go into the 3-second acknowledgement (a visible share, a pod diagnosis that reads the
cluster) go through here, with the same retries as the Web API client.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.slack.client import API_TIMEOUT_SECONDS, retry_handlers

log = logging.getLogger(__name__)

SERVER_ERROR_RETRIES = 2
RETRY_BACKOFF_SECONDS = 0.25
# slack_sdk's webhook client applies retry handlers to 429s and connection errors only, not to 5xx.
_RETRIABLE_STATUS = frozenset({500, 502, 503, 504})


class Responder:
    """Sends messages to one `response_url`; never raises (a failure is logged and reported as False)."""

    def __init__(self, response_url: str | None, *, timeout: int = API_TIMEOUT_SECONDS) -> None:
        self.response_url = response_url
        self._timeout = timeout

    async def send(
        self,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        in_channel: bool = False,
        replace_original: bool | None = None,
    ) -> bool:
        """Post a message (escaped `text` is the notification fallback); True when Slack accepted it.

        `in_channel=False` shows it only to the user who acted (ephemeral). `replace_original=False`
        keeps the message the button was on, so sharing an answer does not consume the private copy.
        """
        if not self.response_url:
            log.warning("cannot reply: the request carried no response_url")
            return False
        body: dict[str, Any] = {"text": text, "response_type": "in_channel" if in_channel else "ephemeral"}
        if blocks is not None:
            body["blocks"] = blocks
        if replace_original is not None:
            body["replace_original"] = replace_original
        client = AsyncWebhookClient(
            self.response_url,
            timeout=self._timeout,
            retry_handlers=retry_handlers(),
            logger=logging.getLogger("bot.slack.webhook"),
        )
        for attempt in range(SERVER_ERROR_RETRIES + 1):
            try:
                response = await client.send_dict(body)
            except Exception as error:  # aiohttp/timeout errors after the retries: report, do not crash
                log.warning("response_url post failed: %s: %s", type(error).__name__, error)
                return False
            if response.status_code not in _RETRIABLE_STATUS or attempt == SERVER_ERROR_RETRIES:
                break
            await asyncio.sleep(RETRY_BACKOFF_SECONDS * 2**attempt)
        if response.status_code != 200:
            log.warning("response_url post rejected: HTTP %s %s", response.status_code, response.body[:200])
            return False
        return True
