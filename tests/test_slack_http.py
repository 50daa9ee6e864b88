"""`/exitcode` over HTTP mode: signed form POSTs into the real Bolt app, answers in the acknowledgement."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.slack import DiagnoseRequest, Responder
from bot.slack.app import APOLOGY, NOT_CONFIGURED
from tests.conftest import SIGNING_SECRET, HttpBot, MakeHttpBot
from tests.fakes.slack_api import validate_blocks
from tests.fakes.slack_signing import CHANNEL_ID, USER_ID, signed_headers, slash_command_body


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [element for block in blocks if block["type"] == "actions" for element in block["elements"]]


async def test_signed_command_gets_a_private_block_kit_answer(http_bot: HttpBot) -> None:
    answer = await http_bot.command_json("137")

    assert answer["response_type"] == "ephemeral"
    assert "SIGKILL" in answer["text"]
    blocks = answer["blocks"]
    assert validate_blocks(blocks) == []
    assert blocks[0]["type"] == "header" and "137" in blocks[0]["text"]["text"]
    assert "OOMKilled" in all_text(blocks), "137 must be told apart from OOM, not equated with it"
    share = [b for b in buttons(blocks) if b["action_id"] == "exitcode_share"]
    assert share and share[0]["value"] == "137"


async def test_share_word_answers_visibly_without_another_share_button(http_bot: HttpBot) -> None:
    answer = await http_bot.command_json("143 share")

    assert answer["response_type"] == "in_channel"
    assert "SIGTERM" in answer["text"]
    assert all(b["action_id"] != "exitcode_share" for b in buttons(answer["blocks"]))


async def test_help_and_unreadable_queries_get_usage_privately(http_bot: HttpBot) -> None:
    help_answer = await http_bot.command_json("help")
    nonsense = await http_bot.command_json("what is this")

    for answer in (help_answer, nonsense):
        assert answer["response_type"] == "ephemeral"
        assert "137" in all_text(answer["blocks"]), "usage replies show examples to type"
    assert "what is this" in nonsense["text"]


async def test_wrong_signature_is_rejected_and_nothing_is_posted(http_bot: HttpBot) -> None:
    response = await http_bot.command("137", secret="not-the-signing-secret")

    assert response.status == 401
    assert "SIGKILL" not in await response.text()
    assert not http_bot.api.response_posts
    assert not http_bot.api.calls_to("chat.postMessage")


async def test_stale_timestamp_is_rejected_as_a_replay(http_bot: HttpBot) -> None:
    six_minutes_ago = int(time.time()) - 6 * 60
    response = await http_bot.command("137", timestamp=six_minutes_ago)

    assert response.status == 401
    assert not http_bot.api.response_posts
    assert not http_bot.api.calls_to("chat.postMessage")


async def test_body_tampered_after_signing_is_rejected(http_bot: HttpBot) -> None:
    body = slash_command_body("137")
    headers = signed_headers(SIGNING_SECRET, body)
    tampered = body.replace("text=137", "text=143")

    response = await http_bot.client.post("/slack/events", data=tampered, headers=headers)

    assert response.status == 401


async def test_garbage_or_missing_signature_headers_are_401_not_500(http_bot: HttpBot) -> None:
    body = slash_command_body("137")
    garbage = signed_headers(SIGNING_SECRET, body) | {"X-Slack-Request-Timestamp": "yesterday"}

    assert (await http_bot.client.post("/slack/events", data=body, headers=garbage)).status == 401
    bare = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await http_bot.client.post("/slack/events", data=body, headers=bare)).status == 401


async def test_cluster_subcommands_without_diagnosis_say_so_in_one_sentence(http_bot: HttpBot) -> None:
    for text in ("pod default/web-7d4b9", "ns payments", "Pod kube-system/coredns share"):
        answer = await http_bot.command_json(text)
        assert answer["response_type"] == "ephemeral"
        assert answer["text"] == NOT_CONFIGURED


async def test_injected_diagnose_handler_answers_later_through_response_url(
    make_http_bot: MakeHttpBot,
) -> None:
    seen: list[DiagnoseRequest] = []

    async def diagnose(request: DiagnoseRequest, reply: Responder) -> None:
        seen.append(request)
        await reply.send(f"diagnosed {request.argument}", in_channel=request.share)

    bot = await make_http_bot(diagnose=diagnose)
    url = bot.api.response_url()
    ack = await bot.command_json("pod prod/api-0 share", response_url=url)

    assert ack["response_type"] == "ephemeral"
    assert "prod/api-0" in ack["text"]
    posts = await bot.api.wait_for_response_posts(1)
    assert posts[0].url == url
    assert posts[0].body["text"] == "diagnosed prod/api-0"
    assert posts[0].response_type == "in_channel"
    assert seen == [
        DiagnoseRequest(
            kind="pod",
            argument="prod/api-0",
            share=True,
            user_id=USER_ID,
            channel_id=CHANNEL_ID,
            team_id="T0FAKETEAM",
            channel_name="incident-123",
        )
    ]


async def test_subcommand_without_argument_gets_its_usage_at_once(make_http_bot: MakeHttpBot) -> None:
    async def diagnose(request: DiagnoseRequest, reply: Responder) -> None:
        raise AssertionError("must not be called without an argument")

    bot = await make_http_bot(diagnose=diagnose)
    answer = await bot.command_json("pod")

    assert "NAMESPACE/POD" in answer["text"]


async def test_failing_diagnose_handler_ends_in_an_apology_not_silence(make_http_bot: MakeHttpBot) -> None:
    async def diagnose(request: DiagnoseRequest, reply: Responder) -> None:
        raise RuntimeError("cluster exploded")

    bot = await make_http_bot(diagnose=diagnose)
    await bot.command_json("ns payments")

    posts = await bot.api.wait_for_response_posts(1)
    assert posts[0].body["text"] == APOLOGY
    assert posts[0].response_type == "ephemeral"
    metrics = (await (await bot.client.get("/metrics")).text()).splitlines()
    assert 'exitcode_bot_errors_total{site="diagnose"} 1.0' in metrics


async def test_runbook_link_button_is_acknowledged(http_bot: HttpBot) -> None:
    from tests.fakes.slack_signing import block_actions_payload

    response = await http_bot.click(block_actions_payload("exitcode_runbook", ""))

    assert response.status == 200
    assert not http_bot.api.response_posts


async def test_responses_go_out_exactly_as_bolts_own_aiohttp_adapter_sends_them() -> None:
    """`aiohttp_response` is a cheaper `to_aiohttp_response`: same status, headers and bytes on the wire."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer
    from slack_bolt.adapter.aiohttp import to_aiohttp_response
    from slack_bolt.response import BoltResponse

    from bot.slack.http import aiohttp_response

    def responses() -> list[BoltResponse]:
        return [
            BoltResponse(
                status=200, body='{"text": "137 — SIGKILL ✓"}', headers={"content-type": "application/json"}
            ),
            BoltResponse(status=200, body={"text": "acknowledged", "response_type": "ephemeral"}),
            BoltResponse(status=200, body=""),
            BoltResponse(status=404, body="not found"),
            BoltResponse(
                status=200, body="{}", headers={"content-type": "text/plain; charset=utf-8", "x-a": "b"}
            ),
        ]

    async def wire(convert: Any) -> list[tuple[int, list[tuple[str, str]], bytes]]:
        index = 0

        async def handler(request: web.Request) -> web.StreamResponse:
            nonlocal index
            response = responses()[index]
            index += 1
            converted = convert(response)
            return await converted if not isinstance(converted, web.StreamResponse) else converted

        server = web.Application()
        server.router.add_get("/", handler)
        seen = []
        async with TestClient(TestServer(server)) as client:
            for _ in responses():
                response = await client.get("/")
                headers = sorted((k, v) for k, v in response.headers.items() if k not in ("Date", "Server"))
                seen.append((response.status, headers, await response.read()))
        return seen

    assert await wire(aiohttp_response) == await wire(to_aiohttp_response)


