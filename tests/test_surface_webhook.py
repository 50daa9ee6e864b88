"""The signed webhook, as a receiver sees it: schema-valid events with the Slack alert's facts, signed
per attempt, delivered once to the receiver's application through 5xx, 429, dropped answers and resets.

Every rendered event is validated against `docs/webhook-event.v1.schema.json` with jsonschema (the
schema itself checked as Draft 2020-12), hostile cluster text and megabyte logs included. Signatures are
checked by the README's own snippet (extracted and executed here) and by the fake receiver's independent
HMAC, never by the bot's `sign`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from bot.alerting import AlertKind, DigestRow, Termination, Workload, detect_terminations
from bot.alerting.incidents import EndReason, IncidentPhase, IncidentStatus
from bot.diagnosis.engine import diagnose
from bot.diagnosis.model import Diagnosis, LogTail
from bot.knowledge import KnowledgeBase
from bot.metrics import AlertMetrics
from bot.render.alert_blocks import alert_blocks
from bot.render.alert_event import FIELDS, MAX_BODY_BYTES, event_body
from bot.render.alert_text import CrashAlert, DigestAlert, RecoveryAlert, RepeatAlert, headline
from bot.render.surface import AlertEvent, Delivery
from bot.surfaces.http_delivery import DeliveryTiming, HttpDelivery, Rejected
from bot.surfaces.webhook import WebhookRoute, WebhookSurface, sign
from tests.fakes.webhook_receiver import (
    SCHEMA_FILE,
    AcceptThenDrop,
    Down,
    Fault,
    RateLimited,
    Refuse,
    ServerError,
    WebhookReceiver,
    schema_validator,
)
from tests.fixtures.scenarios import load_scenario
from tests.test_alerting_pods import T0, deployment_pod, exited

README = Path(__file__).resolve().parents[1] / "README.md"
SECRET = "whsec-4f1c2a9b7e3d5f60-test-only"
URL_TOKEN = "url-token-9c0ffee"
HOSTILE = '<!channel> "q" \\ \x00nul \x1b[31mred\x1b[0m \u2028 \ud800lone 🔥 </script>&amp;'


# --- views, as the alert service builds them --------------------------------------------------------


def crash(code: int = 137, **details: str) -> Termination:
    return detect_terminations(None, exited(deployment_pod(), "app", code, 60, **details))[0]


def oom_alert(kb: KnowledgeBase, **fields: Any) -> CrashAlert:
    scenario = load_scenario("oom_killed_container_limit")
    diagnosis = diagnose(scenario.evidence(), kb, scenario.captured_at)
    termination = detect_terminations(None, scenario.pod)[0]
    meaning = kb.explain_code(termination.exit_code or 0)
    return CrashAlert(termination, AlertKind.CRASH, meaning=meaning, diagnosis=diagnosis, **fields)


def firing(crashes: int = 3) -> IncidentStatus:
    return IncidentStatus(IncidentPhase.FIRING, since=T0, started=T0, crashes=crashes, last_crash=T0 + 120)


def recovered() -> IncidentStatus:
    return IncidentStatus(
        IncidentPhase.RECOVERED,
        since=T0 + 900,
        started=T0,
        crashes=4,
        last_crash=T0 + 300,
        reason=EndReason.ROLLOUT,
        detail="6c8d9f7b4",
    )


def digest(calm: bool = False) -> DigestAlert:
    rows = (
        DigestRow("shop", Workload("Deployment", "api"), 137, AlertKind.CRASH, 12, T0 + 30),
        DigestRow("shop", Workload("Deployment", "web"), None, AlertKind.EVICTION, 3, T0 + 40),
        DigestRow("", Workload("", ""), None, None, 40, T0 + 50),
    )
    return DigestAlert("#alerts", rows, 55, T0, calm=calm, code_names={137: "SIGKILL"}, cluster="prod-eu")


def delivery(view: Any, event: AlertEvent, key: str = "entry-1", incident: str = "incident-1") -> Delivery:
    return Delivery(event, view, key=key, incident=incident, planned_at=T0 + 61.25)


def hostile_alert(kb: KnowledgeBase, lines: int = 3, line: str = HOSTILE) -> CrashAlert:
    alert = oom_alert(kb, incident=firing())
    assert alert.diagnosis is not None
    diagnosis: Diagnosis = replace(
        alert.diagnosis,
        log_tails=(LogTail(alert.termination.container, tuple(f"{n} {line}" for n in range(lines))),),
        verdict=replace(alert.diagnosis.verdict, evidence=(HOSTILE, line)),
    )
    termination = replace(alert.termination, pod=HOSTILE, message=HOSTILE * 3, node=HOSTILE)
    return replace(alert, termination=termination, diagnosis=diagnosis, log_lines=max(lines, 1))


def every_event(kb: KnowledgeBase) -> dict[str, Delivery]:
    eviction_pod = exited(deployment_pod(), "app", 137, 60)
    eviction_pod["status"].update(reason="Evicted", message="The node was low on resource: memory.")
    eviction = CrashAlert(
        detect_terminations(None, eviction_pod)[0], AlertKind.EVICTION, kb.explain_reason("Evicted")
    )
    return {
        "crash": delivery(oom_alert(kb), AlertEvent.CRASH),
        "crash, tracked": delivery(oom_alert(kb, count=3, pod_count=2, incident=firing()), AlertEvent.CRASH),
        "crash, no diagnosis": delivery(
            CrashAlert(crash(1), AlertKind.CRASH, kb.explain_code(1)), AlertEvent.CRASH
        ),
        "crash, unknown code": delivery(
            CrashAlert(replace(crash(1), exit_code=None, signal=None), AlertKind.CRASH), AlertEvent.CRASH
        ),
        "eviction": delivery(eviction, AlertEvent.CRASH),
        "exit 0 restarting": delivery(
            CrashAlert(crash(0), AlertKind.COMPLETED_TOO_OFTEN, kb.explain_code(0)), AlertEvent.CRASH
        ),
        "repeat": delivery(RepeatAlert(crash(137), AlertKind.CRASH, kb.explain_code(137)), AlertEvent.REPEAT),
        "digest": delivery(digest(), AlertEvent.DIGEST),
        "calm digest": delivery(digest(calm=True), AlertEvent.DIGEST),
        "recovered": delivery(
            RecoveryAlert("shop", "Deployment/api", "app", AlertKind.CRASH, recovered(), cluster="prod-eu"),
            AlertEvent.RECOVERED,
        ),
        "hostile": delivery(hostile_alert(kb), AlertEvent.CRASH),
        "huge log": delivery(hostile_alert(kb, lines=20_000, line="x" * 300), AlertEvent.CRASH),
        "one huge line": delivery(hostile_alert(kb, lines=2, line="é" * 1_000_000), AlertEvent.CRASH),
    }


def rendered(item: Delivery, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    body = event_body(item, sent_at=T0 + 62, limit=limit)
    assert len(body) <= limit
    event: dict[str, Any] = json.loads(body.decode("utf-8"))  # strict UTF-8: no lone surrogate got out
    return event


def schema_problems(event: dict[str, Any]) -> list[str]:
    return [f"{list(e.path)}: {e.message}" for e in schema_validator().iter_errors(event)]


# --- the schema and the renderer ---------------------------------------------------------------------


def test_the_schema_is_draft_2020_12_and_requires_every_field_the_bot_writes() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    schema_validator()  # check_schema: raises for an invalid schema
    assert tuple(schema["properties"]) == FIELDS and schema["required"] == list(FIELDS)
    events = {rule["if"]["properties"]["event"]["const"] for rule in schema["allOf"]}
    assert events == {event.value for event in AlertEvent}, "each event says which fields are null"


EVENT_NAMES = (
    "crash",
    "crash, tracked",
    "crash, no diagnosis",
    "crash, unknown code",
    "eviction",
    "exit 0 restarting",
    "repeat",
    "digest",
    "calm digest",
    "recovered",
    "hostile",
    "huge log",
    "one huge line",
)


def test_the_list_of_rendered_events_is_complete(knowledge_base: KnowledgeBase) -> None:
    assert tuple(every_event(knowledge_base)) == EVENT_NAMES


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_every_event_validates_against_the_schema(knowledge_base: KnowledgeBase, name: str) -> None:
    item = every_event(knowledge_base)[name]
    event = rendered(item)
    assert schema_problems(event) == []
    assert tuple(event) == FIELDS
    assert event["schema_version"] == "1" and event["event"] == item.event.value
    assert event["idempotency_key"] == item.key and event["incident_key"] == item.incident
    assert event["occurred_at"] == "2026-01-01T00:01:01.250Z" and event["sent_at"] == "2026-01-01T00:01:02Z"


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_every_event_still_validates_when_squeezed_into_a_small_body(
    knowledge_base: KnowledgeBase, name: str
) -> None:
    event = rendered(every_event(knowledge_base)[name], limit=12 * 1024)
    assert schema_problems(event) == []


def test_a_crash_carries_the_facts_the_slack_alert_shows(knowledge_base: KnowledgeBase) -> None:
    alert = oom_alert(knowledge_base, count=3, pod_count=2, incident=firing())
    assert alert.diagnosis is not None and alert.log_tail is not None and alert.meaning is not None
    event = rendered(delivery(alert, AlertEvent.CRASH))
    verdict = alert.diagnosis.verdict
    slack = json.dumps(alert_blocks(alert), ensure_ascii=False)

    assert event["summary"] == headline(alert) and headline(alert) in slack
    assert (event["namespace"], event["pod"], event["container"]) == (
        alert.termination.namespace,
        alert.termination.pod,
        alert.termination.container,
    )
    assert event["workload"] == {
        "kind": alert.termination.workload.kind,
        "name": alert.termination.workload.name,
    }
    assert (event["exit_code"], event["signal"], event["reason"]) == (137, "SIGKILL", "OOMKilled")
    assert event["verdict"] == verdict.headline and verdict.headline in slack
    assert event["confidence"] == verdict.confidence
    assert event["evidence"] == list(verdict.evidence)
    assert event["log_tail"] == list(alert.log_tail.lines)
    assert event["meaning"] == alert.meaning.summary
    assert event["next_steps"][0]["text"] == verdict.next_steps[0].text
    assert event["runbook_url"] == alert.runbook_url
    assert (event["count"], event["pod_count"], event["restarts"]) == (3, 2, alert.termination.restart_count)
    assert event["incident"] == {
        "state": "firing",
        "crashes": 3,
        "started_at": "2026-01-01T00:00:00Z",
        "since": "2026-01-01T00:00:00Z",
        "last_crash_at": "2026-01-01T00:02:00Z",
        "reason": None,
        "detail": None,
    }
    assert event["digest"] is None and event["truncated"] is False


def test_a_first_crash_without_a_diagnosis_has_empty_lists_and_no_verdict(
    knowledge_base: KnowledgeBase,
) -> None:
    event = rendered(every_event(knowledge_base)["crash, no diagnosis"])
    assert (event["verdict"], event["confidence"], event["incident"]) == (None, None, None)
    assert (event["evidence"], event["log_tail"], event["count"]) == ([], [], 1)
    assert event["signal"] is None and event["exit_code"] == 1


def test_an_eviction_shows_the_pods_reason_and_message(knowledge_base: KnowledgeBase) -> None:
    item = every_event(knowledge_base)["eviction"]
    assert isinstance(item.view, CrashAlert)
    again = delivery(RepeatAlert(item.view.termination, AlertKind.EVICTION), AlertEvent.REPEAT)
    for event in (rendered(item), rendered(again)):
        assert (event["kind"], event["reason"]) == ("eviction", "Evicted")
        assert event["message"] == "The node was low on resource: memory."
        assert schema_problems(event) == []


def test_a_repeat_names_its_crash_and_nulls_what_only_the_root_has(knowledge_base: KnowledgeBase) -> None:
    event = rendered(every_event(knowledge_base)["repeat"])
    assert (event["event"], event["exit_code"], event["signal"], event["pod"]) == (
        "repeat",
        137,
        "SIGKILL",
        "api-7d9f8c6b5-x2x9z",
    )
    for name in ("verdict", "evidence", "log_tail", "next_steps", "count", "incident", "digest"):
        assert event[name] is None, name


def test_recovered_says_why_and_how_long(knowledge_base: KnowledgeBase) -> None:
    event = rendered(every_event(knowledge_base)["recovered"])
    assert event["workload"] == {"kind": "Deployment", "name": "api"} and event["cluster"] == "prod-eu"
    assert event["incident"]["state"] == "recovered"
    assert (event["incident"]["reason"], event["incident"]["detail"]) == ("rollout", "6c8d9f7b4")
    assert event["summary"].startswith("Recovered: Deployment/api / app: replaced by revision 6c8d9f7b4.")
    assert event["pod"] is None and event["exit_code"] is None


def test_the_storm_digest_rows_sum_to_its_total_and_the_last_one_is_calm(
    knowledge_base: KnowledgeBase,
) -> None:
    storm = rendered(every_event(knowledge_base)["digest"])["digest"]
    calm = rendered(every_event(knowledge_base)["calm digest"])["digest"]
    assert (storm["calm"], calm["calm"], storm["total"]) == (False, True, 55)
    assert storm["rows"][0] == {
        "namespace": "shop",
        "workload": {"kind": "Deployment", "name": "api"},
        "kind": "crash",
        "exit_code": 137,
        "meaning": "SIGKILL",
        "count": 12,
        "last_seen_at": "2026-01-01T00:00:30Z",
        "overflow": False,
    }
    assert storm["rows"][2]["overflow"] is True and storm["rows"][2]["workload"] is None
    assert sum(row["count"] for row in storm["rows"]) == storm["total"]


def test_hostile_cluster_text_arrives_exactly_as_the_cluster_wrote_it(knowledge_base: KnowledgeBase) -> None:
    event = rendered(every_event(knowledge_base)["hostile"])
    readable = HOSTILE.replace("\ud800", "?")  # the one thing UTF-8 cannot carry
    assert event["pod"] == readable and event["node"] == readable
    assert event["message"] == readable * 3
    assert event["evidence"][0] == readable and event["log_tail"][0] == f"0 {readable}"


def test_a_huge_log_is_cut_from_its_oldest_lines_and_the_event_says_so(knowledge_base: KnowledgeBase) -> None:
    event = rendered(every_event(knowledge_base)["huge log"])
    assert event["truncated"] is True
    assert 0 < len(event["log_tail"]) < 20_000
    assert event["log_tail"][-1].startswith("19999 ")  # the line nearest the crash stays
    assert event["verdict"] is not None and event["exit_code"] == 137


def test_one_megabyte_line_is_clipped_not_dropped_with_the_alert(knowledge_base: KnowledgeBase) -> None:
    event = rendered(every_event(knowledge_base)["one huge line"])
    assert event["truncated"] is True and event["exit_code"] == 137
    assert all(text.endswith("…") and len(text) <= 2000 for text in event["evidence"][1:])


def test_the_webhook_threads_by_incident_key_and_resolves_but_has_no_edits_or_buttons() -> None:
    caps = WebhookSurface({}).capabilities
    assert (caps.threads, caps.edits, caps.buttons, caps.resolve) == (True, False, False, True)


# --- the adapter against a receiver -----------------------------------------------------------------


class BotClock:
    """The bot's clock: a second later at every reading, so every attempt's timestamp differs."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


