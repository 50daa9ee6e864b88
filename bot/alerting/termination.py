"""One container termination, as plain data the policy, the planner and the renderers share.

A `Termination` is built only when detection finds something new, never per watch event, so it can carry
everything an alert shows (exit code, reason, termination message, node, owning workload) without costing
the hot path anything. Timestamps stay the API's RFC 3339 strings: they are what `kubectl` prints, they go
into the dedup key verbatim, and `epoch()` turns them into seconds when arithmetic is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.diagnosis.frozen import quick_init
from bot.diagnosis.lifecycle import stop_exit_code
from bot.diagnosis.podjson import timestamp


class ContainerKind(StrEnum):
    """Which list of the pod spec the container comes from; a failing init container blocks the whole pod."""

    MAIN = "main"
    INIT = "init"
    SIDECAR = "sidecar"
    """A native sidecar: an init container with `restartPolicy: Always` (Kubernetes ≥ 1.28)."""


class RecordSource(StrEnum):
    """Where in the container status the termination was read.

    `state` is the container as it is now (a Job's failed container, or a crash a moment before the kubelet
    restarts it); `lastState` is the previous instance of a container that has been restarted since;
    `restartCount` means the restart counter rose while the API showed no termination record at all, so
    only the fact of a restart is known (exit code unknown).
    """

    STATE = "state"
    LAST_STATE = "lastState"
    RESTART_COUNT = "restartCount"


CONTROLLER_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Rollout"})
"""Owners that restart a container whatever its exit code: exit 0 in a loop there is a misconfiguration."""


@quick_init
@dataclass(frozen=True, slots=True)
class Workload:
    """The thing an engineer deploys and would name in chat: `Deployment/api`, `CronJob/backup`, `Pod/x`."""

    kind: str
    name: str

    @property
    def ref(self) -> str:
        """`Kind/name`, the form `kubectl` accepts and snooze buttons carry."""
        return f"{self.kind}/{self.name}"

    @classmethod
    def parse(cls, ref: str) -> Workload:
        """Read a `Kind/name` reference back; raises `ValueError` with the expected shape otherwise."""
        kind, sep, name = ref.partition("/")
        if not sep or not kind or not name or "/" in name:
            raise ValueError(f"not a workload reference: {ref!r} (expected Kind/name, e.g. Deployment/api)")
        return cls(kind=kind, name=name)

    @property
    def restarts_on_success(self) -> bool:
        """True for controllers whose pods run with `restartPolicy: Always`."""
        return self.kind in CONTROLLER_KINDS


@quick_init  # built on the watch path, once per crash: a store per field instead of a lookup by name
@dataclass(frozen=True, slots=True)
class Termination:
    """A container instance that stopped, with what the API says about why.

    `key` identifies the termination across watch events, relists and bot restarts:
    `<pod uid>/<container>/<finishedAt>`, or `<pod uid>/<container>/restart-<restartCount>` when the
    kubelet gave no `finishedAt` (its synthetic `ContainerStatusUnknown` records, or a restart seen only
    through the counter). The same instance seen first in `state` and later in `lastState` keeps its key.
    """

    key: str
    namespace: str
    pod: str
    uid: str
    container: str
    container_kind: ContainerKind
    exit_code: int | None
    signal: int | None
    reason: str | None
    message: str | None
    started_at: str | None
    finished_at: str | None
    restart_count: int
    node: str | None
    workload: Workload
    source: RecordSource
    pod_reason: str | None = None
    """The pod's `status.reason` (Evicted, Preempting, Terminated, DeadlineExceeded) when set."""
    pod_message: str | None = None
    """The pod's `status.message`, e.g. "The node was low on resource: memory." for an eviction."""
    restart_rule: str | None = None
    """The container restart rule (KEP-5307) the exit code matched, as the spec reads
    (`restartPolicyRules[0]: Restart on exit code In [42]`): a restart the spec asked for."""
    rule_names_code: bool = False
    """True when that rule lists the code (`In`); a `NotIn` rule is a catch-all retry."""
    restarted_with: str | None = None
    """The container whose exit restarted every container of the pod (KEP-5532), when this one was only
    stopped and restarted along with it."""
    stop_signal: str | None = None
    """The container's custom stop signal (KEP-4960), when it has one (not SIGTERM)."""
    unwatched_restarts: int = 0
    """Deaths of this container between the last one the bot saw and this one, while no leader watched:
    the API keeps only the last termination, the restart count says how many there were
    (`bot.alerting.unwatched`)."""
    revision: str | None = None
    """The pod's template revision (`pod-template-hash`, `controller-revision-hash`): an incident ends
    when a rollout replaces the revision that crashed (`bot.alerting.incidents`)."""

    @property
    def requested_stop(self) -> bool:
        """The exit is 128 + the container's custom stop signal: it died of the stop it asked for."""
        code = stop_exit_code(self.stop_signal)
        return code is not None and self.exit_code == code

    @property
    def finished_epoch(self) -> float | None:
        return epoch(self.finished_at)

    @property
    def started_epoch(self) -> float | None:
        return epoch(self.started_at)

    @property
    def signal_is_inferred(self) -> bool:
        """True when `signal` comes from the 128+N convention rather than from the runtime itself.

        Shells and runtimes report death by signal N as 128+N, but a program may also exit with such a
        code on purpose (the JVM exits 143 after its shutdown hooks), so an inferred signal is "most
        likely", not proof.
        """
        return self.signal is not None and self.exit_code is not None and self.exit_code == 128 + self.signal


def epoch(value: str | None) -> float | None:
    """Seconds since the epoch for an API timestamp (`2024-05-01T12:00:00Z`); None when absent or garbled.

    Garbled timestamps are treated as absent rather than raised: one odd pod must not stop the watcher.
    """
    moment = timestamp(value)
    return moment.timestamp() if moment is not None else None


def infer_signal(exit_code: int | None, reported: object) -> int | None:
    """The signal that ended the process: the runtime's own `signal` field, else 128+N for 129–192.

    160–192 are the real-time signals; 193–255 carry no signal meaning (see exit-code-facts §1).
    """
    if isinstance(reported, int) and not isinstance(reported, bool) and reported > 0:
        return reported
    if exit_code is not None and 128 < exit_code <= 192:
        return exit_code - 128
    return None
