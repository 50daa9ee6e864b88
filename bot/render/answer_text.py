"""A `pod`/`ns` answer as terminal text (console mode, `exitcode-bot pod|ns`).

`program` is the command the reader types on this surface (`exitcode-bot` in a shell, the slash command
in console mode): usage lines and suggestions name it, so no sentence needs editing afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.diagnosis.answers import (
    Answer,
    IncidentsAnswer,
    OpenIncident,
    PodAnswer,
    PodLine,
    Refusal,
    TriageAnswer,
)
from bot.diagnosis.findings import duration
from bot.render.commands import usage_sentence, without_code_marks
from bot.render.diagnosis_text import diagnosis_text, triage_text
from bot.render.text import printable


def answer_text(answer: Answer, *, program: str) -> str:
    """The answer as terminal text ending in a newline."""
    if isinstance(answer, Refusal):
        return printable(refusal_text(answer, program=program))
    if isinstance(answer, TriageAnswer):
        triage = triage_text(
            answer.rows, namespace=answer.namespace, pods_checked=answer.pods_checked, program=program
        )
        if not answer.incidents:
            return triage
        return triage + printable(incidents_text(answer.incidents, f"Open incidents in {answer.namespace}"))
    if isinstance(answer, IncidentsAnswer):
        return printable(incidents_text(answer.incidents, "Open incidents"))
    body = diagnosis_text(answer.diagnosis)
    selection = answer.selection
    if selection is None:
        return body
    lines = [selection_sentence(answer), "", body.rstrip("\n")]
    if selection.others:
        title = f"Other pods of {selection.workload}" if selection.workload else "Other matching pods"
        lines.extend(["", f"{title}:"])
        now = answer.diagnosis.diagnosed_at
        lines.extend(f"  {line.name}: {other_pod_facts(line, now)}" for line in selection.others)
    return printable("\n".join(lines) + "\n")


_CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]{2,30}$")
_SLACK_TS = re.compile(r"^\d{1,12}\.\d{1,9}$")
MAX_INCIDENTS_SHOWN = 30


def thread_link(thread: str | None) -> str | None:
    """The permalink of an alert's thread from its message reference (`<channel id>:<ts>`, as the Slack
    sink stores it): `https://slack.com/archives/C0123/p1700000000123456`, which Slack opens in the
    reader's workspace. None for anything else (console mode, a root never posted)."""
    if not thread:
        return None
    channel, _, ts = thread.rpartition(":")
    if not _CHANNEL_ID.match(channel) or not _SLACK_TS.match(ts):
        return None
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def incident_phrase(incident: OpenIncident) -> str:
    """Raw text: `Deployment/api / app: exit 1, firing, 7 crashes since 2026-11-21 05:41 UTC`."""
    what = f"{incident.workload} / {incident.container}" if incident.container else incident.workload
    code = f"exit {incident.exit_code}, " if incident.exit_code is not None else ""
    crashes = "1 crash" if incident.crashes == 1 else f"{incident.crashes} crashes"
    since = datetime.fromtimestamp(incident.started, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{what}: {code}{incident.phase}, {crashes} since {since}"


def incidents_text(incidents: Sequence[OpenIncident], title: str) -> str:
    """Open incidents as terminal lines, each with its thread's link when it has one."""
    if not incidents:
        return f"{title}: none.\n"
    lines = [f"{title} ({len(incidents)}):"]
    for incident in incidents[:MAX_INCIDENTS_SHOWN]:
        link = thread_link(incident.thread)
        where = f" (namespace {incident.namespace})" if title == "Open incidents" else ""
        lines.append(f"  {incident_phrase(incident)}{where}" + (f" — {link}" if link else ""))
    if len(incidents) > MAX_INCIDENTS_SHOWN:
        lines.append(f"  … and {len(incidents) - MAX_INCIDENTS_SHOWN} more")
    return "\n".join(lines) + "\n"


def refusal_message(refusal: Refusal, *, program: str) -> str:
    """The refusal's sentence with its usage line in `program`'s words; raw, backticks kept."""
    if refusal.usage is None:
        return refusal.message
    return f"{refusal.message} {usage_sentence(refusal.usage, program)}"


def refusal_text(refusal: Refusal, *, program: str) -> str:
    """A refusal as plain text (one or two lines, ending in a newline); not yet made printable."""
    lines = [without_code_marks(refusal_message(refusal, program=program))]
    if refusal.suggestions:
        lines.append(f"Did you mean: {', '.join(refusal.suggestions)}?")
    return "\n".join(lines) + "\n"


def selection_sentence(answer: PodAnswer) -> str:
    """Raw text: why this pod was diagnosed when the user named something else."""
    selection = answer.selection
    assert selection is not None
    total = len(selection.others) + 1
    if selection.workload:
        group = f"pods of {selection.workload}"
    else:
        group = f"pods whose name starts with “{selection.query}”"
    if total == 1:
        chosen = f"this is the only {group.replace('pods ', 'pod ', 1)}"
    elif selection.crashed:
        chosen = f"this is the most recently crashed of the {total} {group}"
    else:
        chosen = f"none of the {total} {group} has crashed; this is the newest"
    others = "; the others are listed below" if selection.others else ""
    namespace = answer.diagnosis.namespace
    return f"No pod is named “{selection.query}” in namespace “{namespace}”: {chosen}{others}."


def other_pod_facts(line: PodLine, now: datetime) -> str:
    """Raw text: restarts, last exit, state and when, for one of the other pods."""
    parts = [f"restarts {line.restarts}"]
    if line.exit_code is not None:
        parts.append(f"last exit {line.exit_code}" + (f" {line.reason}" if line.reason else ""))
    if line.state:
        parts.append(line.state)
    if line.exit_code is None and not line.state:
        parts.append(f"no crash on record ({line.phase or 'phase unknown'})")
    if line.finished_at is not None:
        parts.append(f"{duration(max(now - line.finished_at, timedelta(0)))} ago")
    return " · ".join(parts)
