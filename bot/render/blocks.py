"""An `/exitcode` reply as Slack Block Kit.

Layout of an explanation, top to bottom, in the order an on-call engineer reads it: what it is
(header, summary, the arithmetic, the signal), what it means in Kubernetes, why it usually happens,
what to do (runbook steps with copyable commands), runtime-specific hints, then the buttons.

Every string that comes from the Explanation is escaped here: knowledge text is operator-editable,
the query is user input, and runbook commands contain `<namespace>`-style placeholders once
`RunbookStep.filled` has run, which Slack would otherwise parse as links. Limits are enforced by
`bot.render.limits`, so any Explanation, however large, renders to a message Slack accepts.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.command import DEFAULT_SLASH_COMMAND
from bot.knowledge.explanation import Explanation, Reply, RunbookStep, Usage
from bot.render.limits import (
    MAX_FALLBACK_TEXT,
    TRUNCATED_NOTICE,
    Block,
    actions,
    button,
    context,
    divider,
    fit_blocks,
    header,
    is_linkable_url,
    section,
    sections,
)
from bot.render.mrkdwn import bold, bullet_list, code_block, escape, inline_code, truncate
from bot.render.text import describe_default_action, describe_reason_kind

SHARE_ACTION_ID = "exitcode_share"
"""Action id of the "Share in channel" button; its value is the query to answer visibly."""

RUNBOOK_ACTION_ID = "exitcode_runbook"
"""Action id of the runbook link button. Slack still sends an action when a link button is clicked,
so the Slack adapter must acknowledge it (and do nothing else)."""

ACTIONS_BLOCK_ID = "exitcode_actions"

_QUERY_SHOWN = 100
"""How much of the user's query the footer repeats (the full text is in the share button's value)."""


def reply_blocks(
    reply: Reply, *, share_button: bool = True, slash_command: str = DEFAULT_SLASH_COMMAND
) -> list[Block]:
    """The Block Kit message for a reply: at most 50 blocks, every text within Slack's limits.

    `share_button` offers "Share in channel" on a private answer; an answer that is already shared
    (`reply.share`) never offers it again. `slash_command` is the name this installation answers to
    (SLASH_COMMAND): the help header and the footer's echo of the query name it.
    """
    if isinstance(reply, Usage):
        return _usage_blocks(reply, slash_command)
    return _explanation_blocks(reply, share_button=share_button, slash_command=slash_command)


def reply_fallback_text(reply: Reply) -> str:
    """The message's top-level `text`: what notifications and screen readers show. Escaped."""
    if isinstance(reply, Usage):
        return truncate(escape(" ".join(reply.message.split())), MAX_FALLBACK_TEXT)
    line = " ".join(f"{reply.title} — {reply.summary}".split())
    return truncate(escape(line), MAX_FALLBACK_TEXT)


def _usage_blocks(usage: Usage, slash_command: str) -> list[Block]:
    blocks: list[Block] = []
    if usage.is_help:
        blocks.append(header(f"{slash_command}: what an exit code means and what to do"))
    blocks.append(section(escape(usage.message)))
    if usage.examples:
        examples = bullet_list(inline_code(example) for example in usage.examples)
        blocks.extend(sections(f"{bold('Try')}\n{examples}"))
    return fit_blocks(blocks)


def _explanation_blocks(explanation: Explanation, *, share_button: bool, slash_command: str) -> list[Block]:
    share_value = explanation.query if share_button and not explanation.share else None
    blocks = explanation_layout(
        explanation,
        facts="\n".join(fact_lines(explanation)),
        query_element=query_element(explanation.query, slash_command),
        share_value=share_value,
    )
    return fit_blocks(blocks, notice=truncation_notice(explanation))


