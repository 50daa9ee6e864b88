"""Crash alerts as Slack Block Kit: the root message, its thread replies, the storm digest.

The root is laid out in the order an on-call engineer reads it at 3 a.m.: what crashed and how (header),
the facts (namespace, pod, node, owner, restarts, exit code and reason), what the code means, why it most
likely happened (the diagnosis verdict and its evidence), the application's own last words (termination
message, log tail), the first thing to do, and the buttons. Times use Slack's `<!date>` syntax, so every
reader sees them in their own time zone and "last 2 minutes ago" stays true as the message ages.

Everything from the cluster is escaped (`bot.render.mrkdwn`) and every limit is enforced by
`bot.render.limits`, so a 4 KB termination message or a pod name full of `<!channel>` still gives a
message Slack accepts and nobody gets pinged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.alerting.actions import DigestRow
from bot.alerting.incidents import IncidentPhase, IncidentStatus
from bot.alerting.policy import AlertKind
from bot.alerting.termination import Termination
from bot.command import is_cluster_name
from bot.render.alert_text import (
    FAILED_ENDS,
    MAX_EVIDENCE,
    MESSAGE_CHARS,
    AlertView,
    CrashAlert,
    DigestAlert,
    RecoveryAlert,
    RepeatAlert,
    code_phrase,
    count_phrase,
    crash_facts,
    digest_row_phrase,
    headline,
    recovery_phrase,
    restarts_label,
    runbook_steps,
    state_phrase,
    utc,
)
from bot.render.diagnosis_blocks import CONFIDENCE_LABEL, cluster_context
from bot.render.diagnosis_text import cluster_prefix
from bot.render.limits import (
    MAX_BUTTON_VALUE,
    MAX_FALLBACK_TEXT,
    Block,
    actions,
    button,
    confirm_dialog,
    context,
    divider,
    fields_section,
    fit_blocks,
    header,
    is_linkable_url,
    section,
    sections,
)
from bot.render.mrkdwn import FENCE, bold, bullet_list, code_block, escape, truncate

__all__ = [
    "ACK_ACTION_ID",
    "ACTIONS_BLOCK_ID",
    "LOGS_ACTION_ID",
    "OWNER_BLOCK_ID",
    "REDIAGNOSE_ACTION_ID",
    "RUNBOOK_LINK_ACTION_ID",
    "RUNBOOK_STEPS_ACTION_ID",
    "SNOOZE_ACTION_IDS",
    "SNOOZE_BLOCK_ID",
    "UNSNOOZE_ACTION_ID",
    "UNSNOOZE_BLOCK_ID",
    "AlertTarget",
    "alert_blocks",
    "alert_fallback_text",
    "lifted_note",
    "owner_note",
    "slack_date",
    "snooze_blocks",
    "snooze_note",
    "with_notes",
    "with_snooze_note",
]

REDIAGNOSE_ACTION_ID = "exitcode_alert_rediagnose"
LOGS_ACTION_ID = "exitcode_alert_logs"
RUNBOOK_LINK_ACTION_ID = "exitcode_alert_runbook"
RUNBOOK_STEPS_ACTION_ID = "exitcode_alert_runbook_steps"
SNOOZE_ACTION_IDS: dict[str, int] = {"exitcode_alert_snooze_1h": 1, "exitcode_alert_snooze_24h": 24}
"""Snooze buttons and their duration in hours."""
ACTIONS_BLOCK_ID = "exitcode_alert_actions"
SNOOZE_BLOCK_ID = "exitcode_alert_snooze"
UNSNOOZE_ACTION_ID = "exitcode_alert_unsnooze"
"""Lifts the snooze in force; shown (in its own block, `UNSNOOZE_BLOCK_ID`) only on a snoozed alert."""
UNSNOOZE_BLOCK_ID = "exitcode_alert_unsnooze"
ACK_ACTION_ID = "exitcode_alert_ack"
""""I'm on it": records who owns the incident; the owner shows in `OWNER_BLOCK_ID`."""
OWNER_BLOCK_ID = "exitcode_alert_owner"

LOG_TAIL_BUDGET = 1500
"""Characters of log tail shown: the lines nearest the crash, within Slack's total message size."""
_DATE_FORMAT = "{date_short_pretty} {time}"


