"""The planner's memory, sized for one ConfigMap value: what was alerted, open threads, storms, snoozes.

The watcher restarts, loses its leader Lease, relists after `410 Gone`; each time it sees every visible
termination again. Exactly-once alerting therefore needs a memory that survives the process, and in a
ConfigMap (1 MiB for the whole object) that memory must stay small and bounded:

- `alerted` maps a 64-bit digest of each handled termination key (16 hex characters instead of ~120)
  to the termination's own time. Entries older than the retention (24 h) are pruned, and the oldest go
  first when the cap is reached. `horizon` records how far back the ledger remembers: a termination
  older than the horizon can no longer be proven new, so the planner counts it as *stale* instead of
  alerting it again. This is what stops a three-day-old `lastState` from re-alerting after each relist.
- `groups` holds the open episode of each alert group (root `ts`, count, last seen), pruned when its
  `GROUP_WINDOW` has passed.
- `channels` holds each channel's recent alert times (only as many as the storm rule needs) and its
  storm digest, if one is running.
- `snoozes` maps `namespace/Kind/name` to the latest snooze *decision* for that workload (`Snooze`:
  until when, who set it, when it was set; a lift is a decision too, kept as a tombstone). Stored as
  the plain end (what earlier versions read) plus `snooze_decisions`, keyed by the name's digest.
  Merges keep the decision made last, never the longest snooze, so shortening or lifting on any
  replica sticks.
- `owners` maps an alert's root message (`channel id:ts`) to who said "I'm on it" (`Owner`), latest wins.
- `deaths` maps a digest of `<pod uid>/<container>` to the ordinal of the last death the bot saw (and
  when): a container that died three times while no leader watched shows only its last termination,
  and this is how the next alert can say "2 more restarts while the bot was not watching".
- `incidents` holds each group's incident (firing, quiet, recovered: `bot.alerting.incidents`); a group
  whose incident is open, or recovered less than `GROUP_WINDOW` ago, is kept past its window (its root
  is still the one edited), and a recovered incident is forgotten `GROUP_WINDOW` after it recovered.
- `outbox` holds the Slack actions planned but not yet confirmed sent (records made by
  `bot.alerting.outbox`, opaque here), and `outbox_done` the ids of recently sent ones, so that a merge
  with an older copy cannot bring a sent action back: planned work survives a restart or a failover and
  is executed once.

Serialisation is deterministic (sorted keys, no floats where seconds suffice), versioned, and validated
on load: a corrupt or future ledger raises `LedgerError` with a sentence for the log. `merge` is a union,
commutative and idempotent, for the optimistic-concurrency retry of a ConfigMap write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.alerting.incidents import IncidentState

__all__ = [
    "LEDGER_VERSION",
    "ChannelState",
    "DigestState",
    "GroupState",
    "LedgerError",
    "LedgerLimits",
    "LedgerState",
    "Owner",
    "Snooze",
    "key_digest",
    "pod_digest",
]

LEDGER_VERSION = 1
_RECENT_HARD_CAP = 1000


class LedgerError(ValueError):
    """The stored ledger cannot be read; the message says what is wrong, for the operator's log."""


@dataclass(frozen=True, slots=True)
class LedgerLimits:
    """Bounds that keep the serialised ledger well under a ConfigMap's 1 MiB.

    With every cap reached and every name at Kubernetes' maximum length the JSON stays under 0.625 MiB
    (a test checks it); typical clusters use a few kilobytes.
    """

    retention_seconds: float = 86_400.0
    max_alerted: int = 6_000
    max_groups: int = 400
    max_pods_per_group: int = 10
    max_digest_rows: int = 32
    max_channels: int = 200
    max_snoozes: int = 200
    outbox_done_seconds: float = 3_600.0
    """How long a sent outbox entry's id is remembered (longer than any write race between replicas)."""
    max_outbox_done: int = 1_000
    max_deaths: int = 2_000
    """Containers whose last seen death is remembered (to count the ones nobody watched)."""
    max_incidents: int = 400
    """Incidents remembered (one per alert group: as many as `max_groups`)."""
    max_owners: int = 100
    """Incidents whose owner ("I'm on it") is remembered, each for `retention_seconds`."""


