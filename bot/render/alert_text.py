"""Crash alerts as plain data (what every surface shows) and as terminal text (console mode).

An alert is one of three views, built by the alert service from the planner's actions:

- `CrashAlert`: the root message of a group (a crash, an exit 0 that keeps restarting, an eviction),
  with what the exit code means, the diagnosis of the pod as the watch saw it, the termination message,
  the log tail, and how often the group has fired since (`count`, edited in place on Slack);
- `RepeatAlert`: a repeat in the root's thread, one compact line;
- `DigestAlert`: the storm digest of one channel (workload × exit code × count);
- `RecoveryAlert`: the one thread reply that says an incident recovered, and why.

A root also shows its incident's state line (`state_phrase`: firing, quiet, recovered, continued), edited
in place as the incident moves on (`bot.alerting.incidents`).

The phrases both surfaces use (headline, exit code with its signal, the count line) live here, so the
console and Slack always say the same thing. Text from the cluster is raw in the views; the Block Kit
renderer escapes it, this one neutralises terminal control characters (`printable`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.alerting.actions import DigestRow
from bot.alerting.incidents import EndReason, IncidentPhase, IncidentStatus
from bot.alerting.policy import AlertKind
from bot.alerting.termination import ContainerKind, RecordSource, Termination
from bot.diagnosis.model import Diagnosis, LogTail
from bot.knowledge.explanation import Explanation, RunbookStep
from bot.render.diagnosis_text import CONFIDENCE_LABEL, cluster_prefix
from bot.render.text import printable

__all__ = [
    "FAILED_ENDS",
    "AlertView",
    "CrashAlert",
    "DigestAlert",
    "RecoveryAlert",
    "RepeatAlert",
    "alert_text",
    "code_phrase",
    "container_kind_label",
    "count_phrase",
    "crash_facts",
    "duration_phrase",
    "end_phrase",
    "ended_word",
    "headline",
    "recovery_phrase",
    "runbook_steps",
    "short_meaning",
    "state_phrase",
    "utc",
]

GENERIC_REASONS = frozenset({"Error", "Completed", "Unknown"})
"""Termination reasons that say nothing beyond the exit code; a specific one (OOMKilled) is shown."""
MAX_EVIDENCE = 5
MESSAGE_CHARS = 500
"""Termination message characters shown (Kubernetes allows 4096; the tail of a stack is rarely needed)."""
_INDENT = "  "


@dataclass(frozen=True, slots=True)
class CrashAlert:
    """The root message of an alert group; `count` and `last_seen` change as repeats arrive."""

    termination: Termination
    kind: AlertKind
    meaning: Explanation | None = None
    """The knowledge base's entry for the exit code (or, with no code, for the reason)."""
    diagnosis: Diagnosis | None = None
    count: int = 1
    pod_count: int = 1
    first_seen: float | None = None
    last_seen: float | None = None
    snoozed_until: float | None = None
    log_lines: int = 20
    """LOG_LINES: how many lines of the log tail to show (0: none)."""
    cluster: str | None = None
    """CLUSTER_NAME: which cluster crashed, when one bot per cluster posts into shared channels."""
    incident: IncidentStatus | None = None
    """The incident's state line (None on the first post: a new root is firing, as it says)."""
    snoozed_by: str | None = None
    """The Slack user id that set the snooze in force (validated when it was stored)."""
    owner: str | None = None
    """The Slack user id that said "I'm on it" for this alert, and since when (`owner_since`)."""
    owner_since: float | None = None

    @property
    def log_tail(self) -> LogTail | None:
        """The tail of the crashed container's log, if the diagnosis could read it."""
        if self.diagnosis is None or self.log_lines <= 0:
            return None
        for tail in self.diagnosis.log_tails:
            if tail.container == self.termination.container:
                return LogTail(tail.container, tail.lines[-self.log_lines :])
        return None

    @property
    def runbook_url(self) -> str | None:
        if self.diagnosis is not None and self.diagnosis.verdict.runbook_url:
            return self.diagnosis.verdict.runbook_url
        return self.meaning.runbook_url if self.meaning is not None else None


