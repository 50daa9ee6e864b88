"""Never repeat, end to end, under the faults the torture run found (issue 8, findings 2 and 3).

The whole alert service runs against the fake Kubernetes API and the fake Slack Web API (the harness of
`test_alert_service`); the faults are injected on the wire: Slack carrying out a post and answering after
the sink's timeout, and the apiserver refusing everything (ledger writes, Lease renewals) for longer than
the Lease, so that the bot stops leading and leads again.
"""

from __future__ import annotations

import asyncio

from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.fakes.slack_api import JsonDict, LateAnswer
from tests.test_alert_service import Harness, harness_fixture, header_text, until, web_pod  # noqa: F401

CHANNEL_ID = "C0ALERTS01"


async def test_a_slow_slack_answer_after_the_timeout_posts_the_root_once(harness: Harness) -> None:
    harness.slack.messages[CHANNEL_ID] = []  # the bot is in the channel, configured by id
    harness.slack.fail("chat.postMessage", LateAnswer(2.5))  # accepted, answered after the 1 s timeout
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(alert_channel=CHANNEL_ID))

    harness.crash(pod, 139)

    def roots() -> list[JsonDict]:
        return [message for message in harness.slack.messages[CHANNEL_ID] if "thread_ts" not in message]

    await until("the alert", lambda: bool(roots()) and bot.settled())
    await asyncio.sleep(0.3)  # a wrongly repeated post would be sent by now
    assert len(roots()) == 1
    assert "exit 139" in header_text(roots()[0])
