"""`exitcode-bot explain QUERY --json`: a stable, complete, JSON-serialisable shape."""

from __future__ import annotations

import json

from hypothesis import given, settings

from bot.knowledge.explanation import Usage
from bot.render.json_view import reply_json
from tests.test_render_fixtures import INJECTION, explanation_137, explanation_with_text, slack_hostile_text


def test_explanation_json_has_every_documented_field() -> None:
    data = reply_json(explanation_137().with_placeholders({"pod": "web-1"}))
    assert data["query"] == "137"
    assert data["subject"] == "exit_code"
    assert (data["code"], data["normalized_code"]) == (137, 137)
    assert data["arithmetic"] == "137 = 128 + 9"
    assert data["title"] == "Exit code 137: SIGKILL"
    assert data["signal"] == {
        "number": 9,
        "name": "SIGKILL",
        "default_action": "terminate",
        "description": "Kill signal; cannot be caught or ignored",
    }
    assert data["reason"] is None and data["reason_kind"] is None
    assert data["typical_codes"] == []
    assert data["summary"].startswith("The container was killed")
    assert data["causes"][0] == "Memory limit too low for the workload"
    assert data["kubernetes"][0].startswith("Reason OOMKilled")
    assert data["runbook_steps"][0] == {
        "text": "Read the last termination",
        "command": "kubectl describe pod web-1 -n <namespace>",
    }
    assert data["runbook_steps"][2] == {"text": "Compare usage with the limit", "command": None}
    assert data["runbook_url"] == "https://wiki.example.com/exit/137"
    assert data["runtime_hints"] == [
        {"runtime": "JVM", "text": "A JVM killed by the kernel leaves no stack trace."}
    ]


def test_reason_json_names_the_kind_of_status() -> None:
    data = reply_json(explanation_137(subject="reason", reason="CrashLoopBackOff", reason_kind="waiting"))
    assert (data["subject"], data["reason"], data["reason_kind"]) == ("reason", "CrashLoopBackOff", "waiting")


def test_signal_is_null_when_the_code_is_not_a_signal() -> None:
    data = reply_json(explanation_137(signal=None, runbook_url=None))
    assert data["signal"] is None and data["runbook_url"] is None


def test_usage_json() -> None:
    usage = Usage(message="Try a number.", examples=("/exitcode 137",), is_help=True, query="help")
    assert reply_json(usage) == {
        "query": "help",
        "usage": "Try a number.",
        "examples": ["/exitcode 137"],
        "help": True,
    }


def test_json_keeps_raw_text_unchanged_and_round_trips() -> None:
    data = reply_json(explanation_with_text(INJECTION))
    assert json.loads(json.dumps(data)) == data
    assert data["title"] == data["summary"] == data["query"] == INJECTION
    assert data["runbook_steps"][0] == {"text": INJECTION, "command": INJECTION}
    assert data["signal"]["description"] == INJECTION


@settings(max_examples=60, deadline=None)
@given(slack_hostile_text)
def test_any_explanation_serialises(text: str) -> None:
    data = reply_json(explanation_with_text(text))
    assert json.loads(json.dumps(data)) == data
    assert data["causes"] == [text, text]