@dataclass(frozen=True, slots=True)
class RepeatAlert:
    """One more termination of a group, for the root's thread."""

    termination: Termination
    kind: AlertKind
    meaning: Explanation | None = None
    cluster: str | None = None
    """CLUSTER_NAME, as on the root."""


@dataclass(frozen=True, slots=True)
class DigestAlert:
    """A channel's storm digest; `calm` is its final edit (alerts are back to one message per crash)."""

    channel: str | None
    rows: tuple[DigestRow, ...]
    total: int
    started_at: float
    calm: bool = False
    code_names: Mapping[int, str] = field(default_factory=dict)
    """Short meanings of the exit codes in `rows` (`137` → `SIGKILL`), from the knowledge base."""
    cluster: str | None = None
    """CLUSTER_NAME, as on the roots."""


@dataclass(frozen=True, slots=True)
class RecoveryAlert:
    """The thread reply that ends an incident: which workload, why it recovered, how long it burned."""

    namespace: str
    workload: str
    container: str
    kind: AlertKind
    status: IncidentStatus
    cluster: str | None = None

    @property
    def subject(self) -> str:
        """`Deployment/api / app` (an eviction incident is the workload's, not a container's)."""
        return f"{self.workload} / {self.container}" if self.container else self.workload


AlertView = CrashAlert | RepeatAlert | DigestAlert | RecoveryAlert


# --- shared phrases -------------------------------------------------------------------------------------


def utc(epoch: float) -> str:
    """`2026-11-21 05:53:19 UTC`: unambiguous for a reader in any time zone."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short_meaning(termination: Termination, meaning: Explanation | None) -> str | None:
    """A few words for the exit: a specific reason (`OOMKilled`), else the signal, else the code's name."""
    if termination.reason and termination.reason not in GENERIC_REASONS:
        return termination.reason
    if meaning is not None and meaning.signal is not None:
        return meaning.signal.name
    if meaning is not None:
        return meaning.title.rpartition("→")[2].strip() or None
    return None


def code_phrase(termination: Termination, meaning: Explanation | None) -> str:
    """`exit 137 (OOMKilled)`, `exit 1 (general error (catch-all))`, or `exit code unknown`; a restart a
    container restart rule asked for (KEP-5307) says so, on every surface that shows the code."""
    if termination.exit_code is None:
        return "exit code unknown"
    words = short_meaning(termination, meaning)
    phrase = f"exit {termination.exit_code}" + (f" ({words})" if words else "")
    return phrase + (", restart requested by its spec" if termination.restart_rule else "")


def headline(alert: CrashAlert | RepeatAlert) -> str:
    """One line naming the workload, the container and what happened (the Slack header, raw text)."""
    termination = alert.termination
    workload = termination.workload.ref
    where = f"{workload} / {termination.container}{container_kind_label(termination)}"
    if alert.kind is AlertKind.EVICTION:
        node = f" from node {termination.node}" if termination.node else ""
        return f"{workload} evicted{node} (node pressure)"
    if alert.kind is AlertKind.COMPLETED_TOO_OFTEN:
        return f"{where} keeps exiting 0 and being restarted"
    if termination.exit_code is None:
        return f"{where} restarted (exit code unknown)"
    return f"{where} crashed: {code_phrase(termination, alert.meaning)}"


def duration_phrase(seconds: float) -> str:
    """`45 s`, `12 min`, `3 h 5 min`, `2 d 3 h`: how long, at the precision a reader cares about."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total} s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


_JOB_FAILURES = {
    "BackoffLimitExceeded": "backoffLimit reached",
    "DeadlineExceeded": "activeDeadlineSeconds passed",
    "PodFailurePolicy": "a podFailurePolicy rule failed it",
    "MaxFailedIndexesExceeded": "maxFailedIndexes reached",
    "FailedIndexes": "indexes failed their backoffLimitPerIndex",
}
"""The Job controller's `Failed` reasons, in words (`kubectl explain job.status.conditions`)."""


