"""Planned Slack actions that outlive the process: stored in the ledger before posting, removed after.

Exactly once across restarts has two halves. The ledger's `alerted` keys stop a termination from being
*planned* twice; the outbox stops a planned message from being *lost or sent twice* when the process
stops between planning and posting. The adapter's order of work is:

1. `planner.plan(...)` → `outbox.add(state, plan.actions, now)`: the actions become records in
   `LedgerState.outbox` (JSON, so they travel with the ledger ConfigMap);
2. the ledger is saved; `outbox.mark_saved(ids)` then allows those entries to be sent
   (`postable`): nothing is posted that a restarted bot would not know it had planned;
3. each entry is sent, then `outbox.complete(state, id, now)` moves its id to `outbox_done`, and the
   ledger is saved again.

A bot that starts (or takes over the leader Lease) finds the entries of step 2 that never reached step 3
and sends them. The remaining window, a post that succeeded right before the process died and before
step 3 was saved, costs one duplicate message at most, never a lost crash.

Entry ids are digests of what the action *is* (a group episode's root, one termination's reply, the
n-th count of a root), not of when it was planned, so two planners that planned the same action write
the same id and a merge of their ledgers holds it once. Updates of the same message share a *slot*: a
newer root count or digest edit supersedes a queued older one, since only the latest matters.

The outbox is bounded: past `max_entries`, the oldest queued thread replies are folded away first. Each
of them is already counted in its root (`UpdateRoot` carries the group's count), so no crash disappears
from the channel: the message that says "crashed 7 times" still says 7. If that is not enough (a long
Slack outage, a high STORM_THRESHOLD: thousands of *roots*), every queued root and reply of a channel is
folded into one summary digest with exact counts (`bot.alerting.backlog`): the outbox, and so the
ledger, stays bounded and no crash is ever dropped.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.alerting.actions import (
    Action,
    DigestRef,
    DigestRow,
    GroupKey,
    GroupRef,
    PostDigest,
    PostRecovery,
    PostRoot,
    PostThreadReply,
    UpdateDigest,
    UpdateRoot,
)
from bot.alerting.backlog import FoldResult, fold_backlog
from bot.alerting.incidents import IncidentStatus
from bot.alerting.ledger_state import LedgerState
from bot.alerting.policy import AlertKind
from bot.alerting.termination import ContainerKind, RecordSource, Termination, Workload

__all__ = [
    "MAX_OUTBOX_ENTRIES",
    "RECORD_MESSAGE_CHARS",
    "AddResult",
    "Outbox",
    "OutboxEntry",
    "action_from_record",
    "action_to_record",
    "entry_identity",
    "termination_from_record",
    "termination_to_record",
]

MAX_OUTBOX_ENTRIES = 300
"""More than this many unsent entries only happens when Slack is unreachable for a long time."""
RECORD_MESSAGE_CHARS = 600
"""Characters of a termination (or pod) message kept in a record: the alert shows at most 500, and the
ledger must stay small however chatty the application's termination message is."""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One planned action, in the order it was planned (`planned_at`, then `order`)."""

    id: str
    slot: str
    action: Action
    planned_at: float
    order: int

    @property
    def channel(self) -> str | None:
        return self.action.channel

    @property
    def sort_key(self) -> tuple[float, int, str]:
        return (self.planned_at, self.order, self.id)


@dataclass(frozen=True, slots=True)
class AddResult:
    """What `Outbox.add` did: the entries queued, and the thread replies folded into their root count."""

    added: tuple[OutboxEntry, ...]
    superseded: int = 0
    folded: int = 0
    summarised: int = 0
    """Crashes whose queued root or reply was folded into a channel's backlog digest."""


