"""The sentences that tell a user what to type, in the command name of the surface they use.

The name is always a value passed in: `/exitcode`, this installation's SLASH_COMMAND (`/exitcode-prod`),
or `exitcode-bot` in a shell. Raw text with backticks around commands (Slack shows them as code; the
terminal renderers drop the backticks); a Slack renderer escapes it like any other text.
"""

from __future__ import annotations

from bot.command import QueryKind, command_line

_USAGE: dict[QueryKind, str] = {
    "pod": "Use `{pod_ns}` (or `{pod}` for the default namespace).",
    "ns": "Use `{ns}` (one namespace name).",
    "incidents": "Use `{incidents}` (no argument).",
}
_SLACK_USAGE: dict[QueryKind, str] = {
    "pod": "Usage: `{pod_ns}` (or `{pod}` for the default namespace).",
    "ns": "Usage: `{ns}` lists the crashing pods of one namespace.",
    "incidents": "Usage: `{incidents}` lists the open alert incidents this channel may see.",
}


def _filled(template: str, program: str) -> str:
    return template.format(
        pod_ns=command_line(program, "pod", "NAMESPACE/POD"),
        pod=command_line(program, "pod", "POD"),
        ns=command_line(program, "ns", "NAMESPACE"),
        incidents=f"{program} incidents",
    )


def usage_sentence(kind: QueryKind, program: str) -> str:
    """`Use `/exitcode pod NAMESPACE/POD` (or …).`: what to type after a name that cannot exist."""
    return _filled(_USAGE[kind], program)


def missing_argument_usage(kind: QueryKind, program: str) -> str:
    """The reply to `pod`/`ns` with nothing after it."""
    return _filled(_SLACK_USAGE[kind], program)


def apology(program: str) -> str:
    """The reply when answering failed unexpectedly (the failure is logged and counted)."""
    return (
        "Sorry, something went wrong while answering that. It has been logged; please try again, "
        f"or type `{program} help`."
    )


def cluster_not_configured(program: str) -> str:
    """The reply to `pod`/`ns` in an installation without cluster diagnosis."""
    return (
        "Cluster diagnosis is not configured for this bot, so it cannot look at pods or namespaces; "
        f"`{program} 137` (or any exit code, signal or Kubernetes reason) still explains what it means."
    )


def without_code_marks(text: str) -> str:
    """Terminal text: the backticks that make commands code in Slack, removed."""
    return text.replace("`", "")
