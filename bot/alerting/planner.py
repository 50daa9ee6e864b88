"""Never spam, never lose: turn classified terminations into the Slack actions that report them.

Input: `RoutedTermination`s (see `policy.assess`) and the current time. Output: a `Plan` of actions for
the adapter (see `actions` for how to execute them) and one `Outcome` per input, for metrics and logs.
The rules, in the order they apply to each termination:

1. **Exactly once.** A termination whose key the ledger holds is a `duplicate` (relists, watch replays,
   a restarted or newly elected bot). One older than the ledger's horizon is `stale`: the ledger may
   have forgotten it, and re-alerting a day-old crash after every relist is the bug users hate most.
   Everything else is recorded, and only then considered: a suppressed termination is recorded too, so
   it is counted once under its reason.
2. **Storm.** Each alert counts against its channel's rate. When more than `storm_threshold` alerts
   fall in the trailing `storm_window_seconds` (default: more than 10 in a minute), the channel switches
   to one digest message (workload × exit code × count) that is edited in place, at most every
   `digest_update_seconds`. Hysteresis: the storm ends only when the trailing window holds at most
   `calm_threshold` alerts (default half the threshold), which by construction takes a full window
   after the peak; the digest then gets a final "calm" update and alerts go back to normal.
3. **Grouping.** Outside a storm, the first alert of a group (channel, namespace, workload, container,
   exit code, kind) posts a root; repeats within `group_window_seconds` of that root go into its thread
   and the root is edited in place with the count (one edit per group per plan, however many repeats).
   After the window the next repeat opens a new root, so a long crash loop resurfaces every window
   instead of hiding in an old thread. Evictions group per workload; a second container of an already
   reported evicted pod only raises the root's count.

Accounting: every input ends in exactly one disposition (`root`, `reply`, `root_count`, `digest`,
`suppressed`, `duplicate`, `stale`), `Accounting.balanced()` checks it, and a digest's rows always sum to
the alerts it absorbed. Nothing is dropped: a crash is in a message or in a counter.

4. **Incidents.** Each group has one incident (`bot.alerting.incidents`): a root opens it, repeats keep
   it firing, and `observe(pods, now)` (what the watch shows of the workload's live pods) turns it quiet
   or recovered: the root is edited in place (its state line) and one `PostRecovery` goes into its
   thread. A crash within GROUP_WINDOW of the recovery re-opens it in the same thread (a reply, the root
   back to firing); later, it opens a new root. When the window passes while the incident still burns,
   the new root carries the incident on and the old root is edited to say so.

`tick(now)` must be called every few seconds: storms end, and throttled digest edits go out, with time.
The planner never does I/O; its `state` is what the adapter stores in the ledger ConfigMap.
"""

from __future__ import annotations

import json
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

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
from bot.alerting.decisions import lift_snooze
from bot.alerting.destinations import is_chat_channel
from bot.alerting.incidents import (
    IncidentPhase,
    IncidentState,
    IncidentStatus,
    OwnerFate,
    PodSeen,
    evaluate,
    owner_to_read,
    revision_key,
)
from bot.alerting.ledger_state import (
    ChannelState,
    DigestState,
    GroupState,
    LedgerLimits,
    LedgerState,
    Snooze,
    key_digest,
    pod_digest,
)
from bot.alerting.outbox import termination_from_record, termination_to_record
from bot.alerting.policy import AlertKind, RoutedTermination, Suppression, Verdict, snooze_key
from bot.alerting.termination import Termination, Workload
from bot.diagnosis.answers import OpenIncident

__all__ = ["Accounting", "AlertPlanner", "Disposition", "Outcome", "Plan", "PlannerConfig", "open_incidents"]

_OVERFLOW_ROW = json.dumps(["", "", None, None])
_POSTED_MEMORY = 2_000
ROOT_MESSAGE_CHARS = 200
"""Characters of the root's termination message the ledger keeps per open group (it shows in edits)."""


