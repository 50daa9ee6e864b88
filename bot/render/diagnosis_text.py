"""A pod diagnosis and a namespace triage as plain terminal text (console mode, `exitcode-bot pod|ns`).

Same content and order as the Block Kit message; commands on their own lines prefixed with `$ ` so they
paste cleanly. Cluster text (messages, log lines) can carry terminal escape sequences, so the whole
output goes through `printable()`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import datetime

from bot.command import CLI_PROGRAM, command_line
from bot.diagnosis.findings import duration, stamp
from bot.diagnosis.model import ContainerReport, Diagnosis, EventSummary, TerminationInfo
from bot.diagnosis.triage import TriageRow
from bot.render.text import WIDTH, printable

CONFIDENCE_LABEL = {"high": "high confidence", "medium": "medium confidence", "low": "low confidence"}
_INDENT = "  "


def cluster_prefix(cluster: str | None) -> str:
    """`[prod-eu] ` to put before a message's one-line text, so a notification on a lock screen already
    says which cluster it is about (CLUSTER_NAME, for workspaces with one bot per cluster); `""`
    without a name. Raw text: a Slack renderer escapes it with the rest of the line."""
    name = " ".join(cluster.split()) if cluster else ""
    return f"[{name}] " if name else ""


def diagnosis_text(diagnosis: Diagnosis) -> str:
    """The diagnosis as text ending in a newline, ready to print."""
    verdict = diagnosis.verdict
    lines: list[str] = [f"Pod {diagnosis.namespace}/{diagnosis.pod}", ""]
    lines.extend(_wrapped(f"Verdict: {verdict.headline}"))
    cause = f"Cause: {verdict.cause} ({CONFIDENCE_LABEL[verdict.confidence]})"
    if verdict.container:
        cause += f", container {verdict.container}"
    lines.append(cause)
    if verdict.evidence:
        lines.append("Evidence:")
        for fact in verdict.evidence:
            lines.extend(_wrapped(fact, bullet="- ", indent=_INDENT))
    lines.append("")
    lines.extend(_pod_lines(diagnosis))
    for report in diagnosis.containers:
        lines.append("")
        lines.extend(_container_lines(report))
    if diagnosis.events:
        lines.extend(["", "Recent events:"])
        for event in diagnosis.events:
            lines.extend(_wrapped(_event_line(event, diagnosis.diagnosed_at), bullet="- ", indent=_INDENT))
    for tail in diagnosis.log_tails:
        lines.extend(["", f"Log tail of {tail.container} (last {len(tail.lines)} lines):"])
        lines.extend(f"{_INDENT}| {line}" for line in tail.lines)
    if verdict.next_steps:
        lines.extend(["", "Next steps:"])
        for number, step in enumerate(verdict.next_steps, start=1):
            lines.extend(_wrapped(step.text, bullet=f"{number}. ", indent=_INDENT))
            if step.command:
                lines.append(f"{_INDENT}   $ {step.command}")
    if verdict.runbook_url:
        lines.extend(["", f"Runbook: {verdict.runbook_url}"])
    for note in diagnosis.notes:
        lines.extend(_wrapped(f"Note: {note}"))
    return printable("\n".join(lines).rstrip("\n") + "\n")


def _wrapped(text: str, *, bullet: str = "", indent: str = "") -> list[str]:
    """Prose wrapped at WIDTH; continuation lines hang under the text, past the bullet."""
    first = indent + bullet
    rest = indent + (" " * len(bullet) if bullet else _INDENT)
    return textwrap.wrap(
        " ".join(text.split()), WIDTH, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    ) or [first]


def _pod_lines(diagnosis: Diagnosis) -> list[str]:
    phase = diagnosis.phase or "Unknown"
    if diagnosis.pod_reason:
        phase += f" ({diagnosis.pod_reason})"
    lines = [f"Phase: {phase}"]
    if diagnosis.pod_message:
        lines.extend(_wrapped(f"Message: {diagnosis.pod_message}"))
    if diagnosis.node:
        lines.append(f"Node: {diagnosis.node}")
    if diagnosis.owners:
        lines.append("Owner: " + " → ".join(f"{owner.kind} {owner.name}" for owner in diagnosis.owners))
    if diagnosis.qos_class:
        lines.append(f"QoS: {diagnosis.qos_class}")
    if diagnosis.deletion_at is not None:
        lines.append(f"Deleting: deletionTimestamp {stamp(diagnosis.deletion_at)}")
    return lines


def _container_lines(report: ContainerReport) -> list[str]:
    kind = {"regular": "container", "init": "init container", "sidecar": "sidecar"}[report.kind]
    state = report.state + (f" ({report.state_reason})" if report.state_reason else "")
    lines = [f"{kind.capitalize()} {report.name}: {state}, restarts {report.restart_count}"]
    if report.image:
        lines.append(f"{_INDENT}image: {report.image}")
    if report.state_message and report.state != "terminated":
        lines.extend(_wrapped(f"waiting: {report.state_message}", indent=_INDENT))
    for label, termination in (("now", report.termination), ("last exit", report.last_termination)):
        if termination is not None:
            lines.extend(_termination_lines(label, termination))
    if report.back_off is not None:
        back_off = report.back_off
        delay = duration(back_off.delay) if back_off.delay is not None else "not stated by the kubelet"
        line = f"{_INDENT}back-off: {delay}" + (" (kubelet)" if back_off.from_kubelet else "")
        if back_off.next_restart_in is not None:
            line += (
                ", next restart any moment now"
                if not back_off.next_restart_in
                else f", next restart in about {duration(back_off.next_restart_in)}"
            )
        lines.append(line)
    memory = (
        f"memory limit {report.memory_limit or 'none'}"
        f"{_LIMIT_NOTE.get(report.memory_limit_source or '', '')}, "
        f"request {report.memory_request or 'none'}"
    )
    cpu = f"cpu limit {report.cpu_limit or 'none'}, request {report.cpu_request or 'none'}"
    lines.append(f"{_INDENT}resources: {memory}; {cpu}")
    lines.extend(f"{_INDENT}probe {probe.describe()}" for probe in report.probes)
    return lines


_LIMIT_NOTE = {"status": " (in force, from the status)", "pod": " (pod-level, shared)"}


def _termination_lines(label: str, termination: TerminationInfo) -> list[str]:
    signal = termination.signal
    code = f"{termination.exit_code}"
    if signal is not None and termination.exit_code == 128 + signal.number:
        code += f" ({signal.name})"
    parts = [f"exit {code}"]
    if termination.reason:
        parts.append(f"reason {termination.reason}")
    if termination.ran_for is not None:
        parts.append(f"ran {duration(termination.ran_for)}")
    if termination.finished_at is not None:
        parts.append(f"finished {stamp(termination.finished_at)}")
    lines = [f"{_INDENT}{label}: {', '.join(parts)}"]
    lines.extend(
        _wrapped(f"meaning: {termination.meaning_title}. {termination.meaning_summary}", indent=_INDENT)
    )
    if termination.message:
        lines.extend(_wrapped(f"message: {termination.message}", indent=_INDENT))
    return lines


def _event_line(event: EventSummary, now: datetime) -> str:
    times = f" x{event.count}" if event.count > 1 else ""
    ago = f" ({duration(now - event.last_seen)} ago)" if event.last_seen is not None else ""
    where = f" [node {event.object_name}]" if event.object_kind == "Node" else ""
    return f"{event.type} {event.reason}{times}{ago}{where}: {event.message}"


def triage_text(
    rows: Sequence[TriageRow],
    *,
    namespace: str,
    pods_checked: int | None = None,
    program: str = CLI_PROGRAM,
) -> str:
    """`exitcode-bot ns NAMESPACE`: one line per troubled pod, newest failure first; the last line
    suggests typing `program` (the CLI, or console mode's command)."""
    checked = f" ({pods_checked} pods checked)" if pods_checked is not None else ""
    if not rows:
        return printable(
            f"No pod in {namespace} has a non-zero last exit or a container that cannot run{checked}.\n"
        )
    lines = [f"{len(rows)} troubled pods in {namespace}{checked}, newest failure first:"]
    for row in rows:
        who = row.pod + (f"/{row.container}" if row.container else "")
        parts: list[str] = []
        if row.exit_code is not None:
            parts.append(f"exit {row.exit_code}" + (f" ({row.meaning})" if row.meaning else ""))
        parts.extend(value for value in (row.reason, row.state) if value)
        parts.append(f"{row.restarts} restarts")
        if row.age is not None:
            parts.append(f"{duration(row.age)} ago")
        if row.workload:
            parts.append(row.workload)
        lines.append(f"{_INDENT}{who}: {', '.join(parts)}")
    lines.append(f"Diagnose one: {command_line(program, 'pod', f'{namespace}/{rows[0].pod}')}")
    return printable("\n".join(lines) + "\n")
