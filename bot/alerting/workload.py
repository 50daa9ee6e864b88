"""Name the workload that owns a pod from the pod alone, with no API call.

Alerts are grouped and snoozed per workload, so the name must be the one the engineer deploys
(`Deployment/api`), stable across rollouts (not the ReplicaSet `api-7d9f8c6b5`) and across CronJob runs
(not the Job `backup-28934560`). Reading the owner chain would cost an API call per termination and
ReplicaSet/Job read rights; the pod carries enough to do it locally:

- a ReplicaSet created by a Deployment is named `<deployment>-<pod-template-hash>` and the pod carries
  that hash as a label, so stripping `-<hash>` is exact (Argo Rollouts: `rollouts-pod-template-hash`);
- a Job created by a CronJob is named `<cronjob>-<scheduled time in minutes since the epoch>`. A date-like
  suffix is common in hand-made Job names too (`migrate-20240101`), so the CronJob name is claimed only
  when the suffix, read as minutes, lies within a day of the pod's creation *and* the pod carries a
  cron-ish label. Otherwise the Job name stands: a wrong merge would be worse than a missed one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.alerting.termination import Workload, epoch

_CRON_SUFFIX = re.compile(r"^(?P<base>.+)-(?P<minutes>\d{8,10})$")
_CRON_SCHEDULE_SLACK_SECONDS = 86_400.0
_JOB_LABEL_KEYS = frozenset(
    {"job-name", "batch.kubernetes.io/job-name", "controller-uid", "batch.kubernetes.io/controller-uid"}
)


REVISION_LABELS = ("pod-template-hash", "controller-revision-hash", "rollouts-pod-template-hash")
"""The label a controller puts on a pod to name its template revision (Deployment, StatefulSet and
DaemonSet, Argo Rollouts): a rollout shows in the pod stream as pods with another value."""


def pod_revision(pod: Mapping[str, Any]) -> str | None:
    """The pod's template revision (None for a bare pod, a Job's pod, or a controller that sets none)."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return next((str(labels[name]) for name in REVISION_LABELS if labels.get(name)), None)


def workload_revision(pod: Mapping[str, Any], workload: Workload | None = None) -> str | None:
    """What the incident lifecycle tracks as the revision a pod belongs to: its template revision, or for a
    CronJob's pod the run it belongs to, the scheduled minute its Job name ends with (`backup-28934560`
    -> `28934560`; short, so the ledger keeps it as is, and with the CronJob's name it names the Job).
    `workload` is the pod's, when the caller resolved it already."""
    revision = pod_revision(pod)
    if revision is not None:
        return revision
    workload = workload or resolve_workload(pod)
    if workload.kind != "CronJob":
        return None
    owner = _controller_owner((pod.get("metadata") or {}).get("ownerReferences"))
    job = str((owner or {}).get("name") or "")
    run = job.removeprefix(f"{workload.name}-")
    return run if run != job and run.isdigit() else None


def resolve_workload(pod: Mapping[str, Any]) -> Workload:
    """The workload that owns `pod` (a raw pod dict), or `Pod/<name>` for a bare or static pod."""
    metadata = pod.get("metadata") or {}
    pod_name = str(metadata.get("name") or "")
    owner = _controller_owner(metadata.get("ownerReferences"))
    if owner is None:
        return Workload("Pod", pod_name)
    kind = str(owner.get("kind") or "")
    name = str(owner.get("name") or "")
    if not kind or not name or kind == "Node":
        # Mirror pods of static manifests are "owned" by their Node; the pod name is the stable part.
        return Workload("Pod", pod_name)
    labels = metadata.get("labels") or {}
    if kind == "ReplicaSet":
        return _replica_set_owner(name, labels)
    if kind == "Job":
        cronjob = _cronjob_name(name, labels, metadata.get("creationTimestamp"))
        return Workload("CronJob", cronjob) if cronjob else Workload("Job", name)
    return Workload(kind, name)


def _controller_owner(owners: object) -> Mapping[str, Any] | None:
    """The owner with `controller: true`, else the first owner; None when there is none."""
    if not isinstance(owners, list) or not owners:
        return None
    for owner in owners:
        if isinstance(owner, Mapping) and owner.get("controller"):
            return owner
    first = owners[0]
    return first if isinstance(first, Mapping) else None


def _replica_set_owner(name: str, labels: Mapping[str, Any]) -> Workload:
    template_hash = labels.get("pod-template-hash")
    if isinstance(template_hash, str) and template_hash and name.endswith(f"-{template_hash}"):
        return Workload("Deployment", name[: -len(template_hash) - 1])
    rollout_hash = labels.get("rollouts-pod-template-hash")
    if isinstance(rollout_hash, str) and rollout_hash and name.endswith(f"-{rollout_hash}"):
        return Workload("Rollout", name[: -len(rollout_hash) - 1])
    return Workload("ReplicaSet", name)


def _cronjob_name(job_name: str, labels: Mapping[str, Any], created: object) -> str | None:
    """The CronJob's name when the Job name and the pod both say so; None when in doubt."""
    match = _CRON_SUFFIX.match(job_name)
    if match is None or not _has_cron_label(labels):
        return None
    created_at = epoch(created) if isinstance(created, str) else None
    if created_at is None:
        return None
    scheduled_at = int(match.group("minutes")) * 60.0
    if abs(created_at - scheduled_at) > _CRON_SCHEDULE_SLACK_SECONDS:
        return None
    return match.group("base")


def _has_cron_label(labels: Mapping[str, Any]) -> bool:
    for key, value in labels.items():
        if key in _JOB_LABEL_KEYS:
            continue
        if "cron" in str(key).lower() or "cron" in str(value).lower():
            return True
    return False
