"""The fake apiserver's HTTP surface: real REST paths, verbs, query parameters and response shapes.

Paths: `/api/v1/...` and `/apis/{group}/{version}/...`, namespaced (`namespaces/{ns}/{resource}[/{name}
[/{subresource}]]`) and cluster-wide (`/api/v1/pods`). Every request is logged with its RBAC verb before
faults are applied, so a denied call still shows up in the log, as it does in an audit log.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from tests.fakes import kube_status as status
from tests.fakes.kube_faults import FaultPlan, KubeRequest, RequestLog
from tests.fakes.kube_patch import PATCH_TYPES
from tests.fakes.kube_resources import POD, ResourceType, resource_at
from tests.fakes.kube_selectors import SelectorError, parse_field_selector, parse_label_selector
from tests.fakes.kube_status import StatusError
from tests.fakes.kube_store import FakeCluster
from tests.fakes.kube_watch import WatchFilter, pump_watch, watch_event

JsonDict = dict[str, Any]

DEFAULT_USER = "system:serviceaccount:exitcode-bot:exitcode-bot"
# A 1.35 apiserver: it stores and serves containerStatuses[].resources and .stopSignal, pod-level
# spec.resources, container restartPolicy/restartPolicyRules and the AllContainersRestarting condition
# exactly as written (the scenarios are validated against that version's schema).
VERSION_INFO = {
    "major": "1",
    "minor": "35",
    "gitVersion": "v1.35.0-fake",
    "platform": "linux/amd64",
}
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})


@dataclass
class ServerOptions:
    """Behaviour a test may tune while the server runs."""

    bookmark_interval: float = 60.0  # seconds between BOOKMARK events (the apiserver's is about a minute)
    max_watch_seconds: float = (
        1800.0  # a watch without timeoutSeconds ends after this (as --min-request-timeout)
    )
    user: str = DEFAULT_USER  # who RBAC denials name


@dataclass(frozen=True, slots=True)
class ApiTarget:
    """What a URL addresses."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_api_path(path: str) -> ApiTarget | None:
    """Map a REST path to its resource, or None when the apiserver would not serve it."""
    parts = [part for part in path.split("/") if part]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        nested = resource_at(group, version, rest[2])
        if nested is not None and nested.namespaced:
            namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    rt = resource_at(group, version, rest[0])
    if rt is None or (namespace is not None and not rt.namespaced):
        return None
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    return ApiTarget(rt, namespace, name, subresource)


def rbac_verb(method: str, target: ApiTarget, query: MultiMapping[str]) -> str:
    """The verb RBAC checks for this request (GET is get, list or watch depending on the URL)."""
    if method == "GET":
        if target.name is not None:
            return "get"
        return "watch" if query.get("watch", "") in _TRUE else "list"
    return {
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if target.name else "deletecollection",
    }.get(method, method.lower())


def _json(body: JsonDict, code: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")), status=code, content_type="application/json"
    )


def _int_param(query: MultiMapping[str], name: str) -> int | None:
    raw = query.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise status.bad_request(f'{name}: Invalid value: "{raw}": must be an integer') from None


