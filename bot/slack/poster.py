"""Sends crash alerts to Slack: paced per channel, retried until Slack takes them, never dropped.

Slack allows about one message per second per channel and answers bursts with `429` and `Retry-After`;
during its incidents it answers `5xx` or nothing at all. An alert that gives up after two retries is a
crash nobody hears about, so this sink retries for as long as the process runs (the alert service
cancels it when it stops or loses the leader Lease; the unsent message then stays in the ledger's outbox
for whoever leads next):

- writes to one channel go one at a time, each starting at least `1 / messages_per_second` after the
  previous one was *answered* (default: one per second). A token bucket (`aiolimiter`) spaces the
  requests' starts, but Slack counts their arrivals, and a request that leaves on time can arrive within
  the second after a slow one: the storm benchmark saw a third of the messages refused that way.
  Spacing from the answer guarantees the arrivals are a second apart, for one round trip per message;
- `429`: wait exactly `Retry-After` (plus a little jitter), then again;
- `5xx`, timeouts, dropped connections: exponential backoff with full jitter, capped;
- a message Slack refuses for its blocks (`invalid_blocks`, `msg_blocks_too_long`): sent again as its
  plain fallback text, so the crash is still reported;
- a channel the bot cannot post to (`not_in_channel`, `channel_not_found`): a warning that says what to
  do, and retries with the capped backoff, so inviting the bot delivers the waiting alerts;
- a post given a `PostMarker` carries it in its message metadata, and is never posted twice: after a
  timeout, a reset or a `5xx` (Slack may have carried it out) and before the first attempt of a post an
  earlier leader may have made, the channel (or thread) is read for the marker first
  (`bot.slack.posted_lookup`; `conversations.history` is Tier 3, about 50 calls a minute, and is only
  called in those cases).

The sink owns a client without slack_sdk's retry handlers: it retries itself (with no cap on attempts)
and counts every failure by kind for the Slack-errors metric.

Message references (`post` returns one, `update` and threads take one) are `<channel id>:<ts>`: Slack's
`chat.update` wants the channel's id, which only the answer to `chat.postMessage` gives when the alert
channel is configured by name; the reference survives restarts in the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.render.alert_blocks import alert_blocks, alert_fallback_text
from bot.render.alert_text import AlertView
from bot.slack.posted_lookup import Lookup, PostMarker, find_posted, marker_metadata

__all__ = ["PostMarker", "PosterSettings", "SlackAlertSink", "message_ref", "parse_message_ref"]

log = logging.getLogger(__name__)

PLAIN_TEXT_ERRORS = frozenset(
    {"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long", "msg_too_long"}
)
"""Slack refused the formatting, not the message: resend it as plain text."""
GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
"""`chat.update` cannot edit this message any more: the caller posts a new one or skips the edit."""
CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})
_HINTS = {
    "not_in_channel": "invite the bot to the channel (/invite @exitcode-bot)",
    "channel_not_found": "check ALERT_CHANNEL, the config file's namespace_channels, or the "
    "exitcode-bot/channel annotation, and invite the bot",
    "is_archived": "the channel is archived: unarchive it or route the alerts elsewhere",
    "invalid_auth": "SLACK_BOT_TOKEN was rejected",
    "missing_scope": "the Slack app lacks the chat:write scope",
}

ErrorHook = Callable[[str], None]
MAX_UNKNOWN_CHECKS = 10
"""History reads that may fail in a row before the post goes out unchecked: a crash nobody hears
about is worse than one repeated (the same choice as the ledger's unsaved grace)."""


def _ignore(_: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class PosterSettings:
    """Pacing and retry timing; production defaults, tests speed them up."""

    messages_per_second: float = 1.0
    """Per channel: Slack's documented posting limit."""
    timeout_seconds: float = 10.0
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 30.0
    channel_error_cap_seconds: float = 300.0
    """A channel the bot cannot post to is retried this rarely (it takes a human to fix)."""
    max_retry_after_seconds: float = 600.0
    """A `Retry-After` larger than this is treated as this (a confused proxy must not park alerts)."""


def message_ref(channel_id: str, ts: str) -> str:
    return f"{channel_id}:{ts}"


def parse_message_ref(ref: str) -> tuple[str, str]:
    """(channel id, ts); raises `ValueError` for something `message_ref` did not make."""
    channel_id, separator, ts = ref.rpartition(":")
    if not separator or not channel_id or not ts:
        raise ValueError(f"not a Slack message reference: {ref!r}")
    return channel_id, ts


@dataclass
class _Pace:
    """One channel's turn: one write at a time, the next not before `next_at` (loop time)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float = 0.0


class _Gone(Exception):
    """The message to edit no longer exists (or can no longer be edited)."""


class _PlainTextNeeded(Exception):
    """Slack refused the blocks; the message should go out as plain text."""


class _NoThread(Exception):
    """The thread to reply in was deleted."""


class SlackAlertSink:
    """The Slack side of the alert service: `post`, `update`; both retry until done or cancelled."""

    needs_channel = True
    """An alert with no channel cannot be posted (the service logs it instead)."""

    def __init__(
        self,
        client: AsyncWebClient,
        settings: PosterSettings | None = None,
        *,
        on_error: ErrorHook = _ignore,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings or PosterSettings()
        # Our own client: the same token and URL, but no retry handlers (see the module docstring).
        self._client = AsyncWebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=max(1, round(self.settings.timeout_seconds)),
            retry_handlers=[],
            logger=logging.getLogger("bot.slack.alert_client"),
        )
        self._on_error = on_error
        self._sleep = sleep
        self._channels: dict[str, _Pace] = {}
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self._warned: set[str] = set()
        self._ids: dict[str, str] = {}
        """Channel name → id, learned from `chat.postMessage` answers (the history check needs ids)."""

    @property
    def client(self) -> AsyncWebClient:
        """The sink's own client (no retry handlers), for the already-posted check."""
        return self._client

    # --- the sink protocol ----------------------------------------------------------------------------

    async def post(
        self,
        channel: str | None,
        view: AlertView,
        *,
        thread: str | None = None,
        marker: PostMarker | None = None,
    ) -> str:
        """Post `view` (in the thread of message `thread`, if given); returns the new message's ref.

        With a `marker`, the message carries it in its metadata, and a top-level post is never repeated
        when Slack may have carried out an attempt it did not confirm (see `bot.slack.posted_lookup`).
        """
        target = channel or ""
        thread_ts: str | None = None
        if thread is not None:
            target, thread_ts = parse_message_ref(thread)
        if not target:
            raise ValueError("an alert needs a channel to be posted to Slack")
        text = alert_fallback_text(view)
        blocks: list[dict[str, Any]] | None = alert_blocks(view)
        check = self._posted_check(target, marker, thread_ts) if marker is not None else None
        while True:
            arguments: dict[str, Any] = {"channel": target, "text": text, "unfurl_links": False}
            if blocks is not None:
                arguments["blocks"] = blocks
            if thread_ts is not None:
                arguments["thread_ts"] = thread_ts
            if marker is not None:
                arguments["metadata"] = marker_metadata(marker)
            try:
                data = await self._call("chat.postMessage", target, arguments, check)
            except _PlainTextNeeded:
                blocks = None
                continue
            except _NoThread:
                thread_ts = None  # the root was deleted: the repeat is still worth a message of its own
                if check is not None:
                    check.thread_ts = None
                continue
            channel_id = str(data.get("channel") or target)
            # Replies and edits address the channel by id: let them share its turn with the posts.
            self._channels.setdefault(channel_id, self._channels[target])
            self._ids[target] = channel_id
            return message_ref(channel_id, str(data["ts"]))

    def _posted_check(self, target: str, marker: PostMarker, thread_ts: str | None) -> _PostedCheck:
        """The history check for one top-level post: the earliest time it may have reached Slack is the
        inherited `sent_since`, else the first attempt's start."""
        since = marker.sent_since if marker.sent_since is not None else time.time()
        return _PostedCheck(self, target, marker, since, thread_ts)

    def channel_id(self, target: str) -> str | None:
        """The id `conversations.history` needs: the target itself when it is one, else learned from an
        earlier post's answer (None: the history cannot be read for a channel known only by name)."""
        if target[:1] in ("C", "G", "D") and not target.startswith("#"):
            return target
        return self._ids.get(target)

    async def update(self, ref: str, view: AlertView) -> bool:
        """Edit message `ref` to show `view`; False when Slack says it cannot be edited any more."""
        channel_id, ts = parse_message_ref(ref)
        text = alert_fallback_text(view)
        blocks: list[dict[str, Any]] | None = alert_blocks(view)
        while True:
            arguments: dict[str, Any] = {"channel": channel_id, "ts": ts, "text": text}
            if blocks is not None:
                arguments["blocks"] = blocks
            try:
                await self._call("chat.update", channel_id, arguments)
            except _PlainTextNeeded:
                blocks = None
                continue
            except _Gone:
                return False
            return True

    # --- one call, retried ------------------------------------------------------------------------------

    async def _call(
        self, method: str, channel: str, arguments: dict[str, Any], check: _PostedCheck | None = None
    ) -> dict[str, Any]:
        """The `data` of a successful call; retries everything else except what the caller must decide."""
        pace = self._channels.setdefault(channel, _Pace())
        async with pace.lock:
            return await self._call_paced(method, channel, arguments, pace, check)

    async def _call_paced(
        self,
        method: str,
        channel: str,
        arguments: dict[str, Any],
        pace: _Pace,
        check: _PostedCheck | None = None,
    ) -> dict[str, Any]:
        failures = 0
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.settings.messages_per_second
        while True:
            wait = pace.next_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if check is not None and check.needed:
                found = await check.run()
                if isinstance(found, dict):
                    log.info("%s to %s had gone through already; not posting it again", method, channel)
                    return found
                if found is Lookup.UNKNOWN and check.unknown < MAX_UNKNOWN_CHECKS:
                    check.unknown += 1  # cannot tell yet: posting now could repeat the alert
                    failures += 1
                    await self._sleep(self._backoff(failures, self.settings.backoff_cap_seconds))
                    continue
                if found is Lookup.UNKNOWN:
                    log.warning(
                        "%s to %s: the channel history stayed unreadable; posting (it may repeat)",
                        method,
                        channel,
                    )
                check.needed = False
            try:
                response = await self._client.api_call(method, json=arguments)
                data = response.data
                if isinstance(data, dict):
                    if failures:
                        log.info("%s to %s went through after %d failed attempts", method, channel, failures)
                    return data
                raise SlackClientError(f"{method} answered something that is not JSON")
            except SlackApiError as error:
                if check is not None and getattr(error.response, "status_code", 0) >= 500:
                    check.needed = True  # the edge failed, the message may be stored all the same
                delay = self._api_error_delay(method, channel, error, failures)
            except (TimeoutError, aiohttp.ClientError, SlackClientError, OSError) as error:
                if check is not None:
                    check.needed = True  # Slack may have posted it and answered too late
                kind = "timeout" if isinstance(error, TimeoutError) else "connection"
                self._on_error(kind)
                delay = self._backoff(failures, self.settings.backoff_cap_seconds)
                self._log_failure(method, channel, kind, failures, str(error) or type(error).__name__)
            finally:
                pace.next_at = loop.time() + interval
            failures += 1
            await self._sleep(delay)

    def _api_error_delay(self, method: str, channel: str, error: SlackApiError, failures: int) -> float:
        """How long to wait after a Slack error; raises for errors the caller handles itself."""
        response = error.response
        status = getattr(response, "status_code", 0)
        data = getattr(response, "data", None)
        code = str(data.get("error") or "") if isinstance(data, dict) else ""
        if status == 429 or code == "ratelimited":
            self._on_error("ratelimited")
            retry_after = _retry_after(getattr(response, "headers", None))
            log.debug("%s to %s rate limited; retrying in %.1f s", method, channel, retry_after)
            return min(retry_after, self.settings.max_retry_after_seconds) + self._rng.uniform(0, 0.1)
        if status >= 500:
            self._on_error("server_error")
            self._log_failure(method, channel, f"HTTP {status}", failures, "Slack is having trouble")
            return self._backoff(failures, self.settings.backoff_cap_seconds)
        self._on_error(code or f"http_{status}")
        if code in PLAIN_TEXT_ERRORS:
            log.warning("Slack refused an alert's blocks (%s); sending it as plain text", code)
            raise _PlainTextNeeded from error
        if code in GONE_ERRORS and method == "chat.update":
            raise _Gone from error
        if code == "thread_not_found":
            raise _NoThread from error
        cap = (
            self.settings.channel_error_cap_seconds
            if code in CHANNEL_ERRORS or code in _HINTS
            else self.settings.backoff_cap_seconds
        )
        self._log_failure(method, channel, code or f"HTTP {status}", failures, _HINTS.get(code, ""))
        return self._backoff(failures, cap)

    def _backoff(self, failures: int, cap: float) -> float:
        """Full jitter: many alerts failing together do not retry together."""
        ceiling = min(cap, self.settings.backoff_base_seconds * 2 ** min(failures, 20))
        return self._rng.uniform(ceiling / 2, ceiling)

    def _log_failure(self, method: str, channel: str, kind: str, failures: int, detail: str) -> None:
        """A warning for the first failure of a kind per channel, then quieter: an outage is one story."""
        key = f"{channel}:{kind}"
        level = logging.DEBUG if key in self._warned and failures else logging.WARNING
        self._warned.add(key)
        suffix = f": {detail}" if detail else ""
        log.log(level, "%s to %s failed (%s), will retry%s", method, channel, kind, suffix)


class _PostedCheck:
    """Whether one top-level post must look for itself in the channel before the next attempt."""

    def __init__(
        self,
        sink: SlackAlertSink,
        target: str,
        marker: PostMarker,
        since: float,
        thread_ts: str | None,
    ) -> None:
        self._sink = sink
        self._target = target
        self._marker = marker
        self._since = since
        self.thread_ts = thread_ts
        self.needed = marker.sent_since is not None
        self.unknown = 0
        """History reads that failed in a row (429, 5xx, network) for this post."""

    async def run(self) -> dict[str, Any] | Lookup | None:
        channel_id = self._sink.channel_id(self._target)
        if channel_id is None:
            return Lookup.UNAVAILABLE
        return await find_posted(
            self._sink.client, channel_id, self._marker, self._since, thread_ts=self.thread_ts
        )


def _retry_after(headers: Any) -> float:
    try:
        value = headers.get("Retry-After") if headers is not None else None
        return max(0.0, float(value)) if value is not None else 1.0
    except (TypeError, ValueError):
        return 1.0
