"""HTTP test controls under `/_fake/`, for a fake in another process (`python -m tests.fakes.kube_api`).

In-process tests call the Python API (`fake.cluster`, `fake.faults`, `fake.requests`) directly; these
endpoints expose the same controls to tests that drive a standalone fake, e.g. two bot processes sharing
one cluster. They are off unless the fake is started with `control_endpoints=True`, so an in-process fake
serves nothing a real apiserver would not.

    GET    /_fake/state                          {"resourceVersion", "openWatches"}
    POST   /_fake/objects?echo=false             object or list of objects: create or replace (answers the
                                                 stored objects, or with echo=false only their count)
    DELETE /_fake/objects/{kind}/{namespace}/{name}   ("-" as namespace for cluster-scoped kinds)
    POST   /_fake/scenarios                      a scenario {"pod", "events", "owners", "logs"}
    POST   /_fake/logs                           {"namespace", "pod", "container", "text", "previous"}
    POST   /_fake/drop-watches?abort=false       end open watches (reset by default)
    POST   /_fake/compact                        forget history: older resourceVersions get 410
    GET    /_fake/requests, DELETE /_fake/requests
    POST   /_fake/faults           {"verb", "resource", "status", "namespace", "times", "message"}
    POST   /_fake/latency                        {"seconds"}
    DELETE /_fake/faults
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from aiohttp import web

from tests.fakes.kube_faults import FaultPlan, RequestLog
from tests.fakes.kube_status import StatusError
from tests.fakes.kube_store import FakeCluster

JsonDict = dict[str, Any]


def _ok(body: Any) -> web.Response:
    return web.Response(text=json.dumps(body), content_type="application/json")


def add_control_routes(
    app: web.Application, cluster: FakeCluster, faults: FaultPlan, requests: RequestLog
) -> None:
    """Register the `/_fake/` routes (before the API's catch-all route)."""

    async def state(_: web.Request) -> web.Response:
        return _ok({"resourceVersion": str(cluster.resource_version), "openWatches": cluster.open_watches})

    async def put_objects(request: web.Request) -> web.Response:
        body = await request.json()
        objects = body if isinstance(body, list) else [body]
        if request.query.get("echo") == "false":  # bulk loads (benchmarks): skip copying them back
            return _ok({"stored": cluster.load(objects, echo=False)})
        return _ok(cluster.load(objects))

    async def delete_object(request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        kind, name = request.match_info["kind"], request.match_info["name"]
        return _ok(cluster.delete(kind, None if namespace == "-" else namespace, name))

    async def load_scenario(request: web.Request) -> web.Response:
        return _ok(cluster.load_scenario(await request.json()))

    async def set_log(request: web.Request) -> web.Response:
        body: JsonDict = await request.json()
        cluster.set_log(
            body["namespace"],
            body["pod"],
            body["container"],
            body["text"],
            previous=body.get("previous", True),
        )
        return _ok({})

    async def drop_watches(request: web.Request) -> web.Response:
        abort = request.query.get("abort", "true") != "false"
        return _ok({"dropped": cluster.drop_watches(abort=abort)})

    async def compact(_: web.Request) -> web.Response:
        return _ok({"resourceVersion": str(cluster.compact())})

    async def list_requests(_: web.Request) -> web.Response:
        return _ok([asdict(entry) for entry in requests.entries])

    async def clear_requests(_: web.Request) -> web.Response:
        requests.clear()
        return _ok({})

    async def add_fault(request: web.Request) -> web.Response:
        body: JsonDict = await request.json()
        faults.fail(
            body.get("verb"),
            body.get("resource"),
            int(body["status"]),
            namespace=body.get("namespace"),
            times=body.get("times"),
            message=body.get("message"),
        )
        return _ok({})

    async def set_latency(request: web.Request) -> web.Response:
        faults.latency = float((await request.json())["seconds"])
        return _ok({})

    async def clear_faults(_: web.Request) -> web.Response:
        faults.clear()
        return _ok({})

    @web.middleware
    async def status_errors(request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/_fake/"):
            api_response: web.StreamResponse = await handler(request)
            return api_response
        try:
            response: web.StreamResponse = await handler(request)
        except StatusError as error:
            return web.Response(
                text=json.dumps(error.body), status=error.code, content_type="application/json"
            )
        except (ValueError, KeyError) as error:
            return web.Response(
                text=json.dumps({"error": str(error)}), status=400, content_type="application/json"
            )
        return response

    app.middlewares.append(status_errors)
    app.router.add_get("/_fake/state", state)
    app.router.add_post("/_fake/objects", put_objects)
    app.router.add_delete("/_fake/objects/{kind}/{namespace}/{name}", delete_object)
    app.router.add_post("/_fake/scenarios", load_scenario)
    app.router.add_post("/_fake/logs", set_log)
    app.router.add_post("/_fake/drop-watches", drop_watches)
    app.router.add_post("/_fake/compact", compact)
    app.router.add_get("/_fake/requests", list_requests)
    app.router.add_delete("/_fake/requests", clear_requests)
    app.router.add_post("/_fake/faults", add_fault)
    app.router.add_post("/_fake/latency", set_latency)
    app.router.add_delete("/_fake/faults", clear_faults)