@dataclass(slots=True)
class Outbox:
    """Operations on `LedgerState.outbox`; the state stays the one source of truth, this adds the
    bookkeeping that must not be persisted (which entries a save has confirmed, which is being sent).

    Pass the planner's *current* state to every call: a ledger merge replaces the state object.
    """

    max_entries: int = MAX_OUTBOX_ENTRIES
    in_flight: set[str] = field(default_factory=set)
    _saved: set[str] = field(default_factory=set)
    _parsed: dict[str, OutboxEntry] = field(default_factory=dict)
    _own: set[str] = field(default_factory=set)
    """Ids this process planned; any other entry came with a ledger and may have been sent already."""
    _order: itertools.count[int] = field(default_factory=itertools.count)

    # --- queueing -------------------------------------------------------------------------------------

    def add(self, state: LedgerState, actions: Iterable[Action], now: float) -> AddResult:
        """Queue `actions` (in order) as records of `state`; superseded updates are dropped."""
        added: list[OutboxEntry] = []
        superseded = 0
        for action in actions:
            entry_id, slot = entry_identity(action)
            if entry_id in state.outbox or entry_id in state.outbox_done:
                continue  # the same action, planned again (a replayed plan): already queued or sent
            if slot != entry_id:
                superseded += self._drop_slot(state, slot)
            entry = OutboxEntry(entry_id, slot, action, now, next(self._order))
            state.outbox[entry_id] = {
                "slot": slot,
                "at": now,
                "n": entry.order,
                **action_to_record(action),
            }
            self._parsed[entry_id] = entry
            self._own.add(entry_id)
            added.append(entry)
        folded = self._fold_replies(state)
        summarised = 0
        if len(state.outbox) > self.max_entries:
            summarised = self.fold_backlog(state, now, channels=self._largest_backlogs(state)).crashes
        return AddResult(tuple(added), superseded, folded, summarised)

    def fold_backlog(
        self, state: LedgerState, now: float, channels: Collection[str | None] | None = None
    ) -> FoldResult:
        """Summarise every queued root and reply (not being sent) into one digest per channel (of
        `channels` only, when given)."""
        result = fold_backlog(state, now, busy=self.in_flight, order=self._order, channels=channels)
        self._own.update(result.digests)
        fresh = set(result.digests)
        self._parsed = {
            key: entry for key, entry in self._parsed.items() if key in state.outbox and key not in fresh
        }
        self._saved -= {key for key in self._saved if key not in state.outbox}
        return result

    def _drop_slot(self, state: LedgerState, slot: str) -> int:
        stale = [
            key
            for key, record in state.outbox.items()
            if record.get("slot") == slot and key not in self.in_flight
        ]
        for key in stale:
            del state.outbox[key]
            self._parsed.pop(key, None)
        return len(stale)

    def _fold_replies(self, state: LedgerState) -> int:
        """Keep the outbox bounded by dropping the oldest queued thread replies (see module docstring)."""
        excess = len(state.outbox) - self.max_entries
        if excess <= 0:
            return 0
        # The biggest backlog first: a destination that is down (issue 12: one surface of several)
        # fills the outbox with its own entries, and only its own must make room.
        backlog = self._backlogs(state)
        replies = sorted(
            (
                entry
                for entry in self.pending(state)
                if isinstance(entry.action, PostThreadReply) and entry.id not in self.in_flight
            ),
            key=lambda entry: (-backlog[entry.channel], entry.sort_key),
        )
        folded = 0
        for entry in replies[:excess]:
            del state.outbox[entry.id]
            self._parsed.pop(entry.id, None)
            folded += 1
        return folded

    def _backlogs(self, state: LedgerState) -> Counter[str | None]:
        return Counter(entry.channel for entry in self.pending(state))

    def _largest_backlogs(self, state: LedgerState) -> set[str | None]:
        """The channels whose folding brings the outbox back under its bound, biggest backlog first: a
        destination that is down never turns the others' alerts into summaries."""
        excess = len(state.outbox) - self.max_entries
        chosen: set[str | None] = set()
        for channel, count in self._backlogs(state).most_common():
            if excess <= 0:
                break
            chosen.add(channel)
            excess -= count - 1  # its queued entries become one summary
        return chosen

    # --- reading --------------------------------------------------------------------------------------

    def pending(self, state: LedgerState) -> list[OutboxEntry]:
        """Every readable entry, in planning order (unreadable records: see `unreadable`)."""
        entries = [entry for key in state.outbox if (entry := self._entry(state, key)) is not None]
        entries.sort(key=lambda entry: entry.sort_key)
        return entries

    def unreadable(self, state: LedgerState) -> list[str]:
        """Ids of records this version cannot read (a hand-edited or newer ledger); the adapter logs
        and completes them rather than retrying forever."""
        return [key for key in state.outbox if self._entry(state, key) is None]

    def next_for(self, state: LedgerState, channel: str | None) -> OutboxEntry | None:
        """The oldest entry of `channel` that is not being sent: messages of one channel go in order."""
        for entry in self.pending(state):
            if entry.channel == channel:
                return None if entry.id in self.in_flight else entry
        return None

    def channels(self, state: LedgerState) -> set[str | None]:
        return {entry.channel for entry in self.pending(state)}

    def _entry(self, state: LedgerState, key: str) -> OutboxEntry | None:
        cached = self._parsed.get(key)
        if cached is not None:
            return cached
        record = state.outbox.get(key)
        if record is None:
            return None
        try:
            entry = OutboxEntry(
                id=key,
                slot=str(record.get("slot") or key),
                action=action_from_record(record),
                planned_at=_number(record.get("at")),
                order=int(_number(record.get("n", 0))),
            )
        except (TypeError, ValueError, KeyError):
            return None
        self._parsed[key] = entry
        return entry

    # --- durability and completion ----------------------------------------------------------------

    def mark_saved(self, ids: Collection[str]) -> None:
        """These entries are in a ledger write that succeeded: a restarted bot would find them."""
        self._saved.update(ids)

    def adopt(self, state: LedgerState) -> None:
        """Entries loaded from the ledger (or merged in from another writer's) are stored already."""
        self._saved.update(state.outbox)

    def inherited(self, entry_id: str) -> bool:
        """Planned by another process (or an earlier term): it may have been posted before it was
        completed in the ledger, so a sink should look before posting it."""
        return entry_id not in self._own

    def is_saved(self, entry_id: str) -> bool:
        return entry_id in self._saved

    def postable(self, entry: OutboxEntry, now: float, unsaved_grace: float) -> bool:
        """Saved, or waiting longer than `unsaved_grace` for a ledger that cannot be written: then a
        crash alert that might be repeated after a restart beats one that is never sent."""
        return entry.id in self._saved or now - entry.planned_at >= unsaved_grace

    def complete(self, state: LedgerState, entry_id: str, now: float) -> None:
        """The entry was sent (or can never be): remove it and remember its id as done."""
        state.outbox.pop(entry_id, None)
        state.outbox_done[entry_id] = now
        self._parsed.pop(entry_id, None)
        self._saved.discard(entry_id)
        self._own.discard(entry_id)
        self.in_flight.discard(entry_id)


