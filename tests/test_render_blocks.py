"""The Slack answer to `/exitcode`: what the engineer sees, and that Slack always accepts it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.knowledge.explanation import RunbookStep, Usage
from bot.render import limits
from bot.render.blocks import SHARE_ACTION_ID, reply_blocks, reply_fallback_text
from bot.render.mrkdwn import escape
from tests.test_render_fixtures import (
    INJECTION,
    SLACK_CONTROL_SEQUENCES,
    all_text_objects,
    assert_escaped,
    assert_slack_accepts,
    explanation_137,
    explanation_with_text,
    slack_hostile_text,
)

Blocks = list[dict[str, Any]]


def message_text(blocks: Blocks) -> str:
    return "\n".join(text_object["text"] for text_object in all_text_objects(blocks))


def buttons(blocks: Blocks) -> list[dict[str, Any]]:
    return [element for block in blocks if block["type"] == "actions" for element in block["elements"]]


def share_buttons(blocks: Blocks) -> list[dict[str, Any]]:
    return [element for element in buttons(blocks) if element["action_id"] == SHARE_ACTION_ID]


def link_buttons(blocks: Blocks) -> list[dict[str, Any]]:
    return [element for element in buttons(blocks) if "url" in element]


def test_explanation_reads_top_to_bottom_with_every_part() -> None:
    blocks = reply_blocks(explanation_137().with_placeholders({"pod": "web-7d9f"}))
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Exit code 137: SIGKILL", "emoji": True},
    }
    text = message_text(blocks)
    parts = [
        "It is not always an OOM kill.",
        "*Arithmetic:* 137 = 128 + 9",
        "*Signal:* SIGKILL (9), default action: terminate the process",
        "*In Kubernetes*\n• Reason OOMKilled",
        "*Likely causes*\n• Memory limit too low",
        "*Runbook*\n1. Read the last termination\n```kubectl describe pod web-7d9f -n &lt;namespace&gt;```",
        "3. Compare usage with the limit",
        "*Runtime hints*\n• *JVM:* A JVM killed",
        "`/exitcode 137`",
    ]
    positions = [text.find(part) for part in parts]
    assert all(position >= 0 for position in positions), list(zip(parts, positions, strict=True))
    assert positions == sorted(positions)
    assert blocks[-1]["type"] == "actions"
    assert_slack_accepts(blocks)


def test_reason_explanation_shows_reason_kind_and_typical_codes() -> None:
    reason = explanation_137(
        query="crashloopbackoff",
        subject="reason",
        title="CrashLoopBackOff",
        reason="CrashLoopBackOff",
        reason_kind="waiting",
        typical_codes=(1, 137),
        signal=None,
    )
    text = message_text(reply_blocks(reason))
    assert "*Kubernetes reason:* `CrashLoopBackOff` (a waiting state: the container is not running" in text
    assert "*Typical exit codes:* 1, 137" in text
    assert "*Signal:*" not in text


def test_share_button_offered_on_a_private_answer_with_the_query_as_value() -> None:
    [share] = share_buttons(reply_blocks(explanation_137(query="sigkill")))
    assert share["value"] == "sigkill"
    assert share["text"]["text"] == "Share in channel"


def test_no_share_button_on_an_answer_already_shared_or_when_not_wanted() -> None:
    assert share_buttons(reply_blocks(explanation_137(share=True))) == []
    assert share_buttons(reply_blocks(explanation_137(), share_button=False)) == []


def test_share_button_value_is_capped_for_a_huge_query() -> None:
    [share] = share_buttons(reply_blocks(explanation_137(query="1" * 5000)))
    assert share["value"] == "1" * limits.MAX_BUTTON_VALUE


def test_runbook_button_links_to_the_configured_runbook() -> None:
    [runbook] = link_buttons(reply_blocks(explanation_137(runbook_url="https://wiki.example.com/exit/137")))
    assert runbook["url"] == "https://wiki.example.com/exit/137"


def test_no_runbook_button_without_a_url_so_no_link_is_faked() -> None:
    blocks = reply_blocks(explanation_137(runbook_url=None))
    assert link_buttons(blocks) == []
    assert "kubectl describe pod" in message_text(blocks)  # the steps are inline instead


def test_an_unusable_runbook_url_is_shown_as_text_not_linked() -> None:
    blocks = reply_blocks(explanation_137(runbook_url="wiki/exit 137"))
    assert link_buttons(blocks) == []
    assert "Runbook: wiki/exit 137" in message_text(blocks)


def test_no_actions_block_when_there_is_no_button() -> None:
    blocks = reply_blocks(explanation_137(runbook_url=None, share=True))
    assert all(block["type"] != "actions" for block in blocks)


def test_usage_reply_is_a_short_section_with_examples_and_no_buttons() -> None:
    usage = Usage(
        message="I could not read `foo`.", examples=("/exitcode 137", "/exitcode SIGSEGV"), query="foo"
    )
    blocks = reply_blocks(usage)
    assert blocks[0] == {"type": "section", "text": {"type": "mrkdwn", "text": "I could not read `foo`."}}
    assert "• `/exitcode 137`\n• `/exitcode SIGSEGV`" in message_text(blocks)
    assert buttons(blocks) == []
    assert_slack_accepts(blocks)
    assert reply_blocks(Usage(message="help", is_help=True))[0]["type"] == "header"


def test_every_field_of_an_explanation_is_escaped_in_blocks_and_fallback() -> None:
    blocks = reply_blocks(explanation_with_text(INJECTION))
    assert_slack_accepts(blocks)
    text = message_text(blocks)
    for sequence in SLACK_CONTROL_SEQUENCES:
        assert sequence not in text
    assert text.count(escape(INJECTION)) >= 10  # shown to the reader, not dropped
    fallback = reply_fallback_text(explanation_with_text(INJECTION))
    assert_escaped(fallback)
    assert escape(INJECTION) in fallback


def test_usage_text_is_escaped() -> None:
    usage = Usage(message=INJECTION, examples=(INJECTION,), query=INJECTION)
    assert_slack_accepts(reply_blocks(usage))
    assert reply_fallback_text(usage) == escape(INJECTION)


def test_placeholders_in_commands_do_not_become_slack_links() -> None:
    step = RunbookStep(
        "Events", "kubectl get events -n {namespace} --field-selector involvedObject.name={pod}"
    )
    blocks = reply_blocks(explanation_137(runbook_steps=(step,)).with_placeholders({}))
    assert "-n &lt;namespace&gt; --field-selector involvedObject.name=&lt;pod&gt;" in message_text(blocks)


def test_huge_explanation_still_fits_and_keeps_its_buttons() -> None:
    huge = explanation_137(
        title="T" * 10_000,
        summary="S & " * 5000,
        runbook_steps=tuple(RunbookStep("step & " * 700, "kubectl " + "<x> " * 1200) for _ in range(100)),
        kubernetes=("k" * 5000,) * 30,
        causes=("c" * 5000,) * 30,
    )
    blocks = reply_blocks(huge)
    assert_slack_accepts(blocks)
    assert len(blocks[0]["text"]["text"]) <= limits.MAX_HEADER_TEXT
    assert blocks[-1]["type"] == "actions"
    assert len(link_buttons(blocks)) == 1 and len(share_buttons(blocks)) == 1
    assert "truncated" in blocks[-2]["elements"][0]["text"]
    assert len(reply_fallback_text(huge)) <= limits.MAX_FALLBACK_TEXT


@settings(max_examples=40, deadline=None)
@given(slack_hostile_text, st.integers(min_value=0, max_value=40), st.booleans(), st.booleans())
def test_any_explanation_renders_to_a_message_slack_accepts(
    text: str, items: int, share: bool, share_button: bool
) -> None:
    explanation = explanation_with_text(text * 20, items=items, share=share)
    blocks = reply_blocks(explanation, share_button=share_button)
    assert_slack_accepts(blocks, fences_balanced=False)
    assert len(share_buttons(blocks)) == (1 if share_button and not share else 0)
    assert_escaped(reply_fallback_text(explanation))
