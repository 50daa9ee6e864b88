"""A slow Slack answer never repeats an alert (issue 8, finding 2).

Slack carried out the `chat.postMessage` but answered after the sink's timeout; the sink's retry posted
the alert again (13 of 13 such answers in the torture run). Every alert now carries a marker in its
message metadata, and before posting a top-level alert again the sink looks for it in the channel's
history. These tests drive the sink against the fake Slack Web API, whose `LateAnswer` stores the message
at once and answers late, as Slack did.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.alerting import AlertKind, detect_terminations
from bot.alerting.actions import PostMarker
from bot.knowledge import KnowledgeBase
from bot.render.alert_text import CrashAlert, RepeatAlert
from bot.slack.poster import MAX_UNKNOWN_CHECKS, PosterSettings, SlackAlertSink, parse_message_ref
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, ApiError, FakeSlackApi, LateAnswer, ServerError
from tests.test_alerting_pods import deployment_pod, exited

CHANNEL_ID = "C0ALERTS01"


async def no_wait(_: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as api:
        yield api


@pytest.fixture
def sink(slack: FakeSlackApi) -> SlackAlertSink:
    client = AsyncWebClient(token=DEFAULT_BOT_TOKEN, base_url=slack.base_url)
    settings = PosterSettings(messages_per_second=1000.0, timeout_seconds=1.0)
    return SlackAlertSink(client, settings, sleep=no_wait)


@pytest.fixture
def alert(knowledge_base: KnowledgeBase) -> CrashAlert:
    termination = detect_terminations(None, exited(deployment_pod(), "app", 1, 60))[0]
    return CrashAlert(termination, AlertKind.CRASH, meaning=knowledge_base.explain_code(1))


def channel_messages(slack: FakeSlackApi, channel_id: str) -> list[dict[str, object]]:
    return [message for message in slack.messages[channel_id] if "thread_ts" not in message]


async def test_a_root_slack_accepted_but_answered_too_late_is_not_posted_again(
    sink: SlackAlertSink, slack: FakeSlackApi, alert: CrashAlert
) -> None:
    slack.messages[CHANNEL_ID] = []  # the channel exists, the bot is in it
    slack.fail("chat.postMessage", LateAnswer(2.0))  # stored at once, answered after the 1 s timeout

    ref = await sink.post(CHANNEL_ID, alert, marker=PostMarker("r0123456789abcdef"))

    (message,) = channel_messages(slack, CHANNEL_ID)
    assert parse_message_ref(ref) == (CHANNEL_ID, message["ts"])
    assert message["metadata"] == {
        "event_type": "exitcode_bot_alert",
        "event_payload": {"id": "r0123456789abcdef"},
    }
    (lookup,) = slack.calls_to("conversations.history")
    assert lookup.args["channel"] == CHANNEL_ID and lookup.args["include_all_metadata"] in ("1", "true")


async def test_a_channel_configured_by_name_is_checked_once_its_id_is_known(
    sink: SlackAlertSink, slack: FakeSlackApi, alert: CrashAlert
) -> None:
    first = await sink.post("#alerts", alert, marker=PostMarker("r-first"))
    channel_id, _ = parse_message_ref(first)
    slack.fail("chat.postMessage", LateAnswer(2.0))

    await sink.post("#alerts", alert, marker=PostMarker("r-second"))

    assert len(channel_messages(slack, channel_id)) == 2  # one each, none repeated


async def test_an_alert_a_previous_leader_may_have_sent_is_looked_for_before_posting(
    sink: SlackAlertSink, slack: FakeSlackApi, alert: CrashAlert
) -> None:
    slack.messages[CHANNEL_ID] = []
    planned = time.time()
    earlier = await sink.post(CHANNEL_ID, alert, marker=PostMarker("r-inherited"))  # then kill -9

    again = await sink.post(CHANNEL_ID, alert, marker=PostMarker("r-inherited", sent_since=planned))

    assert again == earlier
    assert len(channel_messages(slack, CHANNEL_ID)) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_an_alert_not_found_in_the_history_is_posted(
    sink: SlackAlertSink, slack: FakeSlackApi, alert: CrashAlert
) -> None:
    slack.messages[CHANNEL_ID] = []
    slack.fail("chat.postMessage", ServerError(503), times=2)  # refused, nothing stored

    await sink.post(CHANNEL_ID, alert, marker=PostMarker("r-refused"))

    assert len(channel_messages(slack, CHANNEL_ID)) == 1
    assert len(slack.calls_to("conversations.history")) == 2


async def test_without_the_history_scope_the_alert_is_still_delivered_with_a_warning(
    sink: SlackAlertSink, slack: FakeSlackApi, alert: CrashAlert, caplog: pytest.LogCaptureFixture
) -> None:
    slack.messages[CHANNEL_ID] = []
    slack.fail("conversations.history", ApiError("missing_scope", {"needed": "channels:history"}))
    slack.fail("chat.postMessage", ServerError(503))

    with caplog.at_level(logging.WARNING):
        await sink.post(CHANNEL_ID, alert, marker=PostMarker("r-no-scope"))

    assert len(channel_messages(slack, CHANNEL_ID)) == 1
    assert "channels:history" in caplog.text


async def test_thread_replies_carry_the_marker_too(
    sink: SlackAlertSink, slack: FakeSlackApi, alert: CrashAlert
) -> None:
    root = await sink.post(CHANNEL_ID, alert, marker=PostMarker("r-root"))

    await sink.post(
        None, RepeatAlert(alert.termination, AlertKind.CRASH), thread=root, marker=PostMarker("t1")
    )

    reply = slack.messages[CHANNEL_ID][-1]
    assert reply["thread_ts"] == parse_message_ref(root)[1]
    assert reply["metadata"]["event_payload"] == {"id": "t1"}


async def test_an_alert_whose_channel_history_stays_unreadable_is_still_delivered(
    sink: SlackAlertSink, slack: FakeSlackApi, alert: CrashAlert
) -> None:
    slack.messages[CHANNEL_ID] = []
    slack.fail("conversations.history", ServerError(503), times=100)
    slack.fail("chat.postMessage", ServerError(503))  # the post may or may not have gone through

    await sink.post(CHANNEL_ID, alert, marker=PostMarker("r-unreadable"))

    assert len(channel_messages(slack, CHANNEL_ID)) == 1  # a late alert beats none
    assert len(slack.calls_to("conversations.history")) == MAX_UNKNOWN_CHECKS + 1
