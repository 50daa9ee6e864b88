"""What the bot says when the question is `help`, or is not something it can answer.

A 3 a.m. user who typed the wrong thing should see, in one short message, what to type instead; a
near-miss name gets a "did you mean".
"""

from __future__ import annotations

from bot.knowledge.explanation import Usage

HELP_EXAMPLES = (
    "137",
    "-1",
    "128+9",
    "SIGSEGV",
    "signal 9",
    "OOMKilled",
    "CrashLoopBackOff",
    "137 share",
    "pod NAMESPACE/POD",
    "ns NAMESPACE",
    "incidents",
    "snoozes",
)
SHORT_EXAMPLES = ("137", "SIGTERM", "OOMKilled", "help")

HELP_MESSAGE = "\n".join(
    (
        "Ask about a container exit code, a signal or a Kubernetes reason:",
        "• an exit code: `137`, `1`, `255`; any integer works (`-1`, `256`, `1000` wrap modulo 256,"
        " as a real exit status does)",
        "• a signal exit by hand: `128+9`",
        "• a signal: `SIGSEGV`, `sigterm`, `KILL`, `SIGRTMIN+2`, or by number: `signal 9`",
        "• a Kubernetes reason: `OOMKilled`, `Error`, `Completed`, `StartError`, `Evicted`,"
        " `ContainerStatusUnknown`, `CrashLoopBackOff`, `ImagePullBackOff`",
        "• a live pod: `pod NAMESPACE/POD` (why did it die?)",
        "• a namespace: `ns NAMESPACE` (which pods are crashing? which alerts are still open?)",
        "• alerts: `incidents` (open ones this channel may see), `snoozes` (who silenced what, until when)",
        "• with several clusters: `pod CLUSTER/NAMESPACE/POD`, `ns CLUSTER/NAMESPACE`, `clusters`",
        "Add `share` at the end (`137 share`) to post the answer in the channel.",
    )
)

DIAGNOSE_MESSAGE = (
    "`pod NAMESPACE/POD` and `ns NAMESPACE` read a live cluster, so they are answered by the bot with"
    " cluster access (or `exitcode-bot pod NS/NAME`), not by the exit-code explainer."
)


def help_usage(query: str) -> Usage:
    return Usage(message=HELP_MESSAGE, examples=HELP_EXAMPLES, is_help=True, query=query)


def diagnose_usage(query: str) -> Usage:
    return Usage(message=DIAGNOSE_MESSAGE, examples=("pod NAMESPACE/POD", "ns NAMESPACE"), query=query)


def unreadable_usage(
    query: str, suggestions: tuple[str, ...] = (), what: str = "an exit code, a signal or a Kubernetes reason"
) -> Usage:
    message = f"I can't read “{query}” as {what}."
    if suggestions:
        message += " Did you mean " + " or ".join(f"`{s}`" for s in suggestions) + "?"
    return Usage(message=message, examples=SHORT_EXAMPLES, query=query)


def signal_range_usage(query: str, number: int) -> Usage:
    message = (
        f"Linux has no signal {number}: standard signals are 1–31 and real-time signals 32–64."
        " To explain an exit code instead, type just the number."
    )
    return Usage(message=message, examples=("signal 9", "signal 15", str(number)), query=query)


def too_long_usage(query: str, length: int) -> Usage:
    message = f"That is {length:,} characters, far too long to be an exit code, a signal or a reason."
    return Usage(message=message, examples=SHORT_EXAMPLES, query=query)
