"""HTTP mode: Slack's signed POSTs to `/slack/events`, dispatched into the Bolt app.

`bot.web` owns the server and must not import this package, so wiring hands it the handler built here.
Bolt verifies the signature (HMAC of `v0:timestamp:body` under `SLACK_SIGNING_SECRET`) and the
timestamp (at most 5 minutes old) and answers 401 otherwise. A timestamp header that is not even a
number is refused here first: Bolt would fail on it with a 500 instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

SlackRequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def slack_events_handler(app: AsyncApp) -> SlackRequestHandler:
    """An aiohttp handler for `POST /slack/events` (commands, interactivity and events alike)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        if not timestamp.isascii() or not timestamp.isdigit():
            return web.json_response({"error": "invalid request"}, status=401)
        bolt_response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    return handle
