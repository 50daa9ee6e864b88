"""Read everything a diagnosis cites, concurrently, through the `ClusterReader` protocol only.

The pod is read first (without it there is nothing to diagnose, so its errors are raised: not found,
forbidden, unreachable). Everything else is read at once and may fail on its own: a missing RBAC verb
on events costs the events, which the diagnosis then says, not the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from bot.diagnosis.evidence import EVENTS, NODE_EVENTS, OWNERS, PartialError, PodEvidence, log_source
from bot.diagnosis.names import validate_namespace, validate_pod_name
from bot.diagnosis.owners import MAX_CHAIN, controller_ref
from bot.diagnosis.podjson import dig, integer, obj, objects, text
from bot.diagnosis.ports import ClusterError, ClusterReader, CurrentLogReader, JsonDict

T = TypeVar("T")

FETCHED_OWNER_KINDS = frozenset({"ReplicaSet", "Job"})
"""Owners read from the API: a ReplicaSet names its Deployment, a Job has the failure conditions and
names its CronJob. Deployments, StatefulSets, DaemonSets and CronJobs are named by the reference alone."""

NODE_EVENTS_NAMESPACE = "default"
"""The kubelet records events about a Node (SystemOOM, Rebooted) in the `default` namespace."""

_SIGKILL = 137


async def gather_evidence(reader: ClusterReader, namespace: str, name: str, *, log_lines: int) -> PodEvidence:
    """The pod, its events, owners and log tails. Raises only for invalid names and for the pod read."""
    validate_namespace(namespace)
    validate_pod_name(name)
    pod = await reader.get_pod(namespace, name)
    errors: list[PartialError] = []
    node = text(dig(pod, "spec", "nodeName"))
    events, node_events, owners, logs = await asyncio.gather(
        _attempt(EVENTS, reader.list_events(namespace, involved_name=name), errors),
        _node_events(reader, pod, node, errors),
        _owners(reader, namespace, pod, errors),
        _log_tails(reader, namespace, name, pod, log_lines, errors),
    )
    pod_uid = text(dig(pod, "metadata", "uid"))
    own_events = [event for event in events or [] if _about_pod(event, pod_uid)]
    return PodEvidence(
        pod=pod,
        events=(*own_events, *(node_events or [])),
        owners=owners,
        log_tails=logs,
        partial_errors=tuple(sorted(errors, key=lambda error: error.source)),
    )


async def _attempt(source: str, call: Awaitable[T], errors: list[PartialError]) -> T | None:
    """Await one read; a failure becomes a `PartialError` (said in the diagnosis) instead of an exception."""
    try:
        return await call
    except ClusterError as error:
        errors.append(PartialError(source, error.user_message))
    except Exception as error:  # any adapter failure costs only this evidence
        errors.append(
            PartialError(source, f"unexpected error from the cluster reader ({type(error).__name__})")
        )
    return None


def _about_pod(event: JsonDict, pod_uid: str | None) -> bool:
    """Events of this very pod: a StatefulSet's previous pod had the same name but another uid."""
    involved = obj(event.get("involvedObject"))
    if text(involved.get("kind")) not in (None, "Pod"):
        return False
    event_uid = text(involved.get("uid"))
    return pod_uid is None or event_uid is None or event_uid == pod_uid


def _needs_node_events(pod: JsonDict) -> bool:
    """Node OOM and reboot events only matter for a SIGKILL, an OOM kill, a lost container or an eviction."""
    if text(dig(pod, "status", "reason")) == "Evicted":
        return True
    status = obj(pod.get("status"))
    for entry in objects(status.get("containerStatuses")) + objects(status.get("initContainerStatuses")):
        for record in (dig(entry, "state", "terminated"), dig(entry, "lastState", "terminated")):
            record = obj(record)
            if integer(record.get("exitCode")) in (_SIGKILL, 255) or record.get("reason") == "OOMKilled":
                return True
    return False


async def _node_events(
    reader: ClusterReader, pod: JsonDict, node: str | None, errors: list[PartialError]
) -> list[JsonDict]:
    if node is None or not _needs_node_events(pod):
        return []
    events = await _attempt(
        NODE_EVENTS, reader.list_events(NODE_EVENTS_NAMESPACE, involved_name=node), errors
    )
    return [event for event in events or [] if text(dig(event, "involvedObject", "kind")) == "Node"]


async def _owners(
    reader: ClusterReader, namespace: str, pod: JsonDict, errors: list[PartialError]
) -> tuple[JsonDict, ...]:
    """Follow controller references upwards while the next owner is one worth reading."""
    chain: list[JsonDict] = []
    current = controller_ref(pod)
    while current is not None and current.kind in FETCHED_OWNER_KINDS and len(chain) < MAX_CHAIN:
        owner = await _attempt(OWNERS, reader.get_owner(namespace, current.kind, current.name), errors)
        if owner is None:
            break
        chain.append(owner)
        current = controller_ref(owner)
    return tuple(chain)


async def _log_tails(
    reader: ClusterReader,
    namespace: str,
    name: str,
    pod: JsonDict,
    log_lines: int,
    errors: list[PartialError],
) -> dict[str, str]:
    """Tails of containers that have ended: the previous instance's log, or for a container that ended
    and was never restarted, its current log (when the reader can read one)."""
    if log_lines <= 0:
        return {}
    status = obj(pod.get("status"))
    reads: dict[str, Awaitable[str | None]] = {}
    for entry in objects(status.get("initContainerStatuses")) + objects(status.get("containerStatuses")):
        container = text(entry.get("name"))
        if container is None:
            continue
        if isinstance(dig(entry, "lastState", "terminated"), dict):
            reads[container] = reader.read_previous_log(namespace, name, container, tail_lines=log_lines)
        elif isinstance(dig(entry, "state", "terminated"), dict) and isinstance(reader, CurrentLogReader):
            reads[container] = reader.read_current_log(namespace, name, container, tail_lines=log_lines)
    results = await asyncio.gather(
        *(_attempt(log_source(container), read, errors) for container, read in reads.items())
    )
    return {container: log for container, log in zip(reads, results, strict=True) if log}
