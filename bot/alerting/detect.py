"""Find the container terminations a pod watch event brings that the previous event did not show.

This runs on every pod watch event (a busy cluster sends thousands a minute, almost all of them
readiness flips, condition timestamps and resourceVersion churn), so it works on the raw JSON dicts: each
event's containers are reduced to a flat tuple of what matters (names, restart counts, which termination
records are shown), an event whose tuple equals the cached one's is done after one comparison, and a
`Termination` is built only for a record that is new.

How the kubelet reports a dying container (pkg/kubelet/kubelet_pods.go, `convertToAPIContainerStatuses`):

1. it exits: `state.terminated` holds the exit (restartCount unchanged);
2. while the kubelet backs off before the restart, that record moves to `lastState.terminated` and
   `state` becomes `waiting: CrashLoopBackOff`;
3. the next instance starts: `restartCount` rises and `lastState` keeps the same record.

A Job pod (restartPolicy Never) stops at step 1, an OnFailure pod goes through all three. So both
records are read for every pod, and a record is identified by its `finishedAt`: the instance seen in
`state` at step 1 and in `lastState` at step 2 is one termination with one key, and step 3 (a restart,
not a new death) yields nothing. A rise of the restart counter that no record explains (the kubelet lost
the record) still yields one termination, with an unknown exit code, so a crash is never silently missed.

With `previous` None (first sight after a list or relist) every visible record is reported; the ledger
(`planner`) knows which were already alerted. Ephemeral (debug) containers are ignored: their exit is an
engineer closing a shell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from sys import intern
from typing import Any

from bot.alerting.termination import ContainerKind, RecordSource, Termination, epoch, infer_signal
from bot.alerting.workload import resolve_workload, workload_revision
from bot.diagnosis.lifecycle import (
    RestartAllTrigger,
    all_containers_restarting,
    matching_rule,
    restart_all_trigger,
    restart_rules,
    stop_signal,
)

__all__ = ["compact_previous", "detect_terminations", "same_records"]

_COMPACT_KEY = "containerRecords"
"""Where `compact_previous` keeps a pod's container records (a key no pod has, so a full pod still reads)."""

_FIELDS = 5
"""Fields per container in a record tuple: name, restart count, the identity of `state.terminated` and of
`lastState.terminated` (None: no record), and whether `state.running` is set (read only when there is a
`lastState` record, the one case that needs it)."""

Records = tuple[Any, ...]
"""One status list's containers as a flat tuple of `_FIELDS` fields each (see `_records`)."""


def detect_terminations(previous: Mapping[str, Any] | None, pod: Mapping[str, Any]) -> list[Termination]:
    """The terminations visible in `pod` that `previous` (the same pod's last seen version) did not show.

    Both arguments are pods as the API returns them (camelCase dicts). `previous` may also be the
    smaller `compact_previous(pod)` of the last version, which is all this function reads from it.
    The result is in the order the terminations happened per container: `lastState` before `state`.
    Pods are expected in the API's shape (the apiserver validates it); a dict that is not one may raise
    `AttributeError`/`TypeError`, which the watcher logs for that one event.
    """
    status = pod.get("status")
    if not status:
        return []
    init = _records(status.get("initContainerStatuses"))
    main = _records(status.get("containerStatuses"))
    if previous is None:
        return _changes(pod, status, init, main, None)
    known = previous.get(_COMPACT_KEY) or _known(previous)
    if known[1] == main and known[0] == init:
        return []  # the common event: no container's records or restart count changed
    return _changes(pod, status, init, main, known)


