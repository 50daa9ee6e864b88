"""The incident lifecycle: every alert root is an incident that is firing, quiet, and finally recovered.

An alert that says "crashed 7 times, last 2 min ago" forever leaves the channel guessing which problems
still burn. So each alert group (see `actions.GroupKey`) has at most one incident, kept in the ledger
(`LedgerState.incidents`, keyed by the group id) so that a restart or a failover neither loses a recovery
nor announces it twice. Its phases:

- **firing**: it crashed; every crash (the planner's `_group`) keeps it firing or brings it back.
- **quiet**: no crash for `quiet_seconds` (GROUP_WINDOW / 2, 15 min by default), yet nothing showed it
  recovered (the container waits in back-off, its pod is pending, the bot cannot see it run). Half the
  window is three times the kubelet's default maximum back-off (5 min), so a crash loop at full back-off
  never looks quiet; a longer operator-set back-off (KEP-5593) may flip it between quiet and firing,
  which is what it is.
- **recovered**, for one of the reasons `EndReason` lists, decided by `evaluate` from what the watch
  shows now (`PodSeen`, plain data the alert service builds from the pod stream) and, once no pod is
  left, from what the workload's controller object says (`OwnerFate`, read by the service):
  - `ran_clean`: every live pod of the workload has run the container for `recovery_seconds`
    (RECOVERY_SECONDS) and nothing crashed meanwhile;
  - `rollout`: the pods of the revision that crashed are gone and pods of another revision
    (`pod-template-hash`, or `controller-revision-hash` for StatefulSets and DaemonSets) run instead;
  - `pod_deleted`: the bare pod that crashed was deleted;
  - `job_completed`: a pod of the Job finished `Succeeded` after the last crash (a Job that retried
    and then succeeded), or the Job says `Complete` once its pods are gone: no need to wait for the
    pod's deletion, which may never come;
  - `pod_completed`: the bare pod that crashed finished `Succeeded` after its last crash;
  - `pod_failed`: the bare pod that crashed ended `Failed` (`restartPolicy: Never`, a deadline): nothing
    will run it again, yet nobody deleted it. Not a recovery, but the end of the incident;
  - `scaled_to_zero` / `deleted`: no pod is left and the owner the crash named says why: its ReplicaSet
    or StatefulSet wants 0 replicas, or it (the ReplicaSet, StatefulSet, DaemonSet, or the Job, a
    CronJob's run included) no longer exists (404). The pod stream alone cannot tell those apart, so
    the service reads the object `owner_to_read` names (a `get` the RBAC grants);
  - `unscheduled`: a DaemonSet whose pods are all gone schedules none (`desiredNumberScheduled: 0`:
    its nodeSelector or affinity matches no node any more);
  - `job_failed`: the Job (or the CronJob's run that crashed) has `Failed`: backoffLimit reached,
    deadline passed, a `podFailurePolicy` rule failed it. Not a recovery, but the end of the incident:
    nothing will retry; `detail` keeps the condition's reason (`BackoffLimitExceeded`);
  - `gone`: no pod is left and the owner could not be read (a controller the bot does not read, a
    CronJob run whose Job the pods did not name, a read that failed): it was scaled down (to zero) or
    deleted, and the message says both.

  While the owner still wants pods (`OwnerState.ACTIVE`: a ReplicaSet or StatefulSet recreating a
  deleted pod, a Job between a failed pod and its retry), no pod left does not end the incident, unless
  a StatefulSet now wants another revision than the one that crashed (`rollout`, as its pods will be).
- **continued** (only on a root, never a live incident): the group's window passed while it still
  crashed, so the planner posted a new root; the incident moved to it and the old root says so.

A crash after recovery, within GROUP_WINDOW of the recovery, re-opens the incident in the same thread;
later, it starts a new one. Pure: plain data in, plain data out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "EndReason",
    "IncidentPhase",
    "IncidentState",
    "IncidentStatus",
    "OwnerFate",
    "OwnerState",
    "PodSeen",
    "evaluate",
    "owner_fate",
    "owner_to_read",
    "revision_key",
]


def revision_key(revision: str | None) -> str | None:
    """What the ledger keeps of a revision label, to compare with the pods' later: a `pod-template-hash`
    (10 characters) as is, a longer `controller-revision-hash` (`<name>-<hash>`, up to 63) as a digest."""
    if revision is None or len(revision) <= 16:
        return revision
    return "#" + hashlib.blake2b(revision.encode("utf-8"), digest_size=8).hexdigest()


class IncidentPhase(StrEnum):
    FIRING = "firing"
    QUIET = "quiet"
    RECOVERED = "recovered"
    CONTINUED = "continued"


class EndReason(StrEnum):
    """Why an incident recovered (the thread reply and the root's state line say it in words)."""

    RAN_CLEAN = "ran_clean"
    ROLLOUT = "rollout"
    POD_DELETED = "pod_deleted"
    POD_COMPLETED = "pod_completed"
    POD_FAILED = "pod_failed"
    GONE = "gone"
    SCALED_TO_ZERO = "scaled_to_zero"
    DELETED = "deleted"
    UNSCHEDULED = "unscheduled"
    JOB_COMPLETED = "job_completed"
    JOB_FAILED = "job_failed"


class OwnerState(StrEnum):
    """What a workload's controller object says once none of its pods is left (`owner_fate`)."""

    ACTIVE = "active"
    """It exists and still wants pods: they are being replaced, the incident is not over."""
    SCALED_TO_ZERO = "scaled_to_zero"
    DELETED = "deleted"
    UNSCHEDULED = "unscheduled"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OwnerFate:
    """An owner's state and the one fact its wording needs: for `FAILED` the Job's `Failed` reason
    (`BackoffLimitExceeded`), for an `ACTIVE` StatefulSet the revision it now creates pods of
    (`status.updateRevision`: another one than the crash's is a rollout)."""

    state: OwnerState
    detail: str | None = None


_OWNER_ENDS = {
    OwnerState.SCALED_TO_ZERO: EndReason.SCALED_TO_ZERO,
    OwnerState.DELETED: EndReason.DELETED,
    OwnerState.UNSCHEDULED: EndReason.UNSCHEDULED,
    OwnerState.COMPLETED: EndReason.JOB_COMPLETED,
    OwnerState.FAILED: EndReason.JOB_FAILED,
}

_READ_ITSELF = frozenset({"ReplicaSet", "Job", "StatefulSet", "DaemonSet"})
"""Controllers whose own object the bot reads (a `get` each in the RBAC) once their pods are all gone."""


def owner_to_read(workload_kind: str, workload_name: str, revision: str | None) -> tuple[str, str] | None:
    """The controller object (kind, name) whose state says why a workload's pods are gone, among those the
    bot may read; None when there is none it may read. A Deployment's pods of revision `h` belong to the
    ReplicaSet `<deployment>-<h>` (the name `resolve_workload` stripped); a CronJob's run `m` (the
    scheduled minute `workload_revision` keeps) is the Job `<cronjob>-<m>`: that Job, not the CronJob,
    says whether the run that crashed failed, completed or was deleted (suspending a CronJob stops only
    its next runs, and deleting it deletes its Jobs)."""
    if workload_kind == "Deployment" and revision and not revision.startswith("#"):
        return ("ReplicaSet", f"{workload_name}-{revision}")
    if workload_kind == "CronJob" and revision and revision.isdigit():
        return ("Job", f"{workload_name}-{revision}")
    if workload_kind in _READ_ITSELF:
        return (workload_kind, workload_name)
    return None


def owner_fate(kind: str, owner: Mapping[str, Any] | None) -> OwnerFate | None:
    """Read a ReplicaSet, StatefulSet, DaemonSet or Job as the API returned it (None: 404); None when it
    says nothing certain (a suspended Job: it may resume, so the generic wording stays)."""
    if owner is None or (owner.get("metadata") or {}).get("deletionTimestamp"):
        return OwnerFate(OwnerState.DELETED)
    spec = owner.get("spec") or {}
    status = owner.get("status") or {}
    if kind in ("ReplicaSet", "StatefulSet"):
        if spec.get("replicas", 1) == 0:  # unset means 1, the API's default
            return OwnerFate(OwnerState.SCALED_TO_ZERO)
        revision = status.get("updateRevision") if kind == "StatefulSet" else None
        return OwnerFate(OwnerState.ACTIVE, str(revision) if revision else None)
    if kind == "DaemonSet":
        # The DaemonSet controller counts the nodes it should run a pod on; none left means its
        # nodeSelector, affinity or tolerations match no node now. Only a status that has caught up with
        # the spec (observedGeneration) is trusted with that.
        current = status.get("observedGeneration", 0) >= (owner.get("metadata") or {}).get("generation", 0)
        if current and status.get("desiredNumberScheduled") == 0:
            return OwnerFate(OwnerState.UNSCHEDULED)
        return OwnerFate(OwnerState.ACTIVE)
    if kind == "Job":
        true = {
            str(item.get("type")): item
            for item in status.get("conditions") or ()
            if isinstance(item, Mapping) and item.get("status") == "True"
        }
        if true.keys() & {"Complete", "SuccessCriteriaMet"}:
            return OwnerFate(OwnerState.COMPLETED)
        failed = true.get("Failed") or true.get("FailureTarget")
        if failed is not None:
            return OwnerFate(OwnerState.FAILED, str(failed.get("reason") or "") or None)
        if "Suspended" in true or spec.get("suspend"):
            return None
        return OwnerFate(OwnerState.ACTIVE)
    return None


@dataclass(frozen=True, slots=True)
class IncidentStatus:
    """What a root's state line and a recovery reply show: a snapshot of one incident."""

    phase: IncidentPhase
    since: float
    """When the phase began (for `recovered`: when the clean run began, or when the end was seen)."""
    started: float
    """The incident's first crash."""
    crashes: int
    last_crash: float
    reason: EndReason | None = None
    detail: str | None = None
    """For a rollout: the revision that replaced the crashing one (`6c8d9f7b4`)."""
    recovery_seconds: float | None = None
    """For `ran_clean`: how long it had to run (RECOVERY_SECONDS)."""

    @property
    def open(self) -> bool:
        return self.phase in (IncidentPhase.FIRING, IncidentPhase.QUIET)

    @property
    def burned_seconds(self) -> float:
        """How long it burned: first crash to recovery, or to the last crash while it is still open."""
        end = self.since if self.phase is IncidentPhase.RECOVERED else self.last_crash
        return max(0.0, end - self.started)

    def to_record(self) -> dict[str, Any]:
        return {
            "phase": self.phase.value,
            "since": self.since,
            "started": self.started,
            "crashes": self.crashes,
            "last": self.last_crash,
        } | {
            name: value
            for name, value in (
                ("reason", self.reason.value if self.reason else None),
                ("detail", self.detail),
                ("recovery", self.recovery_seconds),
            )
            if value is not None
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> IncidentStatus:
        """Read `to_record` back; raises `ValueError`/`TypeError`/`KeyError` for anything else."""
        reason = record.get("reason")
        detail = record.get("detail")
        recovery = record.get("recovery")
        return cls(
            phase=IncidentPhase(record["phase"]),
            since=_number(record["since"]),
            started=_number(record["started"]),
            crashes=int(_number(record["crashes"])),
            last_crash=_number(record["last"]),
            reason=EndReason(reason) if reason is not None else None,
            detail=str(detail) if detail is not None else None,
            recovery_seconds=_number(recovery) if recovery is not None else None,
        )


@dataclass(slots=True)
class IncidentState:
    """The ledger's record of one group's incident; `opened` names the group episode whose root shows it."""

    opened: float
    started: float
    last_crash: float
    crashes: int
    phase: IncidentPhase = IncidentPhase.FIRING
    since: float = 0.0
    revision: str | None = None
    """The pod template revision of the pods it crashed in, as last seen (a rollout replaces it), as
    `revision_key` keeps it."""
    reason: EndReason | None = None
    detail: str | None = None

    @property
    def open(self) -> bool:
        return self.phase in (IncidentPhase.FIRING, IncidentPhase.QUIET)

    def status(self, recovery_seconds: float | None = None) -> IncidentStatus:
        return IncidentStatus(
            self.phase,
            self.since,
            self.started,
            self.crashes,
            self.last_crash,
            self.reason,
            self.detail,
            recovery_seconds if self.reason is EndReason.RAN_CLEAN else None,
        )

    def crashed(self, count: int, when: float) -> None:
        """`count` more crashes at `when`: firing again (a quiet or recovered incident re-opens)."""
        self.crashes += count
        self.last_crash = max(self.last_crash, when)
        if self.phase is not IncidentPhase.FIRING:
            self.phase = IncidentPhase.FIRING
            self.since = when
            self.reason = None
            self.detail = None

    def copy(self) -> IncidentState:
        return IncidentState(
            self.opened,
            self.started,
            self.last_crash,
            self.crashes,
            self.phase,
            self.since,
            self.revision,
            self.reason,
            self.detail,
        )

    def to_dict(self) -> dict[str, Any]:
        """Compact (up to 400 of these share the ledger's ConfigMap with everything else): short keys,
        whole seconds where they suffice; the revision only while it is open (a rollout can only end an
        open incident), the rollout's detail never (the recovery's edit and reply carry it)."""
        record: dict[str, Any] = {
            "at": self.opened,
            "first": int(self.started),
            "last": int(self.last_crash),
            "n": self.crashes,
            "state": self.phase.value,
            "since": int(self.since),
        }
        if self.revision is not None and self.open:
            record["rev"] = self.revision
        if self.reason is not None:
            record["why"] = self.reason.value
        return record

    @classmethod
    def from_dict(cls, data: Any) -> IncidentState:
        """Raises `ValueError`/`TypeError`/`KeyError` with what is wrong (the ledger wraps it)."""
        if not isinstance(data, Mapping):
            raise TypeError("an incident must be an object")
        reason = data.get("why")
        return cls(
            opened=_number(data["at"]),
            started=_number(data["first"]),
            last_crash=_number(data["last"]),
            crashes=int(_number(data["n"])),
            phase=IncidentPhase(data["state"]),
            since=_number(data["since"]),
            revision=_optional_text(data.get("rev")),
            reason=EndReason(reason) if reason is not None else None,
        )

    def order(self) -> tuple[float, int, str, str]:
        """Which of two copies of the same episode is newer (a merge keeps it): the later transition."""
        return (self.since, self.crashes, self.phase.value, self.revision or "")


@dataclass(frozen=True, slots=True)
class PodSeen:
    """One live pod of a workload as the watch shows it now (terminating and finished pods are not live)."""

    uid: str
    revision: str | None
    """`pod-template-hash` (Deployments) or `controller-revision-hash` (StatefulSets, DaemonSets)."""
    running_since: Mapping[str, float | None] = field(default_factory=dict)
    """Container name → when its current instance started running (None: not running now)."""
    failed_at: float | None = None
    """For a bare pod only: when it ended `Failed` (it is not live, but its end is told as it is)."""
    failure: str | None = None
    """Why that pod will not run again (`restartPolicy Never`, or the pod's reason: `DeadlineExceeded`)."""

    def ran(self, container: str) -> float | None:
        """Since when `container` runs (for "" — an eviction — since when all of them do)."""
        if container:
            return self.running_since.get(container)
        starts = list(self.running_since.values())
        if not starts or any(start is None for start in starts):
            return None
        return max(start for start in starts if start is not None)


def evaluate(
    incident: IncidentState,
    *,
    workload_kind: str,
    container: str,
    pods: Sequence[PodSeen],
    crashed_pods: Iterable[str],
    now: float,
    recovery_seconds: float,
    quiet_seconds: float,
    completed_at: float | None = None,
    owner: OwnerFate | None = None,
) -> bool:
    """Apply what the watch shows now to an open `incident` (in place); True when its phase changed.

    `pods` are the workload's live pods the watch has seen (a complete list must have been read since the
    process started leading: an empty list then means there are none); `crashed_pods` the uids whose
    `pod_digest` the group holds, i.e. the pods it crashed in; `completed_at` when a pod of the workload
    last finished `Succeeded` (it ends a Job's or CronJob's incident); `owner` what its controller
    object said, read when no pod is left (None: not read, or unreadable).
    """
    if not incident.open:
        return False
    job = workload_kind in ("Job", "CronJob")
    if job and completed_at is not None and completed_at >= incident.last_crash:
        return _recover(incident, EndReason.JOB_COMPLETED, completed_at)
    if workload_kind == "Pod" and completed_at is not None and completed_at >= incident.last_crash:
        return _recover(incident, EndReason.POD_COMPLETED, completed_at)
    crashed = set(crashed_pods)
    revisions = [revision_key(pod.revision) for pod in pods if pod.uid in crashed and pod.revision]
    if revisions and incident.revision not in revisions:
        incident.revision = sorted(key for key in revisions if key)[-1]
    if not pods and workload_kind == "Pod":
        return _recover(incident, EndReason.POD_DELETED, now)
    if workload_kind == "Pod" and all(pod.failed_at is not None for pod in pods):
        ended = max(max(pod.failed_at or 0.0 for pod in pods), incident.last_crash)
        return _recover(incident, EndReason.POD_FAILED, ended, detail=pods[-1].failure)
    if not pods and _owner_end(incident, workload_kind, owner, now):
        return True
    if (
        pods
        and not job  # a CronJob's "revision" is its run: a later run is no rollout of the one that crashed
        and incident.revision
        and all(pod.revision and revision_key(pod.revision) != incident.revision for pod in pods)
    ):
        newest = sorted({pod.revision for pod in pods if pod.revision})
        return _recover(incident, EndReason.ROLLOUT, now, detail=newest[-1])
    if pods and now - incident.last_crash >= recovery_seconds:
        starts = [pod.ran(container) for pod in pods]
        if all(start is not None and now - start >= recovery_seconds for start in starts):
            began = max(start for start in starts if start is not None)
            return _recover(incident, EndReason.RAN_CLEAN, max(began, incident.last_crash))
    if incident.phase is IncidentPhase.FIRING and now - incident.last_crash >= quiet_seconds:
        incident.phase = IncidentPhase.QUIET
        incident.since = incident.last_crash
        return True
    return False


def _owner_end(incident: IncidentState, workload_kind: str, owner: OwnerFate | None, now: float) -> bool:
    """No pod of the workload is left: True when what its owner said ended the incident; False while the
    owner still wants pods of the revision that crashed. The detail names the object when it is not the
    Deployment's ReplicaSet (`its StatefulSet was deleted`; for a CronJob, the Job of the run)."""
    if owner is None:
        return _recover(incident, EndReason.GONE, now)
    if owner.state is OwnerState.ACTIVE:
        wanted = revision_key(owner.detail)
        if wanted and incident.revision and wanted != incident.revision:
            return _recover(incident, EndReason.ROLLOUT, now, detail=owner.detail)
        return False
    reason = _OWNER_ENDS[owner.state]
    if reason is EndReason.JOB_FAILED:
        return _recover(incident, reason, now, detail=owner.detail)
    named = workload_kind if workload_kind in ("StatefulSet", "DaemonSet", "Job", "CronJob") else None
    return _recover(incident, reason, now, detail=named)


def _recover(incident: IncidentState, reason: EndReason, when: float, detail: str | None = None) -> bool:
    incident.phase = IncidentPhase.RECOVERED
    incident.since = when
    incident.reason = reason
    incident.detail = detail
    return True


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def _optional_text(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"not a string: {value!r}")
    return value