@dataclass(frozen=True, slots=True)
class AlertTarget:
    """What an alert's buttons act on, carried in their `value` (which Slack returns untouched).

    The value comes back from Slack as untrusted input: `from_value` checks its shape, and the handler
    still validates names before using them.
    """

    namespace: str
    pod: str
    container: str
    workload: str
    exit_code: int | None = None
    reason: str | None = None
    node: str | None = None
    cluster: str | None = None
    """The cluster the alert came from (CLUSTERS, issue 13); absent from values of older alerts."""

    @classmethod
    def of(cls, termination: Termination) -> AlertTarget:
        return cls(
            namespace=termination.namespace,
            pod=termination.pod,
            container=termination.container,
            workload=termination.workload.ref,
            exit_code=termination.exit_code,
            reason=termination.reason,
            node=termination.node,
        )

    def to_value(self) -> str:
        record = {
            "ns": self.namespace,
            "pod": self.pod,
            "c": self.container,
            "w": self.workload,
            "x": self.exit_code,
            "r": self.reason,
            "n": self.node,
        }
        if self.cluster is not None:
            record["k"] = self.cluster
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False)[:MAX_BUTTON_VALUE]

    @classmethod
    def from_value(cls, value: str) -> AlertTarget:
        """Raises `ValueError` for anything `to_value` did not produce."""
        try:
            record = json.loads(value)
        except (TypeError, ValueError) as error:
            raise ValueError("the button value is not JSON") from error
        if not isinstance(record, dict):
            raise ValueError("the button value is not an object")
        texts = [record.get(name) for name in ("ns", "pod", "c", "w")]
        if not all(isinstance(text, str) and text for text in texts):
            raise ValueError("the button value lacks the pod's names")
        code = record.get("x")
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise ValueError("the button's exit code is not a number")
        reason, node = record.get("r"), record.get("n")
        if not all(item is None or isinstance(item, str) for item in (reason, node)):
            raise ValueError("the button's reason or node is not text")
        cluster = record.get("k")
        if cluster is not None and not (isinstance(cluster, str) and cluster):
            raise ValueError("the button's cluster is not a name")
        namespace, pod, container, workload = (str(text) for text in texts)
        return cls(namespace, pod, container, workload, code, reason, node, cluster)


# --- entry points ---------------------------------------------------------------------------------------


def alert_blocks(view: AlertView) -> list[Block]:
    """The view as Block Kit blocks, within every Slack limit."""
    if isinstance(view, CrashAlert):
        return _crash_blocks(view)
    if isinstance(view, RepeatAlert):
        return _repeat_blocks(view)
    if isinstance(view, RecoveryAlert):
        return _recovery_blocks(view)
    return _digest_blocks(view)


def alert_fallback_text(view: AlertView) -> str:
    """The message's top-level `text`: what notifications and screen readers show. Escaped.

    With CLUSTER_NAME it starts with `[cluster] `, so the notification alone says where to look."""
    if isinstance(view, CrashAlert):
        termination = view.termination
        line = f"{termination.namespace}/{termination.pod}: {headline(view)}"
        if view.diagnosis is not None:
            line += f" — {view.diagnosis.verdict.headline}"
    elif isinstance(view, RepeatAlert):
        termination = view.termination
        line = f"Again: {termination.namespace}/{termination.pod} {termination.container} "
        line += code_phrase(termination, view.meaning)
    elif isinstance(view, RecoveryAlert):
        line = f"{view.namespace}: {recovery_phrase(view)}"
    else:
        state = "over" if view.calm else "in progress"
        line = f"Crash storm {state}: {view.total} alerts"
    line = cluster_prefix(view.cluster) + line
    return truncate(escape(" ".join(line.split())), MAX_FALLBACK_TEXT)


def slack_date(epoch: float, token: str = _DATE_FORMAT) -> str:
    """A time every reader sees in their own zone (`<!date^…^…|fallback>`); built from a number only."""
    return f"<!date^{int(epoch)}^{token}|{utc(epoch)}>"


# --- the root -------------------------------------------------------------------------------------------


