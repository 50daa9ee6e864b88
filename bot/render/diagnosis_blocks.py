"""A pod diagnosis and a namespace triage as Slack Block Kit.

Layout of a diagnosis, in the order an on-call engineer reads it: the pod and what happened (header),
the verdict with its confidence and the evidence it rests on, the containers, the recent events, the
previous instance's log tail, the next steps, then the runbook button.

Everything that comes from the cluster (pod, container and node names, termination messages, event
messages, log lines, images) is untrusted and escaped here; limits are enforced by `bot.render.limits`,
so a pod with a huge log or a thousand events still renders to a message Slack accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.command import DEFAULT_SLASH_COMMAND, command_line
from bot.diagnosis.findings import duration, stamp
from bot.diagnosis.model import ContainerReport, Diagnosis, EventSummary, LogTail, TerminationInfo
from bot.diagnosis.triage import TriageRow
from bot.knowledge.explanation import RunbookStep
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
from bot.render.mrkdwn import FENCE, bold, bullet_list, code_block, escape, inline_code, truncate

RUNBOOK_ACTION_ID = "exitcode_diagnosis_runbook"
"""Action id of the runbook link button (Slack still sends an action for link buttons: ack it)."""
ACTIONS_BLOCK_ID = "exitcode_diagnosis_actions"

FULL_CONTAINERS = 3
"""Up to this many containers are shown in full; beyond, only the verdict's (the others get a line)."""
MAX_CONTAINERS_SHOWN = 12
MAX_EVENTS_SHOWN = 6
MAX_EVENT_MESSAGE = 250
MAX_TRIAGE_ROWS = 40
LOG_TAIL_BUDGET = 1500
"""Characters of log tail shown: the lines nearest the crash, leaving room for the next steps within
Slack's total message size."""

CONFIDENCE_LABEL = {"high": "High confidence", "medium": "Medium confidence", "low": "Low confidence"}
_VERDICT_ICON = {True: ":red_circle:", False: ":large_green_circle:"}


def cluster_context(cluster: str) -> Block:
    """The context line naming the cluster a message is about (CLUSTER_NAME), for workspaces where one
    bot per cluster posts into shared channels. Operator text, escaped all the same."""
    return context([f":globe_with_meridians: Cluster: {bold(escape(cluster))}"])


def with_cluster_context(blocks: Sequence[Block], cluster: str | None) -> list[Block]:
    """`blocks` with the cluster line just under the header (on top when there is none); unchanged
    without a name. Still within Slack's limits: the body's tail gives way, not the buttons."""
    if not cluster:
        return list(blocks)
    position = 1 if blocks and blocks[0].get("type") == "header" else 0
    return fit_blocks([*blocks[:position], cluster_context(cluster), *blocks[position:]])


def diagnosis_blocks(diagnosis: Diagnosis) -> list[Block]:
    """The whole diagnosis as Block Kit: at most 50 blocks, every text within Slack's limits."""
    verdict = diagnosis.verdict
    blocks: list[Block] = [header(f"{diagnosis.pod}: {verdict.headline}")]
    blocks.extend(sections(_verdict_mrkdwn(diagnosis)))
    blocks.append(context(_pod_facts(diagnosis)))
    blocks.append(divider())
    blocks.extend(_container_blocks(diagnosis))
    if diagnosis.events:
        lines = [_event_line(event, diagnosis.diagnosed_at) for event in diagnosis.events[:MAX_EVENTS_SHOWN]]
        blocks.extend(sections(f"{bold('Recent events')}\n{bullet_list(lines)}"))
    for tail in diagnosis.log_tails[:1]:
        blocks.append(section(_log_mrkdwn(tail)))
    if verdict.next_steps:
        blocks.extend(sections(f"{bold('Next steps')}\n{_steps(verdict.next_steps)}"))
    if diagnosis.notes:
        blocks.append(context([escape(note) for note in diagnosis.notes]))
    has_link = is_linkable_url(verdict.runbook_url)
    if has_link:
        blocks.append(
            actions(
                [button("Open runbook", RUNBOOK_ACTION_ID, url=verdict.runbook_url)],
                block_id=ACTIONS_BLOCK_ID,
            )
        )
    elif verdict.runbook_url:
        blocks.append(context([f"Runbook: {escape(verdict.runbook_url)}"]))
    return fit_blocks(blocks, notice=TRUNCATED_NOTICE)


def diagnosis_fallback_text(diagnosis: Diagnosis) -> str:
    """The message's top-level `text` (notifications, screen readers). Escaped."""
    line = f"{diagnosis.namespace}/{diagnosis.pod}: {diagnosis.verdict.headline}"
    return truncate(escape(" ".join(line.split())), MAX_FALLBACK_TEXT)