def end_phrase(status: IncidentStatus) -> str:
    """Why an incident recovered or ended, in words (`replaced by revision 6c8d9f7b4`)."""
    reason = status.reason
    detail = status.detail
    if reason is EndReason.RAN_CLEAN:
        ran = f" {duration_phrase(status.recovery_seconds)}" if status.recovery_seconds else ""
        return f"it has run{ran} without a crash"
    if reason is EndReason.ROLLOUT:
        return f"replaced by revision {detail}" if detail else "replaced by a new revision"
    if reason is EndReason.POD_DELETED:
        return "the pod was deleted"
    if reason is EndReason.POD_COMPLETED:
        return "the pod completed"
    if reason is EndReason.POD_FAILED:
        return "the pod failed and will not be restarted" + (f" ({detail})" if detail else "")
    if reason is EndReason.SCALED_TO_ZERO:
        return f"its {detail} was scaled to zero" if detail else "its workload was scaled to zero"
    if reason is EndReason.DELETED:
        if detail == "CronJob":
            return "the Job of the CronJob's run that crashed was deleted"
        return f"its {detail} was deleted" if detail else "its workload was deleted"
    if reason is EndReason.UNSCHEDULED:
        return "its DaemonSet no longer runs a pod on any node (its node selection matches none)"
    if reason is EndReason.JOB_COMPLETED:
        return "the Job completed"
    if reason is EndReason.JOB_FAILED:
        meaning = _JOB_FAILURES.get(detail or "")
        why = f": {detail} ({meaning})" if meaning else f": {detail}" if detail else ""
        return f"the Job failed{why} — no more retries"
    if reason is EndReason.GONE:
        return (
            "its crashing pods were deleted and none replaced them (scaled to zero, or the workload deleted)"
        )
    return "it stopped crashing"


FAILED_ENDS = frozenset({EndReason.JOB_FAILED, EndReason.POD_FAILED})
"""Ends that are no recovery: the root and the reply say `Ended`, with an icon that is not green."""


def ended_word(status: IncidentStatus) -> str:
    """`Recovered`, or `Ended` for an end that is no recovery (a Job or a bare pod that failed for good)."""
    return "Ended" if status.reason in FAILED_ENDS else "Recovered"


def _crashes(count: int) -> str:
    return "1 crash" if count == 1 else f"{count} crashes"


def state_phrase(status: IncidentStatus, when: Callable[[float], str] = utc) -> str:
    """The root's state line; `when` formats a time (UTC text, or Slack's `<!date>` on Slack)."""
    crashes = _crashes(status.crashes)
    burned = duration_phrase(status.burned_seconds)
    if status.phase is IncidentPhase.FIRING and status.crashes <= 1:
        return f"Firing since {when(status.since)}: {crashes}"
    if status.phase is IncidentPhase.FIRING:
        return f"Firing since {when(status.since)}: {crashes} over {burned}"
    if status.phase is IncidentPhase.QUIET:
        return f"Quiet: no crash since {when(status.last_crash)}, not seen running cleanly yet ({crashes})"
    if status.phase is IncidentPhase.CONTINUED:
        return f"Still crashing at {when(status.since)}: continued in a newer alert ({crashes} so far)"
    return f"{ended_word(status)} {when(status.since)}: {end_phrase(status)}. {crashes}, burned {burned}"


def recovery_phrase(alert: RecoveryAlert, when: Callable[[float], str] = utc) -> str:
    """The recovery reply's sentence (raw text: each surface escapes it)."""
    status = alert.status
    burned = duration_phrase(status.burned_seconds)
    return (
        f"{ended_word(status)}: {alert.subject}: {end_phrase(status)}. It burned {burned}"
        f" ({_crashes(status.crashes)}, first at {when(status.started)}, last at {when(status.last_crash)})."
    )


def count_phrase(alert: CrashAlert) -> str | None:
    """`Crashed 7 times in 2 pods since 05:41:02 UTC`; None for the first occurrence."""
    if alert.count <= 1:
        return None
    verb = {
        AlertKind.CRASH: "Crashed",
        AlertKind.COMPLETED_TOO_OFTEN: "Exited",
        AlertKind.EVICTION: "Evicted",
    }[alert.kind]
    pods = f" in {alert.pod_count} pods" if alert.pod_count > 1 else ""
    since = f" since {utc(alert.first_seen)}" if alert.first_seen is not None else ""
    return f"{verb} {alert.count} times{pods}{since}"


