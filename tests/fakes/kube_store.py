"""The fake cluster's state: objects, one global resourceVersion, a bounded change history, open watches.

It behaves like etcd plus the apiserver's watch cache, as far as a client can observe:
- every write (create, update, patch, delete, from the API or from a test) takes the next number of a single
  global `resourceVersion` counter and is appended to a bounded history;
- a watch from a resourceVersion replays the history after it, then streams live changes; one older than
  the history window gets `410 Expired` ("too old resource version"); `compact()` forces that;
- `update` with a stale `metadata.resourceVersion` is a `409 Conflict`, which the bot's ledger and Lease
  rely on for optimistic concurrency.

Stored objects are never mutated after they are stored (every write stores a new dict), so lists, watch
events and continue-token snapshots can share them without copying. Everything is guarded by one lock,
because tests drive the fake from their own thread while the server runs on another thread's loop; live
changes reach each watch through its loop's `call_soon_threadsafe`, in order.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import copy
import datetime
import itertools
import json
import re
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, overload

from tests.fakes import kube_status as status
from tests.fakes.kube_patch import PatchError, apply_patch
from tests.fakes.kube_resources import (
    CONFIG_MAP,
    NAMESPACE,
    POD,
    ResourceType,
    resource_of_kind,
)
from tests.fakes.kube_watch import Change, Drop, Progress, Subscription, WatchFilter

JsonDict = dict[str, Any]

CONFIG_MAP_MAX_BYTES = 1024 * 1024  # the apiserver refuses ConfigMaps whose data exceeds 1 MiB
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SNAPSHOTS_KEPT = 16


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(rt: ResourceType, namespace: str | None, name: str) -> tuple[str, str]:
    return (namespace or "" if rt.namespaced else "", name)


def _containers(pod: JsonDict, status_key: str | None = None) -> list[JsonDict]:
    spec = pod.get("spec") or {}
    if status_key is None:
        groups = ("containers", "initContainers", "ephemeralContainers")
        return [c for group in groups for c in spec.get(group) or []]
    pod_status = pod.get("status") or {}
    groups = ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses")
    return [c for group in groups for c in pod_status.get(group) or []]


def _tail(text: str, lines: int | None) -> str:
    if lines is None:
        return text
    if lines <= 0:
        return ""
    kept = text.splitlines(keepends=True)[-lines:]
    return "".join(kept)


class FakeCluster:
    """Objects, history, logs and open watches of one fake cluster; survives server restarts."""

    def __init__(self, *, history_limit: int = 5000, first_resource_version: int = 1000) -> None:
        self._lock = threading.RLock()
        self._objects: dict[ResourceType, dict[tuple[str, str], JsonDict]] = {}
        self._resource_version = first_resource_version
        self._oldest_resumable = first_resource_version
        self._history: deque[Change] = deque(maxlen=history_limit)
        self._subscriptions: set[Subscription] = set()
        self._watches_started = 0
        self._logs: dict[tuple[str, str, str, bool], str] = {}
        self._snapshots: OrderedDict[tuple[str, int], tuple[list[tuple[str, str]], list[JsonDict]]] = (
            OrderedDict()
        )
        for name in ("default", "kube-system"):
            self.ensure_namespace(name)

    # --- introspection ------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The current global resourceVersion (what a list returns now)."""
        with self._lock:
            return self._resource_version

    @property
    def open_watches(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    @property
    def watches_started(self) -> int:
        """How many watches were ever opened: a test waits for it to grow before acting on a new watch."""
        with self._lock:
            return self._watches_started

    # --- test controls: addressed by `kind`, fill what the apiserver would --------------------------

    def create(self, obj: Mapping[str, Any]) -> JsonDict:
        """Create an object (needs `kind`); its namespace is created too if missing. Emits ADDED."""
        rt, namespace, name = self._identify(obj)
        with self._lock:
            if namespace is not None:
                self.ensure_namespace(namespace)
            if _key(rt, namespace, name) in self._objects.get(rt, {}):
                raise status.already_exists(rt, name)
            return copy.deepcopy(self._write(rt, namespace, name, self._fresh(rt, obj, namespace), None))

    def update(self, obj: Mapping[str, Any]) -> JsonDict:
        """Replace an existing object unconditionally (its resourceVersion is ignored). Emits MODIFIED."""
        rt, namespace, name = self._identify(obj)
        with self._lock:
            old = self._current(rt, namespace, name)
            return copy.deepcopy(self._write(rt, namespace, name, self._successor(old, obj), old))

    def apply(self, obj: Mapping[str, Any]) -> JsonDict:
        """Create or replace: the convenient way to put a pod into a given state."""
        rt, namespace, name = self._identify(obj)
        with self._lock:
            if _key(rt, namespace, name) in self._objects.get(rt, {}):
                return self.update(obj)
            return self.create(obj)

    def modify(
        self, kind: str, namespace: str | None, name: str, change: Callable[[JsonDict], None]
    ) -> JsonDict:
        """Read-modify-write under the lock: `change` edits a copy, which is stored. Emits MODIFIED."""
        rt = resource_of_kind(kind)
        with self._lock:
            obj = copy.deepcopy(self._current(rt, namespace, name))
            change(obj)
            return self.update(obj)

    def begin_graceful_deletion(self, namespace: str, name: str, *, grace_seconds: int = 30) -> JsonDict:
        """What `kubectl delete pod` does first: set `deletionTimestamp` (MODIFIED); the kubelet then stops
        the containers (143/137 that are not crashes) and `delete()` removes the pod."""

        def mark(pod: JsonDict) -> None:
            pod["metadata"]["deletionTimestamp"] = now_rfc3339()
            pod["metadata"]["deletionGracePeriodSeconds"] = grace_seconds

        return self.modify("Pod", namespace, name, mark)

    def delete(self, kind: str, namespace: str | None, name: str) -> JsonDict:
        """Remove an object at once (no grace period). Emits DELETED with the deletion's resourceVersion."""
        rt = resource_of_kind(kind)
        with self._lock:
            return copy.deepcopy(self._remove(rt, namespace, name))

    def get(self, kind: str, namespace: str | None, name: str) -> JsonDict | None:
        rt = resource_of_kind(kind)
        with self._lock:
            found = self._objects.get(rt, {}).get(_key(rt, namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def list_objects(self, kind: str, namespace: str | None = None) -> list[JsonDict]:
        rt = resource_of_kind(kind)
        with self._lock:
            return [
                copy.deepcopy(obj)
                for (ns, _), obj in sorted(self._objects.get(rt, {}).items())
                if namespace is None or ns == namespace
            ]

    @overload
    def load(self, objects: Iterable[Mapping[str, Any]]) -> list[JsonDict]: ...
    @overload
    def load(self, objects: Iterable[Mapping[str, Any]], *, echo: Literal[False]) -> int: ...

    def load(self, objects: Iterable[Mapping[str, Any]], *, echo: bool = True) -> list[JsonDict] | int:
        """Create or replace each object, in order; returns copies of what was stored, or with
        `echo=False` (bulk loads of 100,000 pods) only how many."""
        if echo:
            return [self.apply(obj) for obj in objects]
        count = 0
        for obj in objects:
            rt, namespace, name = self._identify(obj)
            with self._lock:
                if namespace is not None:
                    self.ensure_namespace(namespace)
                old = self._objects.get(rt, {}).get(_key(rt, namespace, name))
                if old is None:
                    self._write(rt, namespace, name, self._fresh(rt, obj, namespace), None)
                else:
                    self._write(rt, namespace, name, self._successor(old, obj), old)
            count += 1
        return count

    def load_scenario(self, scenario: Mapping[str, Any]) -> JsonDict:
        """Load `{"pod": …, "events": […], "owners": […], "logs": {"container": "text"}, "namespace": …}`.

        Owners go in first (so the pod's owner chain resolves when the pod's ADDED event arrives); `logs` are
        the previous (crashed) instance's logs, `current_logs` the running one's. Returns the stored pod.
        """
        if "namespace" in scenario:
            self.apply(scenario["namespace"])
        pod_namespace = (scenario["pod"].get("metadata") or {}).get("namespace") or "default"

        def in_pod_namespace(obj: Mapping[str, Any]) -> JsonDict:
            placed = copy.deepcopy(dict(obj))
            placed.setdefault("metadata", {}).setdefault("namespace", pod_namespace)
            return placed

        self.load(in_pod_namespace(owner) for owner in scenario.get("owners") or [])
        pod = self.apply(scenario["pod"])
        self.load(in_pod_namespace(event) for event in scenario.get("events") or [])
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        for previous, key in ((True, "logs"), (False, "current_logs")):
            for container, text in (scenario.get(key) or {}).items():
                self.set_log(namespace, name, container, text, previous=previous)
        return pod

    def set_log(self, namespace: str, pod: str, container: str, text: str, *, previous: bool = True) -> None:
        """The text `pods/log` returns for a container (`previous=True`: the last terminated instance)."""
        with self._lock:
            self._logs[(namespace, pod, container, previous)] = text

    def ensure_namespace(self, name: str, *, annotations: Mapping[str, str] | None = None) -> JsonDict:
        """Make sure a Namespace object exists (the tests rarely care to create one by hand)."""
        with self._lock:
            found = self._objects.get(NAMESPACE, {}).get(("", name))
            if found is None:
                namespace: JsonDict = {
                    "kind": "Namespace",
                    "apiVersion": "v1",
                    "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                }
                if annotations:
                    namespace["metadata"]["annotations"] = dict(annotations)
                found = self._write(NAMESPACE, None, name, self._fresh(NAMESPACE, namespace, None), None)
            return copy.deepcopy(found)

    def compact(self) -> int:
        """Forget the change history, as etcd compaction does: resuming from any earlier resourceVersion
        now gets 410 Expired, while a fresh list's resourceVersion stays resumable. Returns that version."""
        with self._lock:
            self._resource_version += 1  # some unwatched write elsewhere in the cluster, as there always is
            self._oldest_resumable = self._resource_version
            self._history.clear()
            self._snapshots.clear()
            return self._resource_version

    def drop_watches(self, *, abort: bool = True) -> int:
        """End every open watch (reset, or a clean end of stream). Returns how many were open."""
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.post(Drop(abort=abort))
        return len(subscriptions)

    # --- API operations (raise StatusError as the apiserver answers) -----------------------------

    def api_get(self, rt: ResourceType, namespace: str | None, name: str) -> JsonDict:
        with self._lock:
            return self._current(rt, namespace, name)

    def api_list(
        self,
        watch_filter: WatchFilter,
        *,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> JsonDict:
        """A `…List` body; with `limit`, one page of a consistent snapshot, as the apiserver pages etcd.

        Every page of one list comes from the state at the first page's resourceVersion (and carries
        it), whatever was written meanwhile. `metadata.continue` (absent on the last page) encodes that
        resourceVersion and the key to start after; `remainingItemCount` counts what follows, except
        under a label or field selector, where the apiserver cannot count without reading everything and
        leaves it out. A token whose resourceVersion left the history window (compaction) gets `410
        Expired` with the apiserver's sentence, and the client starts a new list.
        """
        rt = watch_filter.rt
        with self._lock:
            if continue_token:
                list_rv, start = self._decode_continue(continue_token)
                keys, objects = self._snapshot(rt, list_rv)
            else:
                list_rv, start = self._resource_version, None
                keys, objects = self._take_snapshot(rt)
        low, high = 0, len(keys)
        if watch_filter.namespace is not None:  # a namespace is a key prefix in etcd: read only its range
            low = bisect.bisect_left(keys, (watch_filter.namespace, ""))
            high = bisect.bisect_left(keys, (watch_filter.namespace + "\x00", ""))
        position = max(low, bisect.bisect_right(keys, start)) if start is not None else low
        selected = bool(watch_filter.labels.tests or watch_filter.fields.terms)
        matches = watch_filter.matches
        wanted = limit if limit and limit > 0 else high
        page: list[JsonDict] = []
        while position < high and len(page) < wanted:
            if not selected or matches(objects[position]):
                page.append(objects[position])
            position += 1
        metadata: JsonDict = {"resourceVersion": str(list_rv)}
        if selected:
            more = any(matches(obj) for obj in itertools.islice(objects, position, high))
        else:
            more = position < high
        if more and page:
            last = page[-1]["metadata"]
            metadata["continue"] = _encode_continue(list_rv, rt, last.get("namespace") or "", last["name"])
            if not selected:
                metadata["remainingItemCount"] = high - position
        items = [{k: v for k, v in obj.items() if k not in ("kind", "apiVersion")} for obj in page]
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": metadata, "items": items}

    def api_create(self, rt: ResourceType, namespace: str | None, body: JsonDict) -> JsonDict:
        metadata = body.get("metadata") or {}
        body_namespace = metadata.get("namespace")
        if rt.namespaced and body_namespace not in (None, "", namespace):
            raise status.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        self._check_kind(rt, body)
        with self._lock:
            if rt.namespaced and ("", namespace or "") not in self._objects.get(NAMESPACE, {}):
                raise status.not_found(NAMESPACE, namespace or "")
            obj = self._fresh(rt, body, namespace)
            name = obj["metadata"]["name"]
            self._validate(rt, obj)
            if _key(rt, namespace, name) in self._objects.get(rt, {}):
                raise status.already_exists(rt, name)
            return self._write(rt, namespace, name, obj, None)

    def api_update(self, rt: ResourceType, namespace: str | None, name: str, body: JsonDict) -> JsonDict:
        metadata = body.get("metadata") or {}
        if metadata.get("name") not in (None, name):
            raise status.bad_request(
                f"the name of the object ({metadata.get('name')}) does not match the name on the URL ({name})"
            )
        self._check_kind(rt, body)
        with self._lock:
            old = self._current(rt, namespace, name)
            self._check_precondition(rt, name, old, metadata.get("resourceVersion"))
            new = self._successor(old, body)
            self._validate(rt, new)
            return self._write(rt, namespace, name, new, old)

    def api_patch(
        self, rt: ResourceType, namespace: str | None, name: str, content_type: str, patch: Any
    ) -> JsonDict:
        with self._lock:
            old = self._current(rt, namespace, name)
            try:
                patched = apply_patch(content_type, old, patch)
            except PatchError as error:
                raise status.invalid(rt, name, str(error)) from None
            requested_rv = (patched.get("metadata") or {}).get("resourceVersion")
            if requested_rv != old["metadata"]["resourceVersion"]:
                self._check_precondition(rt, name, old, requested_rv)
            new = self._successor(old, patched)
            self._validate(rt, new)
            return self._write(rt, namespace, name, new, old)

    def api_delete(
        self, rt: ResourceType, namespace: str | None, name: str, preconditions: Mapping[str, Any]
    ) -> JsonDict:
        with self._lock:
            old = self._current(rt, namespace, name)
            self._check_precondition(rt, name, old, preconditions.get("resourceVersion"))
            if preconditions.get("uid") not in (None, old["metadata"].get("uid")):
                raise status.conflict(rt, name)
            return self._remove(rt, namespace, name)

    def api_log(
        self, namespace: str, name: str, container: str | None, *, previous: bool, tail_lines: int | None
    ) -> str:
        """`pods/{name}/log` with the kubelet's answers when the log cannot exist."""
        with self._lock:
            pod = self._current(POD, namespace, name)
            names = [c.get("name") for c in _containers(pod)]
            regular = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
            if not container:
                if len(regular) != 1:
                    choices = " ".join(str(c) for c in regular)
                    raise status.bad_request(
                        f"a container name must be specified for pod {name}, choose one of: [{choices}]"
                    )
                container = str(regular[0])
            if container not in names:
                raise status.bad_request(f"container {container} is not valid for pod {name}")
            text = self._logs.get((namespace, name, container, previous))
            if text is None:
                statuses = [c for c in _containers(pod, "status") if c.get("name") == container]
                ran_before = any((c.get("lastState") or {}).get("terminated") for c in statuses)
                if previous and not ran_before:
                    raise status.bad_request(
                        f'previous terminated container "{container}" in pod "{name}" not found'
                    )
                waiting = [(c.get("state") or {}).get("waiting") for c in statuses]
                if not previous and not ran_before and waiting and isinstance(waiting[0], dict):
                    reason = waiting[0].get("reason") or "ContainerCreating"
                    raise status.bad_request(
                        f'container "{container}" in pod "{name}" is waiting to start: {reason}'
                    )
            return _tail(text or "", tail_lines)

    def subscribe(self, watch_filter: WatchFilter, since: int | None) -> Subscription:
        """Open a watch on the running loop: replay (or initial ADDED events), then live changes.

        `since=None` is resourceVersion "" or "0": the current state as ADDED events first.
        """
        subscription = Subscription(watch_filter, asyncio.get_running_loop())
        with self._lock:
            current = self._resource_version
            if since is None:
                for obj in list(self._objects.get(watch_filter.rt, {}).values()):
                    rv = int(obj["metadata"]["resourceVersion"])
                    subscription.queue.put_nowait(Change(rv, "ADDED", watch_filter.rt, obj, None))
            elif since < self._oldest_resumable:
                subscription.expired_message = f"too old resource version: {since} ({self._oldest_resumable})"
                return subscription
            else:
                for change in self._history:
                    if change.resource_version > since:
                        subscription.queue.put_nowait(change)
            subscription.queue.put_nowait(Progress(current))
            self._subscriptions.add(subscription)
            self._watches_started += 1
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    # --- internals ------------------------------------------------------------------------------------

    def _identify(self, obj: Mapping[str, Any]) -> tuple[ResourceType, str | None, str]:
        kind = obj.get("kind")
        if not isinstance(kind, str):
            raise ValueError('a test object needs a `kind` (e.g. "Pod") so the fake knows where it lives')
        rt = resource_of_kind(kind)
        metadata = obj.get("metadata") or {}
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"a test {kind} needs metadata.name")
        namespace = (metadata.get("namespace") or "default") if rt.namespaced else None
        return rt, namespace, name

    def _current(self, rt: ResourceType, namespace: str | None, name: str) -> JsonDict:
        found = self._objects.get(rt, {}).get(_key(rt, namespace, name))
        if found is None:
            raise status.not_found(rt, name)
        return found

    def _fresh(self, rt: ResourceType, source: Mapping[str, Any], namespace: str | None) -> JsonDict:
        """A new object with what the apiserver sets on create: uid, creationTimestamp, namespace."""
        obj = copy.deepcopy(dict(source))
        obj["kind"], obj["apiVersion"] = rt.kind, rt.api_version
        metadata = obj.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
        if not metadata.get("name"):
            raise status.invalid(rt, "", "metadata.name: Required value: name or generateName is required")
        if rt.namespaced:
            metadata["namespace"] = namespace or metadata.get("namespace") or "default"
        else:
            metadata.pop("namespace", None)
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", now_rfc3339())
        metadata.pop("resourceVersion", None)
        return obj

    def _successor(self, old: JsonDict, source: Mapping[str, Any]) -> JsonDict:
        """The replacement object, keeping what an update cannot change (uid, creationTimestamp)."""
        new = copy.deepcopy(dict(source))
        new["kind"], new["apiVersion"] = old["kind"], old["apiVersion"]
        metadata = dict(new.get("metadata") or {})
        for kept in ("name", "namespace", "uid", "creationTimestamp"):
            if kept in old["metadata"]:
                metadata[kept] = old["metadata"][kept]
        new["metadata"] = metadata
        return new

    def _check_kind(self, rt: ResourceType, body: Mapping[str, Any]) -> None:
        kind = body.get("kind")
        if kind not in (None, "", rt.kind):
            raise status.bad_request(f"the kind of the object ({kind}) does not match the URL ({rt.kind})")

    def _check_precondition(self, rt: ResourceType, name: str, old: JsonDict, requested: Any) -> None:
        if requested not in (None, "") and str(requested) != old["metadata"]["resourceVersion"]:
            raise status.conflict(rt, name)

    def _validate(self, rt: ResourceType, obj: JsonDict) -> None:
        name = obj["metadata"]["name"]
        pattern = _DNS_LABEL if rt is NAMESPACE else _DNS_SUBDOMAIN
        if len(name) > 253 or not pattern.match(name):
            raise status.invalid(
                rt,
                name,
                f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                "lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                "character",
            )
        if rt is CONFIG_MAP:
            size = sum(
                len(k) + len(str(v).encode())
                for part in ("data", "binaryData")
                for k, v in (obj.get(part) or {}).items()
            )
            if size > CONFIG_MAP_MAX_BYTES:
                raise status.invalid(
                    rt, name, f"[]: Too long: must have at most {CONFIG_MAP_MAX_BYTES} bytes"
                )

    def _write(
        self, rt: ResourceType, namespace: str | None, name: str, new: JsonDict, old: JsonDict | None
    ) -> JsonDict:
        self._resource_version += 1
        new["metadata"] = dict(new["metadata"])
        new["metadata"]["resourceVersion"] = str(self._resource_version)
        self._objects.setdefault(rt, {})[_key(rt, namespace, name)] = new
        self._record(Change(self._resource_version, "MODIFIED" if old else "ADDED", rt, new, old))
        return new

    def _remove(self, rt: ResourceType, namespace: str | None, name: str) -> JsonDict:
        old = self._current(rt, namespace, name)
        del self._objects[rt][_key(rt, namespace, name)]
        self._resource_version += 1
        gone = dict(old)
        gone["metadata"] = {**old["metadata"], "resourceVersion": str(self._resource_version)}
        if rt is POD:
            for key in [k for k in self._logs if k[0] == namespace and k[1] == name]:
                del self._logs[key]
        self._record(Change(self._resource_version, "DELETED", rt, gone, old))
        return gone

    def _record(self, change: Change) -> None:
        if self._history.maxlen is not None and len(self._history) == self._history.maxlen:
            self._oldest_resumable = self._history[0].resource_version
        self._history.append(change)
        for subscription in list(self._subscriptions):
            if not subscription.post(change):
                self._subscriptions.discard(subscription)

    def _take_snapshot(self, rt: ResourceType) -> tuple[list[tuple[str, str]], list[JsonDict]]:
        """The objects of `rt` now, in key order, kept for the continue tokens of this resourceVersion.

        Stored objects are never mutated, so a snapshot is two lists of references, taken once per list
        (not once per page); the newest few are kept, like the revisions etcd keeps until compaction.
        """
        found = self._snapshots.get((rt.kind, self._resource_version))
        if found is None:
            ordered = sorted(self._objects.get(rt, {}).items())
            found = ([key for key, _ in ordered], [obj for _, obj in ordered])
            self._snapshots[(rt.kind, self._resource_version)] = found
            while len(self._snapshots) > _SNAPSHOTS_KEPT:
                self._snapshots.popitem(last=False)
        return found

    def _snapshot(self, rt: ResourceType, list_rv: int) -> tuple[list[tuple[str, str]], list[JsonDict]]:
        found = self._snapshots.get((rt.kind, list_rv))
        if found is None or list_rv < self._oldest_resumable:
            raise status.expired(
                "The provided continue parameter is too old to display a consistent list result. "
                "You can start a new list without the continue parameter."
            )
        return found

    def _decode_continue(self, token: str) -> tuple[int, tuple[str, str]]:
        """The resourceVersion and the key a continue token resumes after (the apiserver's encoding:
        base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":"<namespace>/<name>\\u0000"}`)."""
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            if decoded["v"] != "meta.k8s.io/v1":
                raise ValueError(decoded["v"])
            list_rv = int(decoded["rv"])
            start = str(decoded["start"]).removesuffix("\x00")
        except (ValueError, KeyError, TypeError):
            raise status.bad_request(
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
            ) from None
        namespace, _, name = start.rpartition("/")
        return list_rv, (namespace, name)


def _encode_continue(list_rv: int, rt: ResourceType, namespace: str, name: str) -> str:
    start = f"{namespace}/{name}" if rt.namespaced else name
    token = json.dumps({"v": "meta.k8s.io/v1", "rv": list_rv, "start": start + "\x00"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(token.encode()).decode()
