"""The API resources the fake Kubernetes API serves: their group, version, kind, scope and field labels.

One table, so the URL router, the Status messages ("replicasets.apps \"web\" not found"), the watch events
and the test controls (which address objects by `kind`) all agree on the same names the real apiserver
uses. Field labels are the ones the real apiserver accepts in `fieldSelector` for that resource; any other
field is refused with the apiserver's own message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]
FieldGetter = Callable[[JsonDict], str]


def field_path(*path: str) -> FieldGetter:
    """Read a dotted path as the apiserver's field-label conversion does: missing → "", bools lower-case."""

    def read(obj: JsonDict) -> str:
        value: Any = obj
        for key in path:
            if not isinstance(value, dict):
                return ""
            value = value.get(key)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return read


_METADATA_FIELDS: Mapping[str, FieldGetter] = {
    "metadata.name": field_path("metadata", "name"),
    "metadata.namespace": field_path("metadata", "namespace"),
}

_POD_FIELDS: Mapping[str, FieldGetter] = {
    **_METADATA_FIELDS,
    "spec.nodeName": field_path("spec", "nodeName"),
    "spec.restartPolicy": field_path("spec", "restartPolicy"),
    "spec.schedulerName": field_path("spec", "schedulerName"),
    "spec.serviceAccountName": field_path("spec", "serviceAccountName"),
    "spec.hostNetwork": field_path("spec", "hostNetwork"),
    "status.phase": field_path("status", "phase"),
    "status.podIP": field_path("status", "podIP"),
    "status.nominatedNodeName": field_path("status", "nominatedNodeName"),
}

_EVENT_FIELDS: Mapping[str, FieldGetter] = {
    **_METADATA_FIELDS,
    "involvedObject.kind": field_path("involvedObject", "kind"),
    "involvedObject.namespace": field_path("involvedObject", "namespace"),
    "involvedObject.name": field_path("involvedObject", "name"),
    "involvedObject.uid": field_path("involvedObject", "uid"),
    "involvedObject.apiVersion": field_path("involvedObject", "apiVersion"),
    "involvedObject.resourceVersion": field_path("involvedObject", "resourceVersion"),
    "involvedObject.fieldPath": field_path("involvedObject", "fieldPath"),
    "reason": field_path("reason"),
    "reportingComponent": field_path("reportingComponent"),
    "source": field_path("source", "component"),
    "type": field_path("type"),
}


@dataclass(frozen=True, slots=True, eq=False)
class ResourceType:
    """One REST resource, e.g. `pods` in the core group or `leases` in coordination.k8s.io.

    Each resource is a single module-level instance, compared and hashed by identity.
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    field_labels: Mapping[str, FieldGetter] = field(default_factory=lambda: _METADATA_FIELDS)

    @property
    def api_version(self) -> str:
        """`v1` for the core group, `apps/v1` otherwise: the `apiVersion` objects carry."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified(self) -> str:
        """`pods`, `replicasets.apps`: how the apiserver names the resource in Status messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


POD = ResourceType("", "v1", "pods", "Pod", True, _POD_FIELDS)
EVENT = ResourceType("", "v1", "events", "Event", True, _EVENT_FIELDS)
NAMESPACE = ResourceType(
    "",
    "v1",
    "namespaces",
    "Namespace",
    False,
    {**_METADATA_FIELDS, "status.phase": field_path("status", "phase")},
)
CONFIG_MAP = ResourceType("", "v1", "configmaps", "ConfigMap", True)
NODE = ResourceType(
    "",
    "v1",
    "nodes",
    "Node",
    False,
    {**_METADATA_FIELDS, "spec.unschedulable": field_path("spec", "unschedulable")},
)
REPLICA_SET = ResourceType("apps", "v1", "replicasets", "ReplicaSet", True)
DEPLOYMENT = ResourceType("apps", "v1", "deployments", "Deployment", True)
STATEFUL_SET = ResourceType("apps", "v1", "statefulsets", "StatefulSet", True)
DAEMON_SET = ResourceType("apps", "v1", "daemonsets", "DaemonSet", True)
JOB = ResourceType(
    "batch",
    "v1",
    "jobs",
    "Job",
    True,
    {**_METADATA_FIELDS, "status.successful": field_path("status", "succeeded")},
)
CRON_JOB = ResourceType("batch", "v1", "cronjobs", "CronJob", True)
LEASE = ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True)

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    POD,
    EVENT,
    NAMESPACE,
    CONFIG_MAP,
    NODE,
    REPLICA_SET,
    DEPLOYMENT,
    STATEFUL_SET,
    DAEMON_SET,
    JOB,
    CRON_JOB,
    LEASE,
)

_BY_PATH: dict[tuple[str, str, str], ResourceType] = {
    (rt.group, rt.version, rt.plural): rt for rt in RESOURCE_TYPES
}
_BY_KIND: dict[str, ResourceType] = {rt.kind: rt for rt in RESOURCE_TYPES}


def resource_at(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource a URL names (`/apis/{group}/{version}/.../{plural}`), or None if not served."""
    return _BY_PATH.get((group, version, plural))


def resource_of_kind(kind: str) -> ResourceType:
    """The resource holding objects of `kind`; test controls address objects by their `kind` field."""
    try:
        return _BY_KIND[kind]
    except KeyError:
        served = ", ".join(sorted(_BY_KIND))
        raise ValueError(
            f"the fake Kubernetes API does not serve kind {kind!r} (it serves {served})"
        ) from None


def resource_named(name: str) -> ResourceType:
    """Look a resource up by plural, optionally group-qualified (`pods`, `leases.coordination.k8s.io`)."""
    for rt in RESOURCE_TYPES:
        if name in (rt.plural, rt.qualified):
            return rt
    raise ValueError(f"the fake Kubernetes API does not serve resource {name!r}")