class Disposition(StrEnum):
    """Where one termination handed to the planner ended up."""

    ROOT = "root"
    REPLY = "reply"
    ROOT_COUNT = "root_count"
    DIGEST = "digest"
    SUPPRESSED = "suppressed"
    DUPLICATE = "duplicate"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class PlannerConfig:
    """Tuning of the planner; the first three come from GROUP_WINDOW and STORM_THRESHOLD settings."""

    group_window_seconds: float = 1800.0
    storm_threshold: int = 10
    storm_window_seconds: float = 60.0
    calm_threshold: int | None = None
    """Alerts per window at or below which a storm ends; None means `storm_threshold // 2`."""
    digest_update_seconds: float = 10.0
    digest_quiet_seconds: float = 2.0
    """A digest that got no new alert for this long is edited now (at most this often): when a burst
    ends, its final count shows within seconds, not up to `digest_update_seconds` later."""
    limits: LedgerLimits = field(default_factory=LedgerLimits)
    recovery_seconds: float = 600.0
    """RECOVERY_SECONDS: how long a container must run without a new termination to recover."""

    @property
    def quiet_seconds(self) -> float:
        """No crash for this long turns a firing incident quiet: half the group window (see incidents)."""
        return self.group_window_seconds / 2

    @property
    def calm_level(self) -> int:
        return self.storm_threshold // 2 if self.calm_threshold is None else self.calm_threshold


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one input termination."""

    termination: Termination
    verdict: Verdict
    channel: str | None
    disposition: Disposition


@dataclass(frozen=True, slots=True)
class Plan:
    """The actions to execute, in order, and the outcome of every input."""

    actions: tuple[Action, ...]
    outcomes: tuple[Outcome, ...]


@dataclass(slots=True)
class Accounting:
    """Running totals since the planner was created (per process; metrics counters feed from them)."""

    received: int = 0
    dispositions: Counter[Disposition] = field(default_factory=Counter)
    suppressed: Counter[Suppression] = field(default_factory=Counter)

    def add(self, outcome: Outcome) -> None:
        self.received += 1
        self.dispositions[outcome.disposition] += 1
        if outcome.disposition is Disposition.SUPPRESSED and outcome.verdict.suppression is not None:
            self.suppressed[outcome.verdict.suppression] += 1

    def balanced(self) -> bool:
        """Every input has exactly one disposition, and every suppression has a reason."""
        return self.received == sum(self.dispositions.values()) and self.dispositions[
            Disposition.SUPPRESSED
        ] == sum(self.suppressed.values())


class AlertPlanner:
    """The never-spam / never-lose state machine over a `LedgerState` (see the module docstring)."""

    def __init__(self, config: PlannerConfig | None = None, state: LedgerState | None = None) -> None:
        self.config = config or PlannerConfig()
        self.state = state if state is not None else LedgerState()
        self.accounting = Accounting()
        self._posted_roots: OrderedDict[str, str] = OrderedDict()
        self._posted_digests: OrderedDict[str, str] = OrderedDict()

    # --- planning -----------------------------------------------------------------------------------

    def plan(self, items: Iterable[RoutedTermination], now: float) -> Plan:
        """Decide what to post for `items` (any number, any pods); records them in `state`."""
        config = self.config
        self.state.prune(now, config.limits, config.group_window_seconds, config.storm_window_seconds)
        actions: list[Action] = []
        outcomes: list[Outcome] = []
        root_edits: dict[str, UpdateRoot] = {}
        for item in items:
            disposition = self._place(item, now, actions, root_edits)
            outcome = Outcome(item.termination, item.verdict, item.channel, disposition)
            self.accounting.add(outcome)
            outcomes.append(outcome)
        actions.extend(root_edits.values())
        return Plan(tuple(actions), tuple(outcomes))

    def tick(self, now: float) -> list[Action]:
        """Time-driven actions: end calmed storms, flush throttled digest edits. Call every few seconds."""
        config = self.config
        self.state.prune(now, config.limits, config.group_window_seconds, config.storm_window_seconds)
        actions: list[Action] = []
        for name in sorted(self.state.channels):
            channel = self.state.channels[name]
            digest = channel.digest
            if digest is None:
                continue
            if self._calm(channel, now):
                actions.append(self._end_storm(name, channel))
            elif digest.dirty and (
                now - digest.last_flush >= config.digest_update_seconds or self._quiet(digest, now)
            ):
                actions.append(self._digest_update(name, digest, now))
        return actions

    def _place(
        self,
        item: RoutedTermination,
        now: float,
        actions: list[Action],
        root_edits: dict[str, UpdateRoot],
    ) -> Disposition:
        termination = item.termination
        digest = key_digest(termination.key)
        if self.state.knows(digest):
            return Disposition.DUPLICATE
        event_time = termination.finished_epoch or termination.started_epoch or now
        if self.state.is_stale(event_time):
            return Disposition.STALE
        self.state.record(digest, event_time, self.config.limits)
        if not item.verdict.alerts:
            return Disposition.SUPPRESSED
        # Fan-out (issue 12): each destination groups, storms and counts on its own; the first one's
        # disposition is the input's (one outcome per termination, however many surfaces).
        targets = item.targets
        if not targets:  # `assess` suppresses what goes nowhere (`no_destination`), so it is counted
            raise ValueError(f"alerting termination {termination.key} has no destination")
        dispositions = [
            self._place_at(
                item if channel == item.channel else replace(item, channel=channel),
                now,
                event_time,
                actions,
                root_edits,
            )
            for channel in targets
        ]
        return dispositions[0]

    def _place_at(
        self,
        item: RoutedTermination,
        now: float,
        event_time: float,
        actions: list[Action],
        root_edits: dict[str, UpdateRoot],
    ) -> Disposition:
        """Storm, group or thread one alerting termination in the channel `item.channel`."""
        channel_name = item.channel or ""
        channel = self.state.channels.setdefault(channel_name, ChannelState())
        if channel.digest is not None and self._calm(channel, now):
            actions.append(self._end_storm(channel_name, channel))
        self._count_alert(channel, now)
        if channel.digest is None and self._rate(channel, now) > self.config.storm_threshold:
            started = round(now, 3)
            channel.digest = DigestState(started_at=started, last_flush=now)
            self._add_row(channel.digest, item, event_time, now)
            rows, total = self._rows(channel.digest)
            actions.append(PostDigest(DigestRef(item.channel, started), rows, total))
            return Disposition.DIGEST
        if channel.digest is not None:
            self._add_row(channel.digest, item, event_time, now)
            channel.digest.dirty = True
            if now - channel.digest.last_flush >= self.config.digest_update_seconds:
                actions.append(self._digest_update(channel_name, channel.digest, now))
            return Disposition.DIGEST
        return self._group(item, now, event_time, actions, root_edits)

    def _group(
        self,
        item: RoutedTermination,
        now: float,
        event_time: float,
        actions: list[Action],
        root_edits: dict[str, UpdateRoot],
    ) -> Disposition:
        """Root, thread reply or root count; root edits are collected so each root is edited once per plan."""
        termination = item.termination
        key = GroupKey.for_item(item)
        gid = key.id
        group = self.state.groups.get(gid)
        incident = self.state.incident_of(gid)
        deaths = 1 + termination.unwatched_restarts
        if group is not None and incident is not None and incident.opened == group.opened_at:
            if incident.phase is IncidentPhase.RECOVERED and group.root_ts is None:
                group = None  # its root never reached Slack: there is no thread to re-open
        else:
            incident = None
        reopens = incident is not None and incident.phase is IncidentPhase.RECOVERED
        if group is None or (now - group.opened_at >= self.config.group_window_seconds and not reopens):
            if group is not None and group.root_ts is not None:
                self._remember(self._posted_roots, GroupRef(key, group.opened_at).id, group.root_ts)
            opened = round(now, 3)
            carried = incident if incident is not None and incident.open else None
            if carried is not None and group is not None:
                continued = self._continued(key, group, carried)
                if continued is not None:
                    actions.append(continued)
            self.state.set_incident(
                gid,
                IncidentState(
                    opened=opened,
                    started=carried.started if carried is not None else event_time,
                    last_crash=max(event_time, carried.last_crash if carried is not None else event_time),
                    crashes=(carried.crashes if carried is not None else 0) + deaths,
                    since=carried.since if carried is not None else event_time,
                    revision=revision_key(termination.revision)
                    or (carried.revision if carried is not None else None),
                ),
            )
            self.state.groups[gid] = GroupState(
                opened_at=opened,
                last_seen=event_time,
                count=1 + termination.unwatched_restarts,
                pods=[pod_digest(termination.uid)],
                pod_count=1,
                root=termination_to_record(termination, ROOT_MESSAGE_CHARS),
            )
            actions.append(PostRoot(GroupRef(key, opened), termination))
            return Disposition.ROOT
        ref = GroupRef(key, group.opened_at)
        if incident is not None:
            incident.crashed(deaths, event_time)
            incident.revision = revision_key(termination.revision) or incident.revision
        else:  # a ledger written before incidents: this episode's incident starts now
            incident = self.state.set_incident(
                gid,
                IncidentState(
                    group.opened_at, group.opened_at, event_time, group.count + deaths, since=event_time
                ),
            )
        group.count += deaths  # deaths nobody saw count too
        group.last_seen = max(group.last_seen, event_time)
        disposition = Disposition.REPLY
        pod = pod_digest(termination.uid)
        if key.kind is AlertKind.EVICTION and pod in group.pods:
            disposition = Disposition.ROOT_COUNT
        else:
            if pod not in group.pods:
                group.pods = [*group.pods, pod][-self.config.limits.max_pods_per_group :]
                group.pod_count += 1
            actions.append(PostThreadReply(ref, termination))
        root_edits[ref.id] = UpdateRoot(
            ref,
            group.count,
            group.pod_count,
            group.last_seen,
            termination,
            _root_of(group),
            incident.status(self.config.recovery_seconds),
        )
        return disposition

    def _continued(self, key: GroupKey, group: GroupState, incident: IncidentState) -> UpdateRoot | None:
        """The last edit of a root whose incident moves on to a new root (its window passed while it
        still burned); None when the ledger does not hold the root's crash (written by an older bot)."""
        root = _root_of(group)
        if root is None:
            return None
        status = replace(incident.status(), phase=IncidentPhase.CONTINUED, since=incident.last_crash)
        return UpdateRoot(
            GroupRef(key, group.opened_at), group.count, group.pod_count, group.last_seen, root, root, status
        )

    # --- incidents ----------------------------------------------------------------------------------

    def observe(
        self,
        pods: Mapping[tuple[str, str], Sequence[PodSeen]],
        now: float,
        covers: Callable[[str], bool] | None = None,
        *,
        completed: Mapping[tuple[str, str], float] | None = None,
        owners: Mapping[tuple[str, str, str], OwnerFate] | None = None,
    ) -> list[Action]:
        """Apply what the watch shows now to every open incident: quiet or recovered roots are edited,
        and each recovery gets one thread reply. `pods` maps (namespace, `Kind/name`) to the workload's
        live pods; call it only once a complete pod list has been read in this leadership term (a
        workload missing from `pods` then has no live pod); `covers(namespace)` says which namespaces
        such a list covered (None: all). `completed` maps a workload to when a pod of it last finished
        `Succeeded`; `owners` maps (namespace, kind, name) of the objects `owners_to_read` named to what
        the service read of them (missing: not read or unreadable)."""
        actions: list[Action] = []
        for gid, key, incident in self._open_incidents(covers):
            group = self.state.groups[gid]
            where = (key.namespace, key.workload.ref)
            live = pods.get(where, ())
            target = owner_to_read(key.workload.kind, key.workload.name, incident.revision)
            owner = (owners or {}).get((key.namespace, *target)) if target is not None else None
            crashed = {pod.uid for pod in live if pod_digest(pod.uid) in group.pods}
            changed = evaluate(
                incident,
                workload_kind=key.workload.kind,
                container=key.container,
                pods=live,
                crashed_pods=crashed,
                now=now,
                recovery_seconds=self.config.recovery_seconds,
                quiet_seconds=self.config.quiet_seconds,
                completed_at=(completed or {}).get(where),
                owner=owner,
            )
            if not changed:
                continue
            ref = GroupRef(key, group.opened_at)
            status = incident.status(self.config.recovery_seconds)
            root = _root_of(group)
            if root is not None:
                actions.append(
                    UpdateRoot(ref, group.count, group.pod_count, group.last_seen, root, root, status)
                )
            if incident.phase is IncidentPhase.RECOVERED:
                actions.append(PostRecovery(ref, status))
        return actions

    def owners_to_read(
        self,
        pods: Mapping[tuple[str, str], Sequence[PodSeen]],
        covers: Callable[[str], bool] | None = None,
    ) -> list[tuple[str, str, str]]:
        """(namespace, kind, name) of the controller objects whose state would say why an open incident's
        pods are all gone (`owner_to_read`): what the service reads before `observe`."""
        wanted = set()
        for _, key, incident in self._open_incidents(covers):
            if pods.get((key.namespace, key.workload.ref)):
                continue
            target = owner_to_read(key.workload.kind, key.workload.name, incident.revision)
            if target is not None:
                wanted.add((key.namespace, *target))
        return sorted(wanted)

    def _open_incidents(
        self, covers: Callable[[str], bool] | None
    ) -> Iterator[tuple[str, GroupKey, IncidentState]]:
        """The open incidents of the current root of each group, in scopes `covers` (None: all)."""
        for gid in sorted(self.state.groups):
            incident = self.state.incident_of(gid)
            group = self.state.groups[gid]
            if incident is None or not incident.open or group.opened_at != incident.opened:
                continue
            try:
                key = GroupKey.from_id(gid)
            except ValueError:
                continue
            if covers is not None and not covers(key.namespace):
                continue
            yield gid, key, incident

    def open_incidents(self) -> int:
        return sum(1 for incident in self.state.incidents.values() if incident.open)

    # --- storms -------------------------------------------------------------------------------------

    def _count_alert(self, channel: ChannelState, now: float) -> None:
        channel.recent.append(now)
        # Deciding "more than threshold" and "at most calm level" needs only threshold + 1 times.
        keep = self.config.storm_threshold + 1
        if len(channel.recent) > keep:
            del channel.recent[: len(channel.recent) - keep]

    def _rate(self, channel: ChannelState, now: float) -> int:
        since = now - self.config.storm_window_seconds
        return sum(1 for when in channel.recent if when > since)

    def _calm(self, channel: ChannelState, now: float) -> bool:
        return self._rate(channel, now) <= self.config.calm_level

    def _quiet(self, digest: DigestState, now: float) -> bool:
        quiet = self.config.digest_quiet_seconds
        added = digest.last_added if digest.last_added is not None else digest.last_flush
        return now - added >= quiet and now - digest.last_flush >= quiet

    def _end_storm(self, name: str, channel: ChannelState) -> UpdateDigest:
        digest = channel.digest
        assert digest is not None
        rows, total = self._rows(digest)
        ref = DigestRef(name or None, digest.started_at)
        if digest.ts is not None:
            self._remember(self._posted_digests, ref.id, digest.ts)
        channel.digest = None
        return UpdateDigest(ref, rows, total, calm=True)

    def _digest_update(self, name: str, digest: DigestState, now: float) -> UpdateDigest:
        digest.dirty = False
        digest.last_flush = now
        rows, total = self._rows(digest)
        return UpdateDigest(DigestRef(name or None, digest.started_at), rows, total, calm=False)

    def _add_row(self, digest: DigestState, item: RoutedTermination, event_time: float, now: float) -> None:
        digest.last_added = now
        termination = item.termination
        kind = item.verdict.kind
        row = json.dumps(
            [
                termination.namespace,
                termination.workload.ref,
                termination.exit_code,
                kind.value if kind else None,
            ]
        )
        if row not in digest.rows and len(digest.rows) >= self.config.limits.max_digest_rows:
            row = _OVERFLOW_ROW
        counts = digest.rows.setdefault(row, [0.0, event_time])
        counts[0] += 1
        counts[1] = max(counts[1], event_time)

    def _rows(self, digest: DigestState) -> tuple[tuple[DigestRow, ...], int]:
        rows = [_row(row, counts) for row, counts in digest.rows.items()]
        rows.sort(
            key=lambda row: (row.is_overflow, -row.count, row.namespace, row.workload.ref, str(row.exit_code))
        )
        return tuple(rows), sum(row.count for row in rows)

    # --- callbacks and lookups for the adapter ------------------------------------------------------

    def root_posted(self, group: GroupRef, ts: str) -> None:
        """The root of `group` was posted as message `ts`: replies and edits can now target it."""
        self._remember(self._posted_roots, group.id, ts)
        current = self.state.groups.get(group.key.id)
        if current is not None and current.opened_at == group.opened_at:
            current.root_ts = ts

    def incident_status(self, group: GroupRef) -> IncidentStatus | None:
        """The state line of `group`'s root now (None when its incident has moved on or is forgotten)."""
        incident = self.state.incident_of(group.key.id)
        if incident is None or incident.opened != group.opened_at:
            return None
        return incident.status(self.config.recovery_seconds)

    def root_ts(self, group: GroupRef) -> str | None:
        current = self.state.groups.get(group.key.id)
        if current is not None and current.opened_at == group.opened_at and current.root_ts is not None:
            return current.root_ts
        return self._posted_roots.get(group.id)

    def digest_posted(self, digest: DigestRef, ts: str) -> None:
        """The digest was posted as message `ts`: its updates can now edit it."""
        self._remember(self._posted_digests, digest.id, ts)
        channel = self.state.channels.get(digest.channel or "")
        if (
            channel is not None
            and channel.digest is not None
            and channel.digest.started_at == digest.started_at
        ):
            channel.digest.ts = ts

    def digest_ts(self, digest: DigestRef) -> str | None:
        channel = self.state.channels.get(digest.channel or "")
        running = channel.digest if channel is not None else None
        if running is not None and running.started_at == digest.started_at and running.ts is not None:
            return running.ts
        return self._posted_digests.get(digest.id)

    def storming(self, channel: str | None) -> bool:
        state = self.state.channels.get(channel or "")
        return state is not None and state.digest is not None

    # --- snoozes ------------------------------------------------------------------------------------

    def snooze(
        self,
        namespace: str,
        workload: Workload,
        until: float,
        *,
        set_by: str | None = None,
        set_at: float = 0.0,
        via: str | None = None,
    ) -> str:
        """Mute the workload's alerts until `until` (epoch seconds); returns the snooze key.

        The latest decision wins (snoozing 1 h after 24 h shortens it, on any replica: see
        `bot.alerting.decisions` for the exactly-once rules buttons use); `policy.classify` honours it
        when given `state.snoozes`.
        """
        key = snooze_key(namespace, workload)
        self.state.snoozes[key] = Snooze(until=until, set_by=set_by, set_at=set_at, via=via)
        return key

    def unsnooze(self, namespace: str, workload: Workload, now: float, by: str | None = None) -> bool:
        """Lift the snooze (a tombstone, so a merge cannot bring it back); False when none was in force."""
        key = snooze_key(namespace, workload)
        return lift_snooze(self.state, key, now=now, by=by, via=None).decision is not None

    def snoozed_until(self, namespace: str, workload: Workload, now: float) -> float | None:
        decision = self.snooze_of(namespace, workload, now)
        return decision.until if decision is not None else None

    def snooze_of(self, namespace: str, workload: Workload, now: float) -> Snooze | None:
        """The snooze in force for the workload (who set it, until when), or None."""
        decision = self.state.snoozes.get(snooze_key(namespace, workload))
        return decision if decision is not None and decision.active(now) else None

    @staticmethod
    def _remember(memory: OrderedDict[str, str], ref_id: str, ts: str) -> None:
        memory[ref_id] = ts
        memory.move_to_end(ref_id)
        while len(memory) > _POSTED_MEMORY:
            memory.popitem(last=False)


