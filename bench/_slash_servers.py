"""One of the two servers `bench.slash_http` compares, in a process of its own.

- `bot`: `bot.wiring.SlackBot` in HTTP mode, exactly as `python -m bot` assembles it;
- `baseline`: a minimal Bolt `AsyncApp` whose `/exitcode` handler only calls `ack()`, served the way
  Bolt's aiohttp adapter documents (`to_bolt_request` / `to_aiohttp_response`).
Both verify signatures with the same secret and call `auth.test` on a fake Slack API. Each runs in its
own process so the benchmark can read each one's CPU time. Prints the port on stdout, then serves
until stdin closes. Usage: `python -m bench._slash_servers bot|baseline`.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.knowledge import load_knowledge
from bot.settings import Settings
from bot.web import WebServer, start_web_server
from bot.wiring import SlackBot
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi

SIGNING_SECRET = "bench-signing-secret-0123456789"


def minimal_bolt_app(api_url: str) -> web.Application:
    app = AsyncApp(
        client=AsyncWebClient(token=DEFAULT_BOT_TOKEN, base_url=api_url),
        signing_secret=SIGNING_SECRET,
        process_before_response=True,
        name="baseline",
    )

    @app.command("/exitcode")
    async def only_ack(ack: AsyncAck) -> None:
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    server = web.Application()
    server.router.add_post("/slack/events", events)
    return server


async def serve(which: str) -> None:
    logging.basicConfig(level=logging.ERROR)
    async with FakeSlackApi() as api:
        bot: SlackBot | None = None
        server: WebServer
        if which == "bot":
            settings = Settings(
                _env_file=None,
                slack_bot_token=DEFAULT_BOT_TOKEN,
                slack_signing_secret=SIGNING_SECRET,
                slack_api_url=api.base_url,
            )
            bot = SlackBot(settings, load_knowledge())
            await bot.start()
            server = await start_web_server(bot.web_app, 0, "127.0.0.1")
        else:
            server = await start_web_server(minimal_bolt_app(api.base_url), 0, "127.0.0.1")
        print(server.port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await server.close()
        if bot is not None:
            await bot.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
