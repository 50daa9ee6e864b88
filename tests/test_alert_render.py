"""Crash alerts as Block Kit and as console text: what the on-call engineer reads, always postable.

Terminations come from the detector run on pods shaped as the kubelet writes them, diagnoses from the
recorded scenarios, so these are the views the service really builds. Every message is checked with
the fake Slack's Block Kit validation (the limits Slack enforces), and cluster text is hostile on
purpose: mentions, links, terminal escapes, 4 KB termination messages.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerting import AlertKind, DigestRow, Termination, Workload, detect_terminations
from bot.diagnosis.engine import diagnose
from bot.knowledge import KnowledgeBase
from bot.render.alert_blocks import (
    ACTIONS_BLOCK_ID,
    SNOOZE_BLOCK_ID,
    AlertTarget,
    alert_blocks,
    alert_fallback_text,
    snooze_note,
    with_snooze_note,
)
from bot.render.alert_text import CrashAlert, DigestAlert, RepeatAlert, alert_text
from bot.render.limits import MAX_MESSAGE_TEXT, text_length
from tests.fakes.slack_api import validate_blocks
from tests.fixtures.scenarios import load_scenario
from tests.test_alerting_pods import (
    T0,
    deployment_pod,
    exited,
    restarted,
    with_condition,
    with_pod_reason,
)


def crash(code: int | None = 137, **details: str) -> Termination:
    pod = exited(deployment_pod(), "app", 0 if code is None else code, 60, **details)
    found = detect_terminations(None, pod)[0]
    return found if code is not None else replace(found, exit_code=None, signal=None)


def crash_alert(kb: KnowledgeBase, termination: Termination, **fields: object) -> CrashAlert:
    meaning = kb.explain_code(termination.exit_code) if termination.exit_code is not None else None
    return CrashAlert(termination=termination, kind=AlertKind.CRASH, meaning=meaning, **fields)  # type: ignore[arg-type]


def text_of(blocks: list[dict[str, object]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def header(blocks: list[dict[str, object]]) -> str:
    return next(str(block["text"]["text"]) for block in blocks if block["type"] == "header")  # type: ignore[index]


def test_a_crash_alert_names_the_workload_the_code_and_the_facts(knowledge_base: KnowledgeBase) -> None:
    alert = crash_alert(knowledge_base, crash(137, reason="OOMKilled"))
    blocks = alert_blocks(alert)

    assert validate_blocks(blocks) == []
    assert header(blocks) == "Deployment/api / app crashed: exit 137 (OOMKilled)"
    text = text_of(blocks)
    for fact in (
        "*Namespace*\\nshop",
        "*Pod*\\napi-7d9f8c6b5-x2x9z",
        "*Node*\\nnode-1",
        "*Owner*\\nDeployment/api",
    ):
        assert fact in text
    assert "137 = 128 + 9 → SIGKILL" in text
    assert "<!date^" in text  # finished at, in each reader's time zone
    assert [element["action_id"] for element in blocks[-1]["elements"]] == [
        "exitcode_alert_rediagnose",
        "exitcode_alert_logs",
        "exitcode_alert_snooze_1h",
        "exitcode_alert_snooze_24h",
        "exitcode_alert_ack",
        "exitcode_alert_runbook_steps",
    ]
    assert "confirm" in blocks[-1]["elements"][2]
    assert "Deployment/api" in alert_fallback_text(alert)


def test_the_runbook_button_is_a_link_when_a_runbook_url_is_configured(knowledge_base: KnowledgeBase) -> None:
    meaning = replace(knowledge_base.explain_code(1), runbook_url="https://wiki.example.com/exit/1")
    blocks = alert_blocks(CrashAlert(crash(1), AlertKind.CRASH, meaning=meaning))
    runbook = blocks[-1]["elements"][-1]
    assert (
        runbook["url"] == "https://wiki.example.com/exit/1"
        and runbook["action_id"] == "exitcode_alert_runbook"
    )


def test_the_diagnosis_and_log_tail_are_in_the_alert(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("oom_killed_container_limit")
    diagnosis = diagnose(scenario.evidence(), knowledge_base, scenario.captured_at)
    termination = detect_terminations(None, scenario.pod)[0]
    alert = crash_alert(knowledge_base, termination, diagnosis=diagnosis, log_lines=3)
    blocks = alert_blocks(alert)

    assert validate_blocks(blocks) == []
    text = text_of(blocks)
    assert diagnosis.verdict.headline in text and "limits.memory = 256Mi" in text
    tail = next(t for t in diagnosis.log_tails if t.container == termination.container)
    shown = "\n".join(_texts(blocks))
    assert tail.lines[-1].strip() in shown and "last 3 lines" in shown
    console = alert_text(alert)
    assert "Diagnosis (high confidence)" in console and tail.lines[-1] in console


def test_an_unknown_exit_code_is_said_not_guessed(knowledge_base: KnowledgeBase) -> None:
    alert = crash_alert(knowledge_base, crash(None))
    blocks = alert_blocks(alert)
    assert validate_blocks(blocks) == []
    assert header(blocks) == "Deployment/api / app restarted (exit code unknown)"
    assert "unknown (none; the API kept no termination record)" in text_of(blocks)
    assert "exit code unknown" in alert_text(alert)


def test_an_eviction_says_node_pressure_not_crash(knowledge_base: KnowledgeBase) -> None:
    pod = with_condition(deployment_pod(), "DisruptionTarget", "TerminationByKubelet", 50)
    pod = with_pod_reason(pod, "Evicted", "The node was low on resource: memory.")
    termination = detect_terminations(None, exited(pod, "app", 137, 60))[0]
    alert = CrashAlert(termination, AlertKind.EVICTION, meaning=knowledge_base.explain_reason("Evicted"))
    blocks = alert_blocks(alert)

    assert validate_blocks(blocks) == []
    assert header(blocks) == "Deployment/api evicted from node node-1 (node pressure)"
    text = text_of(blocks)
    assert "The node was low on resource: memory." in text and "*Exit code*" not in text
    assert "*Reason*\\nEvicted" in text


def test_exit_zero_that_keeps_restarting_reads_as_such(knowledge_base: KnowledgeBase) -> None:
    termination = replace(crash(0), restart_count=5)
    alert = CrashAlert(termination, AlertKind.COMPLETED_TOO_OFTEN, meaning=knowledge_base.explain_code(0))
    assert header(alert_blocks(alert)) == "Deployment/api / app keeps exiting 0 and being restarted"


def test_the_updated_root_counts_the_repeats(knowledge_base: KnowledgeBase) -> None:
    alert = crash_alert(knowledge_base, crash(1), count=7, pod_count=2, first_seen=T0, last_seen=T0 + 600)
    text = text_of(alert_blocks(alert))
    assert "*Crashed 7 times in 2 pods*" in text
    assert f"<!date^{int(T0 + 600)}^{{ago}}" in text  # "last 2 minutes ago", kept true as it ages
    assert "Crashed 7 times in 2 pods since 2026-01-01 00:00:00 UTC" in alert_text(alert)


def test_a_thread_reply_is_one_compact_line(knowledge_base: KnowledgeBase) -> None:
    termination = detect_terminations(None, restarted(exited(deployment_pod(), "app", 1, 60), "app", 70))[0]
    reply = RepeatAlert(termination, AlertKind.CRASH, knowledge_base.explain_code(1))
    blocks = alert_blocks(reply)
    assert validate_blocks(blocks) == [] and len(blocks) == 1
    assert "Again:" in text_of(blocks) and "restarts 1" in text_of(blocks)
    assert alert_text(reply).count("\n") == 0


def test_the_storm_digest_sums_every_alert_including_the_overflow() -> None:
    rows = (
        DigestRow("shop", Workload("Deployment", "api"), 137, AlertKind.CRASH, 12, T0),
        DigestRow("shop", Workload("Deployment", "web"), 1, AlertKind.CRASH, 3, T0),
        DigestRow("", Workload("", ""), None, None, 40, T0),
    )
    digest = DigestAlert("#alerts", rows, 55, T0, code_names={137: "SIGKILL", 1: "general error"})
    blocks = alert_blocks(digest)
    assert validate_blocks(blocks) == []
    text = text_of(blocks)
    assert "Crash storm: 55 alerts" in text
    assert "shop Deployment/api: exit 137 (SIGKILL) × 12" in text
    assert "… and 40 more from other workloads" in text
    calm = alert_text(replace(digest, calm=True))
    assert calm.startswith("Crash storm in #alerts is over: 55 alerts")


def test_a_snooze_note_replaces_the_previous_one_above_the_buttons(knowledge_base: KnowledgeBase) -> None:
    blocks = alert_blocks(crash_alert(knowledge_base, crash(1)))
    once = with_snooze_note(blocks, snooze_note("shop", "Deployment/api", T0 + 3600, "U0ONCALL"))
    twice = with_snooze_note(once, snooze_note("shop", "Deployment/api", T0 + 86400, "U0ONCALL"))

    notes = [block for block in twice if block.get("block_id") == SNOOZE_BLOCK_ID]
    assert len(notes) == 1 and str(int(T0 + 86400)) in text_of(notes)
    assert twice[-1]["block_id"] == ACTIONS_BLOCK_ID
    assert twice[-2]["block_id"] == SNOOZE_BLOCK_ID
    assert "by <@U0ONCALL>" in text_of(notes)
    shown = alert_text(crash_alert(knowledge_base, crash(1), snoozed_until=T0 + 3600))
    assert "Snoozed until 2026-01-01 01:00:00 UTC" in shown


def test_button_values_round_trip_and_garbage_is_refused() -> None:
    target = AlertTarget.of(crash(137, reason="OOMKilled"))
    assert AlertTarget.from_value(target.to_value()) == target
    for garbage in ("", "not json", "[]", '{"ns": "shop"}', '{"ns":"a","pod":"b","c":"c","w":"d","x":"1"}'):
        with pytest.raises(ValueError):
            AlertTarget.from_value(garbage)


OWN_DATES = re.compile(r"<!date\^\d+\^[^|<>]*\|[^<>|]*>")
"""The `<!date^…>` tokens the renderer itself writes (from numbers only)."""

HOSTILE = st.lists(
    st.sampled_from(
        ["<", ">", "&", "!", "@", "<!channel>", "`", "```", "*", "\n", " ", "x", "\x1b[31m", "é", "|"]
    ),
    max_size=1500,
).map("".join)


@settings(max_examples=40, deadline=None)
@given(message=HOSTILE, name=st.text(alphabet="abc<>&!@", min_size=1, max_size=300))
def test_cluster_text_can_neither_ping_nor_break_the_message(message: str, name: str) -> None:
    termination = replace(crash(1), message=message, pod=name, container=name, node=name)
    for view in (
        CrashAlert(termination, AlertKind.CRASH, count=3),
        RepeatAlert(termination, AlertKind.CRASH),
    ):
        blocks = alert_blocks(view)
        assert validate_blocks(blocks) == []
        assert text_length(blocks) <= MAX_MESSAGE_TEXT
        for text in _texts(blocks):
            assert "<" not in OWN_DATES.sub("", text)  # so no <!channel>, <@U…> or <url|label>
        assert "\x1b" not in alert_text(view)


def _texts(node: object) -> list[str]:
    """Every mrkdwn or plain text string in the blocks."""
    if isinstance(node, dict):
        found = [str(node["text"]) for key in ("text",) if isinstance(node.get(key), str)]
        return found + [text for value in node.values() for text in _texts(value)]
    if isinstance(node, list):
        return [text for item in node for text in _texts(item)]
    return []
