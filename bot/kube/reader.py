"""`ClusterReader` over the official Kubernetes client: the reads a diagnosis cites.

Three choices, each for the on-call engineer waiting in Slack:
- every blocking client call runs in a worker thread (`asyncio.to_thread`), never on the event loop, so a
  slow cluster cannot freeze slash-command acks or the watcher;
- each call is bounded twice, by the client's `_request_timeout` and by `asyncio.wait_for`, both at
  `KUBE_TIMEOUT_SECONDS`, so the user gets a "cluster did not answer" reply on time even if a socket hangs;
- responses are read raw (`_preload_content=False`) and decoded with orjson: plain dicts in the API's
  camelCase shape, which is what the pure core consumes, and several times cheaper than building model
  objects.

List items get `kind`/`apiVersion` filled in (the apiserver omits them in lists, kubectl adds them), so a
pod from a list and a pod from a get look the same to the core.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import Any

from kubernetes.client import ApiClient, AppsV1Api, BatchV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException

from bot.diagnosis.ports import JsonDict
from bot.kube.errors import ApiCall, json_object, translate_error

LIST_PAGE_SIZE = 500  # the apiserver's own default chunk size for kubectl

# kind -> (API group attribute, read method, RBAC resource) for the owners the bot reads. The diagnosis
# fetches ReplicaSets (for the Deployment above them) and Jobs (backoffLimit, deadline, CronJob above them)
# and names the rest of the chain from ownerReferences; the incident lifecycle also reads StatefulSets and
# DaemonSets once their pods are all gone, to say whether they were scaled to zero, deleted or rolled out
# (`bot.alerting.incidents.owner_to_read`). Adding a kind here needs a `get` grant in
# k8s/base/clusterrole.yaml; tests/test_rbac_matches_code.py fails until both agree.
_OWNER_READS: dict[str, tuple[str, str, str]] = {
    "ReplicaSet": ("_apps", "read_namespaced_replica_set", "replicasets"),
    "StatefulSet": ("_apps", "read_namespaced_stateful_set", "statefulsets"),
    "DaemonSet": ("_apps", "read_namespaced_daemon_set", "daemonsets"),
    "Job": ("_batch", "read_namespaced_job", "jobs"),
}
OWNER_KINDS = frozenset(_OWNER_READS)


def _field_value(value: str) -> str:
    """Escape a field-selector value (`\\`, `,`, `=`), as `fields.EscapeValue` does."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


class _Absent(Exception):
    """The API answered with a status the caller treats as "there is nothing", not as an error."""


