"""Sending the outbox: one sender task per channel (Slack keeps a channel's messages in the order they
were posted, so a channel's entries go one at a time), each entry sent only once the ledger holds it (or
after the grace period), completed in the ledger once the sink confirmed it. A bug in one entry is retried
without its diagnosis, then dropped and logged, so it cannot block the channel's other alerts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace

from bot.alerting import (
    Action,
    AlertPlanner,
    LedgerState,
    PostDigest,
    PostRecovery,
    PostRoot,
    PostThreadReply,
    UpdateDigest,
    UpdateRoot,
)
from bot.alerting.actions import DigestRef, GroupRef, PostMarker
from bot.alerting.destinations import SLACK, Destination, RouteError, is_chat_channel, parse_destination
from bot.alerting.incidents import IncidentStatus
from bot.alerting.outbox import Outbox, OutboxEntry
from bot.metrics import AlertMetrics
from bot.render.alert_text import AlertView, CrashAlert
from bot.render.surface import Delivery, event_for, short_key

from .composer import AlertComposer
from .context import TermContext
from .ledger_sync import LedgerSync

__all__ = ["ChannelSenders", "report_outbox_size"]

log = logging.getLogger(__package__)  # one logger for the whole service, as operators know it

_MAX_ENTRY_FAILURES = 3
"""Unexpected errors (a bug, not Slack) after which an entry is sent without its diagnosis, then dropped."""


def report_outbox_size(metrics: AlertMetrics | None, state: LedgerState) -> None:
    if metrics is not None:
        metrics.outbox.set(len(state.outbox))


class ChannelSenders:
    """The sender tasks of one leadership term; cancelled with it (another replica may lead already)."""

    def __init__(
        self,
        context: TermContext,
        planner: AlertPlanner,
        outbox: Outbox,
        composer: AlertComposer,
        sync: LedgerSync,
        *,
        backoff: Callable[[int], float],
        leading_since: float,
    ) -> None:
        self.context = context
        self.leading_since = leading_since
        """When this term started: a crash from before may have been posted by an earlier leader."""
        self.tuning = context.tuning
        self.metrics = context.metrics
        self.planner = planner
        self.outbox = outbox
        self.composer = composer
        self.sync = sync
        self._backoff = backoff
        self._workers: dict[str | None, asyncio.Task[None]] = {}
        self._failures: dict[str, int] = {}
        self._warned_channels: set[str] = set()

    def tasks(self) -> list[asyncio.Task[None]]:
        return list(self._workers.values())

    def wake(self) -> None:
        """Start a sender for each channel with queued entries (one per channel: order is kept)."""
        for channel in self.outbox.channels(self.planner.state):
            worker = self._workers.get(channel)
            if worker is None or worker.done():
                self._workers[channel] = asyncio.create_task(self._send_channel(channel), name="alert-send")

    async def _send_channel(self, channel: str | None) -> None:
        while True:
            entry = self.outbox.next_for(self.planner.state, channel)
            if entry is None:
                return
            now = self.context.clock()
            if not self.outbox.postable(entry, now, self.tuning.unsaved_grace_seconds):
                wait = self.tuning.unsaved_grace_seconds - (now - entry.planned_at)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.sync.saved.wait(), max(0.01, wait))
                continue
            if not self.context.leading:
                return
            self.outbox.in_flight.add(entry.id)
            try:
                await self._send(entry)
            except Exception:
                self.outbox.in_flight.discard(entry.id)
                if self._failed(entry):
                    continue
                await asyncio.sleep(self._backoff(self._failures.get(entry.id, 1)))
                continue
            finally:
                self.outbox.in_flight.discard(entry.id)
            self.outbox.complete(self.planner.state, entry.id, self.context.clock())
            self._failures.pop(entry.id, None)
            report_outbox_size(self.metrics, self.planner.state)
            # A new message's reference is stored at once (the next write, not a debounce later): a
            # killed leader's successor then knows the message; before that, the marker check finds it.
            self.sync.request_save(urgent=isinstance(entry.action, PostRoot | PostDigest))

    def _failed(self, entry: OutboxEntry) -> bool:
        """Log an unexpected failure; True when the entry was given up (a bug that keeps repeating)."""
        count = self._failures.get(entry.id, 0) + 1
        self._failures[entry.id] = count
        log.exception("event=alert_send_failed id=%s attempt=%d", entry.id, count)
        if count <= _MAX_ENTRY_FAILURES:
            return False
        log.error("event=alert_dropped id=%s action=%r (a bug: please report it)", entry.id, entry.action)
        self.outbox.complete(self.planner.state, entry.id, self.context.clock())
        self._failures.pop(entry.id, None)
        return True

    async def _send(self, entry: OutboxEntry) -> None:
        """Execute one action (see `bot.alerting.actions` for the contract of each)."""
        action = entry.action
        planner = self.planner
        channel = action.channel
        # After a bug in the diagnosis path, try once more without it: the alert matters more.
        full = self._failures.get(entry.id, 0) < 2
        destination = _destination(channel)
        if destination is not None and destination.surface != SLACK:
            await self._deliver(entry, destination, full=full)
            return
        sink = self.context.sink
        if sink is None:
            self._unavailable(SLACK, action)
            return
        if channel is None and sink.needs_channel:
            self._no_channel(action)
            return
        marker = PostMarker(entry.id, self._maybe_sent_since(entry))
        if isinstance(action, PostRoot):
            view = await self.composer.root(action.termination, action.group.key.kind, diagnose_pod=full)
            view = replace(self._with_snooze(view), incident=planner.incident_status(action.group))
            ref = await sink.post(channel, view, marker=marker)
            planner.root_posted(action.group, ref)
            self.composer.remember_root(action.group, view)
        elif isinstance(action, PostThreadReply):
            reply = self.composer.reply(action)
            await sink.post(channel, reply, thread=planner.root_ts(action.group), marker=marker)
        elif isinstance(action, UpdateRoot):
            root = planner.root_ts(action.group)
            if root is None:
                return  # the root was never confirmed; the replies carry the crashes
            # The root's reference is the incident's ledger key (`decisions.incident_key`).
            view = self._with_snooze(await self.composer.root_update(action, diagnose_pod=full), root)
            if not await sink.update(root, view):
                log.info("event=root_not_editable group=%s", action.group.key.id)
        elif isinstance(action, PostRecovery):
            recovery = self.composer.recovery(action)
            await sink.post(channel, recovery, thread=planner.root_ts(action.group), marker=marker)
        elif isinstance(action, PostDigest):
            ref = await sink.post(channel, self.composer.digest(action), marker=marker)
            planner.digest_posted(action.digest, ref)
        else:
            digest = self.composer.digest(action)
            known = planner.digest_ts(action.digest)
            if known is None or not await sink.update(known, digest):
                planner.digest_posted(action.digest, await sink.post(channel, digest, marker=marker))
        if self.metrics is not None:
            self.metrics.messages.labels(kind=_message_kind(action)).inc()

    async def _deliver(self, entry: OutboxEntry, destination: Destination, *, full: bool) -> None:
        """Send one action to a surface other than Slack, as its capabilities allow
        (`bot.render.surface.event_for`): what it cannot show is folded into its next message."""
        surface = self.context.surfaces.get(destination.surface)
        action = entry.action
        if surface is None:
            self._unavailable(destination.surface, action)
            return
        planned = event_for(action, surface.capabilities)
        if planned is None:
            return
        planner = self.planner
        view: AlertView
        root: CrashAlert | None = None
        if isinstance(action, PostRoot):
            root = await self.composer.root(action.termination, action.group.key.kind, diagnose_pod=full)
            view = root = replace(self._with_snooze(root), incident=planner.incident_status(action.group))
            incident = self._incident_key(action.group, root)
        elif isinstance(action, PostThreadReply):
            view = self.composer.reply(action)
            incident = planner.root_ts(action.group) or self._incident_key(action.group, None)
        elif isinstance(action, UpdateRoot):
            view = await self.composer.root_update(action, diagnose_pod=full)
            incident = planner.root_ts(action.group) or self._incident_key(action.group, view)
        elif isinstance(action, PostRecovery):
            view = self.composer.recovery(action)
            incident = planner.root_ts(action.group) or self._incident_key(action.group, None, action.status)
        else:
            view = self.composer.digest(action)
            incident = planner.digest_ts(action.digest) or _digest_key(action.digest)
        delivery = Delivery(
            planned.event, view, entry.id, incident, entry.planned_at, follow_up=planned.follow_up
        )
        await surface.deliver(destination.target, delivery)
        if isinstance(action, PostRoot) and root is not None:
            planner.root_posted(action.group, incident)
            self.composer.remember_root(action.group, root)
        elif isinstance(action, PostDigest):
            planner.digest_posted(action.digest, incident)

    def _incident_key(
        self, group: GroupRef, view: CrashAlert | None, status: IncidentStatus | None = None
    ) -> str:
        """The incident's key on a surface (PagerDuty's `dedup_key`): the group and the incident's first
        crash, so a root re-posted after GROUP_WINDOW while the incident still burns (`continued`)
        updates the same PagerDuty alert instead of opening a second one."""
        status = (
            status or (view.incident if view is not None else None) or self.planner.incident_status(group)
        )
        started = status.started if status is not None else group.opened_at
        return short_key(f"{group.key.id}|{started!r}")

    def _unavailable(self, surface: str, action: Action) -> None:
        """An entry for a surface this process does not have (switched off since it was planned): it can
        never be sent, so it is dropped, and said so once per surface."""
        if surface not in self._warned_channels:
            self._warned_channels.add(surface)
            log.warning(
                "event=alert_surface_off surface=%s: queued alerts for it are dropped (it is not configured "
                "in this process)",
                surface,
            )
        if self.metrics is not None:
            self.metrics.surface_error(surface, "not_configured")

    def _maybe_sent_since(self, entry: OutboxEntry) -> float | None:
        """Since when an earlier process may have posted this entry already (None: it cannot have).

        An entry that came with the ledger was planned there; a crash that ended before this term
        began may have been posted by a leader whose ledger writes failed (an API-server outage, then
        a restart): its post names the same crash, so it carries the same marker, and the sink looks.
        """
        if self.outbox.inherited(entry.id):
            return entry.planned_at
        action = entry.action
        if isinstance(action, PostRoot | PostThreadReply):
            ended = action.termination.finished_epoch or action.termination.started_epoch
            if ended is not None and ended < self.leading_since:
                return ended
        return None

    def _with_snooze(self, view: CrashAlert, incident: str | None = None) -> CrashAlert:
        """The people's decisions shown on the root: the snooze in force (and who set it), and who said
        "I'm on it" (`incident`: the root's ledger key, once it has been posted)."""
        termination = view.termination
        snooze = self.planner.snooze_of(termination.namespace, termination.workload, self.context.clock())
        owner = self.planner.state.owners.get(incident) if incident is not None else None
        return replace(
            view,
            snoozed_until=snooze.until if snooze is not None else None,
            snoozed_by=snooze.set_by if snooze is not None else None,
            owner=owner.user if owner is not None else None,
            owner_since=owner.set_at if owner is not None else None,
        )

    def _no_channel(self, action: Action) -> None:
        where = (
            "(storm digest)" if isinstance(action, PostDigest | UpdateDigest) else action.group.key.namespace
        )
        if where not in self._warned_channels:
            self._warned_channels.add(where)
            log.warning(
                "event=alert_without_channel namespace=%s: set ALERT_CHANNEL, a namespace_channels entry in "
                "the config file, or the exitcode-bot/channel annotation",
                where,
            )
        if self.metrics is not None:
            self.metrics.slack_error("no_channel")


def _destination(channel: str | None) -> Destination | None:
    """The destination a planned channel names; None for the chat sink's (Slack or console) channel."""
    if channel is None or is_chat_channel(channel):
        return None
    try:
        return parse_destination(channel)
    except RouteError:
        return None


def _digest_key(digest: DigestRef) -> str:
    return short_key(f"digest|{digest.id}")


def _message_kind(action: Action) -> str:
    return {
        PostRoot: "root",
        PostThreadReply: "reply",
        UpdateRoot: "root_update",
        PostDigest: "digest",
        UpdateDigest: "digest_update",
        PostRecovery: "recovery",
    }[type(action)]