class Waits(list[float]):
    """`HttpDelivery`'s sleep: records each wait instead of waiting it."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    fake = await WebhookReceiver(SECRET).start()
    yield fake
    await fake.close()


def route(receiver: WebhookReceiver, secret: str = SECRET) -> WebhookRoute:
    return WebhookRoute(f"{receiver.url}?token={URL_TOKEN}", secret)


def fast_delivery(waits: Waits, errors: list[str] | None = None) -> HttpDelivery:
    timing = DeliveryTiming(
        min_interval_seconds=0.0, timeout_seconds=5.0, backoff_base_seconds=0.5, backoff_cap_seconds=4.0
    )
    hook = errors.append if errors is not None else (lambda _: None)
    return HttpDelivery("webhook", timing, on_error=hook, sleep=waits)


@pytest.fixture
async def surface(receiver: WebhookReceiver) -> AsyncIterator[WebhookSurface]:
    built = WebhookSurface({"default": route(receiver)}, delivery=fast_delivery(Waits()), clock=BotClock())
    yield built
    await built.close()


async def test_every_event_reaches_the_application_once_signed_and_valid(
    knowledge_base: KnowledgeBase, receiver: WebhookReceiver, surface: WebhookSurface
) -> None:
    items = every_event(knowledge_base)
    sent = [replace(items[name], key=f"entry-{n}") for n, name in enumerate(EVENT_NAMES)]
    for item in sent:
        await surface.deliver("default", item)

    assert receiver.keys == [item.key for item in sent] and receiver.duplicates == []
    assert [attempt.status for attempt in receiver.attempts] == [200] * len(sent)
    for attempt, item in zip(receiver.attempts, sent, strict=True):
        assert attempt.headers["X-Exitcode-Event"] == item.event.value
        assert attempt.headers["Idempotency-Key"] == item.key
        assert attempt.headers["Content-Type"] == "application/json"
        assert re.fullmatch(r"exitcode-bot/\d+\.\d+\.\d+.*", attempt.headers["User-Agent"])
    assert [event["event"] for event in receiver.events][-4:] == ["recovered", "crash", "crash", "crash"]


def readme_verify() -> Callable[..., bool]:
    """The `verify` function of the README's "Signed webhook" section, executed as a reader would."""
    section = README.read_text().split("### Signed webhook", 1)[1].split("\n## ", 1)[0]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "README.md#signed-webhook", "exec"), namespace)  # as a reader would run it
    verify: Callable[..., bool] = namespace["verify"]
    return verify