class KubeClusterReader:
    """Implements `ClusterReader` (and `CurrentLogReader`) from `bot.diagnosis.ports` with `CoreV1Api`,
    `AppsV1Api` and `BatchV1Api`."""

    def __init__(self, api_client: ApiClient, timeout_seconds: float) -> None:
        self._core = CoreV1Api(api_client)
        self._apps = AppsV1Api(api_client)
        self._batch = BatchV1Api(api_client)
        self._timeout = timeout_seconds

    async def get_pod(self, namespace: str, name: str) -> JsonDict:
        call = ApiCall("get", "pods", namespace, name, kind="Pod")
        return json_object(await self._fetch(call, self._core.read_namespaced_pod, name, namespace), call)

    async def list_pods(
        self,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[JsonDict]:
        """Pods of one namespace, or of all namespaces when `namespace` is None."""
        selectors = {"label_selector": label_selector, "field_selector": field_selector}
        if namespace is None:
            call = ApiCall("list", "pods", None)
            return await self._list_all(call, self._core.list_pod_for_all_namespaces, **selectors)
        call = ApiCall("list", "pods", namespace)
        return await self._list_all(call, self._core.list_namespaced_pod, namespace, **selectors)

    async def list_events(self, namespace: str, *, involved_name: str | None = None) -> list[JsonDict]:
        """Core/v1 events of a namespace, optionally only those about one object (by name)."""
        selector = f"involvedObject.name={_field_value(involved_name)}" if involved_name else None
        call = ApiCall("list", "events", namespace)
        return await self._list_all(
            call, self._core.list_namespaced_event, namespace, field_selector=selector
        )

    async def read_previous_log(
        self, namespace: str, pod: str, container: str, *, tail_lines: int
    ) -> str | None:
        """The last `tail_lines` lines of the previous (crashed) instance of `container`, or None.

        The apiserver answers 400 Bad Request whenever that log cannot exist (no previous instance, a
        container that never started), so 400 means "no previous log", not an error to show.
        """
        return await self._read_log(namespace, pod, container, tail_lines=tail_lines, previous=True)

    async def read_current_log(
        self, namespace: str, pod: str, container: str, *, tail_lines: int
    ) -> str | None:
        """The current instance's log tail (`CurrentLogReader`): the last words of a container that ended
        and was never restarted (a Job pod, `restartPolicy: Never`); None if it never started."""
        return await self._read_log(namespace, pod, container, tail_lines=tail_lines, previous=False)

    async def _read_log(
        self, namespace: str, pod: str, container: str, *, tail_lines: int, previous: bool
    ) -> str | None:
        call = ApiCall("get", "pods/log", namespace, pod, kind="Pod")
        try:
            raw = await self._fetch(
                call,
                self._core.read_namespaced_pod_log,
                pod,
                namespace,
                container=container,
                previous=previous,
                tail_lines=tail_lines,
                absent={400},
            )
        except _Absent:
            return None
        return raw.decode("utf-8", errors="replace")

    async def get_owner(self, namespace: str, kind: str, name: str) -> JsonDict | None:
        """A pod's owner (or an owner's owner) by kind; None for kinds the bot does not read (Node for
        static pods, custom controllers) and for owners that no longer exist."""
        spec = _OWNER_READS.get(kind)
        if spec is None:
            return None
        api_attribute, method, resource = spec
        read = getattr(getattr(self, api_attribute), method)
        call = ApiCall("get", resource, namespace, name, kind=kind)
        try:
            return json_object(await self._fetch(call, read, name, namespace, absent={404}), call)
        except _Absent:
            return None

    async def _list_all(
        self, call: ApiCall, list_call: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> list[JsonDict]:
        """Every item, page by page; a continue token that expired (410) restarts the list once."""
        items: list[JsonDict] = []
        token: str | None = None
        restarts_left = 1
        while True:
            paging: dict[str, Any] = {"limit": LIST_PAGE_SIZE}
            if token:
                paging["_continue"] = token
            try:
                raw = await self._fetch(
                    call, list_call, *args, **kwargs, **paging, absent={410} if token else ()
                )
            except _Absent:
                if restarts_left == 0:
                    raise translate_error(
                        ApiException(status=410, reason="Gone"), call, self._timeout
                    ) from None
                restarts_left -= 1
                items, token = [], None
                continue
            body = json_object(raw, call)
            kind = str(body.get("kind", "")).removesuffix("List")
            api_version = body.get("apiVersion")
            for item in body.get("items") or []:
                items.append({"kind": kind, "apiVersion": api_version, **item})
            token = (body.get("metadata") or {}).get("continue") or None
            if not token:
                return items

    async def _fetch(
        self,
        call: ApiCall,
        client_call: Callable[..., Any],
        *args: Any,
        absent: Collection[int] = (),
        **kwargs: Any,
    ) -> bytes:
        """The raw body of one API call, run in a worker thread.

        A status in `absent` raises `_Absent`; every other failure leaves as a `ClusterError` with a
        sentence for the user.
        """

        def blocking() -> bytes:
            response = client_call(*args, _preload_content=False, _request_timeout=self._timeout, **kwargs)
            try:
                return bytes(response.data)
            finally:
                response.release_conn()

        try:
            return await asyncio.wait_for(asyncio.to_thread(blocking), timeout=self._timeout)
        except ApiException as error:
            if error.status in absent:
                raise _Absent from error
            raise translate_error(error, call, self._timeout) from error
        except Exception as error:
            raise translate_error(error, call, self._timeout) from error