# --- identities -----------------------------------------------------------------------------------------


def _digest(*parts: object) -> str:
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def entry_identity(action: Action) -> tuple[str, str]:
    """(id, slot) of an action: equal for the same action however often it is planned."""
    # Posts are named by the crash they report, not by when their group opened: a planner that lost
    # the ledger plans the same crash into a group opened at another time, and must still produce the
    # same id, which is also the marker the sink looks for in Slack (`bot.slack.posted_lookup`).
    if isinstance(action, PostRoot):
        entry_id = "r" + _digest(action.group.key.id, action.termination.key)
        return entry_id, entry_id
    if isinstance(action, PostThreadReply):
        entry_id = "t" + _digest(action.group.key.id, action.termination.key)
        return entry_id, entry_id
    if isinstance(action, UpdateRoot):
        # An edit that only changes the incident's state (quiet, recovered) is a new edit, not a repeat.
        state = () if action.incident is None else (action.incident.phase.value, action.incident.since)
        entry_id = "u" + _digest(action.group.id, action.count, action.pod_count, *state)
        return entry_id, "U" + _digest(action.group.id)
    if isinstance(action, PostRecovery):
        # One recovery per incident episode and end: a replanned recovery (after a restart) is the same.
        entry_id = "v" + _digest(action.group.id, action.status.since, action.status.crashes)
        return entry_id, entry_id
    if isinstance(action, PostDigest):
        entry_id = "d" + _digest(action.digest.id)
        return entry_id, entry_id
    return (
        "e" + _digest(action.digest.id, action.total, action.calm, len(action.rows)),
        "E" + _digest(action.digest.id),
    )


# --- records ------------------------------------------------------------------------------------------


def action_to_record(action: Action) -> dict[str, Any]:
    """The JSON-able fields of an action (plus `type`), for `LedgerState.outbox`."""
    if isinstance(action, PostRoot):
        return {
            "type": "root",
            **_group(action.group),
            "termination": termination_to_record(action.termination),
        }
    if isinstance(action, PostThreadReply):
        return {
            "type": "reply",
            **_group(action.group),
            "termination": termination_to_record(action.termination),
        }
    if isinstance(action, UpdateRoot):
        return (
            {
                "type": "root_update",
                **_group(action.group),
                "count": action.count,
                "pods": action.pod_count,
                "last": action.last_seen,
                "termination": termination_to_record(action.latest),
            }
            | ({"first": termination_to_record(action.first)} if action.first is not None else {})
            | ({"incident": action.incident.to_record()} if action.incident is not None else {})
        )
    if isinstance(action, PostRecovery):
        return {"type": "recovery", **_group(action.group), "incident": action.status.to_record()}
    digest = {
        "channel": action.digest.channel,
        "started": action.digest.started_at,
        "rows": [_row(row) for row in action.rows],
        "total": action.total,
    }
    if isinstance(action, PostDigest):
        return {"type": "digest", **digest}
    return {"type": "digest_update", **digest, "calm": action.calm}


