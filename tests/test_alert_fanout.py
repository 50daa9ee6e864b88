"""Fan-out to several alert surfaces (issue 12), through the alert service, against the fake apiserver.

The surfaces here are the port's in-process doubles (`RecordingSurface`): these tests pin the service's
promises per surface (exactly once, nothing lost, isolation, the capability mapping, restarts) without
any one surface's wire format. The wire-level tests of each real adapter against its fake service live in
`test_surface_*.py`, and `test_surfaces_wire.py` runs the real adapters together through the service.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.alert_service.surfaces import SurfaceSet
from bot.alerting import LedgerState
from bot.render.alert_text import CrashAlert, RecoveryAlert, RepeatAlert
from bot.render.surface import AlertEvent, Capabilities, Delivery
from tests.test_alert_service import CHANNEL, Harness, until, web_pod

pytest_plugins = ["tests.test_alert_service"]


@dataclass
class RecordingSurface:
    """An `AlertSurface` that records what it accepted; `down()` makes every delivery wait (an outage:
    the sender blocks inside `deliver`, as a real adapter does while it retries)."""

    name: str
    capabilities: Capabilities
    target_names: frozenset[str] = frozenset({"default"})
    accepted: list[tuple[str, Delivery]] = field(default_factory=list)
    attempts: int = 0
    _up: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._up.set()

    def targets(self) -> frozenset[str]:
        return self.target_names

    def down(self) -> None:
        self._up.clear()

    def up(self) -> None:
        self._up.set()

    async def deliver(self, target: str, delivery: Delivery) -> None:
        if target not in self.target_names:
            raise LookupError(target)
        self.attempts += 1
        await self._up.wait()
        self.accepted.append((target, delivery))

    async def close(self) -> None:
        return None

    def events(self) -> list[AlertEvent]:
        return [delivery.event for _, delivery in self.accepted]

    def keys(self) -> list[str]:
        return [delivery.key for _, delivery in self.accepted]


def surfaces(*made: RecordingSurface, routes: dict[str, str] | None = None) -> SurfaceSet:
    return SurfaceSet({surface.name: surface for surface in made}, routes or {})


def teams() -> RecordingSurface:
    return RecordingSurface("teams", Capabilities())


def pagerduty() -> RecordingSurface:
    return RecordingSurface("pagerduty", Capabilities(resolve=True))


def webhook() -> RecordingSurface:
    return RecordingSurface("webhook", Capabilities(threads=True, resolve=True))


def outbox_channels(state: LedgerState) -> set[str]:
    return {str(record.get("channel")) for record in state.outbox.values()}


async def test_one_crash_reaches_every_surface_once_and_repeats_as_each_surface_can(harness: Harness) -> None:
    t, p, w = teams(), pagerduty(), webhook()
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(surfaces=surfaces(t, p, w)))

    pod = harness.crash(pod, 137, reason="OOMKilled")
    await until(
        "the crash on every surface",
        lambda: len(harness.posts()) == 1 and len(t.accepted) == len(p.accepted) == len(w.accepted) == 1,
    )
    assert harness.posts()[0]["channel"] == CHANNEL
    for surface in (t, p, w):
        target, delivery = surface.accepted[0]
        assert target == "default" and delivery.event is AlertEvent.CRASH
        assert isinstance(delivery.view, CrashAlert) and delivery.view.termination.exit_code == 137
        assert delivery.view.diagnosis is not None  # the same diagnosis Slack shows

    harness.crash(pod, 137, reason="OOMKilled")
    await until(
        "the repeat everywhere",
        lambda: (
            len(harness.posts(thread=True)) == 1
            and len(w.accepted) == 2
            and len(t.accepted) == 2
            and len(p.accepted) == 2
            and bot.settled()
        ),
    )
    # The webhook threads (a repeat event of the same incident); Teams and PagerDuty get a follow-up
    # that carries the count, since they can neither thread nor edit.
    assert w.events() == [AlertEvent.CRASH, AlertEvent.REPEAT]
    assert isinstance(w.accepted[1][1].view, RepeatAlert)
    for surface in (t, p):
        follow_up = surface.accepted[1][1]
        assert follow_up.event is AlertEvent.REPEAT and follow_up.follow_up
        assert isinstance(follow_up.view, CrashAlert) and follow_up.view.count == 2
    # One incident per surface: every message of the episode names the same incident key.
    for surface in (t, p, w):
        assert len({delivery.incident for _, delivery in surface.accepted}) == 1
        assert len(set(surface.keys())) == len(surface.keys())  # distinct idempotency keys


async def test_a_surface_down_delays_no_other_and_its_alerts_wait_in_the_ledger(harness: Harness) -> None:
    t, p = teams(), pagerduty()
    t.down()
    pod = harness.apply(web_pod())
    first = await harness.leading(await harness.start(surfaces=surfaces(t, p)))

    harness.crash(pod, 1)
    await until("Slack and PagerDuty", lambda: len(harness.posts()) == 1 and len(p.accepted) == 1)
    await until(
        "the Teams alert to wait in the stored ledger",
        lambda: outbox_channels(harness.ledger()) == {"teams:default"},
    )
    assert t.accepted == [] and t.attempts == 1  # blocked inside its one attempt, as in an outage

    # The bot is killed while Teams is still down; the next one delivers the waiting alert once, and
    # re-sends nothing Slack or PagerDuty already have.
    await first.kill()
    t2, p2 = teams(), pagerduty()
    second = await harness.leading(await harness.start("bot-b", surfaces=surfaces(t2, p2)))
    await until("Teams to get the alert", lambda: len(t2.accepted) == 1 and second.settled())
    await asyncio.sleep(0.3)
    assert len(harness.posts()) == 1 and p2.accepted == [] and len(t2.accepted) == 1
    assert t2.accepted[0][1].event is AlertEvent.CRASH
    await until("the ledger to forget the sent entry", lambda: not harness.ledger().outbox)


async def test_alerts_only_with_no_slack_app(harness: Harness) -> None:
    p = pagerduty()
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(sink=False, surfaces=surfaces(p)))
    harness.crash(pod, 139)
    await until("the page", lambda: len(p.accepted) == 1 and bot.settled())
    assert harness.slack.calls_to("chat.postMessage") == []
    assert p.accepted[0][1].view.termination.exit_code == 139  # type: ignore[union-attr]


async def test_a_namespace_routed_to_none_on_every_surface_is_counted_not_lost(harness: Harness) -> None:
    p = pagerduty()
    pod = harness.apply(web_pod())
    bot = await harness.leading(
        await harness.start(sink=False, surfaces=surfaces(p, routes={"shop": "pagerduty:none"}))
    )
    harness.crash(pod, 1)
    await until("the crash to be judged", lambda: bot.received() == 1)
    assert p.accepted == []
    assert bot.metrics.suppressed.labels(reason="no_destination")._value.get() == 1


async def test_a_recovery_resolves_the_same_incident_on_surfaces_that_resolve(harness: Harness) -> None:
    p, t = pagerduty(), teams()
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(surfaces=surfaces(p, t), recovery_seconds=1))
    harness.crash(pod, 1)
    await until(
        "the recovery everywhere",
        lambda: AlertEvent.RECOVERED in p.events() and AlertEvent.RECOVERED in t.events() and bot.settled(),
    )
    crash_delivery = p.accepted[0][1]
    recovered = next(d for _, d in p.accepted if d.event is AlertEvent.RECOVERED)
    assert recovered.incident == crash_delivery.incident
    assert isinstance(recovered.view, RecoveryAlert)
    # Teams cannot resolve: it gets a recovered message of its own, once.
    assert t.events().count(AlertEvent.RECOVERED) == 1


async def test_a_crash_sent_to_every_surface_is_diagnosed_once(harness: Harness) -> None:
    """Four destinations, one diagnosis: the evidence (events, the log tail) is read from the API server
    once per crash, not once per surface (an API server in a crash storm has enough to do)."""
    t, p, w = teams(), pagerduty(), webhook()
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(surfaces=surfaces(t, p, w)))
    harness.kube.requests.clear()

    harness.crash(pod, 1)
    await until(
        "the crash everywhere",
        lambda: (
            len(harness.posts()) == 1
            and len(t.accepted) == len(p.accepted) == len(w.accepted) == 1
            and bot.settled()
        ),
    )
    evidence = [
        entry
        for entry in harness.kube.requests.entries
        if entry.resource == "events" or entry.subresource == "log"
    ]
    assert len([entry for entry in evidence if entry.resource == "events"]) == 1
    # the log tail: the current log, then the previous one when the current is empty (one reading)
    assert len([entry for entry in evidence if entry.subresource == "log"]) <= 2
    for surface in (t, p, w):
        view = surface.accepted[0][1].view
        assert isinstance(view, CrashAlert) and view.diagnosis is not None
