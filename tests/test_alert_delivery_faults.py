"""Never repeat, end to end, under the faults the torture run found (issue 8, findings 2 and 3).

The whole alert service runs against the fake Kubernetes API and the fake Slack Web API (the harness of
`test_alert_service`); the faults are injected on the wire: Slack carrying out a post and answering after
the sink's timeout, and the apiserver refusing everything (ledger writes, Lease renewals) for longer than
the Lease, so that the bot stops leading and leads again.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.fakes.slack_api import JsonDict, LateAnswer
from tests.test_alert_service import (  # noqa: F401
    FAST,
    Harness,
    harness_fixture,
    header_text,
    until,
    web_pod,
)

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


OUTAGE_TUNING = replace(FAST, unsaved_grace_seconds=0.3)
"""Alerts wait only briefly for a ledger that cannot be written, so one goes out during the outage."""


async def test_an_api_server_outage_that_costs_the_lease_reposts_nothing(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(tuning=OUTAGE_TUNING))
    pod = harness.crash(pod, 1)
    await until("crash 1", lambda: len(harness.posts()) == 1 and bot.settled())
    await until("the ledger to hold it", lambda: not harness.ledger().outbox and bot.settled())
    terms = bot.service.terms

    harness.kube.faults.fail("update", "configmaps", 503)  # the apiserver's storage is gone...
    harness.kube.faults.fail("update", "leases", 503)  # ...for the Lease too
    pod = harness.crash(pod, 2)  # the open watch still delivers it: posted without a ledger write
    await until("crash 2 posted during the outage", lambda: len(harness.posts()) == 2)
    await until("the bot to lose the Lease", lambda: not bot.service.leading)
    harness.kube.faults.clear()  # the apiserver is back

    await until("the bot to lead again", lambda: bot.service.terms > terms and bot.settled())
    await until("the relisted crash judged", lambda: bot.received() >= 1)
    await asyncio.sleep(0.5)  # a wrongly repeated alert would be sent by now
    assert len(harness.posts(thread=False)) == 2  # exit 1 and exit 2: one root each, nothing again
    assert harness.posts(thread=True) == []


async def test_a_restart_in_the_middle_of_an_api_server_outage_reposts_nothing(harness: Harness) -> None:
    harness.slack.messages[CHANNEL_ID] = []
    pod = harness.apply(web_pod())
    first = await harness.leading(await harness.start(tuning=OUTAGE_TUNING, alert_channel=CHANNEL_ID))
    pod = harness.crash(pod, 1)
    await until("crash 1", lambda: len(harness.posts()) == 1 and first.settled())
    await until("the ledger to hold it", lambda: not harness.ledger().outbox)

    harness.kube.faults.fail("update", "configmaps", 503)
    pod = harness.crash(pod, 2)  # posted during the outage, never stored...
    pod = harness.crash(pod, 1)  # ...and a repeat in the first root's thread
    await until("both posted during the outage", lambda: len(harness.posts()) == 3)
    await first.kill()  # kill -9: what it sent but could not store dies with it
    harness.kube.faults.clear()

    second = await harness.leading(await harness.start("bot-b", alert_channel=CHANNEL_ID))
    await until("the relisted crash judged", lambda: second.received() >= 1 and second.settled())
    await asyncio.sleep(0.5)  # a wrongly repeated alert would be sent by now
    messages = harness.slack.messages[CHANNEL_ID]
    assert len([m for m in messages if "thread_ts" not in m]) == 2  # exit 1 and exit 2
    assert len([m for m in messages if "thread_ts" in m]) == 1  # the repeat, once


async def test_after_a_restart_the_root_count_edit_still_shows_the_roots_own_crash(harness: Harness) -> None:
    first_pod = harness.apply(web_pod("api-7d9f8c6b5-first", uid="uid-first"))
    second_pod = harness.apply(web_pod("api-7d9f8c6b5-second", uid="uid-second"))
    first = await harness.leading(await harness.start())
    harness.crash(first_pod, 1)
    await until("the root", lambda: len(harness.posts()) == 1 and first.settled())
    await first.shutdown()

    second = await harness.leading(await harness.start())  # remembers nothing rendered
    harness.crash(second_pod, 1)  # a repeat from another pod of the same Deployment

    await until("the reply and the count", lambda: bool(harness.updates()) and second.settled())
    edited = harness.updates()[-1]
    assert "shop/api-7d9f8c6b5-first:" in str(edited["text"])  # not the repeat's pod
    assert "api-7d9f8c6b5-second" in str(harness.posts(thread=True)[-1]["text"])
