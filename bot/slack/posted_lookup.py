"""Was this alert already posted? The check that makes re-posting a top-level alert idempotent.

A `chat.postMessage` that times out, loses its connection or gets a `5xx` may still have been carried
out: Slack answered too late, or its edge failed after the message was stored. Posting again blindly
repeats the alert (the torture run saw it 13 times out of 13 slow answers). So every alert carries a
marker in its message `metadata` (`event_type` `exitcode_bot_alert`, `event_payload.id` = the outbox
entry id, stable across retries, restarts and leaders), and before posting a root or digest again after
such a failure, or before the first post of a message an earlier leader may have sent, the sink reads
the channel's recent history (`conversations.history` with `include_all_metadata`, from shortly before
the first attempt; `conversations.replies` for a thread reply) and takes the message it finds instead.

What remains (documented in the README): a message Slack stores *after* this check (an answer slower
than the timeout plus the backoff), a channel configured by name whose id the bot has not learned yet
(`conversations.history` only takes ids; configure channel ids to close this), and a workspace that did
not grant `channels:history`/`groups:history` (the check is then skipped with one warning and the old
at-least-once behaviour applies).
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.alerting.actions import PostMarker

__all__ = ["EVENT_TYPE", "Lookup", "PostMarker", "find_posted", "marker_metadata", "read_markers"]

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
    client: AsyncWebClient,
    channel_id: str,
    marker: PostMarker,
    since: float,
    *,
    thread_ts: str | None = None,
) -> dict[str, Any] | Lookup | None:
    """The posted message's `{"channel", "ts"}` if the channel (or the thread `thread_ts`) holds one
    with `marker`, None if not, or a `Lookup` when that cannot be read now (`UNKNOWN`) or at all
    (`UNAVAILABLE`)."""
    found = await read_markers(client, channel_id, since, thread_ts=thread_ts)
    if isinstance(found, Lookup):
        return found
    ts = found.get(marker.id)
    return {"channel": channel_id, "ts": ts} if ts is not None else None


async def read_markers(
    client: AsyncWebClient, channel_id: str, since: float, *, thread_ts: str | None = None
) -> dict[str, str] | Lookup:
    """Marker id → message ts of the bot's alerts in the channel (or thread) since `since`."""
    cursor: str | None = None
    oldest = f"{max(0.0, since - _CLOCK_SKEW_SECONDS):.6f}"
    markers: dict[str, str] = {}
    for _ in range(_MAX_PAGES):
        try:
            if thread_ts is None:
                response = await client.conversations_history(
                    channel=channel_id, oldest=oldest, include_all_metadata=True, limit=_PAGE, cursor=cursor
                )
            else:
                response = await client.conversations_replies(
                    channel=channel_id,
                    ts=thread_ts,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=_PAGE,
                    cursor=cursor,
                )
        except SlackApiError as error:
            return _unreadable(channel_id, error)
        except (TimeoutError, aiohttp.ClientError, SlackClientError, OSError):
            return Lookup.UNKNOWN
        data = response.data if isinstance(response.data, dict) else {}
        for message in data.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == EVENT_TYPE and isinstance(payload.get("id"), str):
                markers.setdefault(payload["id"], str(message["ts"]))
        cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "") or None
        if not data.get("has_more") or cursor is None:
            break
    return markers


def _unreadable(channel_id: str, error: SlackApiError) -> Lookup:
    status = getattr(error.response, "status_code", 0)
    if status == 429 or status >= 500:
        return Lookup.UNKNOWN
    code = error.response.get("error") if error.response is not None else None
    if code == "thread_not_found":
        return Lookup.UNAVAILABLE  # the root is gone: the reply becomes a message of its own anyway
    if channel_id not in _warned:
        _warned.add(channel_id)
        log.warning(
            "cannot check whether an alert was already posted to %s (%s); retrying it may repeat it: "
            "grant channels:history and groups:history (see the app manifest)",
            channel_id,
            code,
        )
    return Lookup.UNAVAILABLE
