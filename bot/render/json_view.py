"""An `/exitcode` reply as JSON-ready data, for `exitcode-bot explain QUERY --json` and scripts.

The shape is a contract for people's scripts, so it is explicit here rather than derived from the
dataclasses: renaming a field in the knowledge model must not silently change the CLI's output.
Text is raw (JSON has its own escaping); every value is a str, int, bool, None, list or dict, so
`json.dumps` always succeeds.
"""

from __future__ import annotations

from typing import Any

from bot.knowledge.explanation import Explanation, Reply, Usage


def reply_json(reply: Reply) -> dict[str, Any]:
    """The reply as a dict: an explanation's facts, or `{"usage", "examples", "help"}` for a usage reply."""
    if isinstance(reply, Usage):
        return {
            "query": reply.query,
            "usage": reply.message,
            "examples": list(reply.examples),
            "help": reply.is_help,
        }
    return explanation_json(reply)


def explanation_json(explanation: Explanation) -> dict[str, Any]:
    """One explanation's fields (also used when a diagnosis embeds the meaning of its exit code)."""
    signal = explanation.signal
    return {
        "query": explanation.query,
        "subject": explanation.subject,
        "code": explanation.code,
        "normalized_code": explanation.normalized_code,
        "arithmetic": explanation.arithmetic,
        "title": explanation.title,
        "signal": (
            None
            if signal is None
            else {
                "number": signal.number,
                "name": signal.name,
                "default_action": signal.default_action,
                "description": signal.description,
            }
        ),
        "reason": explanation.reason,
        "reason_kind": explanation.reason_kind,
        "typical_codes": list(explanation.typical_codes),
        "summary": explanation.summary,
        "causes": list(explanation.causes),
        "kubernetes": list(explanation.kubernetes),
        "runbook_steps": [
            {"text": step.text, "command": step.filled({}).command} for step in explanation.runbook_steps
        ],
        "runbook_url": explanation.runbook_url,
        "runtime_hints": [{"runtime": hint.runtime, "text": hint.text} for hint in explanation.runtime_hints],
        "application_defined": explanation.application_defined,
    }
