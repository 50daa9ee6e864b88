"""Shared builders, strategies and Slack-limit checks for the render tests.

(Named `test_render_*` only so it sits with the tests it serves; it defines no tests itself.)
Explanations are built directly, not loaded from the knowledge base, so these tests pin the
renderers' behaviour whatever the knowledge data says.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import strategies as st
from slack_sdk.models.blocks import Block as SdkBlock
from slack_sdk.models.blocks import BlockElement

from bot.knowledge.explanation import Explanation, RunbookStep, RuntimeHint, SignalInfo
from bot.render import limits

INJECTION = "<!channel> <@U123> <https://evil|x> & more"
"""Text that would ping a channel, mention a user and disguise a link if it reached Slack unescaped."""

SLACK_CONTROL_SEQUENCES = ("<!channel>", "<@U123>", "<https://evil|x>")

_ENTITY = re.compile(r"&(amp|lt|gt);")


def explanation_137(**overrides: Any) -> Explanation:
    """A realistic explanation of exit code 137, as the knowledge base would produce it."""
    fields: dict[str, Any] = {
        "query": "137",
        "subject": "exit_code",
        "title": "Exit code 137: SIGKILL",
        "summary": "The container was killed with SIGKILL (137 = 128 + 9). It is not always an OOM kill.",
        "code": 137,
        "normalized_code": 137,
        "arithmetic": "137 = 128 + 9",
        "signal": SignalInfo(9, "SIGKILL", "terminate", "Kill signal; cannot be caught or ignored"),
        "kubernetes": (
            "Reason OOMKilled: the container hit its memory limit.",
            "A failed liveness probe ends with SIGKILL after the grace period.",
        ),
        "causes": ("Memory limit too low for the workload", "SIGTERM ignored until the grace period ran out"),
        "runbook_steps": (
            RunbookStep("Read the last termination", "kubectl describe pod {pod} -n {namespace}"),
            RunbookStep("Read the logs of the previous run", "kubectl logs {pod} -n {namespace} --previous"),
            RunbookStep("Compare usage with the limit"),
        ),
        "runtime_hints": (RuntimeHint("JVM", "A JVM killed by the kernel leaves no stack trace."),),
        "runbook_url": "https://wiki.example.com/exit/137",
        "runbook_key": "137",
    }
    fields.update(overrides)
    return Explanation(**fields)


def explanation_with_text(text: str, *, items: int = 2, **overrides: Any) -> Explanation:
    """An explanation whose every text field (query included) is `text`."""
    fields: dict[str, Any] = {
        "query": text,
        "subject": "reason",
        "title": text,
        "summary": text,
        "code": 137,
        "normalized_code": 137,
        "arithmetic": text,
        "signal": SignalInfo(9, text, "core", text),
        "reason": text,
        "typical_codes": (137, 143),
        "kubernetes": (text,) * items,
        "causes": (text,) * items,
        "runbook_steps": (RunbookStep(text, text),) * items,
        "runtime_hints": (RuntimeHint(text, text),) * items,
        "runbook_url": None,
        "runbook_key": "137",
        "application_defined": True,
    }
    fields.update(overrides)
    return Explanation(**fields)


_FRAGMENTS = st.sampled_from(
    ["<!channel>", "<@U123>", "<https://evil|x>", "&", "&amp;", "&lt;", "<", ">", "`", "```", "*", "\n", " "]
)
slack_hostile_text = st.lists(_FRAGMENTS | st.text(max_size=30), max_size=12).map("".join)
"""Arbitrary text, biased towards the characters that matter to Slack mrkdwn."""


def all_text_objects(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every Block Kit text object (`{"type": "mrkdwn"|"plain_text", "text": ...}`) in the blocks."""
    found: list[dict[str, Any]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return found


def assert_escaped(text: str) -> None:
    """`text` is safe Slack text: no raw `<`/`>`, and every `&` starts one of the three entities."""
    assert "<" not in text and ">" not in text, text
    assert "&" not in _ENTITY.sub("", text), text


def assert_slack_accepts(blocks: list[dict[str, Any]], *, fences_balanced: bool = True) -> None:
    """Every limit Slack enforces on a message holds, and no text object can ping or link.

    `fences_balanced` also checks that no code block is left open; leave it on unless the input
    itself contains stray backticks (escaping keeps those, as knowledge text may use inline code).
    """
    assert 1 <= len(blocks) <= limits.MAX_BLOCKS
    assert limits.text_length(blocks) <= limits.MAX_MESSAGE_TEXT
    for block in blocks:
        SdkBlock.parse(block).validate_json()  # type: ignore[union-attr]
        kind = block["type"]
        if kind == "header":
            assert len(block["text"]["text"]) <= limits.MAX_HEADER_TEXT
        elif kind == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= limits.MAX_SECTION_TEXT
            assert len(block.get("fields", [])) <= limits.MAX_FIELDS
            assert all(len(field["text"]) <= limits.MAX_FIELD_TEXT for field in block.get("fields", []))
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= limits.MAX_CONTEXT_ELEMENTS
            assert all(len(element["text"]) <= limits.MAX_CONTEXT_TEXT for element in block["elements"])
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= limits.MAX_ACTIONS_ELEMENTS
            for element in block["elements"]:
                BlockElement.parse(element).validate_json()  # type: ignore[union-attr]
                assert len(element["text"]["text"]) <= limits.MAX_BUTTON_TEXT
                assert len(element.get("value", "")) <= limits.MAX_BUTTON_VALUE
    for text_object in all_text_objects(blocks):
        assert text_object["text"].strip(), "Slack rejects empty text"
        assert_escaped(text_object["text"])
        if fences_balanced and text_object["type"] == "mrkdwn":
            assert text_object["text"].count("```") % 2 == 0, "a code block is left open"