async def test_the_readme_snippet_verifies_the_bots_signature(
    knowledge_base: KnowledgeBase, receiver: WebhookReceiver, surface: WebhookSurface
) -> None:
    receiver.fail(ServerError(), times=1)  # two attempts: two timestamps, two signatures
    await surface.deliver("default", every_event(knowledge_base)["hostile"])
    verify = readme_verify()

    for attempt in receiver.attempts:
        headers, body = attempt.headers, attempt.body
        sent = int(headers["X-Exitcode-Timestamp"])
        assert verify(SECRET, headers, body)
        assert not verify("another-secret", headers, body)
        assert not verify(SECRET, headers, body.replace(b'"count":1', b'"count":2'))
        assert not verify(SECRET, headers, body + b" ")
        assert not verify(SECRET, headers, body, now=sent + 301)  # a replay, five minutes later
        assert verify(SECRET, headers, body, now=sent + 299)
        assert not verify(SECRET, {"X-Exitcode-Timestamp": str(sent)}, body)
        assert not verify(SECRET, {**headers, "X-Exitcode-Timestamp": str(sent + 1)}, body)
        assert not verify(SECRET, {**headers, "X-Exitcode-Timestamp": "soon"}, body)


async def test_a_replayed_request_is_refused_and_a_resent_one_processed_once(
    knowledge_base: KnowledgeBase, receiver: WebhookReceiver, surface: WebhookSurface
) -> None:
    await surface.deliver("default", every_event(knowledge_base)["crash"])
    original = receiver.attempts[0]
    sent = int(original.headers["X-Exitcode-Timestamp"])
    replay_headers = {name: original.headers[name] for name in original.headers if name.startswith("X-")}
    replay_headers.update({"Idempotency-Key": original.headers["Idempotency-Key"]})

    async with aiohttp.ClientSession() as client:
        async with client.post(receiver.url, data=original.body, headers=replay_headers) as again:
            assert again.status == 200  # within five minutes: the same event, de-duplicated
        receiver.clock = lambda: sent + 301.0
        async with client.post(receiver.url, data=original.body, headers=replay_headers) as late:
            assert (late.status, await late.text()) == (401, "stale timestamp (replay?)")
        unsigned = {"Idempotency-Key": original.headers["Idempotency-Key"]}
        async with client.post(receiver.url, data=original.body, headers=unsigned) as forged:
            assert forged.status == 401

    assert len(receiver.events) == 1 and receiver.duplicates == [original.idempotency_key]


