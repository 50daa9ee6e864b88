"""Every surface at once, over the wire (issue 12): the fake apiserver → the alert service → the fake Slack
Web API, a fake Teams Workflows webhook, a fake PagerDuty Events API v2 and a webhook receiver that
verifies signatures and validates the schema, all with the real adapters.

What on-call engineers rely on: the same crash reaches every configured surface exactly once; one
surface failing for a long time loses nothing there and delays no other; a restart or a failover in
the middle of a delivery duplicates nothing (PagerDuty's `dedup_key` and the webhook's idempotency key
make a resent event harmless); "I'm on it" in Slack acknowledges the PagerDuty alert.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from bot.alert_service.surfaces import AlertSurface, SurfaceSet
from bot.alerting.actions import GroupKey
from bot.surfaces.http_delivery import DeliveryTiming, HttpDelivery
from bot.surfaces.pagerduty import PagerDutySurface
from bot.surfaces.teams import TeamsSurface
from bot.surfaces.webhook import WebhookRoute, WebhookSurface
from tests.fakes.pagerduty import ROUTING_KEY, Disconnect, FakePagerDuty
from tests.fakes.teams import FakeTeams
from tests.fakes.webhook_receiver import AcceptThenDrop, WebhookReceiver
from tests.test_alert_service import Harness, header_text, until, web_pod

pytest_plugins = ["tests.test_alert_service"]

SECRET = "whsec-wire-test-0123456789abcdef"
FAST = DeliveryTiming(
    min_interval_seconds=0.01,
    timeout_seconds=2.0,
    backoff_base_seconds=0.02,
    backoff_cap_seconds=0.1,
    max_retry_after_seconds=0.2,
)


@dataclass
class Remotes:
    teams: FakeTeams
    teams_url: str
    pagerduty: FakePagerDuty
    webhook: WebhookReceiver
    made: list[SurfaceSet] = field(default_factory=list)

    def surfaces(self) -> SurfaceSet:
        """Fresh adapters (a new bot process has its own), each retrying fast."""
        made: dict[str, AlertSurface] = {
            "teams": TeamsSurface({"default": self.teams_url}, delivery=HttpDelivery("teams", FAST)),
            "pagerduty": PagerDutySurface(
                {"default": ROUTING_KEY},
                events_url=self.pagerduty.events_url,
                delivery=HttpDelivery("pagerduty", FAST),
            ),
            "webhook": WebhookSurface(
                {"default": WebhookRoute(self.webhook.url, SECRET)}, delivery=HttpDelivery("webhook", FAST)
            ),
        }
        surfaces = SurfaceSet(made, {})
        self.made.append(surfaces)
        return surfaces

    def crash_events(self) -> list[dict[str, object]]:
        return [event for event in self.webhook.events if event["event"] == "crash"]


@pytest.fixture
async def remotes(harness: Harness) -> AsyncIterator[Remotes]:
    teams = await FakeTeams().start()
    pagerduty = await FakePagerDuty().start()
    webhook = await WebhookReceiver(SECRET).start()
    remotes = Remotes(teams, teams.workflow("oncall"), pagerduty, webhook)
    try:
        yield remotes
    finally:
        for bot in harness.bots:  # stopped before their surfaces close (as AlertRunner.stop does)
            if not bot.task.done():
                await bot.shutdown()
        for surfaces in remotes.made:
            await surfaces.close()
        await teams.close()
        await pagerduty.close()
        await webhook.close()


async def test_the_same_crash_reaches_every_surface_exactly_once(harness: Harness, remotes: Remotes) -> None:
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(surfaces=remotes.surfaces()))

    pod = harness.crash(pod, 137, reason="OOMKilled")
    await until(
        "the crash everywhere",
        lambda: (
            len(harness.posts()) == 1
            and len(remotes.teams.cards) == 1
            and len(remotes.pagerduty.alerts) == 1
            and len(remotes.crash_events()) == 1
            and bot.settled()
        ),
    )
    assert "exit 137 (OOMKilled)" in header_text(harness.posts()[0])
    assert "OOMKilled" in str(remotes.teams.cards[0].card)
    [alert] = remotes.pagerduty.alerts
    assert alert.status == "triggered" and "OOMKilled" in str(alert.first["payload"]["summary"])
    [event] = remotes.crash_events()
    assert event["exit_code"] == 137 and event["namespace"] == "shop" and event["reason"] == "OOMKilled"

    harness.crash(pod, 137, reason="OOMKilled")
    await until(
        "the repeat everywhere",
        lambda: (
            len(harness.posts(thread=True)) == 1
            and len(remotes.teams.cards) == 2
            and len(remotes.pagerduty.alerts[0].triggers) == 2
            and len(remotes.webhook.events) == 2
            and bot.settled()
        ),
    )
    await asyncio.sleep(0.3)  # nothing more comes
    assert len(harness.posts(thread=False)) == 1 and len(remotes.teams.cards) == 2
    assert len(remotes.pagerduty.alerts) == 1  # repeats update one PagerDuty alert
    assert [event["event"] for event in remotes.webhook.events] == ["crash", "repeat"]
    assert remotes.webhook.duplicates == [] and remotes.teams.failed_runs == []
    assert remotes.webhook.events[1]["incident_key"] == remotes.webhook.events[0]["incident_key"]


async def test_one_surface_down_for_long_loses_nothing_and_delays_no_other(
    harness: Harness, remotes: Remotes
) -> None:
    remotes.pagerduty.down = True  # refuses every connection until it is back
    pods = [
        harness.apply(web_pod(f"api{index}-7d9f8c6b5-x2x9z", deployment=f"api{index}")) for index in range(3)
    ]
    bot = await harness.leading(await harness.start(surfaces=remotes.surfaces()))

    for pod in pods:
        harness.crash(pod, 1)
    await until(
        "Slack, Teams and the webhook, while PagerDuty is down",
        lambda: (
            len(harness.posts()) == 3 and len(remotes.teams.cards) == 3 and len(remotes.crash_events()) == 3
        ),
    )
    assert remotes.pagerduty.alerts == []
    await until("the pages to wait in the stored ledger", lambda: len(harness.ledger().outbox) == 3)
    assert {str(record["channel"]) for record in harness.ledger().outbox.values()} == {"pagerduty:default"}

    remotes.pagerduty.down = False
    await until(
        "every page once PagerDuty is back", lambda: len(remotes.pagerduty.alerts) == 3 and bot.settled()
    )
    assert len({alert.dedup_key for alert in remotes.pagerduty.alerts}) == 3
    assert len(harness.posts()) == 3 and len(remotes.teams.cards) == 3 and remotes.webhook.duplicates == []


async def test_a_kill_in_the_middle_of_a_delivery_duplicates_nothing(
    harness: Harness, remotes: Remotes
) -> None:
    # PagerDuty and the receiver take the event, then the connection drops before their answer, again
    # and again: the bot cannot know. It is killed meanwhile; its successor sends the same events again,
    # with the same dedup_key and idempotency key, and nobody sees the crash twice.
    remotes.pagerduty.fail(Disconnect(processed=True), times=1000)
    remotes.webhook.fail(AcceptThenDrop(), times=1000)
    pod = harness.apply(web_pod())
    first = await harness.leading(await harness.start(surfaces=remotes.surfaces()))
    harness.crash(pod, 139)
    await until(
        "both to have processed the crash, unanswered",
        lambda: (
            len(remotes.pagerduty.alerts) == 1
            and len(remotes.webhook.events) == 1
            and len(harness.posts()) == 1
        ),
    )
    await until("the unconfirmed entries in the stored ledger", lambda: len(harness.ledger().outbox) == 2)
    await first.kill()

    remotes.pagerduty._faults.clear()
    remotes.webhook._faults.clear()
    second = await harness.leading(await harness.start("bot-b", surfaces=remotes.surfaces()))
    await until(
        "the successor to deliver what was unconfirmed",
        lambda: not harness.ledger().outbox and second.settled(),
    )
    assert len(remotes.pagerduty.alerts) == 1 and len(remotes.pagerduty.alerts[0].triggers) >= 2
    assert [event["event"] for event in remotes.webhook.events] == ["crash"]  # the application: once
    assert remotes.webhook.duplicates  # the resend arrived, and was recognised as one
    assert len(harness.posts()) == 1 and len(remotes.teams.cards) == 1


async def test_im_on_it_in_slack_acknowledges_the_pagerduty_alert(harness: Harness, remotes: Remotes) -> None:
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(surfaces=remotes.surfaces()))
    harness.crash(pod, 1)
    await until(
        "the alert and the page",
        lambda: len(harness.posts()) == 1 and len(remotes.pagerduty.alerts) == 1 and bot.settled(),
    )
    planner = bot.service.planner
    assert planner is not None
    root = next(
        group.root_ts
        for gid, group in planner.state.groups.items()
        if GroupKey.from_id(gid).channel == "#alerts"
    )
    assert root is not None  # the Slack root, `<channel id>:<ts>`: what the button names
    channel_id, _, ts = root.rpartition(":")

    await bot.service.snoozes.claim(channel_id, ts, user="U0ONCALL", at=harness.clock, via="button")
    await until("the acknowledgement", lambda: remotes.pagerduty.alerts[0].status == "acknowledged")
