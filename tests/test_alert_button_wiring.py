"""The bot as production assembles it (`SlackBot` with a cluster and CONFIG_FILE) applies the same
access policy to the alert buttons as to `/exitcode pod`: the same refusal, in the same words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.access import BotConfig
from bot.application.cluster import connect_cluster
from bot.knowledge import KnowledgeBase
from bot.render.alert_blocks import REDIAGNOSE_ACTION_ID, AlertTarget
from bot.settings import Settings
from bot.wiring import SlackBot
from tests.conftest import SIGNING_SECRET, HttpBot
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi
from tests.fakes.slack_signing import CHANNEL_ID, block_actions_payload
from tests.test_alert_service import until
from tests.test_alerting_pods import deployment_pod


@pytest.fixture
async def wired(
    slack_api: FakeSlackApi, knowledge_base: KnowledgeBase, tmp_path: Path
) -> AsyncIterator[tuple[HttpBot, FakeKubeApi]]:
    async with FakeKubeApi() as kube:
        kube.cluster.apply(deployment_pod())
        settings = Settings(
            _env_file=None,
            slack_bot_token=DEFAULT_BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack_api.base_url,
            allowed_namespaces=["shop", "payments-*"],
            watch_enabled=False,
        )
        config = BotConfig.model_validate({"channel_namespaces": {CHANNEL_ID: ["payments-*"]}})
        cluster = connect_cluster(5.0, environ={"KUBECONFIG": str(kube.write_kubeconfig(tmp_path / "kc"))})
        bot = SlackBot(settings, knowledge_base, cluster=cluster, config=config)
        client: TestClient[Any, Any] = TestClient(TestServer(bot.web_app))
        await client.start_server()
        await bot.start()
        try:
            yield HttpBot(bot, client, slack_api), kube
        finally:
            await bot.close()
            await client.close()
            cluster.close()


async def test_buttons_and_the_slash_command_refuse_alike(wired: tuple[HttpBot, FakeKubeApi]) -> None:
    http, kube = wired
    pod = deployment_pod()
    value = AlertTarget("shop", pod["metadata"]["name"], "app", "Deployment/api", 1).to_value()
    payload = block_actions_payload(
        REDIAGNOSE_ACTION_ID, value, response_url=http.api.response_url("actions"), block_id="a"
    )
    payload["message"]["blocks"] = [
        {
            "type": "actions",
            "elements": [{"type": "button", "action_id": REDIAGNOSE_ACTION_ID, "value": value}],
        }
    ]
    kube.requests.clear()

    assert (await http.click(payload)).status == 200
    await until("the refusal", lambda: len(http.api.response_posts) == 1)
    button_refusal = str(http.api.response_posts[0].body["text"])

    await http.command_json(f"pod shop/{pod['metadata']['name']}", response_url=http.api.response_url())
    await until("the command's refusal", lambda: len(http.api.response_posts) == 2)
    command_refusal = str(http.api.response_posts[1].body["text"])

    sentence = "Namespace “shop” cannot be queried from this channel"
    assert sentence in button_refusal and sentence in command_refusal
    assert button_refusal.removeprefix(":no_entry: ") in command_refusal
    assert [r for r in kube.requests.entries if r.namespace == "shop"] == []