FAULTS: dict[str, list[Fault]] = {
    "5xx": [ServerError(503), ServerError(500)],
    "429": [RateLimited("1"), RateLimited(None)],
    "accepted, answer dropped": [AcceptThenDrop()],
    "down": [Down(), Down(), Down()],
    "all of them": [Down(), ServerError(502), RateLimited("2"), AcceptThenDrop(), ServerError(504)],
}


@pytest.mark.parametrize("name", list(FAULTS))
async def test_faults_delay_an_event_but_the_application_gets_it_once(
    knowledge_base: KnowledgeBase, receiver: WebhookReceiver, name: str
) -> None:
    waits, errors = Waits(), list[str]()
    surface = WebhookSurface(
        {"default": route(receiver)}, delivery=fast_delivery(waits, errors), clock=BotClock()
    )
    for fault in FAULTS[name]:
        receiver.fail(fault)
    item = every_event(knowledge_base)["crash"]
    try:
        await surface.deliver("default", item)
    finally:
        await surface.close()

    assert receiver.keys == [item.key], "the application saw it exactly once"
    attempts = receiver.attempts_for(item.key)
    assert len(attempts) == len(FAULTS[name]) + 1 and attempts[-1].status in (200, 409)
    assert receiver.duplicates == [item.key] * sum(isinstance(f, AcceptThenDrop) for f in FAULTS[name])
    assert len({attempt.body for attempt in attempts}) == 1, "the same event every time"
    assert len({attempt.headers["X-Exitcode-Timestamp"] for attempt in attempts}) == len(attempts)
    assert len({attempt.headers["X-Exitcode-Signature"] for attempt in attempts}) == len(attempts)
    assert len(waits) == len(FAULTS[name]) and len(errors) == len(FAULTS[name])


