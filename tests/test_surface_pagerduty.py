"""PagerDuty: what the on-call engineer's phone and the PagerDuty alert show, and that an incident is
one alert from its first crash to its recovery, whatever the network does in between.

The renderer is checked on the views the alert service builds (terminations from the detector, a
diagnosis from a recorded scenario); the adapter is checked against the fake Events API, which
validates events as PagerDuty does and keeps PagerDuty's alert model (alerts by dedup key).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import replace
from pathlib import Path

import aiohttp
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from bot.access import ConfigFileError, load_bot_config
from bot.alerting import AlertKind, DigestRow, Termination, Workload, detect_terminations
from bot.alerting.incidents import EndReason, IncidentPhase, IncidentStatus
from bot.diagnosis.engine import diagnose
from bot.knowledge import KnowledgeBase
from bot.metrics import AlertMetrics
from bot.render.alert_pagerduty import (
    MAX_SUMMARY,
    SeverityRuleError,
    SeverityRules,
    acknowledge_event,
    dedup_key,
    event_bytes,
    pagerduty_event,
    parse_severity_rules,
)
from bot.render.alert_text import CrashAlert, DigestAlert, RecoveryAlert
from bot.render.surface import AlertEvent, Delivery, short_key
from bot.surfaces.http_delivery import DeliveryTiming, HttpDelivery, Rejected
from bot.surfaces.pagerduty import PAGERDUTY_TIMING, PagerDutySurface
from tests.fakes.pagerduty import (
    MAX_BODY,
    ROUTING_KEY,
    ROUTING_KEY_2,
    Disconnect,
    FakePagerDuty,
    RateLimited,
    ServerError,
    validate_event,
)
from tests.fixtures.scenarios import load_scenario
from tests.test_alerting_pods import T0, deployment_pod, exited, with_condition, with_pod_reason

HOSTILE = st.one_of(
    st.characters(),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=[]),  # lone surrogates
)
INCIDENT = short_key("shop/Deployment/api/app/crash")
FAST = DeliveryTiming(
    min_interval_seconds=0.0,
    timeout_seconds=5.0,
    backoff_base_seconds=0.01,
    backoff_cap_seconds=0.05,
    max_retry_after_seconds=0.05,
)


def crash(code: int = 137, *, namespace: str = "shop", **details: str) -> Termination:
    pod = exited(deployment_pod(namespace=namespace), "app", code, 60, **details)
    return detect_terminations(None, pod)[0]


def crash_view(kb: KnowledgeBase, termination: Termination | None = None, **fields: object) -> CrashAlert:
    termination = termination or crash(137, reason="OOMKilled")
    meaning = kb.explain_code(termination.exit_code) if termination.exit_code is not None else None
    return CrashAlert(termination=termination, kind=AlertKind.CRASH, meaning=meaning, **fields)  # type: ignore[arg-type]


def delivery(
    view: CrashAlert | DigestAlert | RecoveryAlert,
    event: AlertEvent = AlertEvent.CRASH,
    *,
    follow_up: bool = False,
    incident: str = INCIDENT,
    key: str = "outbox-1",
) -> Delivery:
    return Delivery(event, view, key=key, incident=incident, planned_at=T0 + 120, follow_up=follow_up)


def recovery(termination: Termination) -> RecoveryAlert:
    status = IncidentStatus(
        IncidentPhase.RECOVERED,
        T0 + 900,
        T0 + 60,
        4,
        T0 + 300,
        reason=EndReason.RAN_CLEAN,
        recovery_seconds=600,
    )
    return RecoveryAlert(
        termination.namespace, termination.workload.ref, termination.container, AlertKind.CRASH, status
    )


def storm(*, calm: bool = False) -> DigestAlert:
    rows = (
        DigestRow("prod-payments", Workload("Deployment", "api"), 137, AlertKind.CRASH, 12, T0),
        DigestRow("shop", Workload("Deployment", "web"), 1, AlertKind.CRASH, 3, T0),
        DigestRow("", Workload("", ""), None, None, 40, T0),
    )
    return DigestAlert("#alerts", rows, 55, T0, calm=calm, code_names={137: "SIGKILL", 1: "general error"})


def wire(event: dict[str, object]) -> dict[str, object]:
    """The event as PagerDuty parses it from the bytes on the wire (with a routing key it knows)."""
    parsed: dict[str, object] = orjson.loads(event_bytes(event, ROUTING_KEY))
    assert validate_event(parsed) == []
    return parsed


# --- renderer ---------------------------------------------------------------------------------------------


def test_a_crash_is_a_trigger_keyed_by_its_incident_with_the_diagnosis(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("oom_killed_container_limit")
    diagnosis = diagnose(scenario.evidence(), knowledge_base, scenario.captured_at)
    termination = detect_terminations(None, scenario.pod)[0]
    view = crash_view(knowledge_base, termination, diagnosis=diagnosis, log_lines=3, cluster="prod-eu")

    event = wire(pagerduty_event(delivery(view), public_url="https://exitcode.example.com"))

    assert event["event_action"] == "trigger" and event["dedup_key"] == INCIDENT
    assert event["client"] == "exitcode-bot" and event["client_url"] == "https://exitcode.example.com"
    payload = event["payload"]
    assert isinstance(payload, dict)
    ref = termination.workload.ref
    assert payload["summary"].startswith(f"{termination.namespace}: {ref} / {termination.container} crashed")
    assert "OOMKilled" in payload["summary"] and payload["summary"].endswith("— cluster prod-eu")
    assert payload["source"] == f"prod-eu/{termination.namespace}/{termination.pod}"
    assert payload["component"] == ref and payload["group"] == termination.namespace
    assert payload["class"] == "OOMKilled" and payload["severity"] == "error"
    assert payload["timestamp"].startswith(termination.finished_at.removesuffix("Z"))  # type: ignore[union-attr]
    details = payload["custom_details"]
    assert details["verdict"].startswith(diagnosis.verdict.headline)
    assert details["evidence"] == list(diagnosis.verdict.evidence[:5])
    assert details["exit_code"].startswith("137") and details["restarts"] == str(termination.restart_count)
    tail = next(t for t in diagnosis.log_tails if t.container == termination.container)
    assert details["log_tail"] == list(tail.lines[-3:])
    assert details["next_steps"] and details["meaning"]
    if view.runbook_url:
        assert event["links"] == [{"href": view.runbook_url, "text": "Runbook"}]


def test_a_follow_up_is_another_trigger_of_the_same_alert_with_the_count(
    knowledge_base: KnowledgeBase,
) -> None:
    status = IncidentStatus(IncidentPhase.FIRING, T0 + 60, T0 + 60, 3, T0 + 300)
    view = crash_view(
        knowledge_base, count=3, pod_count=2, first_seen=T0 + 60, last_seen=T0 + 300, incident=status
    )

    event = wire(pagerduty_event(delivery(view, AlertEvent.REPEAT, follow_up=True, key="outbox-2")))

    assert event["event_action"] == "trigger" and event["dedup_key"] == INCIDENT
    payload = event["payload"]
    assert isinstance(payload, dict)
    assert "3 crashes in 2 pods" in payload["summary"]
    assert payload["timestamp"] == "2026-01-01T00:05:00+00:00"  # the last crash
    assert payload["custom_details"]["incident"].startswith("Firing since 2026-01-01 00:01:00 UTC: 3 crashes")
    assert payload["custom_details"]["crashes"].startswith("Crashed 3 times in 2 pods")


def test_recovery_resolves_and_a_calm_digest_resolves_the_storm(knowledge_base: KnowledgeBase) -> None:
    termination = crash()
    assert pagerduty_event(delivery(recovery(termination), AlertEvent.RECOVERED)) == {
        "event_action": "resolve",
        "dedup_key": INCIDENT,
    }
    storm_key = short_key("digest #alerts")
    digest = wire(pagerduty_event(delivery(storm(), AlertEvent.DIGEST, incident=storm_key)))
    assert digest["event_action"] == "trigger" and digest["dedup_key"] == storm_key
    payload = digest["payload"]
    assert isinstance(payload, dict)
    assert payload["summary"] == "Crash storm in #alerts: 55 alerts since 2026-01-01 00:00:00 UTC"
    assert (
        payload["custom_details"]["workloads"][0] == "prod-payments Deployment/api: exit 137 (SIGKILL) × 12"
    )
    calm = pagerduty_event(delivery(storm(calm=True), AlertEvent.DIGEST, follow_up=True, incident=storm_key))
    assert calm == {"event_action": "resolve", "dedup_key": storm_key}
    assert acknowledge_event(INCIDENT) == {"event_action": "acknowledge", "dedup_key": INCIDENT}


def test_huge_and_hostile_cluster_text_still_makes_a_valid_event(knowledge_base: KnowledgeBase) -> None:
    hostile = 'He said "stop"\\ \x00\x1b[31m</script>{"routing_key": "x"}\ud800 ' + "é" * 4000
    termination = replace(
        crash(1, message=hostile),
        reason="X" * 3000,
        pod="p" * 253,
        workload=Workload("Deployment", "w" * 253),
    )
    view = crash_view(knowledge_base, termination, cluster="c" * 2000)

    body = event_bytes(pagerduty_event(delivery(view, incident="k" * 400)), ROUTING_KEY)
    event = orjson.loads(body)

    assert validate_event(event) == [] and len(body) < MAX_BODY
    assert len(event["payload"]["summary"]) == MAX_SUMMARY and event["payload"]["summary"].endswith("…")
    assert event["dedup_key"] == dedup_key("k" * 400) == short_key("k" * 400)
    message = event["payload"]["custom_details"]["termination_message"]
    assert message.startswith('He said "stop"\\ \x00\x1b[31m</script>{"routing_key": "x"}')
    assert event["routing_key"] == ROUTING_KEY  # the hostile text did not become a field


def test_severity_rules_first_match_wins_default_error(knowledge_base: KnowledgeBase) -> None:
    rules = parse_severity_rules(
        [
            {"namespace": "prod-*", "reason": "OOMKilled", "severity": "critical"},
            {"cluster": "staging*", "severity": "info"},
            {"exit_code": 1, "kind": "crash", "severity": "warning"},
            {"namespace": "prod-*", "severity": "critical"},  # never reached for exit 1: rule 3 first
        ]
    )

    def severity(termination: Termination, cluster: str | None = None) -> str:
        payload = pagerduty_event(
            delivery(crash_view(knowledge_base, termination, cluster=cluster)), severity=rules
        )
        return str(payload["payload"]["severity"])

    assert severity(crash(137, namespace="prod-payments", reason="OOMKilled")) == "critical"
    assert severity(crash(137, namespace="shop", reason="OOMKilled")) == "error"  # default
    assert (
        severity(crash(137, namespace="prod-payments", reason="OOMKilled"), cluster="staging-1") == "critical"
    )
    assert severity(crash(139, namespace="shop"), cluster="staging-1") == "info"
    assert severity(crash(1, namespace="prod-payments")) == "warning"
    assert severity(crash(139, namespace="prod-payments")) == "critical"
    loose = parse_severity_rules([{"reason": "oomkilled", "severity": "critical"}])
    view = crash_view(knowledge_base, crash(137, reason="OOMKilled"))
    assert pagerduty_event(delivery(view), severity=loose)["payload"]["severity"] == "critical"
    assert SeverityRules().for_digest(storm()) == "error"
    assert rules.for_digest(storm()) == "critical"  # the loudest workload in the storm


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"severity": "critical"}, "must be a list of rules"),
        (
            [{"namespace": "prod-*"}],
            "rule 1, field 'severity': None is not one of critical, error, warning, info",
        ),
        ([{"severity": "info"}, {"severity": "P1"}], "rule 2, field 'severity': 'P1' is not one of"),
        ([{"severity": "info", "namespaces": "x"}], "rule 1: unknown field 'namespaces'"),
        ([{"severity": "info", "exit_code": "137"}], "rule 1, field 'exit_code': must be an integer"),
        ([{"severity": "info", "kind": "oom"}], "rule 1, field 'kind': 'oom' is not one of crash, eviction"),
        ([{"severity": "info", "reason": ""}], "rule 1, field 'reason': must be a non-empty string"),
        (["critical"], "rule 1: must be a mapping"),
        (
            [{"severity": "info", "namespace": "Prod-*"}],
            "rule 1, field 'namespace': 'Prod-*': namespaces are lower",
        ),
    ],
)
def test_bad_severity_rules_are_refused_with_the_rule_and_field(data: object, problem: str) -> None:
    with pytest.raises(SeverityRuleError, match="^" + re.escape(problem)):
        parse_severity_rules(data)


# --- adapter against the fake -----------------------------------------------------------------------------


@pytest.fixture
async def pagerduty() -> FakePagerDuty:  # type: ignore[misc]
    async with FakePagerDuty() as fake:
        yield fake


def surface(fake: FakePagerDuty, **kwargs: object) -> PagerDutySurface:
    kwargs.setdefault("delivery", HttpDelivery("pagerduty", FAST))
    return PagerDutySurface(
        {"default": ROUTING_KEY, "checkout": ROUTING_KEY_2},
        events_url=fake.events_url,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_an_incident_is_one_alert_from_first_crash_to_recovery(
    pagerduty: FakePagerDuty, knowledge_base: KnowledgeBase
) -> None:
    adapter = surface(pagerduty)
    termination = crash(137, reason="OOMKilled")
    try:
        assert adapter.targets() == {"default", "checkout"} and adapter.capabilities.resolve
        assert not (
            adapter.capabilities.threads or adapter.capabilities.edits or adapter.capabilities.buttons
        )
        await adapter.deliver("default", delivery(crash_view(knowledge_base, termination)))
        for count in (2, 3, 4):
            view = crash_view(knowledge_base, termination, count=count, last_seen=T0 + 60 * count)
            await adapter.deliver(
                "default", delivery(view, AlertEvent.REPEAT, follow_up=True, key=f"o-{count}")
            )
        [alert] = pagerduty.alerts
        assert alert.status == "triggered" and len(alert.triggers) == 4
        assert "4 crashes" in alert.triggers[-1]["payload"]["summary"]

        await adapter.deliver("default", delivery(recovery(termination), AlertEvent.RECOVERED, key="o-5"))
    finally:
        await adapter.close()
    [alert] = pagerduty.alerts
    assert alert.status == "resolved" and alert.dedup_key == INCIDENT and alert.routing_key == ROUTING_KEY


async def test_a_crash_after_recovery_opens_a_new_alert_and_targets_are_separate_services(
    pagerduty: FakePagerDuty, knowledge_base: KnowledgeBase
) -> None:
    adapter = surface(pagerduty)
    termination = crash()
    try:
        await adapter.deliver("default", delivery(crash_view(knowledge_base, termination)))
        await adapter.deliver("default", delivery(recovery(termination), AlertEvent.RECOVERED))
        await adapter.deliver("default", delivery(crash_view(knowledge_base, termination)))
        await adapter.deliver("checkout", delivery(crash_view(knowledge_base, termination)))
        with pytest.raises(LookupError, match="no PagerDuty routing key for target 'billing'"):
            await adapter.deliver("billing", delivery(crash_view(knowledge_base, termination)))
    finally:
        await adapter.close()
    assert [(a.routing_key, a.status) for a in pagerduty.alerts] == [
        (ROUTING_KEY, "resolved"),
        (ROUTING_KEY, "triggered"),
        (ROUTING_KEY_2, "triggered"),
    ]


async def test_acknowledge_marks_the_alert_as_being_worked_on(
    pagerduty: FakePagerDuty, knowledge_base: KnowledgeBase
) -> None:
    adapter = surface(pagerduty)
    try:
        await adapter.deliver("default", delivery(crash_view(knowledge_base)))
        await adapter.acknowledge("default", INCIDENT)
    finally:
        await adapter.close()
    [alert] = pagerduty.alerts
    assert alert.status == "acknowledged"


async def test_a_trigger_retried_after_a_lost_answer_is_still_one_alert(
    pagerduty: FakePagerDuty, knowledge_base: KnowledgeBase
) -> None:
    pagerduty.fail(Disconnect(processed=True))
    adapter = surface(pagerduty)
    try:
        await adapter.deliver("default", delivery(crash_view(knowledge_base)))
    finally:
        await adapter.close()
    assert [request.status for request in pagerduty.requests] == [0, 202]
    [alert] = pagerduty.alerts  # the retry was deduplicated into the alert the lost answer opened
    assert alert.status == "triggered" and len(alert.triggers) == 2


@pytest.mark.parametrize(
    "faults",
    [
        [RateLimited(retry_after=0.01), RateLimited()],
        [ServerError(500), ServerError(503)],
        [Disconnect()] * 3,
    ],
    ids=["429", "5xx", "dropped"],
)
async def test_throttling_and_server_errors_are_retried_until_accepted(
    pagerduty: FakePagerDuty,
    knowledge_base: KnowledgeBase,
    faults: list[object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for fault in faults:
        pagerduty.fail(fault)  # type: ignore[arg-type]
    adapter = surface(pagerduty)
    try:
        await adapter.deliver("default", delivery(crash_view(knowledge_base)))
    finally:
        await adapter.close()
    assert [request.status for request in pagerduty.requests][-1] == 202
    assert len(pagerduty.requests) == len(faults) + 1
    [alert] = pagerduty.alerts
    assert alert.status == "triggered" and len(alert.triggers) == 1
    if not isinstance(faults[0], RateLimited):  # retries are logged by target name, never by key or URL
        assert "event=alert_delivery_retry surface=pagerduty target=default" in caplog.text
    assert ROUTING_KEY not in caplog.text and pagerduty.events_url not in caplog.text


async def test_an_outage_holds_the_page_until_pagerduty_is_back(
    pagerduty: FakePagerDuty, knowledge_base: KnowledgeBase
) -> None:
    pagerduty.down = True
    adapter = surface(pagerduty)
    try:
        sending = asyncio.create_task(adapter.deliver("default", delivery(crash_view(knowledge_base))))
        await pagerduty.wait_for(lambda: len(pagerduty.requests) >= 3)
        assert not sending.done() and pagerduty.alerts == []
        pagerduty.down = False
        await asyncio.wait_for(sending, 10)
    finally:
        await adapter.close()
    [alert] = pagerduty.alerts
    assert alert.status == "triggered"


async def test_an_invalid_event_is_rejected_with_pagerdutys_reason_and_no_key_is_logged(
    pagerduty: FakePagerDuty, knowledge_base: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    unknown = "UNKNOWNKEY000000000000000000000Z"
    registry = CollectorRegistry()
    metrics = AlertMetrics(registry)
    adapter = PagerDutySurface(
        {"default": ROUTING_KEY, "typo": "not-a-key", "stale": unknown},
        events_url=pagerduty.events_url,
        metrics=metrics,
    )
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(Rejected) as short:
            await adapter.deliver("typo", delivery(crash_view(knowledge_base)))
        with pytest.raises(Rejected) as stale:
            await adapter.deliver("stale", delivery(crash_view(knowledge_base)))
        await adapter.deliver("default", delivery(crash_view(knowledge_base)))
    finally:
        await adapter.close()

    assert short.value.status == 400
    assert "Length of 'routing_key' is incorrect (should be 32 characters)" in str(short.value)
    assert "cannot contain non-alphanumeric characters" in str(short.value)
    assert (
        str(stale.value)
        == "pagerduty refused the alert for stale: HTTP 400 Event object is invalid: Invalid routing key"
    )
    logged = caplog.text + str(short.value) + str(stale.value)
    assert "Invalid routing key" in caplog.text and "target=stale" in caplog.text
    for secret in (ROUTING_KEY, "not-a-key", unknown):
        assert secret not in logged
    errors = {"cluster": "", "surface": "pagerduty", "kind": "http_400"}
    assert registry.get_sample_value("exitcode_bot_surface_errors_total", errors) == 2
    accepted = {"cluster": "", "surface": "pagerduty", "event": "crash"}
    assert registry.get_sample_value("exitcode_bot_surface_messages_total", accepted) == 1


def test_an_eviction_pages_as_an_eviction_with_the_node_pressure(knowledge_base: KnowledgeBase) -> None:
    pod = with_condition(
        deployment_pod(namespace="prod-shop"), "DisruptionTarget", "TerminationByKubelet", 50
    )
    pod = with_pod_reason(pod, "Evicted", "The node was low on resource: memory.")
    termination = detect_terminations(None, exited(pod, "app", 137, 60))[0]
    view = CrashAlert(termination, AlertKind.EVICTION, meaning=knowledge_base.explain_reason("Evicted"))
    rules = parse_severity_rules([{"kind": "eviction", "reason": "Evicted", "severity": "warning"}])

    event = wire(pagerduty_event(delivery(view), severity=rules))

    payload = event["payload"]
    assert isinstance(payload, dict)
    assert payload["summary"] == "prod-shop: Deployment/api evicted from node node-1 (node pressure)"
    assert payload["class"] == "Evicted" and payload["severity"] == "warning"
    assert payload["custom_details"]["node_pressure"] == "The node was low on resource: memory."
    assert "exit_code" not in payload["custom_details"]


@settings(max_examples=60, deadline=None)
@given(text=st.text(HOSTILE, max_size=3000), name=st.text(HOSTILE, min_size=1, max_size=300))
def test_any_cluster_text_makes_an_event_pagerduty_accepts(text: str, name: str) -> None:
    termination = replace(crash(1), message=text or None, reason=name, pod=name, container=name)
    view = CrashAlert(termination, AlertKind.CRASH, cluster=name, count=2)

    body = event_bytes(pagerduty_event(delivery(view)), ROUTING_KEY)

    event = orjson.loads(body)
    assert validate_event(event) == [] and len(body) < MAX_BODY


def test_pagerduty_severity_in_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "pagerduty_severity:\n"
        "  - {namespace: 'prod-*', reason: OOMKilled, severity: critical}\n"
        "  - {cluster: 'staging-*', severity: info}\n"
    )
    rules = load_bot_config(config).pagerduty_severity
    assert [rule.severity for rule in rules.rules] == ["critical", "info"]
    assert load_bot_config(None).pagerduty_severity == SeverityRules()

    config.write_text("pagerduty_severity:\n  - {namespace: 'prod-*', severity: page}\n")
    with pytest.raises(ConfigFileError) as error:
        load_bot_config(config)
    assert str(error.value) == (
        f"{config}, field 'pagerduty_severity': rule 1, field 'severity': 'page' is not one of "
        "critical, error, warning, info"
    )


# --- the fake rejects what PagerDuty rejects ----------------------------------------------------------------


def good_trigger() -> dict[str, object]:
    return {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "k1",
        "payload": {"summary": "s", "source": "shop/api", "severity": "error"},
    }


def without(event: dict[str, object], *path: str) -> dict[str, object]:
    copy = orjson.loads(orjson.dumps(event))
    target = copy
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return copy  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "Malformed JSON"),
        (
            orjson.dumps({**good_trigger(), "routing_key": "short"}),
            400,
            "Length of 'routing_key' is incorrect",
        ),
        (orjson.dumps({**good_trigger(), "routing_key": "Z" * 32}), 400, "Invalid routing key"),
        (orjson.dumps({**good_trigger(), "event_action": "page"}), 400, "'event_action' is invalid"),
        (orjson.dumps(without(good_trigger(), "payload", "summary")), 400, "'payload.summary' is missing"),
        (orjson.dumps(without(good_trigger(), "payload", "source")), 400, "'payload.source' is missing"),
        (
            orjson.dumps({**good_trigger(), "payload": {"summary": "s", "source": "x", "severity": "high"}}),
            400,
            "'payload.severity' is invalid",
        ),
        (
            orjson.dumps(
                {**good_trigger(), "payload": {"summary": "s" * 1025, "source": "x", "severity": "info"}}
            ),
            400,
            "'payload.summary' is too long",
        ),
        (orjson.dumps({**good_trigger(), "dedup_key": "k" * 256}), 400, "'dedup_key' is too long"),
        (
            orjson.dumps({"routing_key": ROUTING_KEY, "event_action": "resolve"}),
            400,
            "'dedup_key' is missing",
        ),
        (orjson.dumps({**good_trigger(), "links": [{"text": "no href"}]}), 400, "'links' must be"),
        (orjson.dumps({**good_trigger(), "padding": "x" * MAX_BODY}), 413, None),
    ],
)
async def test_the_fake_rejects_what_pagerduty_rejects(
    pagerduty: FakePagerDuty, body: bytes, status: int, error: str | None
) -> None:
    async with aiohttp.ClientSession() as session, session.post(pagerduty.events_url, data=body) as response:
        answer = await response.json(content_type=None)
    assert response.status == status
    if error is not None:
        assert answer["status"] == "invalid event" and answer["message"] == "Event object is invalid"
        assert any(message.startswith(error) for message in answer["errors"])
    assert pagerduty.alerts == []


async def test_the_fake_keeps_pagerdutys_alert_model(pagerduty: FakePagerDuty) -> None:
    async def send(event: dict[str, object]) -> dict[str, object]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(pagerduty.events_url, json=event) as response,
        ):
            assert response.status == 202
            return await response.json()  # type: ignore[no-any-return]

    resolve: dict[str, object] = {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "k1"}
    assert await send(resolve) == {"status": "success", "message": "Event processed", "dedup_key": "k1"}
    assert pagerduty.alerts == []  # a resolve with no open alert is dropped
    await send(good_trigger())
    await send(good_trigger())
    await send({**good_trigger(), "routing_key": ROUTING_KEY_2})  # another service, another alert
    await send(resolve)
    await send(good_trigger())  # after a resolve, the same key opens a new alert
    generated = await send(without(good_trigger(), "dedup_key"))
    assert [(a.routing_key, a.dedup_key, a.status, len(a.log)) for a in pagerduty.alerts] == [
        (ROUTING_KEY, "k1", "resolved", 3),
        (ROUTING_KEY_2, "k1", "triggered", 1),
        (ROUTING_KEY, "k1", "triggered", 1),
        (ROUTING_KEY, generated["dedup_key"], "triggered", 1),
    ]


async def test_targets_sharing_a_routing_key_share_its_rate_limit(
    pagerduty: FakePagerDuty, knowledge_base: KnowledgeBase
) -> None:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    adapter = PagerDutySurface(
        {"default": ROUTING_KEY, "payments": ROUTING_KEY, "checkout": ROUTING_KEY_2},
        events_url=pagerduty.events_url,
        delivery=HttpDelivery("pagerduty", PAGERDUTY_TIMING, sleep=no_sleep),
    )
    try:
        await adapter.deliver("default", delivery(crash_view(knowledge_base)))
        await adapter.deliver("checkout", delivery(crash_view(knowledge_base)))
        assert waits == []  # two integration keys: two separate limits
        await adapter.deliver("payments", delivery(crash_view(knowledge_base)))
    finally:
        await adapter.close()
    assert len(waits) == 1 and 0 < waits[0] <= PAGERDUTY_TIMING.min_interval_seconds
    assert len(pagerduty.accepted) == 3


async def test_a_target_may_reach_its_service_through_its_own_events_endpoint(
    pagerduty: FakePagerDuty, knowledge_base: KnowledgeBase
) -> None:
    """A service in PagerDuty's EU region (or behind its own proxy) has its own endpoint (CONFIG_FILE
    `events_url_env`); the other targets keep PAGERDUTY_EVENTS_URL."""
    async with FakePagerDuty() as europe:
        adapter = surface(pagerduty, events_urls={"checkout": europe.events_url})
        try:
            await adapter.deliver("checkout", delivery(crash_view(knowledge_base)))
            await adapter.deliver("default", delivery(crash_view(knowledge_base), key="outbox-2"))
        finally:
            await adapter.close()
        assert [alert.routing_key for alert in europe.alerts] == [ROUTING_KEY_2]
        assert [alert.routing_key for alert in pagerduty.alerts] == [ROUTING_KEY]
