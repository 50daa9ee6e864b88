"""HTTP mode: Slack's signed POSTs to `/slack/events`, verified, then dispatched into the Bolt app.

`bot.web` owns the server and must not import this package, so wiring hands it the handler built here.

The signature is checked *before anything reads the body*: Slack signs `v0:{timestamp}:{raw bytes}`
with HMAC-SHA256 under `SLACK_SIGNING_SECRET` and sends `X-Slack-Signature: v0=<hex>` and
`X-Slack-Request-Timestamp` (https://api.slack.com/authentication/verifying-requests-from-slack).
Bolt verifies too, but only after it has decoded the body as UTF-8 and parsed `payload=` JSON, so a
stranger's invalid UTF-8 or broken JSON used to be a 500 and a 21-line traceback each (issue 8,
finding 6). Here the raw bytes are verified first; anything unverified is a 401 with a short JSON
body, counted in `/metrics`, and logged at most once a minute (a flood must not flood the log). A
verified body that still cannot be read (only Slack could send it) is a 400, never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import (
    build_normalized_headers,
    extract_content_type,
    parse_body,
    parse_query,
)
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)

SlackRequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_REQUEST_AGE_SECONDS = 5 * 60
"""Slack's rule: a request whose timestamp is more than 5 minutes away from now is a replay."""
REFUSAL_LOG_INTERVAL_SECONDS = 60.0
_MAX_TIMESTAMP_DIGITS = 12  # a Unix time in seconds has 10; anything much longer is not a timestamp


class SlackSignature:
    """Slack's v0 request signature over the raw body bytes, with the replay window."""

    def __init__(self, signing_secret: str, *, clock: Callable[[], float] = time.time) -> None:
        if not signing_secret:
            raise ValueError("HTTP mode needs SLACK_SIGNING_SECRET")
        self._key = signing_secret.encode()
        self._clock = clock

    def verified(self, body: bytes, timestamp: str | None, signature: str | None) -> bool:
        """True only for a body signed with the secret within the last (or next) 5 minutes."""
        if not timestamp or not signature:
            return False
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
            return False
        if abs(self._clock() - int(timestamp)) > MAX_REQUEST_AGE_SECONDS:
            return False
        expected = (
            "v0=" + hmac.new(self._key, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        )
        return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


class _RefusalLog:
    """At most one log line per interval for refused requests, with how many there were."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: float | None = None
        self._unlogged = 0

    def refused(self, request: web.Request) -> None:
        self._unlogged += 1
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return
        log.warning(
            "refused %d request(s) to /slack/events without a valid Slack signature (last from %s); "
            "check SLACK_SIGNING_SECRET if these are Slack's, and the server clock",
            self._unlogged,
            request.remote,
        )
        self._last = now
        self._unlogged = 0


def slack_events_handler(
    app: AsyncApp, signing_secret: str, registry: CollectorRegistry | None = None
) -> SlackRequestHandler:
    """An aiohttp handler for `POST /slack/events` (commands, interactivity and events alike).

    `registry` (the bot's metrics registry) gets `exitcode_bot_slack_requests_refused_total{reason}`:
    `signature` for unverified requests, `unreadable` for signed bodies that cannot be parsed.
    """
    signature = SlackSignature(signing_secret)
    refusals = _RefusalLog(REFUSAL_LOG_INTERVAL_SECONDS)
    refused = Counter(
        "exitcode_bot_slack_requests_refused",
        "Requests to /slack/events refused before reaching the Bolt app, by reason.",
        ["reason"],
        registry=registry if registry is not None else CollectorRegistry(),
    )

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = request.headers
        if not signature.verified(
            body, headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")
        ):
            refused.labels(reason="signature").inc()
            refusals.refused(request)
            return web.json_response({"error": "invalid request signature"}, status=401)
        try:
            bolt_request = SignedRequest(
                body.decode("utf-8"),
                query=request.query_string,
                headers={name: value for name, value in headers.items()},
            )
        except ValueError as error:  # UnicodeDecodeError and json.JSONDecodeError are ValueErrors
            refused.labels(reason="unreadable").inc()
            log.warning("a signed Slack request could not be read (%s); answered 400", type(error).__name__)
            return web.json_response({"error": "unreadable request body"}, status=400)
        bolt_response = await app.async_dispatch(bolt_request)
        if "set-cookie" in bolt_response.headers:  # never for this app's listeners; Bolt knows cookies
            return await to_aiohttp_response(bolt_response)
        return aiohttp_response(bolt_response)

    return handle


class SignedRequest(AsyncBoltRequest):
    """`AsyncBoltRequest(body=..., query=..., headers=...)` in HTTP mode, attribute for attribute, made
    cheaper: every slash command pays for reading its form body, and `urllib.parse.parse_qsl` unquotes
    each of its ~13 fields in Python even when (as for all but `command` and `response_url`) there is
    nothing to unquote. JSON and `payload=` bodies (interactivity) are read by Bolt's own `parse_body`.
    tests/test_slack_http.py compares both readings over any body.
    """

    def __init__(self, body: str, *, query: str, headers: dict[str, str]) -> None:
        self.raw_body = body
        self.query = parse_query(query) if query else {}
        self.headers = build_normalized_headers(headers)  # type: ignore[arg-type]
        self.content_type = extract_content_type(self.headers)
        if self.content_type != "application/json" and not body.startswith("{") and "payload" not in body:
            self.body = form_fields(body)
        else:
            self.body = parse_body(body, self.content_type)
        self.context = build_async_context(AsyncBoltContext({}), self.body)
        self.lazy_only = bool(self.headers.get("x-slack-bolt-lazy-only", [False])[0])
        self.lazy_function_name = self.headers.get("x-slack-bolt-lazy-function-name", [None])[0]
        self.mode = "http"


def form_fields(body: str) -> dict[str, Any]:
    """`dict(urllib.parse.parse_qsl(body, keep_blank_values=True))`, unquoting only what needs it."""
    fields: dict[str, Any] = {}
    for pair in body.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "+" in name:
            name = name.replace("+", " ")
        if "%" in name:
            name = unquote(name, errors="replace")
        if "+" in value:
            value = value.replace("+", " ")
        if "%" in value:
            value = unquote(value, errors="replace")
        fields[name] = value
    return fields


def aiohttp_response(bolt_response: BoltResponse) -> web.Response:
    """The response `to_aiohttp_response` makes for one without cookies, byte for byte, made cheaper.

    Every request pays for this conversion, so the body goes in as UTF-8 bytes (aiohttp sends the same
    bytes, without looking up a payload type) and the charset pattern is compiled once.
    """
    headers = {name: values[0] for name, values in bolt_response.headers.items() if name != "content-type"}
    listed = bolt_response.headers.get("content-type")
    body = bolt_response.body
    content_type = listed[0] if listed else "application/json" if body.startswith("{") else "text/plain"
    content_type = _CHARSET.sub("", content_type)
    return web.Response(
        status=bolt_response.status, body=body.encode(), headers=headers, content_type=content_type
    )


_CHARSET = re.compile(r";\s*charset=utf-8")