def action_from_record(record: Mapping[str, Any]) -> Action:
    """Read `action_to_record` back; raises `ValueError`/`TypeError`/`KeyError` for anything else."""
    kind = record["type"]
    if kind == "recovery":
        group = GroupRef(GroupKey.from_id(str(record["group"])), _number(record["opened"]))
        return PostRecovery(group, IncidentStatus.from_record(record["incident"]))
    if kind in ("root", "reply", "root_update"):
        group = GroupRef(GroupKey.from_id(str(record["group"])), _number(record["opened"]))
        termination = termination_from_record(record["termination"])
        if kind == "root":
            return PostRoot(group, termination)
        if kind == "reply":
            return PostThreadReply(group, termination)
        return UpdateRoot(
            group,
            _count(record["count"]),
            _count(record["pods"]),
            _number(record["last"]),
            termination,
            termination_from_record(record["first"]) if record.get("first") is not None else None,
            IncidentStatus.from_record(record["incident"]) if record.get("incident") is not None else None,
        )
    if kind in ("digest", "digest_update"):
        channel = record.get("channel")
        ref = DigestRef(str(channel) if channel else None, _number(record["started"]))
        rows = tuple(_row_from(item) for item in record["rows"])
        total = _count(record["total"])
        if kind == "digest":
            return PostDigest(ref, rows, total)
        return UpdateDigest(ref, rows, total, bool(record.get("calm", False)))
    raise ValueError(f"unknown outbox record type {kind!r}")


def termination_to_record(
    termination: Termination, message_chars: int = RECORD_MESSAGE_CHARS
) -> dict[str, Any]:
    """A termination as JSON; messages clipped to `message_chars` (the ledger must stay small)."""
    return {
        "key": termination.key,
        "namespace": termination.namespace,
        "pod": termination.pod,
        "uid": termination.uid,
        "container": termination.container,
        "container_kind": termination.container_kind.value,
        "exit_code": termination.exit_code,
        "signal": termination.signal,
        "reason": termination.reason,
        "message": _clip(termination.message, message_chars),
        "started_at": termination.started_at,
        "finished_at": termination.finished_at,
        "restarts": termination.restart_count,
        "node": termination.node,
        "workload": termination.workload.ref,
        "source": termination.source.value,
        "pod_reason": termination.pod_reason,
        "pod_message": _clip(termination.pod_message, message_chars),
    } | _optional_fields(termination)


def _optional_fields(termination: Termination) -> dict[str, Any]:
    """What only some terminations carry (the newer Kubernetes fields, restarts nobody watched): written
    only when set, so a ledger of ordinary crashes stays as small as before."""
    fields: dict[str, Any] = {
        "unwatched": termination.unwatched_restarts or None,
        "restart_rule": termination.restart_rule,
        "rule_names_code": termination.rule_names_code or None,
        "restarted_with": termination.restarted_with,
        "stop_signal": termination.stop_signal,
        "revision": termination.revision,
    }
    return {name: value for name, value in fields.items() if value is not None}


def termination_from_record(record: Mapping[str, Any]) -> Termination:
    def text(name: str) -> str | None:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"termination field {name} must be a string")
        return value

    def number(name: str) -> int | None:
        value = record.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"termination field {name} must be an integer")
        return value

    return Termination(
        key=str(record["key"]),
        namespace=str(record["namespace"]),
        pod=str(record["pod"]),
        uid=str(record["uid"]),
        container=str(record["container"]),
        container_kind=ContainerKind(record["container_kind"]),
        exit_code=number("exit_code"),
        signal=number("signal"),
        reason=text("reason"),
        message=text("message"),
        started_at=text("started_at"),
        finished_at=text("finished_at"),
        restart_count=number("restarts") or 0,
        node=text("node"),
        workload=Workload.parse(str(record["workload"])),
        source=RecordSource(record["source"]),
        pod_reason=text("pod_reason"),
        pod_message=text("pod_message"),
        unwatched_restarts=number("unwatched") or 0,
        restart_rule=text("restart_rule"),
        rule_names_code=record.get("rule_names_code") is True,
        restarted_with=text("restarted_with"),
        stop_signal=text("stop_signal"),
        revision=text("revision"),
    )


def _group(group: GroupRef) -> dict[str, Any]:
    return {"channel": group.channel, "group": group.key.id, "opened": group.opened_at}


def _row(row: DigestRow) -> list[Any]:
    kind = row.kind.value if row.kind is not None else None
    workload = row.workload.ref if row.kind is not None else None
    return [row.namespace, workload, row.exit_code, kind, row.count, row.last_seen]


def _row_from(item: Any) -> DigestRow:
    namespace, workload, exit_code, kind, count, last_seen = item
    if kind is None:
        return DigestRow("", Workload("", ""), None, None, _count(count), _number(last_seen))
    code = exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None
    return DigestRow(
        str(namespace),
        Workload.parse(str(workload)),
        code,
        AlertKind(kind),
        _count(count),
        _number(last_seen),
    )


def _clip(text: str | None, limit: int = RECORD_MESSAGE_CHARS) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"not a count: {value!r}")
    return value
