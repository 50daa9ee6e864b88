"""The Slack sink against the fake Slack Web API: whatever Slack answers, the alert gets through.

Each failure is one Slack really produces (429 with Retry-After, 5xx from its edge, a bot not invited
to the channel, blocks it refuses, a message or thread deleted meanwhile); the waits the sink asks for
are recorded instead of slept, so these tests check what it waits for without timing anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.alerting import AlertKind, detect_terminations
from bot.knowledge import KnowledgeBase
from bot.render.alert_text import CrashAlert, RepeatAlert
from bot.slack.poster import PosterSettings, SlackAlertSink, parse_message_ref
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, ApiError, FakeSlackApi, RateLimited, ServerError
from tests.test_alerting_pods import deployment_pod, exited

CHANNEL = "#alerts"


class Recorder:
    """Stands in for `asyncio.sleep`: remembers each wait, then yields without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.errors: list[str] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as api:
        yield api


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def sink(slack: FakeSlackApi, recorder: Recorder) -> SlackAlertSink:
    client = AsyncWebClient(token=DEFAULT_BOT_TOKEN, base_url=slack.base_url)
    settings = PosterSettings(messages_per_second=1000.0, timeout_seconds=1.0)
    return SlackAlertSink(client, settings, on_error=recorder.errors.append, sleep=recorder.sleep)


@pytest.fixture
def alert(knowledge_base: KnowledgeBase) -> CrashAlert:
    termination = detect_terminations(None, exited(deployment_pod(), "app", 1, 60))[0]
    return CrashAlert(termination, AlertKind.CRASH, meaning=knowledge_base.explain_code(1))


async def test_rate_limits_are_waited_out_as_slack_asks(
    sink: SlackAlertSink, slack: FakeSlackApi, recorder: Recorder, alert: CrashAlert
) -> None:
    slack.fail("chat.postMessage", RateLimited(retry_after=7), times=2)
    ref = await sink.post(CHANNEL, alert)

    channel_id, ts = parse_message_ref(ref)
    assert [message["ts"] for message in slack.messages[channel_id]] == [ts]
    assert recorder.errors == ["ratelimited", "ratelimited"]
    assert len(recorder.waits) == 2 and all(7 <= wait < 7.2 for wait in recorder.waits)


async def test_server_errors_are_retried_with_growing_backoff(
    sink: SlackAlertSink, slack: FakeSlackApi, recorder: Recorder, alert: CrashAlert
) -> None:
    slack.fail("chat.postMessage", ServerError(503), times=4)
    await sink.post(CHANNEL, alert)

    assert len(slack.calls_to("chat.postMessage")) == 5
    assert recorder.errors == ["server_error"] * 4
    assert recorder.waits[-1] > recorder.waits[0]


async def test_a_channel_the_bot_is_not_in_is_retried_until_it_is_invited(
    sink: SlackAlertSink, slack: FakeSlackApi, recorder: Recorder, alert: CrashAlert
) -> None:
    slack.fail("chat.postMessage", ApiError("not_in_channel"), times=3)
    await sink.post(CHANNEL, alert)

    assert recorder.errors == ["not_in_channel"] * 3
    assert sum(len(messages) for messages in slack.messages.values()) == 1


async def test_refused_blocks_still_deliver_the_alert_as_text(
    sink: SlackAlertSink, slack: FakeSlackApi, alert: CrashAlert
) -> None:
    slack.fail("chat.postMessage", ApiError("invalid_blocks"), times=1)
    ref = await sink.post(CHANNEL, alert)

    channel_id, _ = parse_message_ref(ref)
    (message,) = slack.messages[channel_id]
    assert message["blocks"] == [] and "Deployment/api / app crashed: exit 1" in message["text"]


async def test_a_reply_to_a_deleted_thread_becomes_a_message_of_its_own(
    sink: SlackAlertSink, slack: FakeSlackApi, alert: CrashAlert
) -> None:
    root = await sink.post(CHANNEL, alert)
    channel_id, ts = parse_message_ref(root)
    await AsyncWebClient(token=DEFAULT_BOT_TOKEN, base_url=slack.base_url).chat_delete(
        channel=channel_id, ts=ts
    )

    await sink.post(CHANNEL, RepeatAlert(alert.termination, AlertKind.CRASH), thread=root)

    (message,) = slack.messages[channel_id]
    assert "thread_ts" not in message and "Again" in message["text"]


async def test_editing_a_deleted_message_reports_it_instead_of_retrying(
    sink: SlackAlertSink, slack: FakeSlackApi, alert: CrashAlert
) -> None:
    root = await sink.post(CHANNEL, alert)
    assert await sink.update(root, CrashAlert(alert.termination, AlertKind.CRASH, count=2)) is True
    channel_id, ts = parse_message_ref(root)
    await AsyncWebClient(token=DEFAULT_BOT_TOKEN, base_url=slack.base_url).chat_delete(
        channel=channel_id, ts=ts
    )

    assert await sink.update(root, CrashAlert(alert.termination, AlertKind.CRASH, count=3)) is False
    assert len(slack.calls_to("chat.update")) == 2
