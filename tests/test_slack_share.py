"""The "Share in channel" button: the same answer, visible, through the response_url (or the Web API)."""

from __future__ import annotations

import json

from tests.conftest import HttpBot
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, ApiError, RateLimited, ServerError, validate_blocks
from tests.fakes.slack_signing import CHANNEL_ID, USER_ID


async def test_share_button_posts_the_answer_visibly_and_keeps_the_private_copy(http_bot: HttpBot) -> None:
    url = http_bot.api.response_url("actions")
    response = await http_bot.click_share("137", response_url=url)

    assert response.status == 200
    (post,) = await http_bot.api.wait_for_response_posts(1)
    assert post.url == url
    assert post.status == 200
    assert post.response_type == "in_channel"
    assert post.body["replace_original"] is False
    assert "SIGKILL" in post.body["text"]
    blocks = post.body["blocks"]
    assert validate_blocks(blocks) == []
    rendered = json.dumps(blocks)
    assert f"Shared by <@{USER_ID}>" in rendered
    assert "exitcode_share" not in rendered, "a shared answer offers no second share button"


async def test_expired_response_url_falls_back_to_posting_with_the_bot_token(http_bot: HttpBot) -> None:
    url = http_bot.api.response_url("actions")
    http_bot.api.expire_response_url(url)

    await http_bot.click_share("OOMKilled", response_url=url)

    (call,) = await http_bot.api.wait_for_calls("chat.postMessage")
    assert call.token == DEFAULT_BOT_TOKEN
    assert call.channel == CHANNEL_ID
    assert call.ok
    assert "OOMKilled" in json.dumps(call.args["blocks"])
    assert http_bot.api.messages[CHANNEL_ID][0]["text"] == call.args["text"]


async def test_response_url_server_error_is_retried(http_bot: HttpBot) -> None:
    http_bot.api.fail("response_url", ServerError(status=503))

    await http_bot.click_share("143")

    posts = await http_bot.api.wait_for_response_posts(2)
    assert [p.status for p in posts] == [503, 200]
    assert not http_bot.api.calls_to("chat.postMessage")


async def test_share_that_cannot_be_delivered_is_counted_not_crashed(http_bot: HttpBot) -> None:
    url = http_bot.api.response_url("actions")
    http_bot.api.expire_response_url(url)
    http_bot.api.fail("chat.postMessage", ApiError("not_in_channel"))

    await http_bot.click_share("1", response_url=url)
    await http_bot.api.wait_for_calls("chat.postMessage")
    await http_bot.bot.tasks.drain(5)

    metrics = await (await http_bot.client.get("/metrics")).text()
    assert 'exitcode_bot_errors_total{site="response_url"} 1.0' in metrics.splitlines()


async def test_share_value_that_is_not_a_query_gets_usage_privately(http_bot: HttpBot) -> None:
    await http_bot.click_share("<!channel> rm -rf")

    (post,) = await http_bot.api.wait_for_response_posts(1)
    assert post.response_type == "ephemeral"
    assert "<!channel>" not in json.dumps(post.body)
    assert "&lt;!channel&gt;" in post.body["text"]


async def test_rate_limited_fallback_post_is_retried_after_retry_after(http_bot: HttpBot) -> None:
    url = http_bot.api.response_url("actions")
    http_bot.api.expire_response_url(url)
    http_bot.api.fail("chat.postMessage", RateLimited(retry_after=0))

    await http_bot.click_share("137", response_url=url)

    calls = await http_bot.api.wait_for_calls("chat.postMessage", count=2)
    assert [c.status for c in calls] == [429, 200]
    assert http_bot.api.messages[CHANNEL_ID]
