"""Find the container terminations a pod watch event brings that the previous event did not show.

This runs on every pod watch event (a busy cluster sends thousands a minute, almost all of them
readiness flips, condition timestamps and resourceVersion churn), so it works on the raw JSON dicts and
leaves a container as soon as it can: a container with no termination record and no restarts costs a few
dict lookups, and a `Termination` is built only for a record that is new.

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

__all__ = ["compact_previous", "detect_terminations"]

_STATUS_LISTS = (("initContainerStatuses", True), ("containerStatuses", False))


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
    prev_status: Mapping[str, Any] | None = None
    if previous is not None:
        prev_status = previous.get("status") or {}
    found: list[Termination] | None = None
    context: _PodContext | None = None
    for field, is_init in _STATUS_LISTS:
        statuses = status.get(field)
        if not statuses:
            continue
        prev_list = prev_status.get(field) if prev_status is not None else None
        for index, container_status in enumerate(statuses):
            state = container_status.get("state")
            last = container_status.get("lastState")
            current = state.get("terminated") if state else None
            previous_instance = last.get("terminated") if last else None
            restarts = container_status.get("restartCount") or 0
            if current is None and previous_instance is None and not restarts:
                continue
            prev_container = _find_status(prev_list, index, container_status.get("name"))
            if prev_container is not None and _nothing_new(
                prev_container, current, previous_instance, restarts
            ):
                continue
            records = _new_records(prev_container, current, previous_instance, restarts)
            if not records:
                continue
            if context is None:
                context = _PodContext(pod)
            if found is None:
                found = []
            for record, source in records:
                found.append(context.termination(container_status, record, source, restarts, is_init))
    return found or []


def compact_previous(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The part of `pod` that `detect_terminations` reads from `previous`, for a watcher's cache.

    A watcher of 10,000 pods that keeps every full pod as "previous" holds tens of megabytes of specs it
    never reads again (and makes the garbage collector walk them); this keeps names, restart counts and
    the termination records. Treat the result as read-only: it shares records with `pod`.
    """
    status = pod.get("status") or {}
    compact: dict[str, Any] = {}
    for field, _ in _STATUS_LISTS:
        statuses = status.get(field)
        if statuses:
            compact[field] = [_compact_status(item) for item in statuses]
    return {"status": compact}


_RUNNING: dict[str, Any] = {"running": {}}
_WAITING: dict[str, Any] = {"waiting": {}}
_NO_STATE: dict[str, Any] = {}


def _compact_status(container_status: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": container_status.get("name"),
        "restartCount": container_status.get("restartCount") or 0,
        "state": _compact_state(container_status.get("state")),
        "lastState": _compact_state(container_status.get("lastState")),
    }


def _compact_state(state: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Shared constants for running/waiting, and the termination record itself (not a copy): the cache
    stays small and allocates almost nothing per event. Detection only ever reads these."""
    if not state:
        return _NO_STATE
    terminated = state.get("terminated")
    if terminated is not None:
        return {"terminated": terminated}
    if state.get("running") is not None:
        return _RUNNING
    return _WAITING if state.get("waiting") is not None else _NO_STATE


def _find_status(
    statuses: Sequence[Mapping[str, Any]] | None, index: int, name: object
) -> Mapping[str, Any] | None:
    """The previous status of the container `name`; statuses keep spec order, so try the same index first."""
    if not statuses:
        return None
    if index < len(statuses):
        candidate = statuses[index]
        if candidate.get("name") == name:
            return candidate
    for candidate in statuses:
        if candidate.get("name") == name:
            return candidate
    return None


def _identity(record: Mapping[str, Any]) -> object:
    """What makes a termination record the same one again: its `finishedAt`, else the whole record."""
    return record.get("finishedAt") or record


def _terminated(container_status: Mapping[str, Any], field: str) -> Mapping[str, Any] | None:
    state = container_status.get(field)
    return state.get("terminated") if state else None


def _nothing_new(
    prev: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    previous_instance: Mapping[str, Any] | None,
    restarts: int,
) -> bool:
    """The cheap common case: same restart count and the same records as last time."""
    if (prev.get("restartCount") or 0) != restarts:
        return False
    prev_current = _terminated(prev, "state")
    prev_last = _terminated(prev, "lastState")
    return _same_record(current, prev_current, prev_last) and _same_record(
        previous_instance, prev_current, prev_last
    )


def _same_record(record: Mapping[str, Any] | None, *known: Mapping[str, Any] | None) -> bool:
    if record is None:
        return True
    identity = _identity(record)
    return any(other is not None and _identity(other) == identity for other in known)


def _new_records(
    prev: Mapping[str, Any] | None,
    current: Mapping[str, Any] | None,
    previous_instance: Mapping[str, Any] | None,
    restarts: int,
) -> list[tuple[Mapping[str, Any], RecordSource]]:
    prev_current = _terminated(prev, "state") if prev is not None else None
    prev_last = _terminated(prev, "lastState") if prev is not None else None
    records: list[tuple[Mapping[str, Any], RecordSource]] = []
    for record, source in ((previous_instance, RecordSource.LAST_STATE), (current, RecordSource.STATE)):
        if record is None or _same_record(record, prev_current, prev_last):
            continue
        if records and _identity(records[0][0]) == _identity(record):
            continue
        records.append((record, source))
    if records or prev is None:
        return records
    rise = restarts - (prev.get("restartCount") or 0)
    prev_state = prev.get("state") or {}
    # A restart "consumes" the termination the previous status was already showing (exited, or waiting
    # in back-off with it in lastState); any rise beyond that is a death the API kept no record of.
    awaiting_restart = prev_current is not None or (
        prev_last is not None and prev_state.get("running") is None
    )
    if rise - (1 if awaiting_restart else 0) > 0:
        records.append(({}, RecordSource.RESTART_COUNT))
    return records


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