def explanation_layout(
    explanation: Explanation, *, facts: str, query_element: str, share_value: str | None
) -> list[Block]:
    """The explanation's blocks before `fit_blocks`, with the three query-dependent texts passed in
    (the facts under the summary, the footer's echo of the query, the share button's value), so
    `bot.render.explain_message` can lay out an explanation once and fill them per request."""
    blocks: list[Block] = [header(explanation.title)]
    blocks.append(section(escape(explanation.summary)))
    if facts:
        blocks.extend(sections(facts))
    blocks.extend(_bulleted("In Kubernetes", explanation.kubernetes))
    blocks.extend(_bulleted("Likely causes", explanation.causes))
    if explanation.runbook_steps:
        blocks.append(divider())
        blocks.extend(sections(f"{bold('Runbook')}\n{_steps(explanation.runbook_steps)}"))
    if explanation.runtime_hints:
        hints = bullet_list(
            f"{bold(escape(hint.runtime) + ':')} {escape(hint.text)}" for hint in explanation.runtime_hints
        )
        blocks.extend(sections(f"{bold('Runtime hints')}\n{hints}"))
    blocks.append(context([*_footer_notes(explanation), query_element]))
    buttons: list[Block] = []
    if is_linkable_url(explanation.runbook_url):
        buttons.append(button("Open runbook", RUNBOOK_ACTION_ID, url=explanation.runbook_url))
    if share_value is not None:
        buttons.append(button("Share in channel", SHARE_ACTION_ID, value=share_value, style="primary"))
    if buttons:
        blocks.append(actions(buttons, block_id=ACTIONS_BLOCK_ID))
    return blocks


def truncation_notice(explanation: Explanation) -> str:
    """What a cut explanation says at its end (pointing to the runbook when there is a link)."""
    if is_linkable_url(explanation.runbook_url):
        return f"{TRUNCATED_NOTICE}: open the runbook for the rest."
    return TRUNCATED_NOTICE


def fact_lines(explanation: Explanation) -> list[str]:
    """The one-line facts under the summary: arithmetic, signal, reason, typical codes."""
    arithmetic = arithmetic_line(explanation.arithmetic)
    return [arithmetic, *content_fact_lines(explanation)] if arithmetic else content_fact_lines(explanation)


def arithmetic_line(arithmetic: str | None) -> str:
    """The first fact, from the query itself (`-1 → 255 (-1 mod 256)`); empty without arithmetic."""
    return f"{_ARITHMETIC_LABEL} {escape(arithmetic)}" if arithmetic else ""


_ARITHMETIC_LABEL = bold("Arithmetic:")  # on every uncached `/exitcode` with a number: bolded once


def content_fact_lines(explanation: Explanation) -> list[str]:
    """The facts that come from the explanation, not from the query: signal, reason, typical codes."""
    lines: list[str] = []
    signal = explanation.signal
    if signal is not None:
        line = (
            f"{bold('Signal:')} {escape(signal.name)} ({signal.number}), "
            f"default action: {escape(describe_default_action(signal))}"
        )
        if signal.description:
            line += f". {escape(signal.description)}"
        lines.append(line)
    if explanation.reason:
        kind = describe_reason_kind(explanation.reason_kind)
        note = f" ({escape(kind)})" if kind else ""
        lines.append(f"{bold('Kubernetes reason:')} {inline_code(explanation.reason)}{note}")
    if explanation.typical_codes:
        codes = ", ".join(str(code) for code in explanation.typical_codes)
        lines.append(f"{bold('Typical exit codes:')} {codes}")
    return lines


def _bulleted(title: str, items: Iterable[str]) -> list[Block]:
    escaped = [escape(item) for item in items]
    if not escaped:
        return []
    return sections(f"{bold(title)}\n{bullet_list(escaped)}")


def _steps(steps: Iterable[RunbookStep]) -> str:
    """Numbered steps, each command as its own code block so it can be copied in one click."""
    lines: list[str] = []
    for number, step in enumerate(steps, start=1):
        lines.append(f"{number}. {escape(step.text)}")
        command = step.filled({}).command
        if command:
            lines.append(code_block(command))
    return "\n".join(lines)


def _footer_notes(explanation: Explanation) -> list[str]:
    notes: list[str] = []
    if explanation.application_defined:
        notes.append("No standard meaning: the program that exited chose this code.")
    if explanation.runbook_url and not is_linkable_url(explanation.runbook_url):
        notes.append(f"Runbook: {escape(explanation.runbook_url)}")
    return notes


def query_element(query: str, slash_command: str) -> str:
    """The footer's last element: what was typed, in this installation's command (at most 100 chars)."""
    if len(query) > _QUERY_SHOWN:
        query = query[: _QUERY_SHOWN - 1] + "…"
    return f"exitcode-bot · {inline_code(f'{slash_command} {query}')}"