async def test_retry_after_is_waited_as_the_receiver_asked(
    knowledge_base: KnowledgeBase, receiver: WebhookReceiver
) -> None:
    waits = Waits()
    surface = WebhookSurface({"default": route(receiver)}, delivery=fast_delivery(waits), clock=BotClock())
    receiver.fail(RateLimited("7"))
    try:
        await surface.deliver("default", every_event(knowledge_base)["repeat"])
    finally:
        await surface.close()
    assert len(waits) == 1 and 7.0 <= waits[0] <= 7.25 and len(receiver.events) == 1


async def test_a_refusal_is_rejected_with_the_receivers_answer_and_logged_without_secrets(
    knowledge_base: KnowledgeBase,
    receiver: WebhookReceiver,
    surface: WebhookSurface,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.fail(Refuse(400, "unknown route: payments-v2"))
    with caplog.at_level(logging.DEBUG), pytest.raises(Rejected) as refused:
        await surface.deliver("default", every_event(knowledge_base)["crash"])

    assert (refused.value.status, refused.value.detail) == (400, "unknown route: payments-v2")
    assert receiver.events == [] and len(receiver.attempts) == 1, "a refusal is not retried"
    assert "unknown route: payments-v2" in caplog.text and "target=default" in caplog.text
    for secret in (SECRET, URL_TOKEN, receiver.url):
        assert secret not in caplog.text and secret not in str(refused.value)


async def test_a_wrong_secret_is_a_logged_refusal_not_silence(
    knowledge_base: KnowledgeBase, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = WebhookSurface({"default": route(receiver, "rotated-away")}, delivery=fast_delivery(Waits()))
    try:
        with caplog.at_level(logging.ERROR), pytest.raises(Rejected) as refused:
            await wrong.deliver("default", every_event(knowledge_base)["crash"])
    finally:
        await wrong.close()
    assert (refused.value.status, refused.value.detail) == (401, "bad signature")
    assert "bad signature" in caplog.text and "rotated-away" not in caplog.text
    assert receiver.events == []


async def test_409_for_a_key_the_receiver_already_has_counts_as_delivered_and_errors_are_counted(
    knowledge_base: KnowledgeBase,
) -> None:
    receiver = await WebhookReceiver(SECRET, conflict_on_duplicate=True).start()
    registry = CollectorRegistry()
    surface = WebhookSurface({"default": route(receiver)}, metrics=AlertMetrics(registry))
    item = every_event(knowledge_base)["crash"]
    receiver.fail(ServerError(503))
    try:
        await surface.deliver("default", item)
        await surface.deliver("default", item)  # a new leader sends the outbox entry again
    finally:
        await surface.close()
        await receiver.close()

    assert [attempt.status for attempt in receiver.attempts] == [503, 200, 409]
    assert receiver.keys == [item.key]
    accepted = registry.get_sample_value(
        "exitcode_bot_surface_messages_total", {"cluster": "", "surface": "webhook", "event": "crash"}
    )
    assert accepted == 2.0
    errors = {
        sample.labels["kind"]: sample.value
        for metric in registry.collect()
        if metric.name == "exitcode_bot_surface_errors"
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    assert errors == {"server_error": 1.0}, "counted by the surface's own delivery; a 409 is not an error"


async def test_no_log_line_or_repr_shows_the_url_or_the_secret(
    knowledge_base: KnowledgeBase, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    webhook = route(receiver)
    surface = WebhookSurface({"default": webhook}, delivery=fast_delivery(Waits()), clock=BotClock())
    for fault in FAULTS["all of them"]:
        receiver.fail(fault)
    with caplog.at_level(logging.DEBUG):
        try:
            await surface.deliver("default", replace(every_event(knowledge_base)["crash"], key="a"))
            receiver.fail(Refuse(403, "forbidden"))
            with pytest.raises(Rejected) as refused:
                await surface.deliver("default", replace(every_event(knowledge_base)["crash"], key="b"))
        finally:
            await surface.close()

    assert "event=alert_delivery_retry surface=webhook target=default" in caplog.text
    shown = caplog.text + repr(webhook) + str(refused.value) + repr(surface.__dict__.get("_routes"))
    for secret in (SECRET, URL_TOKEN, receiver.url):
        assert secret not in shown


@pytest.mark.parametrize(
    ("url", "secret", "problem"),
    [
        ("https://hooks.example.com/in?token=t0k3n", "", "has no secret"),
        ("https://hooks.example.com/in?token=t0k3n", "   ", "has no secret"),
        ("ftp://hooks.example.com/in?token=t0k3n", "s3cr3t-value", "needs an http:// or https:// URL"),
        ("hooks.example.com/in?token=t0k3n", "s3cr3t-value", "needs an http:// or https:// URL"),
    ],
)
def test_a_route_that_cannot_be_signed_or_reached_is_refused_by_name(
    url: str, secret: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem) as refused:
        WebhookSurface({"payments": WebhookRoute(url, secret)})
    message = str(refused.value)
    assert "'payments'" in message and "t0k3n" not in message and "s3cr3t" not in message


async def test_an_unknown_target_is_a_lookup_error(
    knowledge_base: KnowledgeBase, surface: WebhookSurface
) -> None:
    assert surface.targets() == frozenset({"default"})
    with pytest.raises(LookupError):
        await surface.deliver("payments", every_event(knowledge_base)["crash"])


def test_the_bot_signs_as_an_independent_hmac_does() -> None:
    body = b'{"event":"crash"}'
    expected = hmac.new(SECRET.encode(), b"v1:1767225600:" + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, "1767225600", body) == f"v1={expected}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(min_size=1, max_size=300),
    message=st.text(max_size=5000),
    lines=st.lists(st.text(max_size=3000), max_size=40),
)
def test_any_cluster_text_makes_a_valid_event_within_its_limit(
    knowledge_base: KnowledgeBase, name: str, message: str, lines: list[str]
) -> None:
    alert = hostile_alert(knowledge_base)
    assert alert.diagnosis is not None
    diagnosis = replace(alert.diagnosis, log_tails=(LogTail(name, tuple(lines)),))
    termination = replace(alert.termination, pod=name, container=name, message=message or None)
    alert = replace(alert, termination=termination, diagnosis=diagnosis, log_lines=max(len(lines), 1))
    event = rendered(delivery(alert, AlertEvent.CRASH), limit=16 * 1024)
    assert schema_problems(event) == []
    if not event["truncated"]:
        assert (event["pod"], event["message"], event["log_tail"]) == (name, message or None, lines)
    elif lines:
        assert event["log_tail"] == [] or lines[-1].startswith(event["log_tail"][-1].rstrip("…"))


@pytest.mark.parametrize("reason", list(EndReason))
def test_every_way_an_incident_ends_is_in_the_schema(reason: EndReason) -> None:
    """A new end (issue 9 added StatefulSets, DaemonSets, failed Jobs and pods) must not make the
    receiver refuse the `recovered` event: the schema's enum follows `EndReason`."""
    status = replace(recovered(), reason=reason, detail=None)
    view = RecoveryAlert("shop", "Deployment/api", "app", AlertKind.CRASH, status)
    assert schema_problems(rendered(delivery(view, AlertEvent.RECOVERED))) == []
