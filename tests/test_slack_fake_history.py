"""The fake Slack Web API's `conversations.history` and message metadata behave as Slack documents them,
so the alert sink's already-posted check is tested against Slack's rules, not the fake's convenience."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi

CHANNEL_ID = "C0HISTORY1"
METADATA = {"event_type": "exitcode_bot_alert", "event_payload": {"id": "r1"}}


@pytest.fixture
async def client() -> AsyncIterator[tuple[FakeSlackApi, AsyncWebClient]]:
    async with FakeSlackApi() as slack:
        yield slack, AsyncWebClient(token=DEFAULT_BOT_TOKEN, base_url=slack.base_url)


async def test_history_lists_top_level_messages_newest_first_with_metadata_only_on_request(
    client: tuple[FakeSlackApi, AsyncWebClient],
) -> None:
    _, web = client
    first = await web.chat_postMessage(channel=CHANNEL_ID, text="one", metadata=METADATA)
    await web.chat_postMessage(channel=CHANNEL_ID, text="reply", thread_ts=first["ts"])
    second = await web.chat_postMessage(channel=CHANNEL_ID, text="two")

    plain = await web.conversations_history(channel=CHANNEL_ID)
    full = await web.conversations_history(channel=CHANNEL_ID, include_all_metadata=True)

    assert [message["ts"] for message in plain["messages"]] == [second["ts"], first["ts"]]
    assert "metadata" not in plain["messages"][1]
    assert full["messages"][1]["metadata"] == METADATA
    assert plain["has_more"] is False and plain["response_metadata"] == {"next_cursor": ""}


async def test_history_bounds_are_exclusive_unless_inclusive_and_pages_follow_the_cursor(
    client: tuple[FakeSlackApi, AsyncWebClient],
) -> None:
    _, web = client
    posted = [(await web.chat_postMessage(channel=CHANNEL_ID, text=str(n)))["ts"] for n in range(5)]

    after_first = await web.conversations_history(channel=CHANNEL_ID, oldest=posted[0])
    with_first = await web.conversations_history(channel=CHANNEL_ID, oldest=posted[0], inclusive=True)
    page = await web.conversations_history(channel=CHANNEL_ID, limit=2)
    rest = await web.conversations_history(
        channel=CHANNEL_ID, limit=2, cursor=page["response_metadata"]["next_cursor"]
    )

    assert len(after_first["messages"]) == 4 and len(with_first["messages"]) == 5
    assert page["has_more"] is True
    assert [m["ts"] for m in page["messages"] + rest["messages"]] == posted[::-1][:4]


async def test_history_wants_a_channel_id_and_metadata_must_be_well_formed(
    client: tuple[FakeSlackApi, AsyncWebClient],
) -> None:
    _, web = client
    await web.chat_postMessage(channel="#alerts", text="by name")

    with pytest.raises(SlackApiError) as by_name:
        await web.conversations_history(channel="#alerts")
    with pytest.raises(SlackApiError) as bad_metadata:
        await web.chat_postMessage(channel=CHANNEL_ID, text="x", metadata={"event_type": "x"})

    assert by_name.value.response["error"] == "channel_not_found"
    assert bad_metadata.value.response["error"] == "invalid_metadata_format"
