"""SLASH_COMMAND: one bot per cluster in a workspace, each answering its own command name.

The bot registers the configured name with the real Bolt app; requests are form POSTs signed as Slack
signs them, carrying the command name in their `command` field as Slack sends it. A name Slack could
never send (no `/`, capitals, a space) stops the bot at startup with a sentence naming the setting.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError

from bot.application.cluster import ClusterConnection, connect_cluster
from bot.application.diagnose import DiagnoseService
from bot.application.replies import ConsoleReplies
from bot.diagnosis.answers import PodAnswer, PodLine, Refusal, WorkloadMatch
from bot.diagnosis.engine import diagnose
from bot.knowledge import KnowledgeBase
from bot.render.answer_blocks import answer_message
from bot.render.answer_text import answer_text
from bot.settings import Settings
from bot.wiring import SlackBot
from tests.conftest import SIGNING_SECRET
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi, ResponseUrlPost, validate_blocks
from tests.fakes.slack_signing import (
    block_actions_payload,
    interactive_body,
    signed_headers,
    slash_command_body,
)
from tests.fixtures.scenarios import load_scenario

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


# --- every reply names the configured command ------------------------------------------------------------

PROD = "/exitcode-prod"
OOM = load_scenario("oom_killed_container_limit")


def _other_commands(text: str, configured: str = PROD) -> list[str]:
    """Command names in `text` that are `/exitcode…` but not the configured one."""
    return [word for word in re.findall(r"/exitcode[\w-]*", text) if word != configured]


async def test_every_reply_and_footer_names_the_configured_command(
    fake_kube: FakeKubeApi, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase, tmp_path: Path
) -> None:
    """With SLASH_COMMAND=/exitcode-prod, no reply suggests typing `/exitcode …` (which another cluster's
    app owns): not the help header, an explanation's footer, a usage line, a "did you mean", nor the
    `ns` triage footer (which used to say `/exitcode pod …`)."""
    fake_kube.cluster.load_scenario(OOM.raw)
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    cluster = connect_cluster(5.0, environ={"KUBECONFIG": str(kubeconfig)})
    try:
        async with command_bot(slack_api, knowledge_base, cluster=cluster, slash_command=PROD) as bot:
            acks = {text: (await bot.send(PROD, text))[1] for text in ("help", "137", "pod", "ns")}
            _, triage = await bot.ask(PROD, f"ns {OOM.namespace}")
            _, invalid_pod = await bot.ask(PROD, "pod Shop/API")
            _, invalid_ns = await bot.ask(PROD, "ns Shop_1")
            _, missing = await bot.ask(PROD, f"pod {OOM.namespace}/{OOM.pod_name[:-2]}zz")
            _, diagnosis = await bot.ask(PROD, f"pod {OOM.namespace}/{OOM.pod_name}")
            await bot.send(PROD, "137")
            shared_url = slack_api.response_url("actions")
            click = interactive_body(block_actions_payload("exitcode_share", "137", response_url=shared_url))
            await bot.client.post("/slack/events", data=click, headers=signed_headers(SIGNING_SECRET, click))
            await slack_api.wait_until(lambda: any(p.url == shared_url for p in slack_api.response_posts))
            shared = next(post for post in slack_api.response_posts if post.url == shared_url)
    finally:
        cluster.close()

    replies = {**acks, "triage": triage.body, "invalid pod": invalid_pod.body, "invalid ns": invalid_ns.body}
    replies |= {"missing": missing.body, "diagnosis": diagnosis.body, "shared": shared.body}
    for name, reply in replies.items():
        shown = reply if isinstance(reply, str) else json.dumps(reply)
        assert _other_commands(shown) == [], f"{name}: {shown[:600]}"
    assert f"{PROD}: what an exit code means" in acks["help"]
    assert f"`{PROD} 137`" in acks["137"] and f"`{PROD} 137`" in json.dumps(shared.body)
    assert f"`{PROD} pod NAMESPACE/POD`" in acks["pod"] and f"`{PROD} ns NAMESPACE`" in acks["ns"]
    assert f"Diagnose one: `{PROD} pod {OOM.namespace}/{OOM.pod_name}`" in json.dumps(triage.body)
    assert f"`{PROD} pod NAMESPACE/POD`" in json.dumps(invalid_pod.body)
    assert f"`{PROD} ns NAMESPACE`" in json.dumps(invalid_ns.body)
    assert f"`{PROD} pod {OOM.namespace}/{OOM.pod_name}`" in json.dumps(missing.body)


def test_a_picked_workload_pod_suggests_the_configured_command(knowledge_base: KnowledgeBase) -> None:
    """ "Diagnose another" under a workload's other pods, and a refusal's usage and suggestions."""
    diagnosis = diagnose(OOM.evidence(), knowledge_base, OOM.captured_at)
    others = (PodLine("checkout-api-2", "Running", 3, 137, "OOMKilled", None, None),)
    picked = PodAnswer(diagnosis, WorkloadMatch("checkout-api", "Deployment/checkout-api", True, others))
    refusal = Refusal("invalid", "“X” is not a valid pod name.", ("shop/api-1",), usage="pod")

    for answer in (picked, refusal):
        text, blocks = answer_message(answer, slash_command=PROD)
        shown = text + json.dumps(blocks)
        assert _other_commands(shown) == [] and PROD in shown
    assert f"Diagnose another: `{PROD} pod shop/checkout-api-2`" in json.dumps(
        answer_message(picked, slash_command=PROD)[1]
    )
    assert answer_text(refusal, program="exitcode-bot") == (
        "“X” is not a valid pod name. Use exitcode-bot pod NAMESPACE/POD (or exitcode-bot pod POD for the "
        "default namespace).\nDid you mean: shop/api-1?\n"
    )


async def test_console_replies_name_the_configured_command(
    fake_kube: FakeKubeApi, knowledge_base: KnowledgeBase, tmp_path: Path
) -> None:
    fake_kube.cluster.load_scenario(OOM.raw)
    cluster = connect_cluster(5.0, environ={"KUBECONFIG": str(fake_kube.write_kubeconfig(tmp_path / "k"))})
    try:
        service = DiagnoseService(knowledge_base, cluster.reader)
        replies = ConsoleReplies(knowledge_base, service, slash_command=PROD, cluster_name=None)
        triage = await replies(f"ns {OOM.namespace}")
        usage = await replies("pod")
        invalid = await replies("ns Shop_1")
    finally:
        cluster.close()

    assert f"Diagnose one: {PROD} pod {OOM.namespace}/{OOM.pod_name}" in triage
    assert usage == f"Use {PROD} pod NAMESPACE/POD (or {PROD} pod POD for the default namespace).\n"
    assert f"Use {PROD} ns NAMESPACE" in invalid
    for reply in (triage, usage, invalid):
        assert _other_commands(reply) == []