def compact_previous(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The part of `pod` that `detect_terminations` reads from `previous`, for a watcher's cache.

    A watcher of 10,000 pods that keeps every full pod as "previous" holds tens of megabytes of specs it
    never reads again; this keeps the fields detection compares as two flat tuples per pod. They hold
    interned names, numbers and `finishedAt` strings (a record itself only when it lacks `finishedAt`),
    so the collector stops tracking them after one look. That matters at scale: Python's young generation
    counts allocations minus deallocations, so replacing cache entries hardly ever triggers a collection, and
    entries made of dicts and lists piled up in it until one collection walked them all, which cost the
    100,000-pod watcher about 0.7 µs per event (`bench/watch_memory.py`).
    The result is a fresh dict the caller may add its own keys to (the alert service adds the namespace).
    """
    status = pod.get("status") or {}
    return {
        _COMPACT_KEY: (
            _records(status.get("initContainerStatuses")),
            _records(status.get("containerStatuses")),
        )
    }


def same_records(previous: Mapping[str, Any], init_statuses: Any, statuses: Any) -> bool:
    """Whether `previous` (a `compact_previous`) holds exactly the records of a pod whose status has these
    `initContainerStatuses` and `containerStatuses`: then `detect_terminations(previous, pod)` finds
    nothing and `compact_previous(pod)` equals it. Reads nothing else of the pod, so a watcher may ask it
    before decoding the rest of an event."""
    known = previous.get(_COMPACT_KEY)
    return known is not None and known[1] == _records(statuses) and known[0] == _records(init_statuses)


def _known(previous: Mapping[str, Any]) -> tuple[Records, Records]:
    """The record tuples of a full pod passed as `previous` (what `compact_previous` would have kept)."""
    status = previous.get("status") or {}
    return _records(status.get("initContainerStatuses")), _records(status.get("containerStatuses"))


def _records(statuses: Sequence[Mapping[str, Any]] | None) -> Records:
    """What detection compares of each container, flat: name, restart count, the identities of the two
    termination records (`finishedAt`, else the whole record; None when there is none), and whether it
    runs again (read only when there is a `lastState` record: it tells a restart that consumed it).

    A record is identified by its `finishedAt`: the instance seen in `state` at one event and in
    `lastState` at the next is the same termination. Names are interned: a cache entry then holds no
    string of the decoded pod (which would keep its memory from being reused), and comparing it with the
    next event's names is a pointer comparison."""
    if not statuses:
        return ()
    flat: list[object] = []
    for container_status in statuses:
        state = container_status.get("state")
        current = state.get("terminated") if state else None
        last = container_status.get("lastState")
        previous_instance = last.get("terminated") if last else None
        name = container_status.get("name")
        if type(name) is str:
            name = intern(name)
        entry = (
            name,
            container_status.get("restartCount") or 0,
            None if current is None else current.get("finishedAt") or current,
            None if previous_instance is None else previous_instance.get("finishedAt") or previous_instance,
            previous_instance is not None and (state.get("running") is not None if state else False),
        )
        if len(statuses) == 1:
            return entry
        flat += entry
    return tuple(flat)


def _changes(
    pod: Mapping[str, Any],
    status: Mapping[str, Any],
    init: Records,
    main: Records,
    known: tuple[Records, Records] | None,
) -> list[Termination]:
    """The new terminations, container by container (`known` None: first sight, every record is new)."""
    found: list[Termination] = []
    context: _PodContext | None = None
    for field, is_init, records, before in (
        ("initContainerStatuses", True, init, known[0] if known is not None else None),
        ("containerStatuses", False, main, known[1] if known is not None else None),
    ):
        if not records:
            continue
        statuses = status[field]
        for index in range(len(records) // _FIELDS):
            base = index * _FIELDS
            name, restarts, current, previous_instance, _ = records[base : base + _FIELDS]
            if current is None and previous_instance is None and not restarts:
                continue
            prev = _find(before, index, name) if before is not None else None
            if (
                prev is not None
                and prev[0] == restarts
                and _shown(current, prev)
                and _shown(previous_instance, prev)
            ):
                continue
            sources = _new_records(prev, current, previous_instance, restarts)
            if not sources:
                continue
            container_status = statuses[index]
            if context is None:
                context = _PodContext(pod)
            for source in sources:
                found.append(
                    context.termination(
                        container_status, _record(container_status, source), source, restarts, is_init
                    )
                )
    return found


def _find(records: Records, index: int, name: object) -> Records | None:
    """The previous fields (restarts, current, previous, running) of the container `name`; statuses keep
    spec order, so try the same index first."""
    base = index * _FIELDS
    if base < len(records) and records[base] == name:
        return records[base + 1 : base + _FIELDS]
    for base in range(0, len(records), _FIELDS):
        if records[base] == name:
            return records[base + 1 : base + _FIELDS]
    return None


def _shown(identity: object, prev: Records) -> bool:
    """Whether the record `identity` (None: no record) was already shown, in `state` or `lastState`."""
    return identity is None or identity == prev[1] or identity == prev[2]


def _new_records(
    prev: Records | None, current: object, previous_instance: object, restarts: Any
) -> list[RecordSource]:
    """Which records of the container are new (`lastState` first), or a rise of its restart count that no
    record explains."""
    sources: list[RecordSource] = []
    if previous_instance is not None and (prev is None or not _shown(previous_instance, prev)):
        sources.append(RecordSource.LAST_STATE)
    if (
        current is not None
        and (prev is None or not _shown(current, prev))
        and not (sources and previous_instance == current)  # one instance seen in both
    ):
        sources.append(RecordSource.STATE)
    if sources or prev is None:
        return sources
    prev_restarts, prev_current, prev_last, prev_running = prev
    rise = restarts - prev_restarts
    # A restart "consumes" the termination the previous status was already showing (exited, or waiting
    # in back-off with it in lastState); any rise beyond that is a death the API kept no record of.
    awaiting_restart = prev_current is not None or (prev_last is not None and not prev_running)
    if rise - (1 if awaiting_restart else 0) > 0:
        sources.append(RecordSource.RESTART_COUNT)
    return sources


def _record(container_status: Mapping[str, Any], source: RecordSource) -> Mapping[str, Any]:
    if source is RecordSource.RESTART_COUNT:
        return {}
    field = "lastState" if source is RecordSource.LAST_STATE else "state"
    record: Mapping[str, Any] = container_status[field]["terminated"]
    return record


class _PodContext:
    """Pod-level facts every termination of one pod shares, read once and only when something is new."""

    __slots__ = (
        "_pod",
        "_specs",
        "_trigger",
        "namespace",
        "node",
        "pod_message",
        "pod_name",
        "pod_reason",
        "revision",
        "uid",
        "workload",
    )

    def __init__(self, pod: Mapping[str, Any]) -> None:
        metadata = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        self._pod = pod
        self.namespace = str(metadata.get("namespace") or "default")
        self.pod_name = str(metadata.get("name") or "")
        self.uid = str(metadata.get("uid") or f"{self.namespace}/{self.pod_name}")
        self.node = _text(spec.get("nodeName"))
        self.workload = resolve_workload(pod)
        self.revision = workload_revision(pod, self.workload)
        self.pod_reason = _text(status.get("reason"))
        self.pod_message = _text(status.get("message"))
        self._specs: dict[str, Mapping[str, Any]] | None = None
        self._trigger: RestartAllTrigger | bool | None = False  # False: not computed yet

    def termination(
        self,
        container_status: Mapping[str, Any],
        record: Mapping[str, Any],
        source: RecordSource,
        restarts: int,
        is_init: bool,
    ) -> Termination:
        name = str(container_status.get("name") or "")
        finished = _text(record.get("finishedAt"))
        key = f"{self.uid}/{name}/{finished}" if finished else f"{self.uid}/{name}/restart-{restarts}"
        exit_code = record.get("exitCode")
        code = exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None
        spec = self._spec(name)
        rule = matching_rule(restart_rules(spec), code) if "restartPolicyRules" in spec else None
        return Termination(
            key=key,
            namespace=self.namespace,
            pod=self.pod_name,
            uid=self.uid,
            container=name,
            container_kind=self._kind(name, is_init),
            exit_code=code,
            signal=infer_signal(code, record.get("signal")),
            reason=_text(record.get("reason")),
            message=_text(record.get("message")),
            started_at=_text(record.get("startedAt")),
            finished_at=finished,
            restart_count=restarts,
            node=self.node,
            workload=self.workload,
            source=source,
            pod_reason=self.pod_reason,
            pod_message=self.pod_message,
            restart_rule=rule.describe() if rule is not None else None,
            rule_names_code=rule is not None and rule.names_code,
            restarted_with=self._restarted_with(name, finished, container_status) if self._rules() else None,
            stop_signal=stop_signal(spec, container_status),
            revision=self.revision,
        )

    def _spec(self, name: str) -> Mapping[str, Any]:
        """The container's spec (regular or init), for its restart rules and stop signal."""
        if self._specs is None:
            spec = self._pod.get("spec") or {}
            self._specs = {
                str(c.get("name")): c
                for field in ("initContainers", "containers")
                for c in spec.get(field) or ()
                if isinstance(c, dict)
            }
        return self._specs.get(name) or {}

    def _rules(self) -> bool:
        self._spec("")
        return any("restartPolicyRules" in c for c in (self._specs or {}).values())

    def _restarted_with(
        self, name: str, finished: str | None, container_status: Mapping[str, Any]
    ) -> str | None:
        """The container whose RestartAllContainers exit stopped this one (KEP-5532), if it was only that.

        The kubelet stops the others right after the trigger's exit, so their records end within a grace
        period of it; a restart with no record at all counts when the pod says a restart-all is under way
        or the container started again within that window.
        """
        if self._trigger is False:
            self._trigger = restart_all_trigger(self._pod)
        trigger = self._trigger
        if not isinstance(trigger, RestartAllTrigger) or trigger.container == name:
            return None
        start = epoch(trigger.finished_at)
        if start is None:
            return None
        grace = (self._pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        window = (grace if isinstance(grace, int) else 30) + _RESTART_ALL_SLACK
        moment = epoch(finished)
        if moment is None:
            if all_containers_restarting(self._pod.get("status") or {}):
                return trigger.container
            moment = epoch(((container_status.get("state") or {}).get("running") or {}).get("startedAt"))
        if moment is not None and start - _RESTART_ALL_SLACK <= moment <= start + window:
            return trigger.container
        return None

    def _kind(self, name: str, is_init: bool) -> ContainerKind:
        if not is_init:
            return ContainerKind.MAIN
        for container in (self._pod.get("spec") or {}).get("initContainers") or ():
            if container.get("name") == name:
                return (
                    ContainerKind.SIDECAR
                    if container.get("restartPolicy") == "Always"
                    else ContainerKind.INIT
                )
        return ContainerKind.INIT


_RESTART_ALL_SLACK = 30.0
"""Seconds of clock and batching skew around a restart-all (the same slack the policy allows)."""


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
