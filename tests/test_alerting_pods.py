"""Pods as the apiserver returns them, and the kubelet's status transitions, for the alerting tests.

Each helper returns a new pod dict (camelCase JSON, the shape `kubectl get pod -o json` prints) the way
the kubelet would write it (pkg/kubelet/kubelet_pods.go): a container exits (`state.terminated`), waits
in back-off (the record moves to `lastState`), restarts (`restartCount` rises, `lastState` stays).
The test at the bottom validates the shapes against the Kubernetes OpenAPI schema, so the alerting
tests exercise real API objects rather than whatever the detector happens to read.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
import pytest

Pod = dict[str, Any]

T0 = 1_767_225_600.0
"""2026-01-01T00:00:00Z; tests pass `now = T0 + offset` so ledger ages are deterministic."""


def ts(offset: float) -> str:
    """The API's timestamp for `T0 + offset` seconds (whole seconds, as the API stores them)."""
    return datetime.fromtimestamp(T0 + offset, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def deployment_pod(
    name: str = "api-7d9f8c6b5-x2x9z",
    *,
    namespace: str = "shop",
    deployment: str = "api",
    template_hash: str = "7d9f8c6b5",
    containers: tuple[str, ...] = ("app",),
    uid: str | None = None,
) -> Pod:
    labels = {"app": deployment, "pod-template-hash": template_hash}
    owner = ("ReplicaSet", f"{deployment}-{template_hash}")
    return make_pod(name, namespace=namespace, labels=labels, owner=owner, containers=containers, uid=uid)


def job_pod(
    name: str = "migrate-x7k2p",
    *,
    namespace: str = "batch",
    job: str = "migrate",
    restart_policy: str = "Never",
    containers: tuple[str, ...] = ("main",),
    sidecars: tuple[str, ...] = (),
) -> Pod:
    labels = {"batch.kubernetes.io/job-name": job, "job-name": job}
    return make_pod(
        name,
        namespace=namespace,
        labels=labels,
        owner=("Job", job),
        containers=containers,
        sidecars=sidecars,
        restart_policy=restart_policy,
    )


def make_pod(
    name: str,
    *,
    namespace: str = "shop",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owner: tuple[str, str] | None = None,
    containers: tuple[str, ...] = ("app",),
    init_containers: tuple[str, ...] = (),
    sidecars: tuple[str, ...] = (),
    restart_policy: str = "Always",
    node: str = "node-1",
    uid: str | None = None,
    created: float = 0.0,
) -> Pod:
    """A scheduled pod whose containers are all running since `created`."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid or f"uid-{namespace}-{name}",
        "resourceVersion": "1000",
        "creationTimestamp": ts(created),
        "labels": dict(labels or {}),
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    if owner is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "batch/v1" if owner[0] in ("Job", "CronJob") else "apps/v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": f"owner-{owner[1]}",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    init_specs = [{"name": item, "image": "busybox:1.36"} for item in init_containers]
    init_specs += [{"name": item, "image": "envoy:1.30", "restartPolicy": "Always"} for item in sidecars]
    spec: dict[str, Any] = {
        "containers": [{"name": item, "image": f"registry.example/{item}:1"} for item in containers],
        "restartPolicy": restart_policy,
        "nodeName": node,
        "terminationGracePeriodSeconds": 30,
    }
    if init_specs:
        spec["initContainers"] = init_specs
    status: dict[str, Any] = {
        "phase": "Running",
        "hostIP": "10.0.0.5",
        "podIP": "10.1.2.3",
        "startTime": ts(created),
        "qosClass": "BestEffort",
        "conditions": [
            {"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": ts(created)},
        ],
        "containerStatuses": [_running_status(item, created) for item in containers],
    }
    init_statuses = [_completed_init_status(item, created) for item in init_containers]
    init_statuses += [_running_status(item, created) for item in sidecars]
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


def _running_status(name: str, started: float) -> dict[str, Any]:
    return {
        "name": name,
        "image": f"registry.example/{name}:1",
        "imageID": f"registry.example/{name}@sha256:{'a' * 64}",
        "containerID": f"containerd://{name}-0",
        "ready": True,
        "started": True,
        "restartCount": 0,
        "state": {"running": {"startedAt": ts(started)}},
        "lastState": {},
    }


def _completed_init_status(name: str, started: float) -> dict[str, Any]:
    status = _running_status(name, started)
    status["ready"] = True
    status["started"] = False
    status["state"] = {
        "terminated": {
            "exitCode": 0,
            "reason": "Completed",
            "startedAt": ts(started),
            "finishedAt": ts(started),
            "containerID": f"containerd://{name}-0",
        }
    }
    return status


def container_status(pod: Pod, container: str) -> dict[str, Any]:
    for field in ("containerStatuses", "initContainerStatuses"):
        for item in pod["status"].get(field, []):
            if item["name"] == container:
                return item  # type: ignore[no-any-return]
    raise KeyError(container)


def exited(
    pod: Pod,
    container: str,
    code: int,
    at: float,
    *,
    reason: str | None = None,
    message: str | None = None,
) -> Pod:
    """The container's process ended with `code` at `T0 + at` (restartCount unchanged)."""
    new = copy.deepcopy(pod)
    status = container_status(new, container)
    started = (status["state"].get("running") or {}).get("startedAt", ts(at))
    terminated: dict[str, Any] = {
        "exitCode": code,
        "reason": reason or ("Completed" if code == 0 else "Error"),
        "startedAt": started,
        "finishedAt": ts(at),
        "containerID": status.get("containerID", ""),
    }
    if message is not None:
        terminated["message"] = message
    status["state"] = {"terminated": terminated}
    status["ready"] = False
    status["started"] = False
    return _bump(new)


def backoff(pod: Pod, container: str) -> Pod:
    """The kubelet waits before restarting: the exit moves to `lastState`, state is CrashLoopBackOff."""
    new = copy.deepcopy(pod)
    status = container_status(new, container)
    status["lastState"] = {"terminated": status["state"]["terminated"]}
    status["state"] = {
        "waiting": {
            "reason": "CrashLoopBackOff",
            "message": f"back-off 10s restarting failed container={container}",
        }
    }
    return _bump(new)


def restarted(pod: Pod, container: str, at: float) -> Pod:
    """A new instance started at `T0 + at`: restartCount rises, lastState keeps the previous exit."""
    new = copy.deepcopy(pod)
    status = container_status(new, container)
    if "terminated" in status["state"]:
        status["lastState"] = {"terminated": status["state"]["terminated"]}
    status["restartCount"] += 1
    status["containerID"] = f"containerd://{container}-{status['restartCount']}"
    status["state"] = {"running": {"startedAt": ts(at)}}
    status["ready"] = True
    status["started"] = True
    return _bump(new)


def churn(pod: Pod, at: float) -> Pod:
    """An uninteresting update: a readiness flip and a new resourceVersion."""
    new = copy.deepcopy(pod)
    ready = new["status"]["conditions"][0]
    ready["status"] = "False" if ready["status"] == "True" else "True"
    ready["lastTransitionTime"] = ts(at)
    return _bump(new)


def deleting(pod: Pod, at: float, grace: int = 30) -> Pod:
    """`kubectl delete` (or a rollout, or a scale-down) at `T0 + at`."""
    new = copy.deepcopy(pod)
    new["metadata"]["deletionTimestamp"] = ts(at + grace)
    new["metadata"]["deletionGracePeriodSeconds"] = grace
    return _bump(new)


def with_condition(pod: Pod, kind: str, reason: str, at: float, message: str = "") -> Pod:
    new = copy.deepcopy(pod)
    new["status"]["conditions"].append(
        {"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": ts(at)}
    )
    return _bump(new)


def with_pod_reason(pod: Pod, reason: str, message: str, phase: str = "Failed") -> Pod:
    new = copy.deepcopy(pod)
    new["status"]["reason"] = reason
    new["status"]["message"] = message
    new["status"]["phase"] = phase
    return _bump(new)


def crash_cycle(pod: Pod, container: str, code: int, at: float) -> list[Pod]:
    """One crash-loop turn as a watcher sees it: exit, back-off, restart 10 s later."""
    first = exited(pod, container, code, at)
    second = backoff(first, container)
    third = restarted(second, container, at + 10)
    return [first, second, third]


def _bump(pod: Pod) -> Pod:
    pod["metadata"]["resourceVersion"] = str(int(pod["metadata"]["resourceVersion"]) + 1)
    return pod


def container_spec(pod: Pod, container: str) -> dict[str, Any]:
    for field in ("containers", "initContainers"):
        for item in pod["spec"].get(field, []):
            if item["name"] == container:
                return item  # type: ignore[no-any-return]
    raise KeyError(container)


def with_restart_rules(
    pod: Pod,
    container: str,
    *,
    codes: tuple[int, ...],
    operator: str = "In",
    action: str = "Restart",
    restart_policy: str = "Never",
) -> Pod:
    """KEP-5307 (beta 1.35): the container's own restartPolicy and a restart rule on exit codes."""
    new = copy.deepcopy(pod)
    spec = container_spec(new, container)
    spec["restartPolicy"] = restart_policy
    spec["restartPolicyRules"] = [
        {"action": action, "exitCodes": {"operator": operator, "values": list(codes)}}
    ]
    return new


def with_stop_signal(pod: Pod, container: str, signal: str) -> Pod:
    """KEP-4960 (alpha 1.33): `lifecycle.stopSignal` (needs `spec.os.name`) and the status's report."""
    new = copy.deepcopy(pod)
    new["spec"]["os"] = {"name": "linux"}
    container_spec(new, container)["lifecycle"] = {"stopSignal": signal}
    container_status(new, container)["stopSignal"] = signal
    return new


def restart_all(pod: Pod, trigger: str, code: int, at: float, *, keep_records: bool = True) -> list[Pod]:
    """KEP-5532 as a watcher sees it: the trigger exits, the pod reports AllContainersRestarting, the
    kubelet stops every other container (SIGTERM, 143) and starts them all again, restartCount + 1 each.
    With `keep_records=False` the others' restarts show only as a higher restartCount."""
    first = exited(pod, trigger, code, at)
    marked = with_condition(first, "AllContainersRestarting", "RestartAllContainers", at + 1)
    stopped = marked
    others = [item["name"] for item in pod["status"]["containerStatuses"] if item["name"] != trigger]
    for name in others:
        stopped = exited(stopped, name, 143, at + 2)
    again = stopped
    for name in [trigger, *others]:
        again = restarted(again, name, at + 5)
        if not keep_records and name != trigger:
            container_status(again, name)["lastState"] = {}
    done = copy.deepcopy(again)
    done["status"]["conditions"] = [
        c for c in done["status"]["conditions"] if c["type"] != "AllContainersRestarting"
    ]
    return [first, marked, stopped, again, _bump(done)]


@pytest.mark.parametrize(
    "pod",
    [
        deployment_pod(),
        exited(deployment_pod(), "app", 137, 60, reason="OOMKilled", message="out of memory"),
        crash_cycle(deployment_pod(), "app", 1, 60)[-1],
        deleting(exited(job_pod(sidecars=("proxy",)), "main", 0, 5), 6),
        with_pod_reason(
            with_condition(deployment_pod(), "DisruptionTarget", "TerminationByKubelet", 3),
            "Evicted",
            "The node was low on resource: memory.",
        ),
        make_pod("init-demo", init_containers=("migrate",), sidecars=("proxy",)),
        with_restart_rules(job_pod(), "main", codes=(42,)),
        with_stop_signal(deployment_pod(), "app", "SIGUSR1"),
        restart_all(
            with_restart_rules(
                deployment_pod(containers=("trainer", "loader")),
                "trainer",
                codes=(88,),
                action="RestartAllContainers",
                restart_policy="Always",
            ),
            "trainer",
            88,
            60,
        )[2],
    ],
    ids=[
        "running",
        "exited",
        "restarted",
        "job-deleting",
        "evicted",
        "init-and-sidecar",
        "restart-rules",
        "stop-signal",
        "restart-all",
    ],
)
def test_pod_shapes_are_valid_kubernetes_objects(pod: Pod) -> None:
    kubernetes_validate.validate(pod, "1.37.0", strict=True)
