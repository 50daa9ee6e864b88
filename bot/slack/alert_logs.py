"""The "Previous logs" button's reading: the log to post, or why there is none and what to run next.

Split from `alert_actions` so that module stays about clicks (gate, thread, replies). A log read goes
through the API server to the node's kubelet, so its failures are mostly not the API server's; every
"no log" is answered with the likely cause and the next command (`explain_log_failure`), never the
API's raw sentence alone (issue 14).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.diagnosis.log_failure import explain_log_failure
from bot.diagnosis.ports import (
    ClusterError,
    ClusterTimeout,
    ClusterUnreachable,
    CurrentLogReader,
    Forbidden,
    JsonDict,
    NotFound,
)
from bot.render.alert_blocks import AlertTarget
from bot.render.limits import MAX_SECTION_TEXT, Block, context, section
from bot.render.mrkdwn import code_block, escape, inline_code

__all__ = ["LOG_BUDGET", "LogOutcome", "LogReader", "PodReader", "log_sections", "read_alert_log"]

LOG_BUDGET = 8000
"""Characters of log posted for "Previous logs" (the newest lines), well inside one message."""


class LogReader(Protocol):
    """The part of a `ClusterReader` the Previous logs button needs."""

    async def read_previous_log(
        self, namespace: str, pod: str, container: str, *, tail_lines: int
    ) -> str | None: ...


@runtime_checkable
class PodReader(Protocol):
    """Optional part of the `LogReader` (a `ClusterReader` has it): reading and listing pods, to say why
    a log is missing and to find the workload's current pod when the alerted one was replaced."""

    async def get_pod(self, namespace: str, name: str) -> JsonDict: ...

    async def list_pods(self, namespace: str) -> list[JsonDict]: ...


@dataclass(frozen=True, slots=True)
class LogOutcome:
    """Either the log `text` (and which instance it came from) or the private `problem` (mrkdwn)."""

    text: str | None = None
    source: str = ""
    problem: str | None = None


async def read_alert_log(logs: LogReader, target: AlertTarget, tail_lines: int) -> LogOutcome:
    """The crashed instance's log tail (else the current instance's), or why there is none."""
    pod = f"{target.namespace}/{target.pod}"
    try:
        text = await logs.read_previous_log(
            target.namespace, target.pod, target.container, tail_lines=tail_lines
        )
        source = "previous instance"
        if not text and isinstance(logs, CurrentLogReader):
            text = await logs.read_current_log(
                target.namespace, target.pod, target.container, tail_lines=tail_lines
            )
            source = "current instance (it was not restarted)"
    except (Forbidden, ClusterTimeout) as error:
        return LogOutcome(
            problem=f"Could not read the logs of {inline_code(pod)}: {escape(error.user_message)}"
        )
    except ClusterUnreachable as error:
        if "HTTP" not in error.user_message:  # the API server itself, not its proxy to the kubelet
            return LogOutcome(
                problem=f"Could not read the logs of {inline_code(pod)}: {escape(error.user_message)}"
            )
        return LogOutcome(problem=await _no_log(logs, target, error))
    except ClusterError as error:
        return LogOutcome(problem=await _no_log(logs, target, error))
    if not text:
        return LogOutcome(problem=await _no_log(logs, target, None))
    return LogOutcome(text=text, source=source)


async def _no_log(logs: LogReader, target: AlertTarget, error: ClusterError | None) -> str:
    """ "No log" with its likely cause and the next command."""
    live: JsonDict | None = None
    if not isinstance(error, NotFound) and isinstance(logs, PodReader):
        try:
            live = await logs.get_pod(target.namespace, target.pod)
        except ClusterError:
            live = None
    failure = explain_log_failure(
        namespace=target.namespace,
        pod_name=target.pod,
        container=target.container,
        api_message=error.user_message if error is not None and not isinstance(error, NotFound) else None,
        pod=live,
        node=target.node,
    )
    pod = f"{target.namespace}/{target.pod}"
    text = (
        f"No log of {inline_code(pod)} container {inline_code(target.container)}: "
        f"{escape(failure.cause)}\nNext: {inline_code(failure.next_command)}"
    )
    if error is not None:
        text += f"\n(The API said: {escape(error.user_message[:300])})"
    return text


def log_sections(text: str) -> list[Block]:
    """The newest lines of `text` that fit `LOG_BUDGET`, as code blocks of at most one section each."""
    lines = text.rstrip("\n").split("\n")
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        size += len(escape(line)) + 1
        if size > LOG_BUDGET and kept:
            break
        kept.append(line[:2000])
    kept.reverse()
    chunks: list[list[str]] = [[]]
    room = MAX_SECTION_TEXT - 20
    used = 0
    for line in kept:
        cost = len(escape(line)) + 1
        if chunks[-1] and used + cost > room:
            chunks.append([])
            used = 0
        chunks[-1].append(line)
        used += cost
    blocks = [section(code_block("\n".join(chunk))) for chunk in chunks if chunk]
    if len(kept) < len(lines):
        blocks.append(context([f"{len(lines) - len(kept)} earlier lines not shown"]))
    return blocks
