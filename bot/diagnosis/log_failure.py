"""Why a container's log could not be read, in words an on-call engineer can act on (issue 14).

The API server proxies a log read to the node's kubelet, so most failures are not the API server's: the
kubelet is down or unreachable ("no preferred addresses found; known addresses: []", "dial tcp
10.0.1.5:10250: connect: connection refused"), the container never started (so it has no log at all),
or the log was rotated away by the kubelet (containerLogMaxSize) or lost with a replaced pod. Quoting the
API's raw sentence helps nobody at 3 a.m.; this names the likely cause and the next command. Pure: it
reads the error text and the pod JSON the caller already has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.diagnosis.podjson import dig, integer, objects, text
from bot.diagnosis.ports import JsonDict

__all__ = ["LogFailure", "explain_log_failure", "kubelet_unreachable"]

_KUBELET_MARKERS = re.compile(
    r"no preferred addresses found|:10250\b|containerLogs|kubelet|error dialing backend|"
    r"proxy error|dial tcp|tunnel|i/o timeout|connection refused|no route to host",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class LogFailure:
    """The likely cause (one sentence) and the command to run next."""

    cause: str
    next_command: str


def kubelet_unreachable(api_message: str) -> bool:
    """Does the API server's error read like its proxy to the node's kubelet failed?"""
    return bool(_KUBELET_MARKERS.search(api_message))


def explain_log_failure(
    *,
    namespace: str,
    pod_name: str,
    container: str,
    api_message: str | None,
    pod: JsonDict | None,
    node: str | None = None,
) -> LogFailure:
    """Why the log of `container` could not be shown.

    `api_message` is the API server's error, or None when the read succeeded with no log (the API
    answers 400 when a previous instance's log cannot exist). `pod` is the live pod (None when it is
    gone or could not be read); `node` the node the alert named, used when the pod is gone.
    """
    where = f"-n {namespace} {pod_name}"
    node = text(dig(pod, "spec", "nodeName")) if pod is not None else node
    if api_message is not None and kubelet_unreachable(api_message):
        on = f"node {node}" if node else "the pod's node"
        check = f"kubectl get node {node} -o wide" if node else f"kubectl get pod {where} -o wide"
        return LogFailure(
            f"The API server could not reach the kubelet on {on} to fetch the log: the node may be down, "
            "NotReady, or cut off from the control plane (logs are read from the node, not the API server).",
            check,
        )
    if pod is None:
        return LogFailure(
            "The pod no longer exists (replaced by its controller, or deleted), and its logs went with it.",
            f"kubectl get pods -n {namespace}",
        )
    status = _container_status(pod, container)
    waiting_reason = text(dig(status, "state", "waiting", "reason")) if status else None
    started = status is not None and (
        (integer(status.get("restartCount")) or 0) > 0
        or dig(status, "lastState", "terminated") is not None
        or dig(status, "state", "running") is not None
        or dig(status, "state", "terminated", "containerID") is not None
    )
    if status is not None and not started:
        why = f" ({waiting_reason})" if waiting_reason else ""
        return LogFailure(
            f"Container {container} never started{why}, so it has no log: the reason is in the pod's events.",
            f"kubectl describe pod {where}",
        )
    return LogFailure(
        "The container ran, but its log is empty or was rotated away by the kubelet (containerLogMaxSize), "
        "or the container was replaced more than once since the alert.",
        f"kubectl logs {where} -c {container} --previous",
    )


def _container_status(pod: JsonDict, container: str) -> JsonDict | None:
    for field in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for status in objects(dig(pod, "status", field)):
            if text(status.get("name")) == container:
                return status
    return None
