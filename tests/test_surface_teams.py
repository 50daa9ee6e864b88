"""The Teams surface against a fake Workflows webhook: each crash arrives once, faults are waited out,
a too-large card is shrunk (never dropped), and the webhook URL, a secret, never shows up anywhere.

The fake answers as a Workflow does (202 with an empty body, Logic Apps error shapes, 429 throttling) and
records what the channel shows, so the tests assert what a user would see. It also records flow runs that
failed after the 202 (a card Teams cannot display or over the size limit): every test checks there are
none, because in production nobody would hear of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from bot.alert_service.surfaces import AlertSurface
from bot.alerting import AlertKind
from bot.alerting.incidents import EndReason, IncidentPhase, IncidentStatus
from bot.diagnosis.model import LogTail
from bot.knowledge import KnowledgeBase
from bot.metrics import AlertMetrics
from bot.render.alert_card import ADAPTIVE_CARD_CONTENT_TYPE, delivery_label
from bot.render.alert_text import CrashAlert, RecoveryAlert, headline
from bot.render.surface import AlertEvent, Capabilities, Delivery
from bot.surfaces.http_delivery import DeliveryTiming, HttpDelivery, Rejected
from bot.surfaces.teams import TeamsSurface
from tests.fakes.teams import FakeTeams, wait_for
from tests.test_alert_card import crash, crash_alert, literal_lines, oom_diagnosis, shown
from tests.test_alerting_pods import T0

FAST = DeliveryTiming(
    min_interval_seconds=0.0,
    timeout_seconds=5.0,
    backoff_base_seconds=0.01,
    backoff_cap_seconds=0.05,
    max_retry_after_seconds=0.05,
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTeams]:
    teams = await FakeTeams().start()
    yield teams
    assert teams.failed_runs == [], "a card the channel never showed"
    await teams.close()


@pytest.fixture
def metrics() -> AlertMetrics:
    return AlertMetrics(CollectorRegistry())


@pytest.fixture
async def surface(fake: FakeTeams, metrics: AlertMetrics) -> AsyncIterator[TeamsSurface]:
    urls = {"default": fake.workflow("default"), "payments": fake.workflow("payments")}
    teams = TeamsSurface(
        urls, delivery=HttpDelivery("teams", FAST, on_error=count_error(metrics)), metrics=metrics
    )
    yield teams
    await teams.close()


def count_error(metrics: AlertMetrics) -> Any:
    return lambda kind: metrics.surface_error("teams", kind)


def counted(metrics: AlertMetrics, name: str, **labels: str) -> float:
    value = metrics.surface_messages if name == "messages" else metrics.surface_errors
    return float(value.labels(**labels)._value.get())


def crash_delivery(kb: KnowledgeBase, key: str = "entry-1", **fields: Any) -> Delivery:
    alert = crash_alert(kb, crash(137, reason="OOMKilled"), **fields)
    return Delivery(AlertEvent.CRASH, alert, key=key, incident="incident-1", planned_at=T0)


def test_the_surface_declares_it_can_only_post() -> None:
    teams: AlertSurface = TeamsSurface(  # the port, structurally (mypy checks it)
        {"default": "https://prod-00.westeurope.logic.azure.com/workflows/x/triggers/manual"}
    )
    assert teams.name == "teams"
    assert teams.capabilities == Capabilities(threads=False, edits=False, buttons=False, resolve=False)
    assert teams.targets() == frozenset({"default"})


async def test_a_crash_arrives_once_as_a_card(
    fake: FakeTeams, surface: TeamsSurface, metrics: AlertMetrics, knowledge_base: KnowledgeBase
) -> None:
    delivery = crash_delivery(knowledge_base)
    await surface.deliver("payments", delivery)

    (card,) = fake.cards_for("payments")
    assert literal_lines(card)[0] == headline(delivery.view)  # type: ignore[arg-type]
    assert "Exit code: 137 = 128 + 9 → SIGKILL" in shown(card)
    assert fake.cards_for("default") == [] and fake.statuses == [202]
    assert counted(metrics, "messages", surface="teams", event="crash") == 1


async def test_a_follow_up_and_a_recovery_are_cards_of_their_own(
    fake: FakeTeams, surface: TeamsSurface, metrics: AlertMetrics, knowledge_base: KnowledgeBase
) -> None:
    first = crash_delivery(knowledge_base)
    await surface.deliver("default", first)
    update = replace(first, event=AlertEvent.REPEAT, key="entry-2", follow_up=True)
    assert isinstance(first.view, CrashAlert)
    update = replace(update, view=replace(first.view, count=7, first_seen=T0, last_seen=T0 + 180))
    await surface.deliver("default", update)
    recovered = IncidentStatus(
        IncidentPhase.RECOVERED, T0 + 900, T0, 7, T0 + 180, reason=EndReason.POD_DELETED
    )
    view = RecoveryAlert("shop", "Deployment/api", "app", AlertKind.CRASH, recovered)
    await surface.deliver("default", Delivery(AlertEvent.RECOVERED, view, "entry-3", "incident-1", T0))

    cards = fake.cards_for("default")
    assert [literal_lines(card)[0] for card in cards] == [
        "Deployment/api / app crashed: exit 137 (OOMKilled)",
        "Deployment/api / app: still crashing",
        "Recovered: Deployment/api / app",
    ]
    assert "Crashed 7 times since 2026-01-01 00:00:00 UTC, last at 2026-01-01 00:03:00 UTC" in shown(cards[1])
    assert counted(metrics, "messages", surface="teams", event="repeat") == 1
    assert counted(metrics, "messages", surface="teams", event="recovered") == 1


async def test_throttling_and_server_errors_are_waited_out_and_the_card_arrives_once(
    fake: FakeTeams, surface: TeamsSurface, metrics: AlertMetrics, knowledge_base: KnowledgeBase
) -> None:
    fake.throttle(2, retry_after="1")
    fake.fail(2, status=503)
    await surface.deliver("default", crash_delivery(knowledge_base))

    assert fake.statuses == [503, 503, 429, 429, 202]
    assert len(fake.cards_for("default")) == 1
    assert counted(metrics, "errors", surface="teams", kind="ratelimited") == 2
    assert counted(metrics, "errors", surface="teams", kind="server_error") == 2


async def test_an_outage_is_waited_out(
    fake: FakeTeams, surface: TeamsSurface, knowledge_base: KnowledgeBase
) -> None:
    fake.down = True
    sending = asyncio.create_task(surface.deliver("default", crash_delivery(knowledge_base)))
    await wait_for(lambda: fake.statuses.count(0) >= 3)
    assert not sending.done() and fake.cards == []
    fake.down = False
    await sending
    assert len(fake.cards_for("default")) == 1


async def test_an_answer_lost_after_the_card_was_posted_may_show_it_twice_with_one_delivery_id(
    fake: FakeTeams, surface: TeamsSurface, knowledge_base: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    """A Workflow has no idempotency key and cannot be read back: the honest outcome is a repeat the
    reader can recognise (same delivery id), never a lost alert."""
    caplog.set_level(logging.INFO)
    fake.drop_after_accept(1)
    delivery = crash_delivery(knowledge_base)
    await surface.deliver("default", delivery)

    cards = fake.cards_for("default")
    assert len(cards) == 2 and cards[0] == cards[1]
    assert shown(cards[0]).rstrip().endswith(delivery_label(delivery))
    assert delivery_label(delivery).replace(" ", "=") in caplog.text  # operators can match the card
    other = crash_delivery(knowledge_base, key="entry-2")
    await surface.deliver("default", other)
    assert delivery_label(other) in shown(fake.cards_for("default")[-1])
    assert delivery_label(other) != delivery_label(delivery)


async def test_a_card_refused_as_too_large_is_shrunk_and_sent_not_dropped(
    fake: FakeTeams, surface: TeamsSurface, metrics: AlertMetrics, knowledge_base: KnowledgeBase
) -> None:
    fake.oversize_status, fake.size_limit = 413, 5_000
    diagnosis = replace(oom_diagnosis(knowledge_base), log_tails=(LogTail("app", ("x" * 300,) * 40),))
    await surface.deliver("default", crash_delivery(knowledge_base, diagnosis=diagnosis, log_lines=40))

    assert fake.statuses[0] == 413 and fake.statuses[-1] == 202
    (posted,) = fake.cards
    assert posted.size <= 5_000
    assert "Shortened to fit Teams' message size" in shown(posted.card)
    assert counted(metrics, "errors", surface="teams", kind="too_large") >= 1


async def test_a_huge_alert_is_posted_within_the_limit_teams_enforces_after_accepting(
    fake: FakeTeams, surface: TeamsSurface, knowledge_base: KnowledgeBase
) -> None:
    """Workflows says 202 and only then fails a card over the limit: the renderer must fit it first
    (the fixture checks no flow run failed)."""
    diagnosis = replace(oom_diagnosis(knowledge_base), log_tails=(LogTail("app", ("ü" * 4000,) * 200),))
    termination = crash(1, message="€" * 4096)
    view = CrashAlert(termination, AlertKind.CRASH, diagnosis=diagnosis, log_lines=200)
    await surface.deliver("default", Delivery(AlertEvent.CRASH, view, "entry-9", "incident-9", T0))
    (posted,) = fake.cards
    assert posted.size <= fake.size_limit


async def test_an_unknown_target_is_a_lookup_error(
    fake: FakeTeams, surface: TeamsSurface, knowledge_base: KnowledgeBase
) -> None:
    with pytest.raises(LookupError, match="'oncall'"):
        await surface.deliver("oncall", crash_delivery(knowledge_base))
    assert fake.statuses == []


async def test_a_revoked_signature_is_refused_for_good_without_revealing_the_url(
    fake: FakeTeams, metrics: AlertMetrics, knowledge_base: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = fake.workflow("payments")
    workflow_id = good.split("/workflows/")[1].split("/")[0]
    revoked = fake.url(workflow_id, sig="revoked-Signature-value")
    teams = TeamsSurface({"payments": revoked}, delivery=HttpDelivery("teams", FAST), metrics=metrics)
    fake.fail(2, status=502)  # some retries first, so the retry log lines are checked too
    try:
        with pytest.raises(Rejected) as refused:
            await teams.deliver("payments", crash_delivery(knowledge_base))
    finally:
        await teams.close()

    assert refused.value.status == 401 and "DirectApiInvalidAuthorizationSignature" in str(refused.value)
    assert fake.statuses == [502, 502, 401] and fake.cards == []
    for secret in ("revoked-Signature-value", workflow_id, "sig="):
        assert secret not in caplog.text
        assert secret not in str(refused.value) and secret not in repr(refused.value)
    assert "payments" in caplog.text  # the log says which target, by its name


async def test_no_log_line_carries_the_url_through_outages_and_shrinking(
    fake: FakeTeams, knowledge_base: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = fake.workflow("default")
    teams = TeamsSurface({"default": url}, delivery=HttpDelivery("teams", FAST))
    fake.oversize_status, fake.size_limit = 413, 4_000
    fake.throttle(1)
    fake.down = True
    sending = asyncio.create_task(teams.deliver("default", crash_delivery(knowledge_base, log_lines=20)))
    await wait_for(lambda: fake.statuses.count(0) >= 2)
    fake.down = False
    await sending
    await teams.close()
    assert fake.cards
    sig = url.rpartition("sig=")[2]
    assert sig not in caplog.text and "/workflows/" not in caplog.text
    assert "alert_delivery_retry" in caplog.text


@pytest.mark.parametrize(
    "url",
    [
        "https://contoso.webhook.office.com/webhookb2/0000@1111/IncomingWebhook/2222/3333",
        "https://outlook.office.com/webhook/0000/IncomingWebhook/1111/2222",
        "not a url with sig=SECRET",
        "ftp://prod-00.logic.azure.com/workflows/x?sig=SECRET",
    ],
)
def test_an_unusable_url_is_refused_at_startup_by_its_target_name(url: str) -> None:
    with pytest.raises(ValueError, match="'payments'") as refused:
        TeamsSurface({"payments": url})
    assert "SECRET" not in str(refused.value) and "0000" not in str(refused.value)


async def test_the_fake_refuses_what_a_workflow_refuses() -> None:
    """The fake's own contract: what a real Workflow answers, and which cards its flow run fails on."""
    fake = await FakeTeams().start()
    url = fake.workflow("default")
    workflow_id = url.split("/workflows/")[1].split("/")[0]

    def message(card: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "message",
            "attachments": [{"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "content": card}],
        }

    good = {"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "hi"}]}
    try:
        async with aiohttp.ClientSession() as session:

            async def post(target: str, body: Any) -> tuple[int, str]:
                async with session.post(target, json=body) as response:
                    return response.status, await response.text()

            assert await post(url, message(good)) == (202, "")
            assert (await post(url.partition("&sig=")[0], message(good)))[0] == 401
            status, text = await post(fake.url(workflow_id, sig="wrong"), message(good))
            assert status == 401 and "DirectApiInvalidAuthorizationSignature" in text
            assert (await post(fake.url("0" * 32), message(good)))[0] == 404
            status, text = await post(url, {"text": "a connector payload"})
            assert status == 400 and "TriggerInputSchemaMismatch" in text
            # accepted, then the flow run fails: the caller never hears of these
            assert (await post(url, message({**good, "version": "1.5"})))[0] == 202
            submit = {**good, "actions": [{"type": "Action.Submit", "title": "Snooze"}]}
            assert (await post(url, message(submit)))[0] == 202
            big = {**good, "body": [{"type": "TextBlock", "text": "x" * 30_000}]}
            assert (await post(url, message(big)))[0] == 202
    finally:
        await fake.close()
    assert len(fake.cards) == 1
    assert [run.reason.split()[0] for run in fake.failed_runs] == ["version", "action", "MessageSizeExceeded"]
