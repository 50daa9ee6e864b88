"""What the planner asks the Slack (or console) adapter to do, as immutable values.

Every action names the message it concerns by a *reference* rather than a Slack `ts`: the planner
decides before anything is posted, the adapter posts, then reports the `ts` back
(`AlertPlanner.root_posted` / `digest_posted`). A reference names one episode: a group that reopens
after `GROUP_WINDOW`, or a channel's second storm, gets a new reference, so a reply queued for the old
thread still lands in the old thread.

How an adapter executes them (per channel, in order, paced to about one message per second):

- `PostRoot` → post the alert, then `planner.root_posted(action.group, ts)`;
- `PostThreadReply` → reply in `planner.root_ts(action.group)`; if that is None (the root failed
  for good, or the bot restarted before it was confirmed), post it as a top-level message instead:
  a crash is never dropped for want of a thread;
- `UpdateRoot` → `chat.update` of that root with the count ("crashed 7 times, last at 14:03");
  skip it when the root has no `ts` (nothing to update; the replies carry the crashes);
- `PostRecovery` → reply in `planner.root_ts(action.group)` that the incident recovered, and why
  (top-level, like a thread reply, when the root has no `ts`);
- `PostDigest` → post, then `planner.digest_posted(action.digest, ts)`;
- `UpdateDigest` → `chat.update` of `planner.digest_ts(action.digest)`, or post it if unknown.
  Only the latest update of a digest matters: an adapter may skip an `UpdateDigest` when a newer one
  for the same digest is already queued.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.alerting.incidents import IncidentStatus
from bot.alerting.policy import AlertKind, RoutedTermination
from bot.alerting.termination import Termination, Workload

__all__ = [
    "Action",
    "DigestRef",
    "DigestRow",
    "GroupKey",
    "GroupRef",
    "PostDigest",
    "PostMarker",
    "PostRecovery",
    "PostRoot",
    "PostThreadReply",
    "UpdateDigest",
    "UpdateRoot",
]


@dataclass(frozen=True, slots=True)
class GroupKey:
    """Repeats of the same failure: (channel, namespace, workload, container, exit code, alert kind).

    Evictions group per workload only (container "" and exit code None): an eviction kills every
    container of a pod for one node-level reason.
    """

    channel: str | None
    namespace: str
    workload: Workload
    container: str
    exit_code: int | None
    kind: AlertKind

    @classmethod
    def for_item(cls, item: RoutedTermination) -> GroupKey:
        termination = item.termination
        kind = item.verdict.kind
        if kind is None:
            raise ValueError(f"suppressed termination {termination.key} has no alert group")
        eviction = kind is AlertKind.EVICTION
        return cls(
            channel=item.channel,
            namespace=termination.namespace,
            workload=termination.workload,
            container="" if eviction else termination.container,
            exit_code=None if eviction else termination.exit_code,
            kind=kind,
        )

    @property
    def id(self) -> str:
        """A stable string for the ledger (JSON of the fields; channel None is stored as "")."""
        fields = [self.channel or "", self.namespace, self.workload.ref, self.container, self.exit_code]
        return json.dumps([*fields, self.kind.value], separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_id(cls, text: str) -> GroupKey:
        """Read `id` back; raises `ValueError` when `text` was not made by `id`."""
        try:
            channel, namespace, workload, container, exit_code, kind = json.loads(text)
            if not all(isinstance(value, str) for value in (channel, namespace, workload, container)):
                raise ValueError("text fields are not strings")
            if exit_code is not None and (not isinstance(exit_code, int) or isinstance(exit_code, bool)):
                raise ValueError("exit code is not an integer")
            return cls(
                channel or None, namespace, Workload.parse(workload), container, exit_code, AlertKind(kind)
            )
        except (TypeError, ValueError) as error:
            raise ValueError(f"not an alert group id: {text!r} ({error})") from error


@dataclass(frozen=True, slots=True)
class GroupRef:
    """One episode of a group: the root message opened at `opened_at` and its thread."""

    key: GroupKey
    opened_at: float

    @property
    def channel(self) -> str | None:
        return self.key.channel

    @property
    def id(self) -> str:
        return f"{self.key.id}@{self.opened_at!r}"


@dataclass(frozen=True, slots=True)
class DigestRef:
    """One storm digest of a channel, started at `started_at`."""

    channel: str | None
    started_at: float

    @property
    def id(self) -> str:
        return f"{self.channel or ''}@{self.started_at!r}"


@dataclass(frozen=True, slots=True)
class DigestRow:
    """One line of a digest: how many alerts a workload produced with one exit code during the storm.

    The overflow row (`is_overflow`) sums everything beyond the ledger's row cap, so totals stay exact.
    """

    namespace: str
    workload: Workload
    exit_code: int | None
    kind: AlertKind | None
    count: int
    last_seen: float

    @property
    def is_overflow(self) -> bool:
        return self.kind is None


@dataclass(frozen=True, slots=True)
class PostRoot:
    """Post the first alert of a group episode (`group.key.kind` says crash, completed or eviction)."""

    group: GroupRef
    termination: Termination

    @property
    def channel(self) -> str | None:
        return self.group.channel


@dataclass(frozen=True, slots=True)
class PostThreadReply:
    """Post a repeat into the thread of the group's root."""

    group: GroupRef
    termination: Termination

    @property
    def channel(self) -> str | None:
        return self.group.channel


@dataclass(frozen=True, slots=True)
class UpdateRoot:
    """Edit the root in place: `count` terminations from `pod_count` pods so far, latest at `last_seen`."""

    group: GroupRef
    count: int
    pod_count: int
    last_seen: float
    latest: Termination
    first: Termination | None = None
    """The root's own termination, when known: the edit shows the crash the root was posted for."""
    incident: IncidentStatus | None = None
    """The incident's state for the root's state line (firing, quiet, recovered, continued)."""

    @property
    def channel(self) -> str | None:
        return self.group.channel


@dataclass(frozen=True, slots=True)
class PostRecovery:
    """Say once, in the root's thread, that the incident recovered and why (`status.reason`)."""

    group: GroupRef
    status: IncidentStatus

    @property
    def channel(self) -> str | None:
        return self.group.channel


@dataclass(frozen=True, slots=True)
class PostDigest:
    """Post the storm digest that replaces individual alerts in this channel until it calms down."""

    digest: DigestRef
    rows: tuple[DigestRow, ...]
    total: int

    @property
    def channel(self) -> str | None:
        return self.digest.channel


@dataclass(frozen=True, slots=True)
class UpdateDigest:
    """Edit the digest in place; `calm` marks the last update (the channel is back to normal alerts)."""

    digest: DigestRef
    rows: tuple[DigestRow, ...]
    total: int
    calm: bool

    @property
    def channel(self) -> str | None:
        return self.digest.channel


Action = PostRoot | PostThreadReply | UpdateRoot | PostDigest | UpdateDigest | PostRecovery


@dataclass(frozen=True, slots=True)
class PostMarker:
    """What a sink puts on a message so it can tell later whether the message was posted already.

    `id` is the outbox entry's id: the same for every retry, restart and leader that sends this action.
    `sent_since` (epoch seconds) is set when an earlier process may have posted it already (an entry
    inherited with the ledger): the sink then checks before its first attempt, not only after a failure.
    """

    id: str
    sent_since: float | None = None