def key_digest(key: str) -> str:
    """The ledger's name for a termination key: 64 bits of BLAKE2b, collision-free in practice at 10⁴ keys."""
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


def pod_digest(uid: str) -> str:
    """A group's short name for a pod: 32 bits suffice to tell apart the few pods one group remembers."""
    return hashlib.blake2b(uid.encode("utf-8"), digest_size=4).hexdigest()


@dataclass(slots=True)
class GroupState:
    """The open episode of one alert group (see `actions.GroupKey`)."""

    opened_at: float
    last_seen: float
    count: int
    root_ts: str | None = None
    pods: list[str] = field(default_factory=list)
    """`pod_digest` of the latest pods in the episode (evictions count each pod once)."""
    pod_count: int = 1
    root: dict[str, Any] | None = None
    """The root's termination (a compact `outbox` record, opaque here): after a restart, a count edit
    of the root still shows the crash it was posted for, not the latest repeat."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "opened": self.opened_at,
            "last": self.last_seen,
            "count": self.count,
            "ts": self.root_ts,
            "pods": list(self.pods),
            "pod_count": self.pod_count,
        } | ({"root": self.root} if self.root is not None else {})

    @classmethod
    def from_dict(cls, data: Any, where: str) -> GroupState:
        record = _mapping(data, where)
        return cls(
            opened_at=_number(record.get("opened"), f"{where}.opened"),
            last_seen=_number(record.get("last"), f"{where}.last"),
            count=_count(record.get("count"), f"{where}.count"),
            root_ts=_optional_text(record.get("ts"), f"{where}.ts"),
            pods=_texts(record.get("pods", []), f"{where}.pods"),
            pod_count=_count(record.get("pod_count", 1), f"{where}.pod_count"),
            root=dict(_mapping(record["root"], f"{where}.root")) if record.get("root") is not None else None,
        )


@dataclass(slots=True)
class DigestState:
    """A running storm digest: row id → [count, last seen]; see `actions.DigestRow` for the row fields."""

    started_at: float
    last_flush: float
    ts: str | None = None
    dirty: bool = False
    rows: dict[str, list[float]] = field(default_factory=dict)
    last_added: float | None = None
    """When the latest alert was added: a digest quiet for a moment shows its final count at once."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "started": self.started_at,
            "flushed": self.last_flush,
            "ts": self.ts,
            "dirty": self.dirty,
            "rows": {row: [int(values[0]), values[1]] for row, values in self.rows.items()},
        } | ({"added": self.last_added} if self.last_added is not None else {})

    @classmethod
    def from_dict(cls, data: Any, where: str) -> DigestState:
        record = _mapping(data, where)
        rows: dict[str, list[float]] = {}
        for row, values in _mapping(record.get("rows", {}), f"{where}.rows").items():
            if not isinstance(values, list) or len(values) != 2:
                raise LedgerError(f"ledger field {where}.rows[{row!r}] must be [count, last_seen]")
            rows[row] = [
                float(_count(values[0], f"{where}.rows[{row!r}]")),
                _number(values[1], f"{where}.rows[{row!r}]"),
            ]
        dirty = record.get("dirty", False)
        if not isinstance(dirty, bool):
            raise LedgerError(f"ledger field {where}.dirty must be true or false")
        return cls(
            started_at=_number(record.get("started"), f"{where}.started"),
            last_flush=_number(record.get("flushed"), f"{where}.flushed"),
            ts=_optional_text(record.get("ts"), f"{where}.ts"),
            dirty=dirty,
            rows=rows,
            last_added=_number(record["added"], f"{where}.added")
            if record.get("added") is not None
            else None,
        )


