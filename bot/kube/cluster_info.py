"""What `/exitcode clusters` shows of each cluster: the server's version, and who holds its watch Lease.

Both are single reads in a worker thread, bounded by KUBE_TIMEOUT_SECONDS, so a cluster that is down costs
the listing one timeout, never the event loop. `/version` is readable by every authenticated user
(the `system:public-info-viewer` ClusterRole every cluster ships), so no RBAC is added for it.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from kubernetes.client import ApiClient, CoordinationV1Api, VersionApi
from kubernetes.client.exceptions import ApiException

from bot.kube.errors import ApiCall, translate_error
from bot.kube.lease import parse_micro_time


async def server_version(api_client: ApiClient, timeout_seconds: float) -> str:
    """The apiserver's `gitVersion` (`v1.34.1`); raises `ClusterError` when the cluster does not answer."""
    call = ApiCall("get", "version", None)
    api = VersionApi(api_client)
    try:
        body = await _read(call, timeout_seconds, api.get_code)
    except ApiException as error:
        raise translate_error(error, call, timeout_seconds) from error
    version = body.get("gitVersion") if isinstance(body, dict) else None
    return str(version) if version else "unknown"


async def lease_holder(
    api_client: ApiClient, namespace: str, name: str, timeout_seconds: float, *, now: float | None = None
) -> str | None:
    """Who holds Lease `namespace/name` now; None when nobody does (absent, released or expired).
    Raises `ClusterError` when the Lease cannot be read."""
    call = ApiCall("get", "leases", namespace, name, kind="Lease")
    api = CoordinationV1Api(api_client)
    try:
        lease = await _read(call, timeout_seconds, api.read_namespaced_lease, name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise translate_error(error, call, timeout_seconds) from error
    spec = lease.get("spec") if isinstance(lease, dict) else None
    if not isinstance(spec, dict) or not spec.get("holderIdentity"):
        return None
    renewed = parse_micro_time(spec.get("renewTime"))
    duration = spec.get("leaseDurationSeconds")
    current = time.time() if now is None else now
    if renewed is None or not isinstance(duration, int | float) or renewed + duration < current:
        return None
    return str(spec["holderIdentity"])


async def _read(call: ApiCall, seconds: float, client_call: Any, *args: Any) -> Any:
    def blocking() -> Any:
        response = client_call(*args, _preload_content=False, _request_timeout=seconds)
        try:
            return json.loads(response.data)
        finally:
            response.release_conn()

    try:
        return await asyncio.wait_for(asyncio.to_thread(blocking), seconds)
    except ApiException:
        raise
    except ValueError:
        return {}
    except Exception as error:
        raise translate_error(error, call, seconds) from error
