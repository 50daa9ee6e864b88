"""SLASH_COMMAND: one bot per cluster in a workspace, each answering its own command name.

The bot registers the configured name with the real Bolt app; requests are form POSTs signed as Slack
signs them, carrying the command name in their `command` field as Slack sends it. A name Slack could
never send (no `/`, capitals, a space) stops the bot at startup with a sentence naming the setting.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError

from bot.application.cluster import ClusterConnection
from bot.knowledge import KnowledgeBase
from bot.settings import Settings
from bot.wiring import SlackBot
from tests.conftest import SIGNING_SECRET
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi, ResponseUrlPost, validate_blocks
from tests.fakes.slack_signing import signed_headers, slash_command_body

PROD_EU = "/exitcode-prod-eu"


class CommandBot:
    """A started HTTP-mode bot and how to send it a slash command under any name."""

    def __init__(self, bot: SlackBot, client: TestClient[Any, Any], slack: FakeSlackApi) -> None:
        self.bot = bot
        self.client = client
        self.slack = slack

    async def send(self, command: str, text: str, *, response_url: str | None = None) -> tuple[int, str]:
        """POST the command as Slack would; the HTTP status and body of the acknowledgement."""
        body = slash_command_body(
            text, command=command, response_url=response_url or self.slack.response_url()
        )
        response = await self.client.post(
            "/slack/events", data=body, headers=signed_headers(SIGNING_SECRET, body)
        )
        return response.status, await response.text()

    async def ask(self, command: str, text: str) -> tuple[dict[str, Any], ResponseUrlPost]:
        """A command answered later through its `response_url` (pod, ns): the ack and that answer."""
        url = self.slack.response_url()
        status, body = await self.send(command, text, response_url=url)
        assert status == 200, body
        await self.slack.wait_until(lambda: any(post.url == url for post in self.slack.response_posts))
        post = next(post for post in self.slack.response_posts if post.url == url)
        assert post.status == 200, f"Slack would reject this message: {post.body}"
        return json.loads(body), post


@asynccontextmanager
async def command_bot(
    slack: FakeSlackApi,
    knowledge: KnowledgeBase,
    *,
    cluster: ClusterConnection | None = None,
    **settings: Any,
) -> AsyncIterator[CommandBot]:
    """The production `SlackBot` (HTTP mode) with these settings, served by a test server."""
    values: dict[str, Any] = {
        "slack_bot_token": DEFAULT_BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.base_url,
        "watch_enabled": False,
        **settings,
    }
    bot = SlackBot(Settings(_env_file=None, **values), knowledge, cluster=cluster)
    client: TestClient[Any, Any] = TestClient(TestServer(bot.web_app))
    await client.start_server()
    await bot.start()
    try:
        yield CommandBot(bot, client, slack)
    finally:
        await bot.close()
        await client.close()


# --- settings -------------------------------------------------------------------------------------------


def test_the_default_command_is_exitcode() -> None:
    assert Settings(_env_file=None).slash_command == "/exitcode"


def test_the_command_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLASH_COMMAND", PROD_EU)

    assert Settings(_env_file=None).slash_command == PROD_EU


@pytest.mark.parametrize(
    ("value", "explanation"),
    [
        ("exitcode", "must start with '/'"),
        ("/", "must start with '/' and name a command"),
        ("/exitcode prod", "one word without spaces"),
        ("/exitcode\tprod", "one word without spaces"),
        ("/ExitCode", "must be lower-case"),
    ],
)
def test_a_command_slack_could_never_send_is_refused_with_a_clear_reason(
    value: str, explanation: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, slash_command=value)

    message = str(raised.value)
    assert "SLASH_COMMAND" in message and explanation in message
    assert repr(value) in message, "the error quotes what the operator wrote"


def test_the_lower_case_suggestion_is_the_name_to_use() -> None:
    with pytest.raises(ValidationError, match="use '/exitcode-prod'"):
        Settings(_env_file=None, slash_command="/Exitcode-PROD")


# --- the Bolt app answers the configured name -----------------------------------------------------------


async def test_a_custom_command_name_is_answered(
    slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    async with command_bot(slack_api, knowledge_base, slash_command=PROD_EU) as bot:
        status, body = await bot.send(PROD_EU, "137")

    assert status == 200, body
    answer = json.loads(body)
    assert answer["response_type"] == "ephemeral"
    assert "SIGKILL" in answer["text"]
    assert validate_blocks(answer["blocks"]) == []


async def test_a_bot_with_a_custom_name_ignores_the_default_one(
    slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    """Another cluster's app owns `/exitcode`; this bot must not answer it as its own."""
    async with command_bot(slack_api, knowledge_base, slash_command=PROD_EU) as bot:
        status, body = await bot.send("/exitcode", "137")

    assert status == 404
    assert "SIGKILL" not in body
    assert not slack_api.response_posts


async def test_the_default_bot_still_answers_exitcode(
    slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    async with command_bot(slack_api, knowledge_base) as bot:
        default_status, default_body = await bot.send("/exitcode", "143")
        other_status, _ = await bot.send(PROD_EU, "143")

    assert default_status == 200 and "SIGTERM" in json.loads(default_body)["text"]
    assert other_status == 404


async def test_the_bots_own_sentences_name_the_configured_command(
    slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    """Without a cluster, `pod …` says what still works, in the command the user actually typed."""
    async with command_bot(slack_api, knowledge_base, slash_command=PROD_EU) as bot:
        status, body = await bot.send(PROD_EU, "pod shop/api-0")

    assert status == 200, body
    text = json.loads(body)["text"]
    assert f"`{PROD_EU} 137`" in text
    assert "`/exitcode " not in text