def open_incidents(state: LedgerState) -> list[OpenIncident]:
    """The incidents not recovered yet, newest crash first, with the message each root is (what `ns` and
    `incidents` list; any replica can read them from the stored ledger)."""
    found: dict[tuple[str, str, str, int | None], OpenIncident] = {}
    for gid, group in state.groups.items():
        incident = state.incident_of(gid)
        if incident is None or not incident.open:
            continue
        try:
            key = GroupKey.from_id(gid)
        except ValueError:
            continue
        # One line per incident however many surfaces it went to (issue 12): the chat channel's copy,
        # with its thread link, else another surface's without a link (it has no Slack thread).
        chat = is_chat_channel(key.channel)
        same = (key.namespace, key.workload.ref, key.container, key.exit_code)
        if not chat and same in found:
            continue
        thread = group.root_ts if chat and group.opened_at == incident.opened else None
        found[same] = OpenIncident(
            namespace=key.namespace,
            workload=key.workload.ref,
            container=key.container,
            exit_code=key.exit_code,
            phase=incident.phase.value,
            started=incident.started,
            last_crash=incident.last_crash,
            crashes=incident.crashes,
            channel=key.channel if chat else None,
            thread=thread,
        )
    return sorted(
        found.values(), key=lambda item: (-item.last_crash, item.namespace, item.workload, item.container)
    )


def _root_of(group: GroupState) -> Termination | None:
    """The root's termination as the ledger keeps it (None for a ledger written before it did)."""
    if group.root is None:
        return None
    try:
        return termination_from_record(group.root)
    except (KeyError, TypeError, ValueError):
        return None


def _row(row_id: str, counts: list[float]) -> DigestRow:
    """Read a digest row id back; an unreadable one (a hand-edited ledger) counts in the overflow row."""
    try:
        namespace, workload, exit_code, kind = json.loads(row_id)
        if kind is not None:
            code = exit_code if isinstance(exit_code, int) else None
            return DigestRow(
                str(namespace), Workload.parse(workload), code, AlertKind(kind), int(counts[0]), counts[1]
            )
    except (TypeError, ValueError):
        pass
    return DigestRow("", Workload("", ""), None, None, int(counts[0]), counts[1])