def _verdict_mrkdwn(diagnosis: Diagnosis) -> str:
    verdict = diagnosis.verdict
    icon = _VERDICT_ICON[verdict.is_failure]
    lines = [
        f"{icon} {bold('Verdict:')} {escape(verdict.headline)}",
        f"{bold(CONFIDENCE_LABEL[verdict.confidence])} · cause {inline_code(verdict.cause)}"
        + (f" (container {inline_code(verdict.container)})" if verdict.container else ""),
    ]
    if verdict.evidence:
        lines.append(bold("Evidence"))
        lines.append(bullet_list(escape(fact) for fact in verdict.evidence))
    return "\n".join(lines)


def _pod_facts(diagnosis: Diagnosis) -> list[str]:
    facts = [f"{bold('Pod')} {escape(diagnosis.namespace)}/{escape(diagnosis.pod)}"]
    phase = diagnosis.phase or "Unknown"
    if diagnosis.pod_reason:
        phase += f" ({diagnosis.pod_reason})"
    facts.append(f"{bold('Phase')} {escape(phase)}")
    if diagnosis.node:
        facts.append(f"{bold('Node')} {escape(diagnosis.node)}")
    if diagnosis.owners:
        chain = " → ".join(f"{owner.kind} {owner.name}" for owner in diagnosis.owners)
        facts.append(f"{bold('Owner')} {escape(chain)}")
    if diagnosis.qos_class:
        facts.append(f"{bold('QoS')} {escape(diagnosis.qos_class)}")
    if diagnosis.deletion_at is not None:
        facts.append(f"{bold('Deleting')} since {stamp(diagnosis.deletion_at)}")
    return facts


def _container_blocks(diagnosis: Diagnosis) -> list[Block]:
    """Every container in full when there are few; else the verdict's in full and the others one line
    each, so a pod with many containers leaves room for the events, the log and the next steps."""
    containers = diagnosis.containers
    full = (
        {report.name for report in containers}
        if len(containers) <= FULL_CONTAINERS
        else {diagnosis.verdict.container}
    )
    blocks = [section(_container_mrkdwn(report)) for report in containers if report.name in full]
    others = [report for report in containers if report.name not in full]
    if others:
        lines = [_container_line(report) for report in others[:MAX_CONTAINERS_SHOWN]]
        if len(others) > MAX_CONTAINERS_SHOWN:
            lines.append(f"{len(others) - MAX_CONTAINERS_SHOWN} more containers not shown")
        blocks.append(section(f"{bold('Other containers')}\n{bullet_list(lines)}"))
    return blocks


def _container_line(report: ContainerReport) -> str:
    """One line per container: name, state, restarts and the last exit code."""
    state = report.state + (f": {report.state_reason}" if report.state_reason else "")
    line = f"{bold(escape(report.name))} · {escape(state)} · restarts {report.restart_count}"
    latest = report.latest_termination
    if latest is not None:
        line += f" · last exit {latest.exit_code}" + (f" {escape(latest.reason)}" if latest.reason else "")
    return line


def _container_mrkdwn(report: ContainerReport) -> str:
    kind = (
        "" if report.kind == "regular" else f" ({'init container' if report.kind == 'init' else 'sidecar'})"
    )
    state = report.state + (f": {report.state_reason}" if report.state_reason else "")
    lines = [
        f"{bold(escape(report.name) + kind)} · {escape(state)} · restarts {report.restart_count}"
        + (" · ready" if report.ready else "")
    ]
    if report.state_message and report.state != "terminated":
        lines.append(escape(truncate_raw(report.state_message, 300)))
    for label, termination in (("Now", report.termination), ("Last exit", report.last_termination)):
        if termination is not None:
            lines.extend(_termination_lines(label, termination))
    if report.back_off is not None:
        back_off = report.back_off
        delay = duration(back_off.delay) if back_off.delay is not None else "not stated by the kubelet"
        source = " (kubelet)" if back_off.from_kubelet else ""
        when = ""
        if back_off.next_restart_in is not None:
            when = (
                ", next restart any moment now"
                if not back_off.next_restart_in
                else f", next restart in about {duration(back_off.next_restart_in)}"
            )
        lines.append(f"{bold('Back-off:')} {delay}{source}{when}")
    resources = _resources(report)
    if resources:
        lines.append(f"{bold('Resources:')} {escape(resources)}")
    for probe in report.probes:
        lines.append(f"{bold('Probe')} {escape(probe.describe())}")
    return "\n".join(lines)


def _termination_lines(label: str, termination: TerminationInfo) -> list[str]:
    code = f"{termination.exit_code}"
    if termination.signal is not None and termination.exit_code == 128 + termination.signal.number:
        code += f" ({termination.signal.name})"
    parts = [f"{bold(label + ':')} exit {escape(code)}"]
    if termination.reason:
        parts.append(f"reason {escape(termination.reason)}")
    if termination.ran_for is not None:
        parts.append(f"ran {duration(termination.ran_for)}")
    if termination.finished_at is not None:
        parts.append(f"finished {stamp(termination.finished_at)}")
    lines = [" · ".join(parts), f"_{escape(termination.meaning_title)}_"]
    if termination.message:
        lines.append(f"{bold('Message:')} {escape(truncate_raw(termination.message, 500))}")
    return lines


