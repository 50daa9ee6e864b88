"""Alerts as a Microsoft Teams Adaptive Card, posted through a Workflows (Power Automate) webhook.

The card shows the facts the Slack alert shows (`bot.render.alert_blocks`), in the same order, from the
same phrases (`bot.render.alert_text`); nothing is re-derived here. What differs is the surface:

- **No threads, no edits, no buttons.** A Workflows webhook only posts, and an `Action.Submit` could never
  come back to the bot. So a crash is one full card, a later count update is a short follow-up card
  ("Still crashing: 7 times since …, last at …"), a recovery and a storm digest are cards of their own,
  and the one action is `Action.OpenUrl` to the runbook.
- **Untrusted text never meets Markdown.** Teams renders a Markdown subset in `TextBlock` (and `FactSet`)
  text: `**bold**`, `_italic_`, `- ` and `1. ` lists, `[title](url)` links. Adaptive Cards' `RichTextBlock`
  does *not* parse Markdown: its `TextRun`s are shown literally. So every string from the cluster (pod
  names, termination messages, log lines, evidence quoting them) goes into a `TextRun`, and `TextBlock`s
  carry only the bot's own words. A pod message `[click](http://evil)` is shown as those characters; it
  never becomes a link. There are no `msteams.entities`, so an `<at>…</at>` is inert text too.
- **Version 1.4.** Teams shows nothing but "We're sorry, this card couldn't be displayed" for many 1.5
  cards posted by a Workflow; 1.4 has every element used here.
- **Size.** A Workflow accepts the request (`202`) and its "post card" step then fails on a card over
  Teams' 28 KB message limit (`MessageSizeExceeded`, counted on Teams' own, larger measure of the
  message), so a card that is too big is lost *silently*. `alert_message` therefore fits the whole request
  body under `MAX_MESSAGE_BYTES` (well below 28 KB) by shortening, in order: the log tail, the termination
  message, the evidence, every remaining text; as a last resort a minimal card with the headline. It
  never fails.
- **Times in UTC text**: a card cannot localise a time inside a `TextRun`, and UTC is unambiguous.

Each card ends with a small `delivery <id>` line: a Workflows webhook cannot be read back, so a retry
whose first answer was lost may post the same card twice, and the id lets a reader tell a repeat of one
card from a new crash.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bot.alerting.incidents import IncidentPhase
from bot.alerting.policy import AlertKind
from bot.render.alert_text import (
    MAX_EVIDENCE,
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
from bot.render.diagnosis_text import CONFIDENCE_LABEL
from bot.render.limits import is_linkable_url
from bot.render.surface import Delivery, short_key

__all__ = [
    "ADAPTIVE_CARD_CONTENT_TYPE",
    "CARD_SCHEMA",
    "CARD_VERSION",
    "MAX_MESSAGE_BYTES",
    "MIN_MESSAGE_BYTES",
    "Element",
    "alert_card",
    "alert_message",
    "delivery_label",
]

Element = dict[str, Any]

CARD_VERSION = "1.4"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_MESSAGE_BYTES = 20_000
"""The request body's budget. Teams refuses a message over 28 KB (28,672 bytes) of *its* measure, which
counts more than the posted JSON (a reported 24,453-byte body measured 28,897), so 20,000 bytes keeps a
margin of about a third."""
MIN_MESSAGE_BYTES = 1_500
"""The smallest budget the adapter shrinks to after a `413`: the minimal card always fits in it."""

_STATE_STYLE = {
    IncidentPhase.FIRING: "Attention",
    IncidentPhase.QUIET: "Warning",
    IncidentPhase.RECOVERED: "Good",
    IncidentPhase.CONTINUED: "Default",
}


@dataclass(frozen=True, slots=True)
class _Trim:
    """How much cluster text one rendering keeps; `alert_message` tightens it until the card fits."""

    log_chars: int = 4000
    """Characters of log tail (the lines nearest the crash are kept)."""
    line_chars: int = 400
    """Characters of one log or termination-message line."""
    message_chars: int = 500
    evidence: int = MAX_EVIDENCE
    evidence_chars: int = 300
    text_chars: int = 1000
    """Any other single piece of cluster text (names, the verdict, a runbook command)."""
    rows: int = 60
    """Storm digest rows shown; the rest are summed up in one line."""
    shortened: bool = False


_TRIMS: tuple[_Trim, ...] = (
    _Trim(),
    _Trim(log_chars=1500, line_chars=300, shortened=True),
    _Trim(log_chars=500, line_chars=200, message_chars=300, shortened=True),
    _Trim(log_chars=0, line_chars=200, message_chars=200, shortened=True),
    _Trim(log_chars=0, line_chars=150, message_chars=0, evidence=2, evidence_chars=150, shortened=True),
    _Trim(
        log_chars=0,
        line_chars=100,
        message_chars=0,
        evidence=0,
        evidence_chars=0,
        text_chars=150,
        rows=15,
        shortened=True,
    ),
)


# --- entry points ---------------------------------------------------------------------------------------


def alert_message(delivery: Delivery, *, budget: int = MAX_MESSAGE_BYTES) -> bytes:
    """The Workflows webhook body for `delivery`, at most `budget` bytes (never raises for a big alert).

    The body is what the template "Post to a channel when a webhook request is received" reads: a
    `message` whose attachments are Adaptive Cards."""
    for trim in _TRIMS:
        body = _encode(_card(delivery, trim))
        if len(body) <= budget:
            return body
    return _encode(_minimal_card(delivery, max(40, (budget - 700) // 8)))


def alert_card(delivery: Delivery, *, budget: int = MAX_MESSAGE_BYTES) -> Element:
    """The Adaptive Card `alert_message` sends (for tests and previews)."""
    message = orjson.loads(alert_message(delivery, budget=budget))
    card: Element = message["attachments"][0]["content"]
    return card


def delivery_label(delivery: Delivery) -> str:
    """`delivery 3f9a1c07`: short, stable across retries, different for every planned message."""
    return f"delivery {short_key(delivery.key)[:8]}"


def _encode(card: Element) -> bytes:
    return orjson.dumps(
        {
            "type": "message",
            "attachments": [{"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
        }
    )


def _card(delivery: Delivery, trim: _Trim) -> Element:
    view = delivery.view
    actions: list[Element] = []
    if isinstance(view, CrashAlert) and delivery.follow_up:
        body = _follow_up_body(view, trim)
    elif isinstance(view, CrashAlert):
        body = _crash_body(view, trim)
        if is_linkable_url(view.runbook_url):
            actions.append({"type": "Action.OpenUrl", "title": "Runbook", "url": view.runbook_url})
    elif isinstance(view, RepeatAlert):
        body = _repeat_body(view, trim)
    elif isinstance(view, RecoveryAlert):
        body = _recovery_body(view, trim)
    else:
        body = _digest_body(view, trim)
    if trim.shortened:
        body.append(
            _note("Shortened to fit Teams' message size: kubectl logs --previous shows the whole log.")
        )
    body.append(_note(delivery_label(delivery)))
    card: Element = {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return card


def _minimal_card(delivery: Delivery, chars: int) -> Element:
    """The last resort: what happened, in one line, and the delivery id."""
    view = delivery.view
    if isinstance(view, CrashAlert | RepeatAlert):
        line = headline(view)
    elif isinstance(view, RecoveryAlert):
        line = f"Recovered: {view.namespace} {view.subject}"
    else:
        line = f"Crash storm{' over' if view.calm else ''}: {view.total} alerts"
    body = [
        _title(line, "Attention", chars),
        _note("Shortened to fit Teams' message size; the details did not fit."),
        _note(delivery_label(delivery)),
    ]
    return {"type": "AdaptiveCard", "$schema": CARD_SCHEMA, "version": CARD_VERSION, "body": body}


# --- elements -------------------------------------------------------------------------------------------


def _plain(text: str, limit: int) -> str:
    """Cluster text as a `TextRun` shows it: control characters dropped, cut to `limit` characters."""
    cleaned = "".join(ch for ch in text if ch in "\t" or unicodedata.category(ch) != "Cc")
    return cleaned if len(cleaned) <= limit else cleaned[: max(0, limit - 1)] + "…"


def _run(text: str, **style: Any) -> Element:
    return {"type": "TextRun", "text": text, **style}


def _rich(*runs: Element, **block: Any) -> Element:
    """A `RichTextBlock`: its runs are never parsed as Markdown, so cluster text goes here."""
    return {"type": "RichTextBlock", "inlines": list(runs), **block}


def _title(text: str, color: str, limit: int) -> Element:
    return _rich(_run(_plain(text, limit), size="Large", weight="Bolder", color=color))


def _heading(words: str) -> Element:
    """A label in the bot's own words (a `TextBlock`: no cluster text ever goes into one)."""
    return {"type": "TextBlock", "text": words, "weight": "Bolder", "wrap": True, "spacing": "Medium"}


