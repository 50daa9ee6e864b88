"""The Teams Adaptive Card: the Slack alert's facts, cluster text shown literally, always within the size.

Every card is checked with the fake Workflows endpoint's validation (`validate_card`: the structure Teams
displays) and measured as the whole request body, the way the limit is counted. Cluster text is hostile
on purpose: Markdown links and emphasis, `<at>` mentions, control characters, megabytes of log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alerting import AlertKind, DigestRow, Termination, Workload, detect_terminations
from bot.alerting.incidents import EndReason, IncidentPhase, IncidentStatus
from bot.diagnosis.engine import diagnose
from bot.diagnosis.model import Diagnosis, LogTail
from bot.knowledge import KnowledgeBase
from bot.render.alert_card import (
    ADAPTIVE_CARD_CONTENT_TYPE,
    CARD_VERSION,
    MAX_MESSAGE_BYTES,
    MIN_MESSAGE_BYTES,
    alert_card,
    alert_message,
    delivery_label,
)
from bot.render.alert_text import CrashAlert, DigestAlert, RecoveryAlert, headline
from bot.render.surface import AlertEvent, Delivery
from tests.fakes.teams import validate_card
from tests.fixtures.scenarios import load_scenario
from tests.test_alerting_pods import T0, deployment_pod, exited

BOT_HEADING = re.compile(
    r"Facts|What it means|Diagnosis \((high|medium|low) confidence\)|Termination message"
    r"|Log tail \(last \d+ lines\)|First step"
)
"""Every TextBlock (the only Markdown) of a crash card is one of the bot's own headings."""
HOSTILE = "[click](http://evil.example) **x** _y_ <at>Everyone</at> # head\n- item"


def crash(code: int = 137, **details: Any) -> Termination:
    return detect_terminations(None, exited(deployment_pod(), "app", code, 60, **details))[0]


def crash_alert(kb: KnowledgeBase, termination: Termination, **fields: Any) -> CrashAlert:
    meaning = kb.explain_code(termination.exit_code) if termination.exit_code is not None else None
    return CrashAlert(termination=termination, kind=AlertKind.CRASH, meaning=meaning, **fields)


def oom_diagnosis(kb: KnowledgeBase) -> Diagnosis:
    scenario = load_scenario("oom_killed_container_limit")
    return diagnose(scenario.evidence(), kb, scenario.captured_at)


def delivery(view: Any, event: AlertEvent = AlertEvent.CRASH, *, follow_up: bool = False) -> Delivery:
    return Delivery(
        event, view, key="outbox-entry-1", incident="incident-1", planned_at=T0, follow_up=follow_up
    )


def elements(card: dict[str, Any]) -> Iterator[dict[str, Any]]:
    stack = list(reversed(card["body"]))
    while stack:
        element = stack.pop()
        yield element
        stack.extend(reversed(element.get("items", [])))


def markdown_texts(card: dict[str, Any]) -> list[str]:
    """Texts Teams parses as Markdown (TextBlock)."""
    return [e["text"] for e in elements(card) if e["type"] == "TextBlock"]


def literal_lines(card: dict[str, Any]) -> list[str]:
    """What each RichTextBlock shows, literally (TextRuns are never parsed as Markdown)."""
    return [
        "".join(run["text"] for run in e["inlines"]) for e in elements(card) if e["type"] == "RichTextBlock"
    ]


def shown(card: dict[str, Any]) -> str:
    return "\n".join(markdown_texts(card) + literal_lines(card))


