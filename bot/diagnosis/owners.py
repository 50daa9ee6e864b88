"""The owner chain: who created the pod and who created that (ReplicaSet → Deployment, Job → CronJob).

Only controller owner references are followed: they are the ones that recreate the pod, so they decide
whether an exit 0 is a misconfiguration and which workload an engineer should look at.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.diagnosis.model import OwnerRef
from bot.diagnosis.ports import JsonDict

MAX_CHAIN = 4
"""Deeper chains do not exist among built-in controllers; the cap guards against reference cycles."""

FOLLOWED_KINDS = frozenset({"ReplicaSet", "Deployment", "Job", "CronJob"})
"""Owners worth reading: their objects say something a pod cannot (a Deployment above a ReplicaSet,
a Job's BackoffLimitExceeded or DeadlineExceeded condition)."""

LONG_RUNNING_KINDS = frozenset(
    {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "ReplicationController"}
)
"""Controllers that only allow `restartPolicy: Always`: every exit, even 0, is restarted."""


def controller_ref(obj: JsonDict) -> OwnerRef | None:
    """The controller owner reference of any object (the first reference if none is marked controller)."""
    metadata = obj.get("metadata")
    raw = metadata.get("ownerReferences") if isinstance(metadata, dict) else None
    if not raw or not isinstance(raw, list):
        return None
    chosen = None
    for ref in raw:  # one pass, no list of the references: the first object, or the controller
        if isinstance(ref, dict):
            if ref.get("controller") is True:
                chosen = ref
                break
            if chosen is None:
                chosen = ref
    if chosen is None:
        return None
    kind = chosen.get("kind")
    name = chosen.get("name")
    if isinstance(kind, str) and kind and isinstance(name, str) and name:
        return OwnerRef(kind, name)
    return None


def owner_chain(pod: JsonDict, owners: Iterable[JsonDict]) -> tuple[OwnerRef, ...]:
    """From the pod's direct controller upwards, as far as the fetched owner objects reach."""
    current = controller_ref(pod)
    if current is None:
        return ()
    fetched = owners if isinstance(owners, tuple) else tuple(owners)
    chain: list[OwnerRef] = []
    seen: set[tuple[str, str]] = set()  # (kind, name), what `OwnerRef` equality compares
    while current is not None and len(chain) < MAX_CHAIN:
        key = (current.kind, current.name)
        if key in seen:
            break
        seen.add(key)
        chain.append(current)
        owner = _fetched(fetched, current) if fetched else None
        current = controller_ref(owner) if owner is not None else None
    return tuple(chain)


def _fetched(owners: tuple[JsonDict, ...], ref: OwnerRef) -> JsonDict | None:
    """The fetched object `ref` names (the last one, should two carry the same kind and name)."""
    kind = ref.kind
    name = ref.name
    for owner in reversed(owners):
        if owner.get("kind") == kind:
            metadata = owner.get("metadata")
            if isinstance(metadata, dict) and metadata.get("name") == name:
                return owner
    return None


def find_owner(owners: Iterable[JsonDict], kind: str) -> JsonDict | None:
    """The fetched owner object of `kind`, if any."""
    for owner in owners:
        if owner.get("kind") == kind:
            return owner
    return None