@dataclass(slots=True)
class ChannelState:
    """Recent alert times of one channel (for the storm rule) and its running digest, if any."""

    recent: list[float] = field(default_factory=list)
    digest: DigestState | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"recent": list(self.recent), "digest": self.digest.to_dict() if self.digest else None}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ChannelState:
        record = _mapping(data, where)
        recent = record.get("recent", [])
        if not isinstance(recent, list):
            raise LedgerError(f"ledger field {where}.recent must be a list of times")
        digest = record.get("digest")
        return cls(
            recent=sorted(_number(value, f"{where}.recent") for value in recent),
            digest=DigestState.from_dict(digest, f"{where}.digest") if digest is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Snooze:
    """One snooze decision for a workload: set, shortened, extended or lifted (a tombstone).

    Why a decision and not just an end time: "the longest snooze wins" undoes a shortening made on
    another replica, and a lift that merely deleted the entry would be brought back by any older copy
    of the ledger. The decision made last (`set_at`) wins a merge, so a lift keeps its place as a
    tombstone (`lifted`, `until == set_at`) until no older copy can matter (see `LedgerState.prune`).
    A ledger written before decisions existed stores a bare end time: it loads with `set_at` 0, so
    any decision made since wins over it.
    """

    until: float
    set_by: str | None = None
    """The Slack user id of whoever decided (validated by the adapter), None when unknown."""
    set_at: float = 0.0
    lifted: bool = False
    via: str | None = None
    """A digest of the click that made the decision: the same click arriving twice (another replica,
    a retry) is recognised as done, so a decision is applied once."""

    def active(self, now: float) -> bool:
        return not self.lifted and self.until > now

    def newer_than(self, other: Snooze) -> bool:
        """The merge order: later `set_at`, then a deterministic tie-break (commutative merges)."""
        return _decision_order(self) > _decision_order(other)

    def to_dict(self, *, with_until: bool = True) -> dict[str, Any]:
        record: dict[str, Any] = {"at": self.set_at} | ({"until": self.until} if with_until else {})
        if self.set_by is not None:
            record["by"] = self.set_by
        if self.lifted:
            record["lifted"] = True
        if self.via is not None:
            record["via"] = self.via
        return record

    @classmethod
    def from_dict(cls, data: Any, where: str, until: float | None = None) -> Snooze:
        """A decision record (`until` given: its end is stored apart), or a plain end."""
        if isinstance(data, int | float) and not isinstance(data, bool):
            return cls(until=float(data))  # a ledger from before decisions: only the end was kept
        record = _mapping(data, where)
        if until is not None:
            record = {**record, "until": until}
        lifted = record.get("lifted", False)
        if not isinstance(lifted, bool):
            raise LedgerError(f"ledger field {where}.lifted must be true or false")
        return cls(
            until=_number(record.get("until"), f"{where}.until"),
            set_by=_optional_text(record.get("by"), f"{where}.by"),
            set_at=_number(record.get("at", 0), f"{where}.at"),
            lifted=lifted,
            via=_optional_text(record.get("via"), f"{where}.via"),
        )


def _decision_order(decision: Snooze | Owner) -> tuple[float, str]:
    return (decision.set_at, json.dumps(decision.to_dict(), sort_keys=True))


@dataclass(frozen=True, slots=True)
class Owner:
    """Who said "I'm on it" for one alert (its root message), and when; the latest claim wins."""

    user: str
    set_at: float
    via: str | None = None

    def newer_than(self, other: Owner) -> bool:
        return _decision_order(self) > _decision_order(other)

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "at": self.set_at} | ({"via": self.via} if self.via else {})

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Owner:
        record = _mapping(data, where)
        return cls(
            user=_text(record.get("user"), f"{where}.user"),
            set_at=_number(record.get("at"), f"{where}.at"),
            via=_optional_text(record.get("via"), f"{where}.via"),
        )


def _latest(mine: Any, theirs: Any) -> Any:
    """The decision made last of two (either may be None)."""
    if mine is None or theirs is None:
        return mine if theirs is None else theirs
    return mine if mine.newer_than(theirs) else theirs