def checked(message: bytes, budget: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """The card of a webhook body, after the checks every body must pass."""
    assert len(message) <= budget
    parsed = json.loads(message)
    assert parsed["type"] == "message"
    (attachment,) = parsed["attachments"]
    assert attachment["contentType"] == ADAPTIVE_CARD_CONTENT_TYPE and attachment["contentUrl"] is None
    card: dict[str, Any] = attachment["content"]
    assert validate_card(card) is None
    assert card["version"] == CARD_VERSION and card["$schema"].startswith("http://adaptivecards.io/")
    return card


def test_a_crash_card_shows_what_the_slack_alert_shows(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("oom_killed_container_limit")
    diagnosis = diagnose(scenario.evidence(), knowledge_base, scenario.captured_at)
    termination = detect_terminations(None, scenario.pod)[0]
    meaning = replace(knowledge_base.explain_code(137), runbook_url="https://wiki.example.com/exit/137")
    alert = CrashAlert(
        termination, AlertKind.CRASH, meaning=meaning, diagnosis=diagnosis, log_lines=3, cluster="prod-eu"
    )
    card = checked(alert_message(delivery(alert)))
    text = shown(card)

    assert literal_lines(card)[0] == headline(alert)
    for fact in (
        f"Namespace: {termination.namespace}",
        f"Pod: {termination.pod}",
        f"Container: {termination.container}",
        f"Owner: {termination.workload.ref}",
        "Cluster: prod-eu",
        "Exit code: 137 = 128 + 9 → SIGKILL",
    ):
        assert fact in text
    assert "Diagnosis (high confidence)" in text and diagnosis.verdict.headline in text
    assert "limits.memory = 256Mi" in text  # evidence
    tail = next(t for t in diagnosis.log_tails if t.container == termination.container)
    assert "Log tail (last 3 lines)" in text and tail.lines[-1].strip() in text
    log_runs = [e["inlines"][0] for e in elements(card) if e["type"] == "RichTextBlock"]
    assert any(run.get("fontType") == "Monospace" and run["text"] == tail.lines[-1] for run in log_runs)
    assert "First step" in text
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Runbook", "url": "https://wiki.example.com/exit/137"}
    ]
    assert text.rstrip().endswith(delivery_label(delivery(alert)))
    assert "Shortened" not in text


def test_the_state_line_and_the_count_are_on_the_card(knowledge_base: KnowledgeBase) -> None:
    status = IncidentStatus(IncidentPhase.FIRING, since=T0, started=T0, crashes=4, last_crash=T0 + 600)
    alert = crash_alert(knowledge_base, crash(1), count=4, first_seen=T0, last_seen=T0 + 600, incident=status)
    text = shown(checked(alert_message(delivery(alert))))
    assert "Firing since 2026-01-01 00:00:00 UTC: 4 crashes over 10 min" in text
    assert "Crashed 4 times since 2026-01-01 00:00:00 UTC, last at 2026-01-01 00:10:00 UTC" in text


def test_a_follow_up_is_a_short_count_update(knowledge_base: KnowledgeBase) -> None:
    alert = crash_alert(knowledge_base, crash(1), count=7, first_seen=T0, last_seen=T0 + 3600)
    follow_up = delivery(alert, AlertEvent.REPEAT, follow_up=True)
    card = checked(alert_message(follow_up))
    lines = literal_lines(card)
    assert lines[0] == "Deployment/api / app: still crashing"
    assert lines[1] == "Crashed 7 times since 2026-01-01 00:00:00 UTC, last at 2026-01-01 01:00:00 UTC"
    assert "Namespace: shop" in lines
    assert len(orjson.dumps(card)) < len(orjson.dumps(alert_card(delivery(alert)))) / 2
    assert "actions" not in card


def test_recovered_and_digest_cards(knowledge_base: KnowledgeBase) -> None:
    status = IncidentStatus(
        IncidentPhase.RECOVERED, since=T0 + 900, started=T0, crashes=3, last_crash=T0 + 300,
        reason=EndReason.ROLLOUT, detail="6c8d9f7b4",
    )  # fmt: skip
    recovered = RecoveryAlert("shop", "Deployment/api", "app", AlertKind.CRASH, status)
    text = shown(checked(alert_message(delivery(recovered, AlertEvent.RECOVERED))))
    assert "Recovered: Deployment/api / app" in text and "replaced by revision 6c8d9f7b4" in text

    rows = (
        DigestRow("shop", Workload("Deployment", "api"), 137, AlertKind.CRASH, 12, T0 + 60),
        DigestRow("shop", Workload("Deployment", "web"), 1, AlertKind.CRASH, 3, T0 + 90),
    )
    digest = DigestAlert("#alerts", rows, total=15, started_at=T0, code_names={137: "SIGKILL"})
    text = shown(checked(alert_message(delivery(digest, AlertEvent.DIGEST))))
    assert "Crash storm: 15 alerts" in text
    assert "• shop Deployment/api: exit 137 (SIGKILL) × 12 · last at 2026-01-01 00:01:00 UTC" in text
    calm = checked(alert_message(delivery(replace(digest, calm=True), AlertEvent.DIGEST, follow_up=True)))
    assert "Crash storm over: 15 alerts" in shown(calm)


def test_hostile_cluster_text_is_shown_literally_never_as_markdown(knowledge_base: KnowledgeBase) -> None:
    termination = replace(
        crash(1, message=HOSTILE), pod=f"api-{HOSTILE}", namespace="shop\x1b[31m", node="<at>node</at>"
    )
    diagnosis = oom_diagnosis(knowledge_base)
    diagnosis = replace(
        diagnosis,
        verdict=replace(diagnosis.verdict, headline=HOSTILE, evidence=(HOSTILE,)),
        log_tails=(LogTail("app", (HOSTILE, "**bold** [x](javascript:alert(1))")),),
    )
    alert = crash_alert(knowledge_base, termination, diagnosis=diagnosis, cluster=HOSTILE)
    card = checked(alert_message(delivery(alert)))

    assert all(BOT_HEADING.fullmatch(text) for text in markdown_texts(card))  # the bot's own words only
    literal = "\n".join(literal_lines(card))
    assert "Pod: api-[click](http://evil.example) **x** _y_ <at>Everyone</at>" in literal
    assert "**bold** [x](javascript:alert(1))" in literal  # a log line, monospace, as written
    assert "\x1b" not in literal and "Namespace: shop[31m" in literal
    assert "msteams" not in card or "entities" not in card["msteams"]  # no mention can resolve
    assert card.get("actions") is None  # no runbook URL: nothing clickable at all


def test_a_huge_log_tail_and_termination_message_are_cut_to_fit(knowledge_base: KnowledgeBase) -> None:
    termination = crash(1, message="😀" * 4096)  # 4 bytes a character
    scenario = load_scenario("oom_killed_container_limit")
    diagnosis = diagnose(scenario.evidence(), knowledge_base, scenario.captured_at)
    lines = tuple(f"{n:05d} " + "😀" * 1000 for n in range(2000))
    diagnosis = replace(diagnosis, log_tails=(LogTail("app", lines),))
    alert = crash_alert(knowledge_base, termination, diagnosis=diagnosis, log_lines=2000, count=3)

    message = alert_message(delivery(alert))
    card = checked(message)
    text = shown(card)
    assert len(message) <= MAX_MESSAGE_BYTES
    assert "Shortened to fit Teams' message size" in text
    assert headline(alert) in text and "Exit code: 1" in text and diagnosis.verdict.headline in text
    assert "01999 " in text  # the lines nearest the crash are the ones kept


@pytest.mark.parametrize("budget", [MAX_MESSAGE_BYTES, 8_000, 3_000, MIN_MESSAGE_BYTES])
def test_every_budget_is_met_down_to_the_minimal_card(knowledge_base: KnowledgeBase, budget: int) -> None:
    long = 'ü"\\' * 3000  # JSON escapes and UTF-8 make bytes outgrow characters
    termination = replace(crash(1, message=long), pod=long[:253], namespace=long[:63])
    diagnosis = oom_diagnosis(knowledge_base)
    diagnosis = replace(
        diagnosis,
        verdict=replace(diagnosis.verdict, headline=long, evidence=(long,) * 5),
        log_tails=(LogTail("app", (long,) * 50),),
    )
    alert = crash_alert(knowledge_base, termination, diagnosis=diagnosis, cluster=long[:100])
    card = checked(alert_message(delivery(alert), budget=budget), budget)
    assert delivery_label(delivery(alert)) in shown(card)


def test_a_storm_digest_with_thousands_of_rows_still_fits() -> None:
    rows = tuple(
        DigestRow(f"ns-{n}", Workload("Deployment", f"api-{n}-" + "x" * 40), 1, AlertKind.CRASH, 2, T0)
        for n in range(3000)
    )
    digest = DigestAlert("#alerts", rows, total=6000, started_at=T0)
    text = shown(checked(alert_message(delivery(digest, AlertEvent.DIGEST))))
    assert "Crash storm: 6000 alerts" in text and "rows that did not fit" in text


def test_the_delivery_label_is_stable_per_entry_and_hides_the_key() -> None:
    one = Delivery(AlertEvent.CRASH, DigestAlert(None, (), 0, T0), "shop/api/entry-7", "i", T0)
    assert delivery_label(one) == delivery_label(replace(one, planned_at=T0 + 5))
    assert delivery_label(one) != delivery_label(replace(one, key="shop/api/entry-8"))
    assert "shop" not in delivery_label(one)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=3000), lines=st.lists(st.text(max_size=800), max_size=60))
def test_any_cluster_text_gives_a_valid_card_within_budget_and_never_reaches_markdown(
    knowledge_base: KnowledgeBase, text: str, lines: list[str]
) -> None:
    termination = replace(crash(1, message=text), pod=text[:253], node=text[:63])
    diagnosis = replace(oom_diagnosis(knowledge_base), log_tails=(LogTail("app", tuple(lines)),))
    alert = crash_alert(knowledge_base, termination, diagnosis=diagnosis, log_lines=60, cluster=text[:40])
    card = checked(alert_message(delivery(alert)))
    assert all(BOT_HEADING.fullmatch(block) for block in markdown_texts(card))
