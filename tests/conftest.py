"""Shared fixtures: the knowledge base, the fake Slack endpoints, and the bot assembled as in production.

`http_bot` is the real `bot.wiring.SlackBot` (Bolt app, web server routes, metrics) in HTTP mode,
served by an aiohttp test server and talking to `FakeSlackApi` through `SLACK_API_URL`; tests send it
requests signed exactly as Slack signs them. `socket_bot` is the same bot in Socket Mode, connected to
`FakeSocketModeServer`. Later features reuse these (e.g. pass `diagnose=` to `make_http_bot`).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from bot.knowledge import KnowledgeBase, load_knowledge
from bot.settings import Settings
from bot.slack import DiagnoseHandler
from bot.wiring import SlackBot
from tests.fakes.slack_api import DEFAULT_APP_TOKEN, DEFAULT_BOT_TOKEN, FakeSlackApi
from tests.fakes.slack_signing import (
    block_actions_payload,
    interactive_body,
    signed_headers,
    slash_command_body,
)
from tests.fakes.socket_mode import FakeSocketModeServer
from tests.rbac_evidence import EVIDENCE, RbacEvidence

REPO_ROOT = Path(__file__).resolve().parents[1]


# --- the RBAC evidence: the cluster-facing modules' request log, recorded as they run (once) ---------


def pytest_configure(config: pytest.Config) -> None:
    config.stash[EVIDENCE] = RbacEvidence.start()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[EVIDENCE].order(items)


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        items[0].config.stash[EVIDENCE].deselected(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[EVIDENCE].collection_finished(session.items)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    evidence = item.config.stash[EVIDENCE]
    evidence.before(item)
    try:
        yield
    finally:
        evidence.after(item, nextitem)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, Any, None]:
    outcome = yield
    item.config.stash[EVIDENCE].report(outcome.get_result())


SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PUBLIC_URL = "https://exitcode-bot.example.com"


@pytest.fixture(scope="session")
def knowledge_base() -> KnowledgeBase:
    """The bundled knowledge base (bot/knowledge/data/exitcodes.yaml), loaded once."""
    return load_knowledge()


def slack_settings(
    api: FakeSlackApi, *, socket_mode: bool = False, public_url: str | None = PUBLIC_URL
) -> Settings:
    """Settings for a bot that talks to the fake API (no `.env`, nothing from the environment leaks in)."""
    values: dict[str, Any] = {
        "slack_bot_token": DEFAULT_BOT_TOKEN,
        "slack_signing_secret": None if socket_mode else SIGNING_SECRET,
        "slack_app_token": DEFAULT_APP_TOKEN if socket_mode else None,
        "slack_api_url": api.base_url,
        "public_url": public_url,
    }
    return Settings(_env_file=None, **values)


class HttpBot:
    """The bot in HTTP mode behind a test server, plus Slack-shaped request helpers."""

    def __init__(self, bot: SlackBot, client: TestClient[Any, Any], api: FakeSlackApi) -> None:
        self.bot = bot
        self.client = client
        self.api = api

    async def command(
        self, text: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None, **fields: str
    ) -> ClientResponse:
        """POST `/exitcode <text>` as Slack would; the response_url points at the fake API."""
        fields.setdefault("response_url", self.api.response_url("commands"))
        body = slash_command_body(text, **fields)
        headers = signed_headers(secret, body, timestamp=timestamp)
        return await self.client.post("/slack/events", data=body, headers=headers)

    async def command_json(self, text: str, **fields: Any) -> dict[str, Any]:
        """The acknowledgement body of a successful command (asserting HTTP 200)."""
        response = await self.command(text, **fields)
        assert response.status == 200, await response.text()
        body: dict[str, Any] = json.loads(await response.text())
        return body

    async def click(self, payload: dict[str, Any], *, secret: str = SIGNING_SECRET) -> ClientResponse:
        body = interactive_body(payload)
        return await self.client.post("/slack/events", data=body, headers=signed_headers(secret, body))

    async def click_share(self, query: str, **overrides: Any) -> ClientResponse:
        overrides.setdefault("response_url", self.api.response_url("actions"))
        return await self.click(block_actions_payload("exitcode_share", query, **overrides))


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as api:
        yield api


MakeHttpBot = Callable[..., Awaitable[HttpBot]]


@pytest.fixture
async def make_http_bot(slack_api: FakeSlackApi, knowledge_base: KnowledgeBase) -> AsyncIterator[MakeHttpBot]:
    """Build (and start) HTTP-mode bots with options: `diagnose=`, `public_url=`."""
    started: list[tuple[SlackBot, TestClient[Any, Any]]] = []

    async def make(
        *, diagnose: DiagnoseHandler | None = None, public_url: str | None = PUBLIC_URL
    ) -> HttpBot:
        bot = SlackBot(slack_settings(slack_api, public_url=public_url), knowledge_base, diagnose=diagnose)
        client: TestClient[Any, Any] = TestClient(TestServer(bot.web_app))
        await client.start_server()
        await bot.start()
        started.append((bot, client))
        return HttpBot(bot, client, slack_api)

    yield make
    for bot, client in started:
        await bot.close()
        await client.close()


@pytest.fixture
async def http_bot(make_http_bot: MakeHttpBot) -> HttpBot:
    return await make_http_bot()


@pytest.fixture
async def socket_server() -> AsyncIterator[FakeSocketModeServer]:
    async with FakeSocketModeServer() as server:
        yield server


@pytest.fixture
async def socket_api(socket_server: FakeSocketModeServer) -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi(socket_mode_url=socket_server.issue_url) as api:
        yield api


@pytest.fixture
async def socket_bot(
    socket_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> AsyncIterator[tuple[SlackBot, TestClient[Any, Any]]]:
    """A Socket Mode bot (not yet started) and a test client on its web server."""
    bot = SlackBot(slack_settings(socket_api, socket_mode=True), knowledge_base)
    client: TestClient[Any, Any] = TestClient(TestServer(bot.web_app))
    await client.start_server()
    yield bot, client
    await bot.close()
    await client.close()


# --- subprocesses ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def bot_env(**overrides: str) -> dict[str, str]:
    """Environment for `python -m bot` in a subprocess: no Slack settings unless given, repo importable."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "PUBLIC_URL", "KNOWLEDGE_", "RUNBOOK_", "PORT", "LOG_"))
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    # Never the developer's real cluster: a bot with a cluster also starts the crash watcher. Tests that
    # want one pass KUBECONFIG pointing at the fake API server.
    env["KUBECONFIG"] = str(REPO_ROOT / "tests" / "no-such-kubeconfig")
    env.pop("KUBERNETES_SERVICE_HOST", None)
    env.update(overrides)
    return env


BOT_COMMAND = [sys.executable, "-m", "bot"]