@dataclass(slots=True)
class LedgerState:
    """Everything the planner remembers; see the module docstring for each part."""

    alerted: dict[str, float] = field(default_factory=dict)
    horizon: float | None = None
    groups: dict[str, GroupState] = field(default_factory=dict)
    channels: dict[str, ChannelState] = field(default_factory=dict)
    snoozes: dict[str, Snooze] = field(default_factory=dict)
    """Workload (`namespace/Kind/name`) → the latest snooze decision, lifted ones included."""
    outbox: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Entry id → record of an action planned but not yet sent (see `bot.alerting.outbox`)."""
    outbox_done: dict[str, float] = field(default_factory=dict)
    deaths: dict[str, list[float]] = field(default_factory=dict)
    """Container digest → [ordinal of the last death seen, when seen] (see `bot.alerting.unwatched`)."""
    """Entry id → when it was sent; a merge drops outbox records whose id is here."""
    incidents: dict[str, IncidentState] = field(default_factory=dict)
    """`key_digest(group id)` → the group's incident (see `bot.alerting.incidents`): the group, which the
    incident keeps alive, already holds the long id, so the ledger does not store it twice."""
    owners: dict[str, Owner] = field(default_factory=dict)
    """Alert root (`channel id:ts`) → who said "I'm on it" (see `Owner`), up to `max_owners`."""
    _oldest: float | None = field(default=None, repr=False, compare=False)

    # --- the alerted-key set -------------------------------------------------------------------------

    def knows(self, digest: str) -> bool:
        return digest in self.alerted

    def is_stale(self, event_time: float) -> bool:
        """True when `event_time` is at or before the horizon: the ledger may have forgotten it."""
        return self.horizon is not None and event_time <= self.horizon

    def record(self, digest: str, event_time: float, limits: LedgerLimits) -> None:
        """Remember a handled termination; drops the oldest entries (advancing the horizon) past the cap."""
        stamp = float(int(event_time))
        self.alerted[digest] = max(stamp, self.alerted.get(digest, stamp))
        self._oldest = stamp if self._oldest is None else min(self._oldest, stamp)
        if len(self.alerted) > limits.max_alerted:
            self._evict_oldest(limits.max_alerted - max(1, limits.max_alerted // 10))

    def advance(self, now: float, limits: LedgerLimits) -> None:
        """Move the horizon to `now - retention` and forget what lies behind it (cheap when nothing does)."""
        self._raise_horizon(now - limits.retention_seconds)
        if self.horizon is None:
            return
        if self._oldest is None and self.alerted:
            self._oldest = min(self.alerted.values())
        if self._oldest is not None and self._oldest <= self.horizon:
            horizon = self.horizon
            self.alerted = {key: when for key, when in self.alerted.items() if when > horizon}
            self._oldest = min(self.alerted.values()) if self.alerted else None

    def _raise_horizon(self, when: float) -> None:
        self.horizon = when if self.horizon is None else max(self.horizon, when)

    def _evict_oldest(self, keep: int) -> None:
        ordered = sorted(self.alerted.items(), key=lambda item: (item[1], item[0]))
        dropped, kept = ordered[: len(ordered) - keep], ordered[len(ordered) - keep :]
        if dropped:
            self._raise_horizon(dropped[-1][1])
        self.alerted = dict(kept)
        self._oldest = kept[0][1] if kept else None

    # --- housekeeping ----------------------------------------------------------------------------------

    def prune(self, now: float, limits: LedgerLimits, group_window: float, storm_window: float) -> None:
        """Forget expired groups, idle channels, ended snoozes and old keys; enforce every cap."""
        self.advance(now, limits)
        self._prune_incidents(now, limits, group_window)
        self.groups = {
            gid: group
            for gid, group in self.groups.items()
            if group.opened_at + group_window > now or self._incident_holds(gid, group)
        }
        _cap(self.groups, limits.max_groups, lambda item: (item[1].last_seen, item[0]))
        if self.incidents:  # an incident whose group was capped away has no root left to edit
            kept = {key_digest(gid) for gid in self.groups}
            self.incidents = {key: value for key, value in self.incidents.items() if key in kept}
        for channel in list(self.channels):
            state = self.channels[channel]
            state.recent = [when for when in state.recent if when > now - storm_window]
            if state.digest is None and not state.recent:
                del self.channels[channel]
        _cap(self.channels, limits.max_channels, lambda item: (item[1].recent[-1:] or [0.0], item[0]))
        # A decision is kept while it is in force, and for `retention_seconds` after it was made: an
        # older copy of the ledger (a standby's write, a carried state) cannot outlive that, and any
        # decision it could bring back (a snooze lasts at most 24 h) has ended by then.
        since = now - limits.retention_seconds
        self.snoozes = {
            key: snooze for key, snooze in self.snoozes.items() if snooze.active(now) or snooze.set_at > since
        }
        _cap(self.snoozes, limits.max_snoozes, lambda item: (item[1].active(now), item[1].set_at, item[0]))
        self.owners = {key: owner for key, owner in self.owners.items() if owner.set_at > since}
        _cap(self.owners, limits.max_owners, lambda item: (item[1].set_at, item[0]))
        self.outbox_done = {
            key: when for key, when in self.outbox_done.items() if when > now - limits.outbox_done_seconds
        }
        _cap(self.outbox_done, limits.max_outbox_done, lambda item: (item[1], item[0]))
        if self.deaths:
            since = now - limits.retention_seconds
            self.deaths = {key: seen for key, seen in self.deaths.items() if seen[1] > since}
            _cap(self.deaths, limits.max_deaths, lambda item: (item[1][1], item[0]))

    def _prune_incidents(self, now: float, limits: LedgerLimits, group_window: float) -> None:
        """Forget incidents recovered more than a window ago (a crash now starts a new one)."""
        if not self.incidents:
            return
        self.incidents = {
            gid: incident
            for gid, incident in self.incidents.items()
            if incident.open or incident.since + group_window > now
        }
        _cap(self.incidents, limits.max_incidents, lambda item: (item[1].open, item[1].since, item[0]))

    def _incident_holds(self, gid: str, group: GroupState) -> bool:
        """The group's root shows a remembered incident: keep it (its edits and reopenings need it)."""
        incident = self.incident_of(gid)
        return incident is not None and incident.opened == group.opened_at

    def incident_of(self, gid: str) -> IncidentState | None:
        """The incident of the group `gid` (an `actions.GroupKey.id`), if it has one."""
        return self.incidents.get(key_digest(gid)) if self.incidents else None

    def set_incident(self, gid: str, incident: IncidentState) -> IncidentState:
        self.incidents[key_digest(gid)] = incident
        return incident

    def copy(self) -> LedgerState:
        """An independent copy for a writer to prune and bound, at a fraction of a JSON round trip's
        cost (the storm benchmark found that round trip to be half the main thread). Outbox records and
        root records are never changed in place, so they are shared; every container is new."""
        return LedgerState(
            alerted=dict(self.alerted),
            horizon=self.horizon,
            groups={
                gid: GroupState(
                    group.opened_at,
                    group.last_seen,
                    group.count,
                    group.root_ts,
                    list(group.pods),
                    group.pod_count,
                    group.root,
                )
                for gid, group in self.groups.items()
            },
            channels={
                name: ChannelState(
                    list(channel.recent),
                    None
                    if channel.digest is None
                    else DigestState(
                        channel.digest.started_at,
                        channel.digest.last_flush,
                        channel.digest.ts,
                        channel.digest.dirty,
                        _copy_rows(channel.digest.rows),
                        channel.digest.last_added,
                    ),
                )
                for name, channel in self.channels.items()
            },
            snoozes=dict(self.snoozes),
            outbox={key: dict(record) for key, record in self.outbox.items()},
            outbox_done=dict(self.outbox_done),
            deaths={key: list(seen) for key, seen in self.deaths.items()},
            incidents={gid: incident.copy() for gid, incident in self.incidents.items()},
            owners=dict(self.owners),
        )

    # --- serialisation ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; equal states give equal dicts."""
        return {
            "version": LEDGER_VERSION,
            "horizon": self.horizon,
            "alerted": {key: int(when) for key, when in sorted(self.alerted.items())},
            "groups": {gid: self.groups[gid].to_dict() for gid in sorted(self.groups)},
            "channels": {name: self.channels[name].to_dict() for name in sorted(self.channels)},
            # Each snooze's end stays a plain number under `snoozes`, as every earlier version wrote and
            # reads it (a replica not yet upgraded keeps working, the lift's end already past); the
            # decision itself (who, when, lifted) is under `snooze_decisions`.
            "snoozes": {key: self.snoozes[key].until for key in sorted(self.snoozes)},
        } | self._outbox_dict()

    def _outbox_dict(self) -> dict[str, Any]:
        """The outbox fields, only when there is something in them (older ledgers stay byte-identical)."""
        extra: dict[str, Any] = {}
        if self.outbox:
            extra["outbox"] = {key: self.outbox[key] for key in sorted(self.outbox)}
        if self.outbox_done:
            extra["outbox_done"] = dict(sorted(self.outbox_done.items()))
        if self.deaths:
            extra["deaths"] = {key: [int(seen[0]), int(seen[1])] for key, seen in sorted(self.deaths.items())}
        if self.incidents:
            extra["incidents"] = {gid: self.incidents[gid].to_dict() for gid in sorted(self.incidents)}
        decided = {
            key_digest(key): snooze.to_dict(with_until=False)
            for key, snooze in sorted(self.snoozes.items())
            if snooze.set_at
        }
        if decided:
            extra["snooze_decisions"] = decided
        if self.owners:
            extra["owners"] = {key: self.owners[key].to_dict() for key in sorted(self.owners)}
        return extra

    def to_json(self) -> str:
        """Compact, key-sorted JSON: the ConfigMap value, byte-identical for equal states."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Any) -> LedgerState:
        """Validate and load; raises `LedgerError` naming the bad field, or the unsupported version."""
        record = _mapping(data, "ledger")
        version = record.get("version")
        if version != LEDGER_VERSION:
            raise LedgerError(
                f"ledger version {version!r} is not supported (this bot reads version {LEDGER_VERSION}); "
                "delete the ledger ConfigMap to start afresh"
            )
        horizon = record.get("horizon")
        alerted = {
            _text(key, "ledger.alerted key"): float(int(_number(when, f"ledger.alerted[{key!r}]")))
            for key, when in _mapping(record.get("alerted", {}), "ledger.alerted").items()
        }
        return cls(
            alerted=alerted,
            horizon=None if horizon is None else _number(horizon, "ledger.horizon"),
            groups={
                gid: GroupState.from_dict(value, f"ledger.groups[{gid!r}]")
                for gid, value in _mapping(record.get("groups", {}), "ledger.groups").items()
            },
            channels={
                name: ChannelState.from_dict(value, f"ledger.channels[{name!r}]")
                for name, value in _mapping(record.get("channels", {}), "ledger.channels").items()
            },
            snoozes=_snoozes(record),
            owners={
                key: Owner.from_dict(value, f"ledger.owners[{key!r}]")
                for key, value in _mapping(record.get("owners", {}), "ledger.owners").items()
            },
            outbox={
                _text(key, "ledger.outbox key"): dict(_mapping(value, f"ledger.outbox[{key!r}]"))
                for key, value in _mapping(record.get("outbox", {}), "ledger.outbox").items()
            },
            outbox_done={
                _text(key, "ledger.outbox_done key"): _number(when, f"ledger.outbox_done[{key!r}]")
                for key, when in _mapping(record.get("outbox_done", {}), "ledger.outbox_done").items()
            },
            deaths={
                _text(key, "ledger.deaths key"): _pair(seen, f"ledger.deaths[{key!r}]")
                for key, seen in _mapping(record.get("deaths", {}), "ledger.deaths").items()
            },
            incidents={
                _text(key, "ledger.incidents key"): _incident(value, f"ledger.incidents[{key!r}]")
                for key, value in _mapping(record.get("incidents", {}), "ledger.incidents").items()
            },
        )

    @classmethod
    def from_json(cls, text: str) -> LedgerState:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise LedgerError(f"ledger is not valid JSON: {error}") from error
        return cls.from_dict(data)

    # --- merge ------------------------------------------------------------------------------------------

    def merge(self, other: LedgerState, limits: LedgerLimits | None = None) -> LedgerState:
        """The union of two ledgers (ours and the one a concurrent writer stored), as a new state.

        Keys: union, horizon: the later one. Groups: the newer episode, or for the same episode the
        larger counts and whichever root `ts` is known. Channels: union of recent times and digest rows.
        Snoozes and owners: the decision made last (a lift included), never the longer snooze.
        Outbox: the union of records, minus every id either side has sent.
        Commutative and idempotent, so retrying a conflicting write converges.
        """
        bounds = limits or LedgerLimits()
        merged = LedgerState(horizon=_later(self.horizon, other.horizon))
        for digest in self.alerted.keys() | other.alerted.keys():
            when = max(self.alerted.get(digest, float("-inf")), other.alerted.get(digest, float("-inf")))
            if not merged.is_stale(when):
                merged.alerted[digest] = when
        if len(merged.alerted) > bounds.max_alerted:
            merged._evict_oldest(bounds.max_alerted)
        for gid in self.groups.keys() | other.groups.keys():
            merged.groups[gid] = _merge_groups(self.groups.get(gid), other.groups.get(gid), bounds)
        _cap(merged.groups, bounds.max_groups, lambda item: (item[1].last_seen, item[0]))
        for name in self.channels.keys() | other.channels.keys():
            merged.channels[name] = _merge_channels(self.channels.get(name), other.channels.get(name), bounds)
        for key in self.snoozes.keys() | other.snoozes.keys():
            merged.snoozes[key] = _latest(self.snoozes.get(key), other.snoozes.get(key))
        for key in self.owners.keys() | other.owners.keys():
            merged.owners[key] = _latest(self.owners.get(key), other.owners.get(key))
        for key in self.outbox_done.keys() | other.outbox_done.keys():
            merged.outbox_done[key] = max(
                self.outbox_done.get(key, float("-inf")), other.outbox_done.get(key, float("-inf"))
            )
        _cap(merged.outbox_done, bounds.max_outbox_done, lambda item: (item[1], item[0]))
        for key in self.deaths.keys() | other.deaths.keys():
            seen = [side.deaths[key] for side in (self, other) if key in side.deaths]
            merged.deaths[key] = [max(item[0] for item in seen), max(item[1] for item in seen)]
        _cap(merged.deaths, bounds.max_deaths, lambda item: (item[1][1], item[0]))
        for gid in self.incidents.keys() | other.incidents.keys():
            # The newer episode wins; for the same episode, the later transition (a recovery is never lost
            # to an older "firing" copy, and a re-opening crash is never lost to an older recovery).
            copies = [side.incidents[gid] for side in (self, other) if gid in side.incidents]
            merged.incidents[gid] = max(copies, key=lambda item: (item.opened, *item.order())).copy()
        _cap(merged.incidents, bounds.max_incidents, lambda item: (item[1].open, item[1].since, item[0]))
        for key in self.outbox.keys() | other.outbox.keys():
            if key in merged.outbox_done:
                continue
            records = [dict(side.outbox[key]) for side in (self, other) if key in side.outbox]
            # Two planners may have written the same action with different timestamps: pick one
            # deterministically, so that the merge stays commutative.
            merged.outbox[key] = min(records, key=lambda record: json.dumps(record, sort_keys=True))
        # A backlog digest replaced the entries it lists (`bot.alerting.backlog`): never both.
        replaced = {str(item) for record in merged.outbox.values() for item in record.get("folded") or ()}
        for key in replaced & merged.outbox.keys():
            del merged.outbox[key]
        return merged


def _snoozes(record: Mapping[str, Any]) -> dict[str, Snooze]:
    """`snoozes` (plain ends, as every version writes and reads them) joined with `snooze_decisions`
    (who, when, lifted; keyed by `key_digest` of the workload, so long names are not stored twice). An
    end a replica of an earlier version wrote keeps the decision stored beside it, if any: only during
    a rolling upgrade can the two disagree, and the next decision replaces both."""
    decisions = _mapping(record.get("snooze_decisions", {}), "ledger.snooze_decisions")
    snoozes: dict[str, Snooze] = {}
    for key, value in _mapping(record.get("snoozes", {}), "ledger.snoozes").items():
        where = f"ledger.snoozes[{key!r}]"
        plain = Snooze.from_dict(value, where)
        digest = key_digest(key)
        if digest in decisions and not isinstance(value, Mapping):
            plain = Snooze.from_dict(decisions[digest], f"ledger.snooze_decisions[{digest!r}]", plain.until)
        snoozes[key] = plain
    return snoozes


def _merge_groups(mine: GroupState | None, theirs: GroupState | None, limits: LedgerLimits) -> GroupState:
    if mine is None or theirs is None:
        only = mine or theirs
        assert only is not None
        return GroupState(
            only.opened_at,
            only.last_seen,
            only.count,
            only.root_ts,
            list(only.pods),
            only.pod_count,
            dict(only.root) if only.root is not None else None,
        )
    if mine.opened_at != theirs.opened_at:
        newer = mine if mine.opened_at > theirs.opened_at else theirs
        return _merge_groups(newer, None, limits)
    pods = sorted(set(mine.pods) | set(theirs.pods))[-limits.max_pods_per_group :]
    known_ts = sorted(ts for ts in (mine.root_ts, theirs.root_ts) if ts is not None)
    return GroupState(
        opened_at=mine.opened_at,
        last_seen=max(mine.last_seen, theirs.last_seen),
        count=max(mine.count, theirs.count),
        root_ts=known_ts[0] if known_ts else None,
        pods=pods,
        pod_count=max(mine.pod_count, theirs.pod_count, len(pods)),
        root=dict(mine.root or theirs.root or {}) or None,
    )


def _merge_channels(
    mine: ChannelState | None, theirs: ChannelState | None, limits: LedgerLimits
) -> ChannelState:
    recent = sorted(set((mine.recent if mine else []) + (theirs.recent if theirs else [])))[
        -_RECENT_HARD_CAP:
    ]
    digests = [state.digest for state in (mine, theirs) if state is not None and state.digest is not None]
    if not digests:
        return ChannelState(recent=recent)
    if len(digests) == 1 or digests[0].started_at != digests[1].started_at:
        first = min(digests, key=lambda digest: (digest.ts is None, digest.started_at, digest.ts or ""))
        digest = DigestState(
            first.started_at,
            first.last_flush,
            first.ts,
            first.dirty,
            _copy_rows(first.rows),
            first.last_added,
        )
        return ChannelState(recent=recent, digest=digest)
    a, b = digests
    rows = _copy_rows(a.rows)
    for row, (count, last_seen) in b.rows.items():
        mine_row = rows.get(row)
        rows[row] = [max(count, mine_row[0]), max(last_seen, mine_row[1])] if mine_row else [count, last_seen]
    known_ts = sorted(ts for ts in (a.ts, b.ts) if ts is not None)
    merged = DigestState(
        started_at=a.started_at,
        last_flush=max(a.last_flush, b.last_flush),
        ts=known_ts[0] if known_ts else None,
        dirty=a.dirty or b.dirty,
        rows=rows,
        last_added=max((x for x in (a.last_added, b.last_added) if x is not None), default=None),
    )
    return ChannelState(recent=recent, digest=merged)


def _copy_rows(rows: Mapping[str, list[float]]) -> dict[str, list[float]]:
    return {row: list(values) for row, values in rows.items()}


def _cap(items: dict[str, Any], limit: int, order: Callable[[tuple[str, Any]], Any]) -> None:
    """Drop the lowest-ordered entries of `items` (in place) until at most `limit` remain."""
    if len(items) <= limit:
        return
    for key, _ in sorted(items.items(), key=order)[: len(items) - limit]:
        del items[key]


def _later(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise LedgerError(f"ledger field {where} must be an object, not {type(value).__name__}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LedgerError(f"ledger field {where} must be a number, not {value!r}")
    return float(value)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != int(value):
        raise LedgerError(f"ledger field {where} must be a count (0, 1, 2, …), not {value!r}")
    return int(value)


def _incident(value: Any, where: str) -> IncidentState:
    try:
        return IncidentState.from_dict(value)
    except (KeyError, TypeError, ValueError) as error:
        raise LedgerError(f"ledger field {where} is not an incident: {error}") from error


def _pair(value: Any, where: str) -> list[float]:
    if not isinstance(value, list) or len(value) != 2:
        raise LedgerError(f"ledger field {where} must be [ordinal, time]")
    return [_number(value[0], where), _number(value[1], where)]


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise LedgerError(f"ledger field {where} must be a string, not {value!r}")
    return value


def _optional_text(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _texts(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise LedgerError(f"ledger field {where} must be a list of strings")
    return [_text(item, where) for item in value]
