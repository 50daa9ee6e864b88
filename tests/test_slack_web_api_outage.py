"""Issue 8 finding 7: with Slack's Web API unreachable, HTTP mode still answers, and says it is degraded.

Before: Bolt called `auth.test` before dispatching each signed slash command, so every command ended in a
500 while `/readyz` said a plain "ok". Now an explanation (which needs no Web API call) is answered in the
acknowledgement; `/readyz` says "degraded" with a reason naming the Web API but stays 200 (an outage every
replica shares must not empty the Service), the `exitcode_bot_slack_web_api_up` gauge is 0; a token Slack
*rejects* makes the pod unready (503: this pod's configuration, so a bad rollout stops); `/healthz`
(liveness) stays 200 either way: restarting the pod would not bring Slack back.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.knowledge import KnowledgeBase
from bot.settings import Settings
from bot.wiring import SlackBot
from tests.conftest import SIGNING_SECRET, free_port
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, ApiError, FakeSlackApi
from tests.fakes.slack_signing import signed_headers, slash_command_body


async def served(bot: SlackBot) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(bot.web_app))
    await client.start_server()
    await bot.start()
    return client


def http_settings(api_url: str) -> Settings:
    return Settings(
        _env_file=None,
        slack_bot_token=DEFAULT_BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=api_url,
    )


@pytest.fixture
async def unreachable_bot(
    knowledge_base: KnowledgeBase,
) -> AsyncIterator[tuple[SlackBot, TestClient[Any, Any]]]:
    nowhere = f"http://127.0.0.1:{free_port()}/api/"  # nothing listens there: connection refused
    bot = SlackBot(http_settings(nowhere), knowledge_base)
    client = await served(bot)
    yield bot, client
    await bot.close()
    await client.close()


async def test_explanations_are_answered_while_the_web_api_is_unreachable(
    unreachable_bot: tuple[SlackBot, TestClient[Any, Any]],
) -> None:
    _, client = unreachable_bot
    body = slash_command_body("137", response_url="http://127.0.0.1:9/hook")

    response = await client.post("/slack/events", data=body, headers=signed_headers(SIGNING_SECRET, body))

    assert response.status == 200, await response.text()
    answer = json.loads(await response.text())
    assert "SIGKILL" in answer["text"] and answer["response_type"] == "ephemeral"


async def test_readyz_says_the_web_api_is_unreachable_and_healthz_stays_live(
    unreachable_bot: tuple[SlackBot, TestClient[Any, Any]],
) -> None:
    _, client = unreachable_bot

    ready = await client.get("/readyz")
    live = await client.get("/healthz")
    metrics = await (await client.get("/metrics")).text()

    assert ready.status == 200
    answer = await ready.json()
    assert answer["status"] == "degraded"
    assert "Slack Web API unreachable" in answer["reason"]
    assert "slash commands are still answered" in answer["reason"]
    assert "exitcode_bot_slack_web_api_up 0.0" in metrics
    assert live.status == 200


async def test_readiness_follows_the_web_api_back_and_a_rejected_token(
    slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    bot = SlackBot(http_settings(slack_api.base_url), knowledge_base)
    client = await served(bot)
    try:
        ready = await client.get("/readyz")
        assert ready.status == 200 and await ready.json() == {"status": "ok"}
        assert "exitcode_bot_slack_web_api_up 1.0" in await (await client.get("/metrics")).text()

        slack_api.fail("auth.test", ApiError("token_revoked"))
        assert await bot.slack_api.check() is not None  # a re-check (the probe does this every 30 s)
        revoked = await client.get("/readyz")
        assert revoked.status == 503
        assert "Slack rejects SLACK_BOT_TOKEN (token_revoked)" in (await revoked.json())["reason"]
        # Commands are still answered: the token is not asked of Slack per request.
        body = slash_command_body("143")
        answered = await client.post("/slack/events", data=body, headers=signed_headers(SIGNING_SECRET, body))
        assert answered.status == 200 and "SIGTERM" in json.loads(await answered.text())["text"]

        assert await bot.slack_api.check() is None
        assert (await client.get("/readyz")).status == 200
    finally:
        await bot.close()
        await client.close()


async def test_probes_reuse_the_last_answer_until_a_recheck_is_due(slack_api: FakeSlackApi) -> None:
    """A kubelet probing every few seconds costs one auth.test per 30 s (5 s while failing)."""
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.slack.web_api import WebApiStatus

    now = [0.0]
    status = WebApiStatus(
        AsyncWebClient(token=DEFAULT_BOT_TOKEN, base_url=slack_api.base_url), clock=lambda: now[0]
    )

    assert await status.readiness() is None
    assert await status.readiness() is None
    assert len(slack_api.calls_to("auth.test")) == 1
    now[0] += 30
    assert await status.readiness() is None
    assert len(slack_api.calls_to("auth.test")) == 2

    slack_api.fail("auth.test", ApiError("invalid_auth"), times=10)
    now[0] += 30
    assert "Slack rejects SLACK_BOT_TOKEN (invalid_auth)" in str(await status.readiness())
    now[0] += 4
    await status.readiness()
    assert len(slack_api.calls_to("auth.test")) == 3
    now[0] += 1
    await status.readiness()
    assert len(slack_api.calls_to("auth.test")) == 4