def _resources(report: ContainerReport) -> str:
    parts = []
    if report.memory_limit or report.memory_request:
        where = {"status": " (in force, from the status)", "pod": " (pod-level, shared)"}
        parts.append(
            f"memory limit {report.memory_limit or 'none'}{where.get(report.memory_limit_source or '', '')}, "
            f"request {report.memory_request or 'none'}"
        )
    if report.cpu_limit or report.cpu_request:
        parts.append(f"cpu limit {report.cpu_limit or 'none'}, request {report.cpu_request or 'none'}")
    return "; ".join(parts)


def _event_line(event: EventSummary, now: datetime) -> str:
    times = f" ×{event.count}" if event.count > 1 else ""
    ago = f" ({duration(now - event.last_seen)} ago)" if event.last_seen is not None else ""
    where = f" [node {event.object_name}]" if event.object_kind == "Node" else ""
    head = f"{event.type} {event.reason}{times}{ago}{where}"
    return f"{bold(escape(head))}: {escape(truncate_raw(event.message, MAX_EVENT_MESSAGE))}"


def _log_mrkdwn(tail: LogTail) -> str:
    """The end of the log (the lines nearest the crash) in a code block that fits one section."""
    title = bold(f"Log tail of {escape(tail.container)} (last {len(tail.lines)} lines)")
    kept: list[str] = []
    size = len(FENCE) * 2
    for line in reversed(tail.lines):
        cost = len(escape(line)) + 1
        if size + cost > LOG_TAIL_BUDGET:
            if not kept:
                kept.append(truncate_raw(line, LOG_TAIL_BUDGET // 2))
            break
        kept.append(line)
        size += cost
    cut = len(kept) < len(tail.lines)
    note = f"\n_{len(tail.lines) - len(kept)} earlier lines not shown_" if cut else ""
    return f"{title}\n{code_block(chr(10).join(reversed(kept)))}{note}"


def _steps(steps: Iterable[RunbookStep]) -> str:
    """Numbered steps, each command in its own code block so it can be copied in one click."""
    lines: list[str] = []
    for number, step in enumerate(steps, start=1):
        lines.append(f"{number}. {escape(step.text)}")
        if step.command:
            lines.append(code_block(step.command))
    return "\n".join(lines)


def truncate_raw(text: str, limit: int) -> str:
    """Raw text cut to `limit` characters (before escaping), whitespace collapsed."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# ------------------------------------------------------------------------------------------ triage


def triage_blocks(
    rows: Sequence[TriageRow],
    *,
    namespace: str,
    pods_checked: int | None = None,
    slash_command: str = DEFAULT_SLASH_COMMAND,
    command_cluster: str | None = None,
) -> list[Block]:
    """`/exitcode ns`: one line per troubled pod, newest failure first; the footer suggests typing
    this installation's `slash_command` (for `command_cluster`'s pod, with CLUSTERS)."""
    checked = f" ({pods_checked} pods checked)" if pods_checked is not None else ""
    if not rows:
        return fit_blocks(
            [
                header(f"Crash triage: {namespace}"),
                section(
                    f":large_green_circle: No pod in {bold(escape(namespace))} has a non-zero last exit or a "
                    f"container that cannot run{escape(checked)}."
                ),
            ]
        )
    shown = rows[:MAX_TRIAGE_ROWS]
    summary = (
        f"{len(rows)} troubled pods in {bold(escape(namespace))}{escape(checked)}, newest failure first."
    )
    blocks: list[Block] = [header(f"Crash triage: {namespace}"), section(summary)]
    blocks.extend(sections(bullet_list(_triage_line(row) for row in shown)))
    cluster = f"{command_cluster}/" if command_cluster else ""
    example = command_line(slash_command, "pod", f"{cluster}{namespace}/{rows[0].pod}")
    footer = [f"Diagnose one: {inline_code(example)}"]
    if len(rows) > len(shown):
        footer.insert(0, f"{len(rows) - len(shown)} more not shown")
    blocks.append(context(footer))
    return fit_blocks(blocks)


def triage_fallback_text(rows: Sequence[TriageRow], *, namespace: str) -> str:
    line = f"Crash triage of {namespace}: {len(rows)} troubled pods"
    return truncate(escape(line), MAX_FALLBACK_TEXT)


def _triage_line(row: TriageRow) -> str:
    who = bold(escape(row.pod))
    if row.container:
        who += f" / {escape(row.container)}"
    parts: list[str] = []
    if row.exit_code is not None:
        code = f"exit {row.exit_code}" + (f" ({row.meaning})" if row.meaning else "")
        parts.append(escape(code))
    for value in (row.reason, row.state):
        if value and escape(value) not in parts:
            parts.append(escape(value))
    parts.append(f"{row.restarts} restarts")
    if row.age is not None:
        parts.append(f"{duration(row.age)} ago")
    if row.workload:
        parts.append(escape(row.workload))
    return f"{who} — {' · '.join(parts)}"