def _fact(label: str, value: str, limit: int) -> Element:
    return _rich(_run(f"{label}: ", weight="Bolder"), _run(_plain(value, limit)), spacing="None")


def _line(text: str, limit: int, **style: Any) -> Element:
    return _rich(_run(_plain(text, limit), **style), spacing="None")


def _note(words: str) -> Element:
    return _rich(_run(words, size="Small", isSubtle=True), spacing="Small")


def _monospace(lines: Iterable[str], limit: int) -> list[Element]:
    """One `RichTextBlock` per line in a monospace `TextRun`: shown exactly, never as Markdown."""
    return [
        _rich(_run(_plain(line, limit) or " ", fontType="Monospace", size="Small"), spacing="None")
        for line in lines
    ]


def _tail(lines: Sequence[str], budget: int, line_chars: int) -> list[str]:
    """The end of the log within `budget` characters: the lines nearest the crash matter most."""
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        cut = _plain(line, line_chars)
        if used + len(cut) + 1 > budget:
            break
        kept.append(cut)
        used += len(cut) + 1
    return kept[::-1]


# --- the crash card -------------------------------------------------------------------------------------


def _crash_body(alert: CrashAlert, trim: _Trim) -> list[Element]:
    termination = alert.termination
    limit = trim.text_chars
    body = [_title(headline(alert), "Attention", limit)]
    if alert.cluster:
        body.append(_fact("Cluster", alert.cluster, limit))
    if alert.incident is not None:
        body.append(
            _line(
                state_phrase(alert.incident), limit, weight="Bolder", color=_STATE_STYLE[alert.incident.phase]
            )
        )
    counted = count_phrase(alert)
    if counted is not None:
        last = f", last at {utc(alert.last_seen)}" if alert.last_seen is not None else ""
        body.append(_line(f"{counted}{last}. Each update arrives as a short card of its own.", limit))
    body.append(_heading("Facts"))
    body.extend(_fact(label, value, limit) for label, value in _facts(alert))
    if alert.kind is AlertKind.EVICTION and termination.pod_message:
        body.append(_fact("Node pressure", termination.pod_message, min(limit, trim.message_chars or 200)))
    if alert.meaning is not None and alert.kind is not AlertKind.EVICTION:
        body.append(_heading("What it means"))
        body.append(_line(alert.meaning.summary, limit))
    if alert.diagnosis is not None:
        verdict = alert.diagnosis.verdict
        body.append(_heading(f"Diagnosis ({CONFIDENCE_LABEL[verdict.confidence]})"))
        body.append(_line(verdict.headline, limit))
        for fact in verdict.evidence[: trim.evidence]:
            body.append(_line(f"• {_plain(fact, trim.evidence_chars)}", trim.evidence_chars + 2))
        body.extend(_line(note, limit, italic=True) for note in alert.diagnosis.notes[:2])
    if termination.message and trim.message_chars > 0:
        message = _plain(termination.message.strip(), trim.message_chars)
        body.append(_heading("Termination message"))
        body.extend(_monospace(message.splitlines(), trim.line_chars))
    tail = alert.log_tail
    if tail is not None and tail.lines and trim.log_chars > 0:
        kept = _tail(tail.lines, trim.log_chars, trim.line_chars)
        if kept:
            body.append(_heading(f"Log tail (last {len(kept)} lines)"))
            body.append(_fact("Container", tail.container, limit))
            body.extend(_monospace(kept, trim.line_chars))
    steps = runbook_steps(alert)
    if steps:
        step = steps[0]
        body.append(_heading("First step"))
        body.append(_line(step.text, limit))
        if step.command:
            body.extend(_monospace([step.command], limit))
    if alert.snoozed_until is not None:
        body.append(
            _line(f"Snoozed until {utc(alert.snoozed_until)}: no alerts for this workload until then.", limit)
        )
    return body