def runbook_steps(alert: CrashAlert) -> tuple[RunbookStep, ...]:
    """The diagnosis' next steps, else the exit code's runbook, with this pod's names filled in."""
    if alert.diagnosis is not None and alert.diagnosis.verdict.next_steps:
        return alert.diagnosis.verdict.next_steps
    if alert.meaning is None:
        return ()
    return alert.meaning.with_placeholders(placeholders(alert.termination)).runbook_steps


def placeholders(termination: Termination) -> dict[str, str]:
    """Values for the runbook commands' `{namespace}`, `{pod}`, … placeholders."""
    values = {
        "namespace": termination.namespace,
        "pod": termination.pod,
        "container": termination.container,
        "owner_kind": termination.workload.kind,
        "owner": termination.workload.name,
    }
    if termination.node:
        values["node"] = termination.node
    if termination.exit_code is not None:
        values["code"] = str(termination.exit_code)
    return values


def exit_detail(termination: Termination, meaning: Explanation | None) -> str:
    """`137 = 128 + 9 → SIGKILL (signal inferred from 128+N)`: the code with its meaning's title."""
    if termination.exit_code is None:
        source = "the restart count rose" if termination.source is RecordSource.RESTART_COUNT else "none"
        return f"unknown ({source}; the API kept no termination record)"
    detail = meaning.title if meaning is not None else str(termination.exit_code)
    if termination.signal is not None and not termination.signal_is_inferred:
        detail += f" (signal {termination.signal} reported by the runtime)"
    return detail


def restarts_label(termination: Termination) -> str:
    """`5`, or `5 (2 more restarts while the bot was not watching, last exit 1)` when the restart count
    shows deaths whose records the API no longer has (`Termination.unwatched_restarts`)."""
    missed = termination.unwatched_restarts
    if missed <= 0:
        return str(termination.restart_count)
    plural = "s" if missed != 1 else ""
    code = "unknown" if termination.exit_code is None else str(termination.exit_code)
    return (
        f"{termination.restart_count} ({missed} more restart{plural} while the bot was not watching, "
        f"last exit {code})"
    )


def container_kind_label(termination: Termination) -> str:
    """` (init container)` or ` (sidecar)`; nothing for an ordinary container."""
    if termination.container_kind is ContainerKind.INIT:
        return " (init container)"
    if termination.container_kind is ContainerKind.SIDECAR:
        return " (sidecar)"
    return ""


# --- console text ---------------------------------------------------------------------------------------


def alert_text(view: AlertView) -> str:
    """The alert as terminal text (no trailing newline), control characters neutralised."""
    if isinstance(view, CrashAlert):
        lines = _crash_lines(view)
    elif isinstance(view, RepeatAlert):
        lines = [_repeat_line(view)]
    elif isinstance(view, RecoveryAlert):
        lines = [f"  ↳ {cluster_prefix(view.cluster)}{recovery_phrase(view)}"]
    else:
        lines = _digest_lines(view)
    return printable("\n".join(lines).rstrip("\n"))


def crash_facts(alert: CrashAlert | RepeatAlert) -> list[tuple[str, str, str]]:
    """The facts every surface shows about a crash, in one order: (key, label, value), unescaped. The
    one place they are derived; each renderer escapes and lays them out (and formats the finish time,
    `termination.finished_epoch`, in its own way: it is not among them)."""
    termination = alert.termination
    eviction = alert.kind is AlertKind.EVICTION
    facts = [
        ("namespace", "Namespace", termination.namespace),
        ("pod", "Pod", termination.pod),
        ("container", "Container", termination.container + container_kind_label(termination)),
        ("node", "Node", termination.node or "unknown"),
        ("owner", "Owner", termination.workload.ref),
        ("restarts", "Restarts", restarts_label(termination)),
    ]
    if not eviction:
        facts.append(("exit_code", "Exit code", exit_detail(termination, alert.meaning)))
    reason = termination.pod_reason if eviction else termination.reason
    if reason:
        facts.append(("reason", "Reason", reason))
    if termination.restart_rule:
        facts.append(("restart_rule", "Restart", f"as the spec asks: {termination.restart_rule}"))
    return facts