def _crash_blocks(alert: CrashAlert) -> list[Block]:
    termination = alert.termination
    blocks: list[Block] = [header(headline(alert))]
    if alert.cluster:
        blocks.append(cluster_context(alert.cluster))
    if alert.incident is not None:
        blocks.append(section(_state_mrkdwn(alert.incident)))
    counted = count_phrase(alert)
    if counted is not None:
        line = bold(escape(counted.partition(" since ")[0]))
        if alert.first_seen is not None:
            line += f" since {slack_date(alert.first_seen)}"
        if alert.last_seen is not None:
            line += f", last {slack_date(alert.last_seen, '{ago}')}"
        blocks.append(section(f":repeat: {line}. Repeats are in the thread."))
    blocks.append(fields_section(_facts(alert)))
    if alert.kind is AlertKind.EVICTION and termination.pod_message:
        blocks.append(section(f"{bold('Node pressure:')} {escape(_clip(termination.pod_message))}"))
    if alert.meaning is not None and alert.kind is not AlertKind.EVICTION:
        blocks.append(section(f"{bold('What it means:')} {escape(alert.meaning.summary)}"))
    if alert.diagnosis is not None:
        blocks.extend(sections(_diagnosis_mrkdwn(alert)))
    if termination.message:
        blocks.append(section(f"{bold('Termination message')}\n{code_block(_clip(termination.message))}"))
    tail = alert.log_tail
    if tail is not None and tail.lines:
        blocks.append(section(_log_mrkdwn(tail.container, tail.lines)))
    steps = runbook_steps(alert)
    if steps:
        step = steps[0]
        text = f"{bold('First step:')} {escape(step.text)}"
        if step.command:
            text += f"\n{code_block(step.command)}"
        blocks.append(section(text))
    if alert.owner is not None:
        blocks.append(owner_note(alert.owner, alert.owner_since))
    if alert.snoozed_until is not None:
        blocks.extend(
            snooze_blocks(
                AlertTarget.of(termination).to_value(),
                termination.namespace,
                termination.workload.ref,
                alert.snoozed_until,
                alert.snoozed_by,
            )
        )
    blocks.append(context([_footer(alert)]))
    blocks.append(actions(_buttons(alert), block_id=ACTIONS_BLOCK_ID))
    return fit_blocks(blocks)


def _facts(alert: CrashAlert) -> list[tuple[str, str]]:
    """`crash_facts`, escaped for mrkdwn, the finish time as Slack's own date (each reader's zone)."""
    facts = [(label, escape(value)) for key, label, value in crash_facts(alert) if key != "restart_rule"]
    if alert.termination.finished_epoch is not None:
        facts.append(("Finished", slack_date(alert.termination.finished_epoch)))
    facts += [(label, escape(value)) for key, label, value in crash_facts(alert) if key == "restart_rule"]
    return facts


def _diagnosis_mrkdwn(alert: CrashAlert) -> str:
    assert alert.diagnosis is not None
    verdict = alert.diagnosis.verdict
    lines = [
        f":mag: {bold('Diagnosis')} ({escape(CONFIDENCE_LABEL[verdict.confidence].lower())}): "
        f"{escape(verdict.headline)}"
    ]
    evidence = verdict.evidence[:MAX_EVIDENCE]
    if evidence:
        lines.append(bullet_list(escape(_clip(fact, 300)) for fact in evidence))
    for note in alert.diagnosis.notes[:2]:
        lines.append(f"_{escape(note)}_")
    return "\n".join(lines)


