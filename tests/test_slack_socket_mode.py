"""Socket Mode through a local websocket speaking Slack's envelope protocol."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.cli import StartupError
from bot.knowledge import KnowledgeBase
from bot.wiring import SlackBot
from tests.conftest import slack_settings
from tests.fakes.slack_api import DEFAULT_APP_TOKEN, DEFAULT_BOT_TOKEN, FakeSlackApi, validate_blocks
from tests.fakes.slack_signing import block_actions_payload, slash_command_payload
from tests.fakes.socket_mode import FakeSocketModeServer

SocketBot = tuple[SlackBot, TestClient[Any, Any]]


async def test_slash_command_envelope_is_acknowledged_with_the_answer(
    socket_bot: SocketBot, socket_server: FakeSocketModeServer, socket_api: FakeSlackApi
) -> None:
    bot, _ = socket_bot
    await bot.start()
    await socket_server.wait_connected()

    envelope_id = await socket_server.send_slash_command(slash_command_payload("sigsegv"))
    ack = await socket_server.wait_for_ack(envelope_id)

    assert ack["envelope_id"] == envelope_id
    answer = ack["payload"]
    assert answer["response_type"] == "ephemeral"
    assert "SIGSEGV" in answer["text"]
    assert validate_blocks(answer["blocks"]) == []
    opened = socket_api.calls_to("apps.connections.open")
    assert opened and all(call.token == DEFAULT_APP_TOKEN for call in opened)


async def test_share_button_over_socket_mode_posts_through_response_url(
    socket_bot: SocketBot, socket_server: FakeSocketModeServer, socket_api: FakeSlackApi
) -> None:
    bot, _ = socket_bot
    await bot.start()
    await socket_server.wait_connected()
    url = socket_api.response_url("actions")

    envelope_id = await socket_server.send_interactive(
        block_actions_payload("exitcode_share", "143", response_url=url, container_type="ephemeral")
    )

    ack = await socket_server.wait_for_ack(envelope_id)
    assert "payload" not in ack or not ack["payload"]
    (post,) = await socket_api.wait_for_response_posts(1)
    assert post.response_type == "in_channel" and "SIGTERM" in post.body["text"]


async def test_healthz_reports_the_real_websocket_state(
    socket_bot: SocketBot, socket_server: FakeSocketModeServer
) -> None:
    bot, client = socket_bot

    before = await client.get("/healthz")
    assert before.status == 503
    assert "Socket Mode" in (await before.json())["reason"]

    await bot.start()
    await socket_server.wait_connected()
    assert (await client.get("/healthz")).status == 200

    await bot.close()
    assert (await client.get("/healthz")).status == 503


async def test_reconnects_when_slack_asks_to_refresh_the_connection(
    socket_bot: SocketBot, socket_server: FakeSocketModeServer
) -> None:
    bot, _ = socket_bot
    await bot.start()
    await socket_server.wait_connected()

    await socket_server.disconnect("refresh_requested")
    await socket_server.wait_connected(count=2)

    envelope_id = await socket_server.send_slash_command(slash_command_payload("OOMKilled"))
    ack = await socket_server.wait_for_ack(envelope_id)
    assert "OOMKilled" in ack["payload"]["text"]


async def test_slack_events_endpoint_is_not_served_in_socket_mode(socket_bot: SocketBot) -> None:
    _, client = socket_bot

    response = await client.post("/slack/events", data="command=%2Fexitcode&text=137")

    assert response.status == 404
    assert "Socket Mode" in (await response.json())["error"]


@pytest.mark.parametrize(
    ("bot_tokens", "app_tokens", "setting"),
    [
        ((DEFAULT_BOT_TOKEN,), (), "SLACK_APP_TOKEN"),
        ((), (DEFAULT_APP_TOKEN,), "SLACK_BOT_TOKEN"),
    ],
)
async def test_a_token_slack_rejects_stops_startup_with_the_setting_named(
    knowledge_base: KnowledgeBase,
    socket_server: FakeSocketModeServer,
    bot_tokens: tuple[str, ...],
    app_tokens: tuple[str, ...],
    setting: str,
) -> None:
    async with FakeSlackApi(
        bot_tokens=bot_tokens, app_tokens=app_tokens, socket_mode_url=socket_server.issue_url
    ) as api:
        bot = SlackBot(slack_settings(api, socket_mode=True), knowledge_base)
        with pytest.raises(StartupError, match=setting) as raised:
            await bot.start()
        await bot.close()

    assert "invalid_auth" in str(raised.value)
    assert DEFAULT_APP_TOKEN not in str(raised.value) and DEFAULT_BOT_TOKEN not in str(raised.value)
    assert socket_server.connect_count == 0
