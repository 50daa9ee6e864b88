"""The shared Slack fakes behave like Slack, seen through slack_sdk's real clients.

Other features' tests (alerts: threads, updates, pacing) trust these fakes, so their Slack-like
behaviour is pinned down here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack_api import (
    DEFAULT_APP_TOKEN,
    DEFAULT_BOT_TOKEN,
    ApiError,
    Delay,
    FakeSlackApi,
    RateLimited,
    validate_blocks,
)
from tests.fakes.slack_signing import signature, signed_headers, slash_command_body


@pytest.fixture
async def client(slack_api: FakeSlackApi) -> AsyncIterator[AsyncWebClient]:
    yield AsyncWebClient(token=DEFAULT_BOT_TOKEN, base_url=slack_api.base_url)


def test_signature_is_slacks_v0_hmac_and_verifies_with_slack_sdk() -> None:
    body = slash_command_body("137")
    headers = signed_headers("secret", body, timestamp=1_700_000_000)

    expected = hmac.new(b"secret", f"v0:1700000000:{body}".encode(), hashlib.sha256).hexdigest()
    assert headers["X-Slack-Signature"] == f"v0={expected}" == signature("secret", "1700000000", body)
    fresh = signed_headers("secret", body)
    assert SignatureVerifier("secret").is_valid_request(body, fresh)
    assert not SignatureVerifier("other").is_valid_request(body, fresh)


async def test_post_thread_update_and_delete_keep_channel_state(
    slack_api: FakeSlackApi, client: AsyncWebClient
) -> None:
    root = await client.chat_postMessage(channel="C1", text="crash")
    reply = await client.chat_postMessage(channel="C1", text="again", thread_ts=root["ts"])
    await client.chat_update(channel="C1", ts=root["ts"], text="crash (2 times)")

    assert root["ok"] and root["channel"] == "C1" and root["message"]["text"] == "crash"
    assert float(reply["ts"]) > float(root["ts"])
    assert [m["text"] for m in slack_api.thread("C1", root["ts"])] == ["again"]
    assert slack_api.messages["C1"][0]["text"] == "crash (2 times)"
    with pytest.raises(SlackApiError, match="message_not_found"):
        await client.chat_update(channel="C1", ts="1.000001", text="x")
    with pytest.raises(SlackApiError, match="thread_not_found"):
        await client.chat_postMessage(channel="C1", text="x", thread_ts="1.000001")
    await client.chat_delete(channel="C1", ts=reply["ts"])
    assert len(slack_api.messages["C1"]) == 1


async def test_channel_names_get_stable_ids(slack_api: FakeSlackApi, client: AsyncWebClient) -> None:
    first = await client.chat_postMessage(channel="#alerts", text="a")
    second = await client.chat_postMessage(channel="#alerts", text="b")

    assert first["channel"] == second["channel"] and first["channel"].startswith("C")
    assert slack_api.calls_to("chat.postMessage", channel="#alerts")[1].args["text"] == "b"


async def test_blocks_that_break_limits_are_rejected_as_invalid_blocks(client: AsyncWebClient) -> None:
    too_many = [{"type": "divider"}] * 51
    long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]

    for blocks in (too_many, long_section):
        with pytest.raises(SlackApiError, match="invalid_blocks"):
            await client.chat_postMessage(channel="C1", text="t", blocks=blocks)
    assert validate_blocks([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}])
    button = {"type": "button", "text": {"type": "plain_text", "text": "b"}, "value": "v" * 2001}
    assert validate_blocks([{"type": "actions", "elements": [button]}])


async def test_tokens_are_checked_like_slack(slack_api: FakeSlackApi) -> None:
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=slack_api.base_url)
    app_token_for_bot_call = AsyncWebClient(token=DEFAULT_APP_TOKEN, base_url=slack_api.base_url)

    with pytest.raises(SlackApiError, match="invalid_auth"):
        await wrong.auth_test()
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        await app_token_for_bot_call.chat_postMessage(channel="C1", text="x")
    assert slack_api.calls[0].token == "xoxb-wrong"


async def test_queued_faults_then_normal_answers(slack_api: FakeSlackApi, client: AsyncWebClient) -> None:
    slack_api.fail("chat.postMessage", ApiError("not_in_channel"))
    slack_api.fail("chat.postMessage", Delay(0.05, then=RateLimited(retry_after=7)))

    with pytest.raises(SlackApiError, match="not_in_channel"):
        await client.chat_postMessage(channel="C1", text="x")
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel="C1", text="x")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    assert (await client.chat_postMessage(channel="C1", text="x"))["ok"]


async def test_per_channel_rate_limit_window(slack_api: FakeSlackApi, client: AsyncWebClient) -> None:
    slack_api.set_rate_limit("chat.postMessage", calls=2, per_seconds=60)

    for _ in range(2):
        await client.chat_postMessage(channel="C1", text="x")
    await client.chat_postMessage(channel="C2", text="other channel, own budget")
    with pytest.raises(SlackApiError, match="ratelimited"):
        await client.chat_postMessage(channel="C1", text="x")

    assert [c.status for c in slack_api.calls_to("chat.postMessage")] == [200, 200, 200, 429]


async def test_response_url_accepts_five_posts_then_used_url(slack_api: FakeSlackApi) -> None:
    hook = AsyncWebhookClient(slack_api.response_url())

    statuses = [(await hook.send(text=f"reply {n}")).status_code for n in range(6)]

    assert statuses == [200] * 5 + [404]
    assert slack_api.response_posts[-1].status == 404
    assert json.dumps(slack_api.response_posts[0].body) == '{"text": "reply 0"}'