def _log_mrkdwn(container: str, lines: Sequence[str]) -> str:
    """The end of the log (the lines nearest the crash) in one code block that fits its budget."""
    kept: list[str] = []
    size = len(FENCE) * 2
    for line in reversed(lines):
        cost = len(escape(line)) + 1
        if size + cost > LOG_TAIL_BUDGET:
            if not kept:
                kept.append(line[: LOG_TAIL_BUDGET // 2])
            break
        kept.append(line)
        size += cost
    title = bold(f"Log tail of {escape(container)} (last {len(kept)} lines)")
    return f"{title}\n{code_block(chr(10).join(reversed(kept)))}"


def _footer(alert: CrashAlert) -> str:
    if alert.kind is AlertKind.EVICTION:
        return "The kubelet evicted this pod to protect its node; repeats go into the thread."
    return "Repeats of this crash go into the thread and update this message."


def _buttons(alert: CrashAlert) -> list[Block]:
    # The cluster rides along only when it is a cluster's name (CLUSTERS), never free display text.
    cluster = alert.cluster if alert.cluster is not None and is_cluster_name(alert.cluster) else None
    target = replace(AlertTarget.of(alert.termination), cluster=cluster)
    value = target.to_value()
    workload = f"{target.namespace}/{target.workload}"
    buttons = [
        button("Re-diagnose", REDIAGNOSE_ACTION_ID, value=value, style="primary"),
        button("Previous logs", LOGS_ACTION_ID, value=value),
    ]
    for action_id, hours in SNOOZE_ACTION_IDS.items():
        span = "1 hour" if hours == 1 else f"{hours} hours"
        dialog = confirm_dialog(
            f"Snooze for {span}?",
            f"No alerts for {bold(escape(workload))} for {span}. Crashes are still counted in the bot's "
            "metrics, and the snooze shows on this message.",
            confirm=f"Snooze {span}",
        )
        buttons.append(button(f"Snooze {hours} h", action_id, value=value, confirm=dialog))
    buttons.append(button("I'm on it", ACK_ACTION_ID, value=value))
    url = alert.runbook_url
    if url is not None and is_linkable_url(url):
        buttons.append(button("Runbook", RUNBOOK_LINK_ACTION_ID, url=url))
    else:
        buttons.append(button("Runbook steps", RUNBOOK_STEPS_ACTION_ID, value=value))
    return buttons


def snooze_note(namespace: str, workload: str, until: float, user_id: str | None = None) -> Block:
    """The context line that shows a snooze on the alert (`user_id` must be a validated Slack id)."""
    who = f" by <@{user_id}>" if user_id else ""
    text = (
        f":zzz: {bold('Snoozed')}{who} until {slack_date(until)}: no alerts for "
        f"{escape(namespace)}/{escape(workload)} until then."
    )
    block = context([text])
    block["block_id"] = SNOOZE_BLOCK_ID
    return block


def with_snooze_note(blocks: Sequence[Mapping[str, Any]], note: Block) -> list[Block]:
    """The message's blocks with `note` in place of any earlier snooze note, just above the buttons."""
    return with_notes(blocks, [note], replacing=(SNOOZE_BLOCK_ID, UNSNOOZE_BLOCK_ID))


def snooze_blocks(
    value: str, namespace: str, workload: str, until: float, user_id: str | None = None
) -> list[Block]:
    """A snoozed alert's note and its Unsnooze button (`value`: the alert's own `AlertTarget` value, so
    the click guard can bind a click of it to this alert like any other button's)."""
    dialog = confirm_dialog(
        "Lift the snooze?",
        f"Alerts for {bold(escape(f'{namespace}/{workload}'))} resume at once, for everyone.",
        confirm="Unsnooze",
    )
    lift = actions([button("Unsnooze", UNSNOOZE_ACTION_ID, value=value, confirm=dialog)], UNSNOOZE_BLOCK_ID)
    return [snooze_note(namespace, workload, until, user_id), lift]


def lifted_note(namespace: str, workload: str, when: float, user_id: str | None = None) -> Block:
    """What replaces the snooze note once it is lifted (`user_id` must be a validated Slack id)."""
    who = f" by <@{user_id}>" if user_id else ""
    text = (
        f":alarm_clock: {bold('Snooze lifted')}{who} {slack_date(when)}: alerts for "
        f"{escape(namespace)}/{escape(workload)} are back on."
    )
    block = context([text])
    block["block_id"] = SNOOZE_BLOCK_ID
    return block


def owner_note(user_id: str, since: float | None = None) -> Block:
    """Who said "I'm on it" (`user_id` must be a validated Slack id, so the mention is safe)."""
    when = f" since {slack_date(since)}" if since is not None else ""
    block = context([f":raising_hand: <@{user_id}> is on it{when}."])
    block["block_id"] = OWNER_BLOCK_ID
    return block


def with_notes(
    blocks: Sequence[Mapping[str, Any]], notes: Sequence[Block], *, replacing: Sequence[str]
) -> list[Block]:
    """The message's blocks without those whose `block_id` is in `replacing`, and `notes` just above
    the buttons: how a decision shows on the alert, edited in place."""
    kept = [dict(block) for block in blocks if block.get("block_id") not in replacing]
    position = next(
        (index for index, block in enumerate(kept) if block.get("block_id") == ACTIONS_BLOCK_ID), len(kept)
    )
    return fit_blocks([*kept[:position], *notes, *kept[position:]])


_STATE_ICONS = {
    IncidentPhase.FIRING: ":red_circle:",
    IncidentPhase.QUIET: ":large_yellow_circle:",
    IncidentPhase.RECOVERED: ":large_green_circle:",
    IncidentPhase.CONTINUED: ":arrow_down:",
}
_ENDED_ICON = ":black_circle:"
"""An incident that ended without recovering (a Job or a bare pod that failed for good): over, not green."""


def _state_mrkdwn(status: IncidentStatus) -> str:
    """The root's state line: escaped (a rollout's revision is a label value), times as `<!date>`."""
    marker = "\x00"  # the dates are inserted after escaping, so their `<` survive
    dates: list[str] = []

    def when(epoch: float) -> str:
        dates.append(slack_date(epoch))
        return f"{marker}{len(dates) - 1}{marker}"

    text = escape(state_phrase(status, when))
    for index, date in enumerate(dates):
        text = text.replace(f"{marker}{index}{marker}", date)
    head, colon, rest = text.partition(":")
    icon = _ENDED_ICON if status.reason in FAILED_ENDS else _STATE_ICONS[status.phase]
    return truncate(f"{icon} {bold(head)}{colon}{rest}", 2900)


# --- thread replies and digests -------------------------------------------------------------------------


def _repeat_blocks(alert: RepeatAlert) -> list[Block]:
    termination = alert.termination
    if alert.kind is AlertKind.EVICTION:
        what = f"pod {bold(escape(termination.pod))} evicted"
    else:
        what = (
            f"{bold(escape(termination.pod))} / {escape(termination.container)}: "
            f"{escape(code_phrase(termination, alert.meaning))}"
        )
    when = f" · {slack_date(termination.finished_epoch)}" if termination.finished_epoch is not None else ""
    line = f":repeat: Again: {what} · restarts {escape(restarts_label(termination))}{when}"
    blocks = [section(line)]
    if alert.cluster:
        blocks.append(cluster_context(alert.cluster))
    message = termination.message or (termination.pod_message if alert.kind is AlertKind.EVICTION else None)
    if message:
        blocks.append(context([escape(_clip(" ".join(message.split()), 300))]))
    return fit_blocks(blocks)


def _recovery_blocks(alert: RecoveryAlert) -> list[Block]:
    marker = "\x00"
    dates: list[str] = []

    def when(epoch: float) -> str:
        dates.append(slack_date(epoch))
        return f"{marker}{len(dates) - 1}{marker}"

    text = escape(recovery_phrase(alert, when))
    for index, date in enumerate(dates):
        text = text.replace(f"{marker}{index}{marker}", date)
    icon = _ENDED_ICON if alert.status.reason in FAILED_ENDS else ":white_check_mark:"
    blocks = [section(f"{icon} {truncate(text, 2900)}")]
    if alert.cluster:
        blocks.append(cluster_context(alert.cluster))
    return fit_blocks(blocks)


def _digest_blocks(digest: DigestAlert) -> list[Block]:
    if digest.calm:
        title = f"Crash storm over: {digest.total} alerts"
        intro = (
            f"Between {slack_date(digest.started_at)} and now this channel got {digest.total} alerts, "
            "summed up below. Alerts are back to one message per crash."
        )
    else:
        title = f"Crash storm: {digest.total} alerts"
        intro = (
            f"Since {slack_date(digest.started_at)} more alerts arrived than a channel can read, so they "
            "are summed up in this one message, updated in place. Every crash is counted here; individual "
            "alerts resume when it calms down."
        )
    blocks: list[Block] = [header(title)]
    if digest.cluster:
        blocks.append(cluster_context(digest.cluster))
    blocks += [section(intro), divider()]
    lines = [_row_mrkdwn(row, digest.code_names) for row in digest.rows]
    if lines:
        blocks.extend(sections(bullet_list(lines)))
    return fit_blocks(blocks)


def _row_mrkdwn(row: DigestRow, code_names: Mapping[int, str]) -> str:
    phrase = escape(digest_row_phrase(row, code_names))
    if row.is_overflow:
        return f"_{phrase}_"
    return f"{phrase} · last {slack_date(row.last_seen, '{ago}')}"


def _clip(text: str, limit: int = MESSAGE_CHARS) -> str:
    """Raw text cut to `limit` characters before escaping (so an entity is never cut)."""
    stripped = text.strip()
    return stripped if len(stripped) <= limit else stripped[: limit - 1] + "…"