def _facts(alert: CrashAlert) -> list[tuple[str, str]]:
    """The Slack alert's fact fields (`crash_facts`), the finish time as UTC text."""
    facts = [(label, value) for key, label, value in crash_facts(alert) if key != "restart_rule"]
    if alert.termination.finished_epoch is not None:
        facts.append(("Finished", utc(alert.termination.finished_epoch)))
    facts += [(label, value) for key, label, value in crash_facts(alert) if key == "restart_rule"]
    return facts


def _follow_up_body(alert: CrashAlert, trim: _Trim) -> list[Element]:
    """A count update of an earlier card (Slack edits its root instead): short, one glance."""
    termination = alert.termination
    limit = trim.text_chars
    doing = {
        AlertKind.CRASH: "still crashing",
        AlertKind.COMPLETED_TOO_OFTEN: "still exiting and being restarted",
        AlertKind.EVICTION: "still being evicted",
    }[alert.kind]
    where = f"{termination.workload.ref} / {termination.container}"
    body = [_title(f"{where}: {doing}", "Attention", limit)]
    counted = count_phrase(alert) or f"{alert.count} times"
    last = f", last at {utc(alert.last_seen)}" if alert.last_seen is not None else ""
    body.append(_line(f"{counted}{last}", limit, weight="Bolder"))
    if alert.incident is not None:
        body.append(_line(state_phrase(alert.incident), limit, color=_STATE_STYLE[alert.incident.phase]))
    if alert.cluster:
        body.append(_fact("Cluster", alert.cluster, limit))
    body.append(_fact("Namespace", termination.namespace, limit))
    body.append(_fact("Latest", f"{termination.pod}: {code_phrase(termination, alert.meaning)}", limit))
    return body


