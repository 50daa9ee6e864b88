"""What the pod stream shows of the workloads that have an open incident: their live pods, their revision,
since when each container runs. The planner's `observe` (pure) decides from it whether an incident went
quiet or recovered; this index only keeps what it needs, for the few workloads that burn.

A pod that finished `Succeeded` is not live, but it is remembered (when it finished, per workload): a Job
that retried after a crash and then succeeded has recovered, whether or not its pod is ever deleted. A
bare pod that ended `Failed` stays indexed, marked as such: nothing will run it again, and its incident
ends saying so (a Job's failed pods are not kept: the Job says whether it retries).

Only workloads with an incident in the ledger are indexed (a set lookup per watch event, and the owner
resolved only for pods in a namespace that has one), so a 100k-pod cluster pays nearly nothing. A
complete pod list (the first `Synced` of the term) must have been read before `observe` may conclude
that a workload has no pod left; until then the term does not observe.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from bot.alerting.incidents import PodSeen
from bot.alerting.termination import epoch
from bot.alerting.workload import resolve_workload, workload_revision

__all__ = ["WorkloadPods", "failed_bare_pod", "pod_seen", "succeeded_at"]

WorkloadId = tuple[str, str]
"""(namespace, `Kind/name`)."""


def succeeded_at(pod: Mapping[str, Any]) -> float | None:
    """When a pod that ran to completion (`Succeeded`) finished: its containers' last `finishedAt`."""
    return _ended_at(pod, "Succeeded")


def failed_bare_pod(pod: Mapping[str, Any]) -> PodSeen | None:
    """A bare pod that ended `Failed` (and is not being deleted), as `observe` needs it: nothing will run it
    again, which ends its incident in words of its own ("the pod failed"), not as if it were deleted."""
    metadata = pod.get("metadata") or {}
    at = _ended_at(pod, "Failed")
    if at is None or metadata.get("deletionTimestamp"):
        return None
    status = pod.get("status") or {}
    policy = (pod.get("spec") or {}).get("restartPolicy")
    why = status.get("reason") or (f"restartPolicy {policy}" if policy else None)
    return PodSeen(uid=str(metadata.get("uid") or ""), revision=None, failed_at=at, failure=why)


def _ended_at(pod: Mapping[str, Any], phase: str) -> float | None:
    status = pod.get("status") or {}
    if status.get("phase") != phase:
        return None
    ends = [
        epoch(((item.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        for item in status.get("containerStatuses") or ()
        if isinstance(item, Mapping)
    ]
    known = [end for end in ends if end is not None]
    return max(known) if known else None


def pod_seen(pod: Mapping[str, Any]) -> PodSeen | None:
    """The pod as `observe` needs it; None when it is not live (terminating, finished)."""
    metadata = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if metadata.get("deletionTimestamp") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    revision = workload_revision(pod)
    running: dict[str, float | None] = {}
    for item in status.get("containerStatuses") or ():
        if isinstance(item, Mapping) and item.get("name"):
            state = item.get("state") or {}
            run = state.get("running") if isinstance(state, Mapping) else None
            running[str(item["name"])] = epoch(run.get("startedAt")) if isinstance(run, Mapping) else None
    return PodSeen(uid=str(metadata.get("uid") or ""), revision=revision, running_since=running)


class WorkloadPods:
    """Live pods per watched workload, updated from every pod event of the term."""

    def __init__(self) -> None:
        self._pods: dict[WorkloadId, dict[str, PodSeen]] = {}
        self._where: dict[str, WorkloadId] = {}
        self._watched: set[WorkloadId] = set()
        self._namespaces: set[str] = set()
        self._completed: dict[WorkloadId, float] = {}

    def watch(self, workloads: Iterable[WorkloadId]) -> None:
        """Index the pods of these workloads from now on (those with an open incident)."""
        self._watched = set(workloads)
        self._namespaces = {namespace for namespace, _ in self._watched}
        self._completed = {where: at for where, at in self._completed.items() if where in self._watched}

    def tracks(self, uid: str, namespace: str) -> bool:
        """Whether `note` could do anything with a version of the pod `uid` in `namespace`: it is indexed,
        or its namespace has a workload with an incident. When not, the watcher need not decode it."""
        return uid in self._where or namespace in self._namespaces

    def note(self, pod: Mapping[str, Any], *, deleted: bool) -> None:
        metadata = pod.get("metadata") or {}
        uid = str(metadata.get("uid") or "")
        if not uid:
            return
        where = self._where.get(uid)
        if where is None:
            namespace = str(metadata.get("namespace") or "")
            if namespace not in self._namespaces:
                return
            where = (namespace, resolve_workload(pod).ref)
            if where not in self._watched:
                return
        finished = succeeded_at(pod)
        if finished is not None:
            self._completed[where] = max(finished, self._completed.get(where, finished))
        seen = None if deleted else pod_seen(pod)
        if seen is None and not deleted and where[1].startswith("Pod/"):
            seen = failed_bare_pod(pod)
        if seen is None:
            self.forget(uid)
            return
        self._where[uid] = where
        self._pods.setdefault(where, {})[uid] = seen

    def forget(self, uid: str) -> None:
        """The pod is gone (deleted, or missing from a relist)."""
        where = self._where.pop(uid, None)
        if where is None:
            return
        pods = self._pods.get(where)
        if pods is not None:
            pods.pop(uid, None)
            if not pods:
                del self._pods[where]

    def forget_missing(self, present: Collection[str], covers: Any) -> None:
        """After a complete list: forget indexed pods the list did not contain (`covers(namespace)`)."""
        for uid, (namespace, _) in list(self._where.items()):
            if covers(namespace) and uid not in present:
                self.forget(uid)

    def completed(self) -> dict[WorkloadId, float]:
        """When a pod of each watched workload last finished `Succeeded` (only those where one did)."""
        return dict(self._completed)

    def live(self) -> dict[WorkloadId, tuple[PodSeen, ...]]:
        return {where: tuple(pods.values()) for where, pods in self._pods.items()}
