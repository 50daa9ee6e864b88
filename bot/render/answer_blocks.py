"""A `pod`/`ns` answer as a Slack message: fallback text and Block Kit.

`slash_command` is the name this installation answers to (SLASH_COMMAND): every suggestion, usage line
and footer names it. When the diagnosed pod was picked from a workload, the sentence saying why sits under
the header and the workload's other pods after the diagnosis; both stay even when the diagnosis itself
must be cut to fit Slack's limits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.command import command_line
from bot.diagnosis.answers import Answer, IncidentsAnswer, OpenIncident, PodAnswer, Refusal, TriageAnswer
from bot.render.answer_text import (
    MAX_INCIDENTS_SHOWN,
    incident_phrase,
    other_pod_facts,
    refusal_message,
    selection_sentence,
    thread_link,
)
from bot.render.diagnosis_blocks import (
    diagnosis_blocks,
    diagnosis_fallback_text,
    triage_blocks,
    triage_fallback_text,
    with_cluster_context,
)
from bot.render.diagnosis_text import cluster_prefix
from bot.render.limits import (
    MAX_BLOCKS,
    MAX_FALLBACK_TEXT,
    MAX_MESSAGE_TEXT,
    TRUNCATED_NOTICE,
    Block,
    context,
    fit_blocks,
    section,
    text_length,
)
from bot.render.mrkdwn import bold, bullet_list, escape, inline_code, truncate

MAX_OTHER_PODS_SHOWN = 15
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
_REFUSAL_ICON = {"invalid": ":grey_question:", "denied": ":no_entry:", "not_found": ":mag:"}


def answer_message(
    answer: Answer,
    *,
    slash_command: str,
    shared_by: str | None = None,
    cluster_name: str | None = None,
    command_cluster: str | None = None,
) -> tuple[str, list[Block]]:
    """Slack fallback text (escaped) and blocks for an answer; `shared_by` (a user ID) adds "Shared by".

    `cluster_name` (CLUSTER_NAME) adds a "Cluster:" line under the header and `[name] ` before the
    fallback text: with one bot per cluster in a workspace, every answer says which cluster it read.
    `command_cluster` (CLUSTERS) puts the cluster into every command the answer suggests
    (`/exitcode pod prod-us/shop/api-1`), so following it reads the same cluster.
    """
    prefix = escape(cluster_prefix(cluster_name))
    if isinstance(answer, Refusal):
        message = " ".join(refusal_message(answer, program=slash_command).split())
        fallback = truncate(prefix + escape(message), MAX_FALLBACK_TEXT)
        blocks = [
            section(refusal_mrkdwn(answer, slash_command=slash_command, command_cluster=command_cluster))
        ]
        return fallback, with_cluster_context(blocks, cluster_name)
    if isinstance(answer, TriageAnswer):
        text = triage_fallback_text(answer.rows, namespace=answer.namespace)
        blocks = triage_blocks(
            answer.rows,
            namespace=answer.namespace,
            pods_checked=answer.pods_checked,
            slash_command=slash_command,
            command_cluster=command_cluster,
        )
        if answer.incidents:
            title = f"Open incidents in {answer.namespace}"
            blocks = fit_blocks([*blocks, *incident_blocks(answer.incidents, title)])
    elif isinstance(answer, IncidentsAnswer):
        count = len(answer.incidents)
        text = escape(f"{count} open incident{'s' if count != 1 else ''}")
        blocks = incident_blocks(answer.incidents, "Open incidents", namespaces=True)
    else:
        text = diagnosis_fallback_text(answer.diagnosis)
        blocks = diagnosis_blocks(answer.diagnosis)
        if answer.selection is not None:
            blocks = with_selection_blocks(
                answer, blocks, slash_command=slash_command, command_cluster=command_cluster
            )
    if prefix:
        text = truncate(prefix + text, MAX_FALLBACK_TEXT)
    blocks = with_cluster_context(blocks, cluster_name)
    if shared_by is not None and _SLACK_USER_ID.match(shared_by):
        blocks = fit_blocks([context([f"Shared by <@{shared_by}>"]), *blocks])
    return text, blocks


_PHASE_ICON = {"firing": ":red_circle:", "quiet": ":large_yellow_circle:"}


def incident_blocks(
    incidents: Sequence[OpenIncident], title: str, *, namespaces: bool = False
) -> list[Block]:
    """One line per open incident, linked to its alert's thread; escaped, within Slack's limits."""
    if not incidents:
        return [section(f"{bold(escape(title))}: none. Nothing is firing.")]
    lines = []
    for incident in incidents[:MAX_INCIDENTS_SHOWN]:
        line = escape(incident_phrase(incident))
        if namespaces:
            line = f"{inline_code(incident.namespace)} {line}"
        link = thread_link(incident.thread)
        if link is not None:
            line += f" · <{link}|thread>"
        lines.append(f"{_PHASE_ICON.get(incident.phase, ':red_circle:')} {line}")
    if len(incidents) > MAX_INCIDENTS_SHOWN:
        lines.append(f"… and {len(incidents) - MAX_INCIDENTS_SHOWN} more")
    blocks = [section(f"{bold(escape(title))} ({len(incidents)})")]
    chunk: list[str] = []
    for line in lines:  # a section holds 3000 characters: several sections when the list is long
        if chunk and sum(len(item) + 1 for item in chunk) + len(line) > 2800:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(truncate(line, 2800))
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return fit_blocks(blocks)


def refusal_mrkdwn(refusal: Refusal, *, slash_command: str, command_cluster: str | None = None) -> str:
    """The refusal's sentence (and its usage line and "did you mean"), escaped, naming `slash_command`
    (and `command_cluster`, with CLUSTERS)."""
    icon = _REFUSAL_ICON.get(refusal.kind, ":warning:")
    lines = [f"{icon} {escape(refusal_message(refusal, program=slash_command))}"]
    if refusal.suggestions:
        cluster = f"{command_cluster}/" if command_cluster else ""
        commands = ", ".join(
            inline_code(command_line(slash_command, "pod", f"{cluster}{name}"))
            for name in refusal.suggestions
        )
        lines.append(f"Did you mean {commands}?")
    return "\n".join(lines)


def with_selection_blocks(
    answer: PodAnswer, blocks: list[Block], *, slash_command: str, command_cluster: str | None = None
) -> list[Block]:
    """The diagnosis blocks with why this pod was picked (under the header) and the workload's other
    pods (after the diagnosis), keeping both even when the diagnosis must be cut to fit."""
    selection = answer.selection
    assert selection is not None
    namespace = answer.diagnosis.namespace
    intro = context([escape(selection_sentence(answer))])
    extra: list[Block] = []
    if selection.others:
        now = answer.diagnosis.diagnosed_at
        shown = selection.others[:MAX_OTHER_PODS_SHOWN]
        lines = [f"{inline_code(line.name)} · {escape(other_pod_facts(line, now))}" for line in shown]
        if len(selection.others) > len(shown):
            lines.append(f"{len(selection.others) - len(shown)} more not shown")
        title = f"Other pods of {selection.workload}" if selection.workload else "Other matching pods"
        extra.append(section(f"{bold(escape(title))}\n{bullet_list(lines)}"))
        cluster = f"{command_cluster}/" if command_cluster else ""
        example = command_line(slash_command, "pod", f"{cluster}{namespace}/{shown[0].name}")
        extra.append(context([f"Diagnose another: {inline_code(example)}"]))
    head, body = blocks[:1], blocks[1:]
    tail = [body.pop()] if body and body[-1].get("type") == "actions" else []
    truncated = bool(body) and _is_truncation_notice(body[-1])
    if truncated:
        body.pop()
    reserved = [*head, intro, *extra, *tail]
    body = fit_blocks(
        body, max_blocks=MAX_BLOCKS - len(reserved) - 1, max_text=MAX_MESSAGE_TEXT - text_length(reserved)
    )
    if truncated and not (body and _is_truncation_notice(body[-1])):
        body.append(context([TRUNCATED_NOTICE]))
    return [*head, intro, *body, *extra, *tail]


def _is_truncation_notice(block: Block) -> bool:
    elements = block.get("elements") if block.get("type") == "context" else None
    return bool(elements) and isinstance(elements, list) and elements[0].get("text") == TRUNCATED_NOTICE
