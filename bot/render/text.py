"""An `/exitcode` reply as plain terminal text, for console mode and `exitcode-bot explain`.

Written to be read in a terminal at 3 a.m.: short headings, bullets, prose wrapped with a hanging
indent, and commands on their own lines, unwrapped and prefixed with `$ ` so they can be pasted.
No mrkdwn: `<`, `&` and `*` are shown as they are. The one thing that is neutralised is control
characters, because user input echoed to a terminal could otherwise carry escape sequences that
rewrite the screen or the window title.
"""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Iterable

from bot.knowledge.explanation import Explanation, Reply, RunbookStep, SignalInfo, Usage

WIDTH = 100
"""Prose is wrapped at this column; commands never are."""

_INDENT = "  "

_DEFAULT_ACTIONS: dict[str, str] = {
    "terminate": "terminate the process",
    "core": "terminate the process and dump core",
    "ignore": "ignored",
    "stop": "stop (pause) the process",
    "continue": "continue a stopped process",
}


def describe_default_action(signal: SignalInfo) -> str:
    """A signal's default action in words ("core" alone means little at 3 a.m.); shared by surfaces."""
    return _DEFAULT_ACTIONS.get(signal.default_action, signal.default_action)


_REASON_KINDS: dict[str, str] = {
    "terminated": "why a container terminated",
    "waiting": "a waiting state: the container is not running; this is not an exit",
    "pod": "a pod status reason",
    "job": "a Job failure reason",
}


def describe_reason_kind(kind: str | None) -> str | None:
    """What kind of status a Kubernetes reason is, e.g. that CrashLoopBackOff is not an exit."""
    return _REASON_KINDS.get(kind or "")


def printable(text: str) -> str:
    """`text` with control characters (other than newline and tab) shown as `\\xNN` escapes."""
    return "".join(
        f"\\x{ord(ch):02x}" if ch not in "\n\t" and unicodedata.category(ch) == "Cc" else ch for ch in text
    )


def reply_text(reply: Reply) -> str:
    """The reply as plain text ending in a newline, ready to print."""
    lines = _usage_lines(reply) if isinstance(reply, Usage) else _explanation_lines(reply)
    return printable("\n".join(lines).rstrip("\n") + "\n")


def _wrap(text: str, indent: str = "", hanging: str = "") -> list[str]:
    """Wrap each paragraph of `text`; long words (URLs, paths) are never broken."""
    lines: list[str] = []
    first = indent
    for paragraph in text.split("\n"):
        wrapped = textwrap.wrap(
            paragraph,
            width=WIDTH,
            initial_indent=first,
            subsequent_indent=hanging or indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        lines.extend(wrapped or [first.rstrip()])
        first = hanging or indent
    return lines


def _heading(title: str) -> list[str]:
    return ["", title]


def _bullets(title: str, items: Iterable[str]) -> list[str]:
    body = [line for item in items for line in _wrap(item, f"{_INDENT}- ", f"{_INDENT}  ")]
    return [*_heading(title), *body] if body else []


def _command_lines(command: str, indent: str) -> list[str]:
    first, *rest = command.strip("\n").split("\n")
    return [f"{indent}$ {first}", *(f"{indent}  {line}" for line in rest)]


def _step_lines(steps: Iterable[RunbookStep]) -> list[str]:
    lines: list[str] = []
    for number, step in enumerate(steps, start=1):
        marker = f"{_INDENT}{number}. "
        lines.extend(_wrap(step.text, marker, " " * len(marker)))
        command = step.filled({}).command
        if command:
            lines.extend(_command_lines(command, " " * (len(marker) + 2)))
    return lines


def _fact_lines(explanation: Explanation) -> list[str]:
    facts: list[str] = []
    if explanation.arithmetic:
        facts.append(f"Arithmetic: {explanation.arithmetic}")
    signal = explanation.signal
    if signal is not None:
        line = f"Signal: {signal.name} ({signal.number}), default action: {describe_default_action(signal)}"
        facts.append(f"{line}. {signal.description}" if signal.description else line)
    if explanation.reason:
        kind = describe_reason_kind(explanation.reason_kind)
        facts.append(f"Kubernetes reason: {explanation.reason}" + (f" ({kind})" if kind else ""))
    if explanation.typical_codes:
        facts.append("Typical exit codes: " + ", ".join(str(code) for code in explanation.typical_codes))
    if explanation.application_defined:
        facts.append("No standard meaning: the program that exited chose this code.")
    return [line for fact in facts for line in _wrap(fact, "", _INDENT)]


def _explanation_lines(explanation: Explanation) -> list[str]:
    title = " ".join(explanation.title.split())
    lines = [title, "=" * min(len(title), WIDTH), *_wrap(explanation.summary)]
    facts = _fact_lines(explanation)
    if facts:
        lines.extend(["", *facts])
    lines.extend(_bullets("In Kubernetes", explanation.kubernetes))
    lines.extend(_bullets("Likely causes", explanation.causes))
    if explanation.runbook_steps:
        lines.extend([*_heading("Runbook"), *_step_lines(explanation.runbook_steps)])
    lines.extend(_bullets("Runtime hints", (f"{h.runtime}: {h.text}" for h in explanation.runtime_hints)))
    if explanation.runbook_url:
        lines.extend(["", f"Runbook link: {explanation.runbook_url}"])
    return lines


def _usage_lines(usage: Usage) -> list[str]:
    lines = _wrap(usage.message)
    if usage.examples:
        lines.extend(["", "Try:", *(f"{_INDENT}{example}" for example in usage.examples)])
    return lines
