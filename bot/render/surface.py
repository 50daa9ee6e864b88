"""The surface port's plain data: what a surface can do, and the one message it is asked to send.

Slack has threads, edits in place and buttons; a Teams Workflows webhook has none of them; PagerDuty
has incidents that can be resolved; a signed webhook delivers events a program reads. The planner
plans for the richest surface (`bot.alerting.actions`), and `event_for` maps each action onto what a
surface declares it can do, gracefully:

| action          | edits (Slack) | threads, no edits (webhook) | neither (Teams, PagerDuty)       |
|-----------------|---------------|-----------------------------|----------------------------------|
| PostRoot        | post          | `crash`                     | `crash`                          |
| PostThreadReply | thread reply  | `repeat` (its incident)     | folded into the next follow-up   |
| UpdateRoot      | edit          | skipped (repeats carry it)  | `repeat` follow-up while firing  |
| PostRecovery    | thread reply  | `recovered`                 | `recovered` (PagerDuty: resolve) |
| PostDigest      | post          | `digest`                    | `digest`                         |
| UpdateDigest    | edit          | only the final (calm) one   | only the final (calm) one        |

A surface with `resolve` closes what it opened on `recovered` (and a storm digest's alert when the
storm is over). Slack and the console implement the richer `AlertSink` port (post, update, threads,
markers) and are driven by the actions themselves; every other surface implements
`AlertSurface.deliver(target, Delivery)`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from bot.alerting.actions import (
    Action,
    PostDigest,
    PostRecovery,
    PostRoot,
    PostThreadReply,
    UpdateDigest,
    UpdateRoot,
)
from bot.alerting.incidents import IncidentPhase
from bot.render.alert_text import AlertView

__all__ = ["AlertEvent", "Capabilities", "Delivery", "Planned", "event_for", "short_key"]


class AlertEvent(StrEnum):
    """What one delivered message is about (the webhook schema's `event` values)."""

    CRASH = "crash"
    REPEAT = "repeat"
    DIGEST = "digest"
    RECOVERED = "recovered"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a surface can do; `event_for` adapts the planner's actions to it."""

    threads: bool = False
    """Messages can belong to an earlier one (Slack threads; the webhook's `incident_key`)."""
    edits: bool = False
    """A sent message can be changed in place (Slack `chat.update`)."""
    buttons: bool = False
    """Messages can carry interactive buttons that come back to the bot."""
    resolve: bool = False
    """What was opened can be closed (PagerDuty `resolve`, the webhook's `recovered`)."""


@dataclass(frozen=True, slots=True)
class Planned:
    """`event_for`'s answer: send this event; `follow_up` = a count update of an earlier crash message."""

    event: AlertEvent
    follow_up: bool = False


def event_for(action: Action, capabilities: Capabilities) -> Planned | None:
    """What a surface without Slack's message model sends for `action` (None: nothing; see the table)."""
    if isinstance(action, PostRoot):
        return Planned(AlertEvent.CRASH)
    if isinstance(action, PostThreadReply):
        return Planned(AlertEvent.REPEAT) if capabilities.threads else None
    if isinstance(action, UpdateRoot):
        if capabilities.threads:
            return None  # each repeat went out as its own event
        firing = action.incident is None or action.incident.phase is IncidentPhase.FIRING
        return Planned(AlertEvent.REPEAT, follow_up=True) if firing and action.count > 1 else None
    if isinstance(action, PostRecovery):
        return Planned(AlertEvent.RECOVERED)
    if isinstance(action, PostDigest):
        return Planned(AlertEvent.DIGEST)
    if isinstance(action, UpdateDigest):
        return Planned(AlertEvent.DIGEST, follow_up=True) if action.calm else None
    raise TypeError(f"not an alert action: {action!r}")


def short_key(text: str) -> str:
    """A 32-hex-digit digest of `text`: keys that fit every surface's limit (PagerDuty's 255) and do
    not spell out namespaces and workload names to a third party."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message for a surface: what happened, the view to render, and the keys that make it safe to
    send more than once."""

    event: AlertEvent
    view: AlertView
    """`CrashAlert` for a crash and a follow-up (its count and last crash), `RepeatAlert` for a
    repeat on a surface with threads, `RecoveryAlert`, `DigestAlert` (`calm` on the storm's last)."""
    key: str
    """Idempotency key: the outbox entry's id, the same for every retry, restart and leader."""
    incident: str
    """The incident (or storm digest) the message belongs to: PagerDuty's `dedup_key`, the webhook's
    `incident_key`. Stable for the whole episode, per destination."""
    planned_at: float
    """When the bot decided to send it (epoch seconds): the event's time for a receiver."""
    follow_up: bool = False
    """A later word on an earlier message (a count update, the storm's final digest), not a new alert."""