def _crash_lines(alert: CrashAlert) -> list[str]:
    termination = alert.termination
    lines = [headline(alert)]
    if alert.incident is not None:
        lines.append(state_phrase(alert.incident))
    counted = count_phrase(alert)
    if counted:
        last = f", last at {utc(alert.last_seen)}" if alert.last_seen is not None else ""
        lines.append(f"{counted}{last}")
    lines.append("")
    facts = [("Cluster", alert.cluster)] if alert.cluster else []
    facts += [(label, value) for key, label, value in crash_facts(alert) if key != "restart_rule"]
    if termination.finished_at:
        facts.append(("Finished", termination.finished_at))
    facts += [(label, value) for key, label, value in crash_facts(alert) if key == "restart_rule"]
    lines.extend(f"{label + ':':<11}{value}" for label, value in facts)
    if alert.kind is AlertKind.EVICTION and termination.pod_message:
        lines.extend(["", f"Node pressure: {_clip(termination.pod_message)}"])
    if alert.meaning is not None:
        lines.extend(["", f"Meaning: {alert.meaning.summary}"])
    if alert.diagnosis is not None:
        verdict = alert.diagnosis.verdict
        lines.extend(["", f"Diagnosis ({CONFIDENCE_LABEL[verdict.confidence]}): {verdict.headline}"])
        lines.extend(f"{_INDENT}- {fact}" for fact in verdict.evidence[:MAX_EVIDENCE])
    if termination.message:
        lines.extend(["", "Termination message:"])
        lines.extend(f"{_INDENT}| {line}" for line in _clip(termination.message).splitlines())
    tail = alert.log_tail
    if tail is not None and tail.lines:
        lines.extend(["", f"Log tail of {tail.container} (last {len(tail.lines)} lines):"])
        lines.extend(f"{_INDENT}| {line}" for line in tail.lines)
    steps = runbook_steps(alert)
    if steps:
        lines.extend(["", "Next steps:"])
        for number, step in enumerate(steps[:3], start=1):
            lines.append(f"{_INDENT}{number}. {step.text}")
            if step.command:
                lines.append(f"{_INDENT}   $ {step.command}")
    if alert.runbook_url:
        lines.append(f"Runbook: {alert.runbook_url}")
    if alert.snoozed_until is not None:
        lines.extend(
            ["", f"Snoozed until {utc(alert.snoozed_until)}: no alerts for this workload until then."]
        )
    return lines


def _repeat_line(alert: RepeatAlert) -> str:
    termination = alert.termination
    if alert.kind is AlertKind.EVICTION:
        what = f"pod {termination.pod} evicted"
    else:
        what = f"{termination.pod} / {termination.container}: {code_phrase(termination, alert.meaning)}"
    when = f" at {utc(termination.finished_epoch)}" if termination.finished_epoch is not None else ""
    line = f"  ↳ {cluster_prefix(alert.cluster)}again: {what}{when}, restarts {restarts_label(termination)}"
    if termination.message:
        line += f" — {_clip(' '.join(termination.message.split()), 200)}"
    return line


def _digest_lines(digest: DigestAlert) -> list[str]:
    where = f" in {digest.channel}" if digest.channel else ""
    if digest.calm:
        head = f"Crash storm{where} is over: {digest.total} alerts since {utc(digest.started_at)}."
    else:
        head = (
            f"Crash storm{where}: {digest.total} alerts since {utc(digest.started_at)} (one digest, updated)."
        )
    lines = [cluster_prefix(digest.cluster) + head]
    for row in digest.rows:
        lines.append(f"{_INDENT}- {digest_row_phrase(row, digest.code_names)}")
    lines.append(
        "Alerts are back to one message per crash."
        if digest.calm
        else "Individual alerts resume when it calms down; every crash is counted here."
    )
    return lines


def digest_row_phrase(row: DigestRow, code_names: Mapping[int, str]) -> str:
    """`shop Deployment/api: exit 137 (SIGKILL) × 12` (raw text; the overflow row sums the rest)."""
    if row.is_overflow:
        return f"… and {row.count} more from other workloads"
    if row.kind is AlertKind.EVICTION:
        what = "evicted"
    elif row.exit_code is None:
        what = "exit code unknown"
    else:
        name = code_names.get(row.exit_code)
        what = f"exit {row.exit_code}" + (f" ({name})" if name else "")
    return f"{row.namespace} {row.workload.ref}: {what} × {row.count}"


def _clip(text: str, limit: int = MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
