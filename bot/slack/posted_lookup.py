"""Was this alert already posted? The check that makes re-posting a top-level alert idempotent.

A `chat.postMessage` that times out, loses its connection or gets a `5xx` may still have been carried
out: Slack answered too late, or its edge failed after the message was stored. Posting again blindly
repeats the alert (the torture run saw it 13 times out of 13 slow answers). So every alert carries a
marker in its message `metadata` (`event_type` `exitcode_bot_alert`, `event_payload.id` = the outbox
entry id, stable across retries, restarts and leaders), and before posting a root or digest again after
such a failure, or before the first post of an entry inherited from an earlier leader that may have sent
it, the sink reads the channel's recent history (`conversations.history` with `include_all_metadata`,
from shortly before the first attempt) and takes the message it finds instead of posting.

What remains (documented in the README): a message Slack stores *after* this check (an answer slower
than the timeout plus the backoff), a channel configured by name whose id the bot has not learned yet
(`conversations.history` only takes ids; configure channel ids to close this), thread replies (they are
not in the channel's history), and a workspace that did not grant `channels:history`/`groups:history`
(the check is then skipped with one warning and the old at-least-once behaviour applies).
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.alerting.actions import PostMarker

__all__ = ["EVENT_TYPE", "Lookup", "PostMarker", "find_posted", "marker_metadata"]

log = logging.getLogger(__name__)

EVENT_TYPE = "exitcode_bot_alert"
_PAGE = 200
_MAX_PAGES = 5
_warned: set[str] = set()
_CLOCK_SKEW_SECONDS = 120.0
"""Slack's `ts` is Slack's clock; ours may be behind. The marker makes a wider window harmless."""


class Lookup(Enum):
    """A check that could not be made: `UNKNOWN` retries later; `UNAVAILABLE` posts anyway."""

    UNKNOWN = "unknown"
    UNAVAILABLE = "unavailable"


def marker_metadata(marker: PostMarker) -> dict[str, Any]:
    return {"event_type": EVENT_TYPE, "event_payload": {"id": marker.id}}


async def find_posted(
    client: AsyncWebClient, channel_id: str, marker: PostMarker, since: float
) -> dict[str, Any] | Lookup | None:
    """The posted message's `{"channel", "ts"}` if the channel holds one with `marker`, None if not,
    or a `Lookup` when the history cannot be read now (`UNKNOWN`) or at all (`UNAVAILABLE`)."""
    cursor: str | None = None
    oldest = f"{max(0.0, since - _CLOCK_SKEW_SECONDS):.6f}"
    for _ in range(_MAX_PAGES):
        try:
            response = await client.conversations_history(
                channel=channel_id, oldest=oldest, include_all_metadata=True, limit=_PAGE, cursor=cursor
            )
        except SlackApiError as error:
            status = getattr(error.response, "status_code", 0)
            if status == 429 or status >= 500:
                return Lookup.UNKNOWN
            code = error.response.get("error") if error.response is not None else None
            if channel_id in _warned:
                return Lookup.UNAVAILABLE
            _warned.add(channel_id)
            log.warning(
                "cannot check whether an alert was already posted to %s (%s); retrying it may repeat it: "
                "grant channels:history and groups:history (see the app manifest)",
                channel_id,
                code,
            )
            return Lookup.UNAVAILABLE
        except (TimeoutError, aiohttp.ClientError, SlackClientError, OSError):
            return Lookup.UNKNOWN
        data = response.data if isinstance(response.data, dict) else {}
        for message in data.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == EVENT_TYPE and payload.get("id") == marker.id:
                return {"channel": channel_id, "ts": str(message["ts"])}
        cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "") or None
        if not data.get("has_more") or cursor is None:
            return None
    return None