class KubeApiHandler:
    """One catch-all aiohttp handler over a `FakeCluster`, with its faults and request log."""

    def __init__(
        self, cluster: FakeCluster, faults: FaultPlan, requests: RequestLog, options: ServerOptions
    ) -> None:
        self.cluster = cluster
        self.faults = faults
        self.requests = requests
        self.options = options

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path in ("/version", "/version/"):  # the official client asks for /version/
            return _json(VERSION_INFO)
        target = parse_api_path(request.path)
        if target is None:
            return _json(status.unknown_resource().body, 404)
        verb = rbac_verb(request.method, target, request.query)
        entry = KubeRequest(
            verb=verb,
            group=target.rt.group,
            resource=target.rt.plural,
            subresource=target.subresource,
            namespace=target.namespace,
            name=target.name,
            user_agent=request.headers.get("User-Agent", ""),
        )
        self.requests.record(entry)
        decision = self.faults.decide(entry)
        if decision.latency > 0:
            await asyncio.sleep(decision.latency)
        try:
            if decision.status:
                raise self._injected(decision.status, decision.message, target, verb)
            return await self._serve(request, target, verb)
        except StatusError as error:
            response = _json(error.body, error.code)
            if error.code == 429:
                response.headers["Retry-After"] = "1"
            return response

    def _injected(self, code: int, message: str | None, target: ApiTarget, verb: str) -> StatusError:
        if code == 403 and message is None:
            return status.forbidden(
                user=self.options.user,
                verb=verb,
                rt=target.rt,
                subresource=target.subresource,
                namespace=target.namespace,
                name=target.name,
            )
        if code == 404 and message is None:
            return status.not_found(target.rt, target.name) if target.name else status.unknown_resource()
        if code == 409 and message is None:
            return status.conflict(target.rt, target.name or "")
        if code == 500 and message is None:
            return status.internal_error("injected by the test")
        return StatusError(status.failure(code, message or f"injected failure {code}"))

    async def _serve(self, request: web.Request, target: ApiTarget, verb: str) -> web.StreamResponse:
        rt, namespace, name = target.rt, target.namespace, target.name
        if target.subresource is not None:
            # Served subresources: pods/log and (read-only) */status; the bot writes no status.
            if (target.subresource, verb) not in (("log", "get"), ("status", "get")):
                raise (
                    status.unknown_resource()
                    if target.subresource != "status"
                    else status.method_not_allowed()
                )
            if target.subresource == "log" and rt is not POD:
                raise status.unknown_resource()
        if verb == "get" and name is not None:
            if target.subresource == "log":
                return self._log(request, namespace or "", name)
            return _json(self.cluster.api_get(rt, namespace, name))
        if verb in ("list", "watch"):
            watch_filter = self._filter(request, target)
            if verb == "watch":
                return await self._watch(request, watch_filter)
            limit = _int_param(request.query, "limit")
            token = request.query.get("continue") or None
            if token and request.query.get("resourceVersion"):  # a continue token carries its own
                raise status.bad_request("specifying resource version is not allowed when using continue")
            return _json(self.cluster.api_list(watch_filter, limit=limit, continue_token=token))
        if verb == "create" and name is None:
            return _json(self.cluster.api_create(rt, namespace, await self._body(request)), 201)
        if verb == "update" and name is not None:
            return _json(self.cluster.api_update(rt, namespace, name, await self._body(request)))
        if verb == "patch" and name is not None:
            content_type = request.content_type
            if content_type not in PATCH_TYPES:
                raise StatusError(
                    status.failure(
                        415,
                        f"the body of the request was in an unknown format - accepted media "
                        f"types include: {', '.join(PATCH_TYPES)}",
                    )
                )
            try:
                patch = json.loads(await request.text() or "null")
            except json.JSONDecodeError as error:
                raise status.bad_request(f"the body of the request was not valid JSON: {error}") from None
            return _json(self.cluster.api_patch(rt, namespace, name, content_type, patch))
        if verb == "delete" and name is not None:
            options = await self._body(request) if request.can_read_body else {}
            gone = self.cluster.api_delete(rt, namespace, name, options.get("preconditions") or {})
            if rt is POD:
                return _json(gone)
            return _json(status.success(rt, name, gone["metadata"].get("uid", "")))
        raise status.method_not_allowed()

    async def _body(self, request: web.Request) -> JsonDict:
        try:
            body = json.loads(await request.text() or "{}")
        except json.JSONDecodeError as error:
            raise status.bad_request(f"the body of the request was not valid JSON: {error}") from None
        if not isinstance(body, dict):
            raise status.bad_request("the body of the request must be a JSON object")
        return body

    def _filter(self, request: web.Request, target: ApiTarget) -> WatchFilter:
        try:
            labels = parse_label_selector(request.query.get("labelSelector"))
            fields = parse_field_selector(request.query.get("fieldSelector"), target.rt.field_labels)
        except SelectorError as error:
            raise status.bad_request(str(error)) from None
        return WatchFilter(target.rt, target.namespace, labels, fields)

    def _log(self, request: web.Request, namespace: str, name: str) -> web.Response:
        query = request.query
        text = self.cluster.api_log(
            namespace,
            name,
            query.get("container") or None,
            previous=query.get("previous", "") in _TRUE,
            tail_lines=_int_param(query, "tailLines"),
        )
        return web.Response(text=text, content_type="text/plain")

    async def _watch(self, request: web.Request, watch_filter: WatchFilter) -> web.StreamResponse:
        raw_rv = request.query.get("resourceVersion", "")
        if raw_rv in ("", "0"):
            since = None
        else:
            try:
                since = int(raw_rv)
            except ValueError:
                raise status.bad_request(
                    f'resourceVersion: Invalid value: "{raw_rv}": must be an integer'
                ) from None
        timeout = _int_param(request.query, "timeoutSeconds")
        seconds = (
            min(float(timeout), self.options.max_watch_seconds) if timeout else self.options.max_watch_seconds
        )
        bookmarks = request.query.get("allowWatchBookmarks", "") in _TRUE
        subscription = self.cluster.subscribe(watch_filter, since)
        try:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            if subscription.expired_message is not None:
                await response.write(watch_event("ERROR", status.expired(subscription.expired_message).body))
            else:
                await pump_watch(
                    request, response, subscription, seconds, bookmarks, self.options.bookmark_interval
                )
            if not (request.transport is None or request.transport.is_closing()):
                await response.write_eof()
            return response
        finally:
            self.cluster.unsubscribe(subscription)


def add_api_routes(app: web.Application, handler: KubeApiHandler) -> None:
    """Route every path to the API handler; register any other routes (test controls) before this."""
    app.router.add_route("*", "/{tail:.*}", handler.handle)
