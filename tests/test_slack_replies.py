"""Properties of every Slack reply: always one, never a crash, escaped, within Block Kit limits."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.knowledge import KnowledgeBase
from bot.knowledge.explanation import Reply
from bot.metrics import BotMetrics
from bot.slack import DiagnoseRequest, Responder, build_app, build_web_client
from bot.slack.app import APOLOGY
from bot.wiring import SlackBot
from tests.conftest import SIGNING_SECRET, HttpBot, MakeHttpBot, slack_settings
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi, validate_blocks
from tests.fakes.slack_signing import signed_headers, slash_command_body

INJECTIONS = [
    "<!channel>",
    "<!here>",
    "<@U123>",
    "<https://evil.example|docs>",
    "&",
    "<#C123>",
    "<!subteam^S1>",
]
_RAW_CONTROL = re.compile(r"<[!@#]|<https?:|&(?!amp;|lt;|gt;)")

slack_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
words = st.sampled_from(
    ["137", "-1", "sigterm", "OOMKilled", "help", "share", "pod", "ns", "128+9", *INJECTIONS]
)
command_texts = st.one_of(slack_text, st.lists(st.one_of(words, slack_text), max_size=6).map(" ".join))


def mrkdwn_strings(node: Any) -> Iterator[str]:
    """Every string Slack will parse as markup in a message: mrkdwn/plain_text texts and the fallback."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("value", "action_id", "block_id", "url", "type", "style", "response_type"):
                continue  # not displayed (button values are returned to the app, not rendered)
            yield from mrkdwn_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from mrkdwn_strings(item)
    elif isinstance(node, str):
        yield node


def assert_no_live_markup(message: dict[str, Any]) -> None:
    for text in mrkdwn_strings(message):
        assert not _RAW_CONTROL.search(text), f"unescaped Slack markup in {text[:200]!r}"


async def dispatch_signed(app_dispatch: Any, text: str) -> tuple[int, dict[str, Any]]:
    body = slash_command_body(text)
    headers: dict[str, str | Sequence[str]] = dict(signed_headers(SIGNING_SECRET, body))
    request = AsyncBoltRequest(body=body, headers=headers)
    response = await app_dispatch(request)
    return response.status, json.loads(response.body) if response.body else {}


def test_any_command_text_gets_a_valid_reply_and_never_raises(knowledge_base: KnowledgeBase) -> None:
    loop = asyncio.new_event_loop()
    api = FakeSlackApi()
    loop.run_until_complete(api.start())
    bot = SlackBot(slack_settings(api), knowledge_base)
    try:

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(text=command_texts)
        def check(text: str) -> None:
            status, reply = loop.run_until_complete(dispatch_signed(bot.app.async_dispatch, text))
            assert status == 200
            assert reply["response_type"] in ("ephemeral", "in_channel")
            assert reply["text"].strip()
            assert validate_blocks(reply.get("blocks")) == []
            assert_no_live_markup(reply)

        check()
    finally:
        loop.run_until_complete(bot.close())
        loop.run_until_complete(api.close())
        loop.close()


@pytest.mark.parametrize("injection", INJECTIONS)
@pytest.mark.parametrize("template", ["{x}", "137 {x}", "{x} share", "sig{x}", "OOMKilled{x}", "128+{x}"])
async def test_injection_in_command_text_is_escaped_in_the_answer(
    http_bot: HttpBot, template: str, injection: str
) -> None:
    reply = await http_bot.command_json(template.format(x=injection))

    assert_no_live_markup(reply)


async def test_injection_is_escaped_in_diagnose_acks_and_shared_answers(make_http_bot: MakeHttpBot) -> None:
    async def diagnose(request: DiagnoseRequest, reply: Responder) -> None:
        await reply.send("done")

    bot = await make_http_bot(diagnose=diagnose)
    for injection in INJECTIONS:
        assert_no_live_markup(await bot.command_json(f"pod {injection}"))
        assert_no_live_markup(await bot.command_json(f"ns kube-system{injection}"))
        await bot.click_share(f"137 {injection}")
        await bot.click_share(injection)
    await bot.bot.tasks.drain(5)
    shared = [post.body for post in bot.api.response_posts if post.body.get("text") != "done"]
    assert len(shared) == 2 * len(INJECTIONS)
    for body in shared:
        blocks_text = json.dumps(body["blocks"])
        body_without_mention = blocks_text.replace("Shared by <@U0ONCALL>", "")
        assert_no_live_markup({"text": body["text"], "blocks": json.loads(body_without_mention)})


def block_kit_queries(knowledge_base: KnowledgeBase) -> list[str]:
    return [
        *knowledge_base.runbook_keys(),
        "-1",
        "1000",
        "-1000000",
        "sigrtmin+3",
        "help",
        "x" * 5000,
        "&" * 3000,
        "<!channel> " * 500,
        "137 share",
    ]


async def test_every_reply_fits_block_kit_limits(http_bot: HttpBot, knowledge_base: KnowledgeBase) -> None:
    for query in block_kit_queries(knowledge_base):
        reply = await http_bot.command_json(query)
        blocks = reply["blocks"]
        assert len(blocks) <= 50
        assert validate_blocks(blocks) == [], query
        for block in blocks:
            if block["type"] == "header":
                assert len(block["text"]["text"]) <= 150
            if block["type"] == "section" and "text" in block:
                assert len(block["text"]["text"]) <= 3000
            for element in block.get("elements", []):
                assert len(element.get("value", "")) <= 2000


class ExplodingKnowledge:
    def answer(self, text: str) -> Reply:
        raise RuntimeError("knowledge base corrupted in memory")


async def test_an_exception_inside_the_handler_becomes_an_apology_and_a_counted_error(
    slack_api: FakeSlackApi, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = BotMetrics(process_collectors=False)
    app = build_app(
        client=build_web_client(DEFAULT_BOT_TOKEN, slack_api.base_url),
        knowledge=ExplodingKnowledge(),
        signing_secret=SIGNING_SECRET,
        metrics=metrics,
    )

    status, reply = await dispatch_signed(app.async_dispatch, "137")

    assert status == 200
    assert reply == {"text": APOLOGY, "response_type": "ephemeral"}
    assert metrics.registry.get_sample_value("exitcode_bot_errors_total", {"site": "command"}) == 1
    assert any("knowledge base corrupted" in r.getMessage() or r.exc_info for r in caplog.records)
