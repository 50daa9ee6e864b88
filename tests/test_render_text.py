"""The console/CLI answer: plain text an engineer can read and copy from in a terminal."""

from __future__ import annotations

from hypothesis import given, settings

from bot.knowledge.explanation import RunbookStep, Usage
from bot.render.text import WIDTH, reply_text
from tests.test_render_fixtures import INJECTION, explanation_137, explanation_with_text, slack_hostile_text


def test_explanation_as_text_has_headings_bullets_and_commands() -> None:
    text = reply_text(explanation_137().with_placeholders({"pod": "web-7d9f"}))
    assert text.startswith("Exit code 137: SIGKILL\n======================\nThe container was killed")
    for expected in (
        "\nArithmetic: 137 = 128 + 9\n",
        "\nSignal: SIGKILL (9), default action: terminate the process. Kill signal",
        "\nIn Kubernetes\n  - Reason OOMKilled: the container hit its memory limit.\n",
        "\nLikely causes\n  - Memory limit too low for the workload\n",
        "\nRunbook\n  1. Read the last termination\n       $ kubectl describe pod web-7d9f -n <namespace>\n",
        "\n  3. Compare usage with the limit\n",
        "\nRuntime hints\n  - JVM: A JVM killed by the kernel leaves no stack trace.\n",
        "\nRunbook link: https://wiki.example.com/exit/137\n",
    ):
        assert expected in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_reason_as_text_says_what_kind_of_status_it_is() -> None:
    reason = explanation_137(
        subject="reason", reason="OOMKilled", reason_kind="terminated", typical_codes=(137,)
    )
    text = reply_text(reason)
    assert "\nKubernetes reason: OOMKilled (why a container terminated)\nTypical exit codes: 137\n" in text


def test_text_has_no_slack_markup() -> None:
    text = reply_text(explanation_137())
    assert "*" not in text and "```" not in text and "&lt;" not in text and "•" not in text


def test_text_keeps_raw_characters_unchanged() -> None:
    text = reply_text(explanation_with_text(INJECTION))
    assert text.count(INJECTION) >= 10
    assert "&lt;" not in text and "&amp;" not in text


def test_long_prose_wraps_with_a_hanging_indent_but_commands_never_wrap() -> None:
    command = "kubectl get events --field-selector involvedObject.name=web-7d9f " + "-o wide " * 20
    explanation = explanation_137(
        causes=("word " * 60,), runbook_steps=(RunbookStep("Look at events", command.strip()),)
    )
    lines = reply_text(explanation).split("\n")
    cause_lines = [line for line in lines if "word word" in line]
    assert len(cause_lines) > 1
    assert cause_lines[0].startswith("  - word") and cause_lines[1].startswith("    word")
    assert all(len(line) <= WIDTH for line in cause_lines)
    assert f"       $ {command.strip()}" in lines


def test_multi_line_commands_keep_their_lines() -> None:
    step = RunbookStep("Check the node", "kubectl get node {node} \\\n  -o yaml")
    text = reply_text(explanation_137(runbook_steps=(step,)).with_placeholders({"node": "n1"}))
    assert "       $ kubectl get node n1 \\\n           -o yaml\n" in text


def test_terminal_escape_sequences_from_user_input_are_neutralised() -> None:
    text = reply_text(explanation_137(title="137\x1b]0;pwned\x07", summary="a\rb"))
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "137\\x1b]0;pwned\\x07" in text


def test_usage_as_text_lists_examples() -> None:
    usage = Usage(message="Unknown query `foo`.", examples=("/exitcode 137", "/exitcode SIGTERM"))
    assert reply_text(usage) == "Unknown query `foo`.\n\nTry:\n  /exitcode 137\n  /exitcode SIGTERM\n"


@settings(max_examples=60, deadline=None)
@given(slack_hostile_text)
def test_any_explanation_renders_as_text(text: str) -> None:
    rendered = reply_text(explanation_with_text(text, items=3))
    assert rendered.endswith("\n")
    assert all(ch in "\n\t" or ch.isprintable() or not ch.isascii() for ch in rendered)