_FORM_PIECES = [*"ab=&+% 2F0e8zC3é€\x00", "%20", "%2F", "%e2%82%ac", "%C3", "payload"]
_FORM_TEXT = st.lists(st.sampled_from(_FORM_PIECES), max_size=40).map("".join)


@given(_FORM_TEXT)
def test_form_bodies_read_exactly_as_parse_qsl_reads_them(body: str) -> None:
    """`form_fields` is a cheaper `dict(parse_qsl(body, keep_blank_values=True))`: the same fields for any
    text, including broken escapes, blank and repeated names, and `+` for spaces."""
    from urllib.parse import parse_qsl

    from bot.slack.http import form_fields

    assert form_fields(body) == dict(parse_qsl(body, keep_blank_values=True))


def test_signed_requests_reach_bolt_exactly_as_bolts_own_request_reads_them() -> None:
    """`SignedRequest` is `AsyncBoltRequest` made cheaper: same body, query, headers and context for a
    slash command (with `+`, escapes and non-ASCII text), an interactive payload and a JSON body."""
    from slack_bolt.request.async_request import AsyncBoltRequest

    from bot.slack.http import SignedRequest
    from tests.fakes.slack_signing import interactive_body

    bodies = [
        slash_command_body("137 share"),
        slash_command_body("pod prod/api-7d9 € 100% & more=+"),
        slash_command_body(""),
        interactive_body({"type": "block_actions", "team": {"id": "T1"}, "actions": [{"value": "137"}]}),
        json.dumps({"type": "url_verification", "challenge": "abc"}),
    ]
    for body in bodies:
        for query in ("", "ssl_check=1&token=x"):
            headers = signed_headers(SIGNING_SECRET, body)
            ours = SignedRequest(body, query=query, headers=headers)
            bolts = AsyncBoltRequest(body=body, query=query, headers={**headers})
            for name in ("raw_body", "body", "query", "headers", "content_type", "lazy_only", "mode"):
                assert getattr(ours, name) == getattr(bolts, name), (name, body)
            assert ours.lazy_function_name == bolts.lazy_function_name
            assert dict(ours.context) == dict(bolts.context), body