# --- repeats, recoveries, digests -----------------------------------------------------------------------


def _repeat_body(alert: RepeatAlert, trim: _Trim) -> list[Element]:
    """One more termination (only sent to surfaces with threads; Teams gets follow-ups instead)."""
    termination = alert.termination
    limit = trim.text_chars
    if alert.kind is AlertKind.EVICTION:
        what = f"pod {termination.pod} evicted"
    else:
        what = f"{termination.pod} / {termination.container}: {code_phrase(termination, alert.meaning)}"
    body = [_title(f"Again: {what}", "Attention", limit)]
    if alert.cluster:
        body.append(_fact("Cluster", alert.cluster, limit))
    body.append(_fact("Namespace", termination.namespace, limit))
    body.append(_fact("Restarts", restarts_label(termination), limit))
    if termination.finished_epoch is not None:
        body.append(_fact("Finished", utc(termination.finished_epoch), limit))
    message = termination.message or (termination.pod_message if alert.kind is AlertKind.EVICTION else None)
    if message and trim.message_chars > 0:
        body.append(_line(" ".join(message.split()), min(300, trim.message_chars), isSubtle=True))
    return body


def _recovery_body(alert: RecoveryAlert, trim: _Trim) -> list[Element]:
    limit = trim.text_chars
    body = [_title(f"Recovered: {alert.subject}", "Good", limit)]
    if alert.cluster:
        body.append(_fact("Cluster", alert.cluster, limit))
    body.append(_fact("Namespace", alert.namespace, limit))
    body.append(_line(recovery_phrase(alert), limit))
    return body


def _digest_body(digest: DigestAlert, trim: _Trim) -> list[Element]:
    limit = trim.text_chars
    if digest.calm:
        title = f"Crash storm over: {digest.total} alerts"
        intro = (
            f"Between {utc(digest.started_at)} and now {digest.total} alerts were summed up here. "
            "Alerts are back to one card per crash."
        )
    else:
        title = f"Crash storm: {digest.total} alerts"
        intro = (
            f"Since {utc(digest.started_at)} more alerts arrived than a channel can read, so they are summed "
            "up in digests. Every crash is counted; individual cards resume when it calms down."
        )
    body = [_title(title, "Warning", limit)]
    if digest.cluster:
        body.append(_fact("Cluster", digest.cluster, limit))
    body.append({"type": "TextBlock", "text": intro, "wrap": True})
    for row in digest.rows[: trim.rows]:
        phrase = digest_row_phrase(row, digest.code_names)
        if not row.is_overflow:
            phrase += f" · last at {utc(row.last_seen)}"
        body.append(_line(f"• {_plain(phrase, limit)}", limit + 2, italic=row.is_overflow))
    hidden = digest.rows[trim.rows :]
    if hidden:
        count = sum(row.count for row in hidden)
        body.append(_line(f"• … and {count} more in {len(hidden)} rows that did not fit", 200, italic=True))
    return body
