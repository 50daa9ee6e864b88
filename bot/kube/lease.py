"""Leader election on a `coordination.k8s.io/v1` Lease: one replica watches and posts, the others stand by.

Two replicas posting the same crash is the duplicate users hate; no replica posting after the leader's
node dies is a missed crash. The Lease protocol (what client-go's `leaderelection` does, in raw JSON):

- **acquire** when the Lease is absent, has no holder, is held by this identity, or has expired
  (`renewTime + leaseDurationSeconds < now`). Every write carries the `resourceVersion` just read (a
  create has none), so when two candidates race, the apiserver accepts one and answers the other
  `409 Conflict`: that one is simply not the leader. `leaseTransitions` counts holder changes;
  `acquireTime`/`renewTime` are MicroTime (`2026-11-21T05:14:16.000000Z`).
- **renew** every `renew_interval` (default a third of the duration), retrying a failed renew every
  `retry_interval`. A leader that has not renewed for `renew_deadline` (duration − renew interval) steps
  down *before* a standby may take over at `renewTime + duration`: the margin absorbs clock skew and a
  busy event loop, so there is never a moment with two leaders. `is_leader` checks that deadline itself,
  so it turns False on time even if the loop is slow to notice.
- **standby** polls every `retry_interval` and, when it saw an unexpired Lease, wakes again right when
  that Lease expires: a leader that dies without releasing is replaced within the lease duration.
- **release** on shutdown: the leader stops leading first, then clears `holderIdentity` (and sets a
  1-second duration, as client-go does), so a standby takes over at its next poll instead of waiting.
  A renew already on the wire is let finish first (bounded by `STOP_GRACE_SECONDS`): cancelling it
  would not stop the apiserver from applying it, and the release, written with the resourceVersion from
  before that renew, would then get `409 Conflict` and leave the standby waiting for the expiry. If the
  release still meets a 409 (a renew that timed out here but landed there), the Lease is read again and
  released with the current resourceVersion, provided this identity still holds it.

The expiry check compares the holder's `renewTime` with the local clock, so nodes' clocks must agree to
well within `lease_duration - renew_deadline` (NTP does that; Kubernetes itself assumes it).

Use (the alert service):

    elector = LeaseElector(api_client, settings.pod_namespace, settings.lease_name, identity=pod_name,
                           lease_duration=settings.lease_duration_seconds,
                           on_started_leading=..., on_stopped_leading=...)
    await elector.start()                 # runs in a background task
    await elector.wait_until_leader()     # then watch and post while `elector.is_leader`
    await elector.wait_until_not_leader() # stop posting
    await elector.stop()                  # releases the Lease if held

Cancelling the task that runs `run()` stops without releasing, like a killed process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from kubernetes.client import ApiClient, CoordinationV1Api
from kubernetes.client.exceptions import ApiException

from bot.diagnosis.ports import ClusterError
from bot.kube.errors import ApiCall, translate_error

__all__ = ["LeaseElector", "format_micro_time", "parse_micro_time"]

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
_COLLECTION_PATH = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
_OBJECT_PATH = _COLLECTION_PATH + "/{name}"
_EXPIRY_SLACK_SECONDS = 0.05  # wake this long after a lease's expiry, so it has expired by then
STOP_GRACE_SECONDS = 2.0
"""Longest `stop()` waits for a Lease call in flight (a pod's shutdown must stay within seconds)."""


def format_micro_time(epoch_seconds: float) -> str:
    """A Kubernetes MicroTime: RFC 3339 in UTC with exactly six fractional digits."""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(value: object) -> float | None:
    """Seconds since the epoch for a MicroTime (or a plain RFC 3339 Time); None if it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _nothing() -> None:
    return None


class _Lost(Exception):
    """The Lease is held by someone else now (a renew found another holder)."""


class LeaseElector:
    """One candidate in a Lease election (see the module docstring for the protocol)."""

    def __init__(
        self,
        api_client: ApiClient,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_interval: float | None = None,
        *,
        retry_interval: float | None = None,
        timeout_seconds: float | None = None,
        on_started_leading: Callable[[], None] = _nothing,
        on_stopped_leading: Callable[[], None] = _nothing,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if lease_duration <= 0:
            raise ValueError("lease_duration must be positive")
        self._client = api_client
        self._api = CoordinationV1Api(api_client)
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration = float(lease_duration)
        self.renew_interval = renew_interval if renew_interval is not None else self.lease_duration / 3
        if not 0 < self.renew_interval < self.lease_duration:
            raise ValueError("renew_interval must be positive and shorter than lease_duration")
        self.renew_deadline = self.lease_duration - self.renew_interval
        self.retry_interval = retry_interval if retry_interval is not None else min(self.renew_interval, 2.0)
        self._timeout = timeout_seconds if timeout_seconds is not None else max(1.0, self.renew_interval)
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._clock = clock
        self._leading = False
        self._valid_until = 0.0  # monotonic time until which the last renew makes us leader
        self._lease: JsonDict | None = None  # the Lease as we last wrote it (with its resourceVersion)
        self._next_attempt_in = 0.0
        self._is_leader_event = asyncio.Event()
        self._is_follower_event = asyncio.Event()
        self._is_follower_event.set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # --- state ----------------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """True while this candidate holds the Lease and renewed it within `renew_deadline`."""
        return self._leading and time.monotonic() < self._valid_until

    async def wait_until_leader(self) -> None:
        await self._is_leader_event.wait()

    async def wait_until_not_leader(self) -> None:
        await self._is_follower_event.wait()

    def _start_leading(self, renewed_at: float) -> None:
        self._valid_until = renewed_at + self.renew_deadline
        if self._leading:
            return
        self._leading = True
        self._is_follower_event.clear()
        self._is_leader_event.set()
        log.info("%s is now the leader (Lease %s/%s)", self.identity, self.namespace, self.name)
        self._notify(self._on_started)

    def _stop_leading(self, why: str) -> None:
        if not self._leading:
            return
        self._leading = False
        self._valid_until = 0.0
        self._is_leader_event.clear()
        self._is_follower_event.set()
        log.info("%s stopped leading (Lease %s/%s): %s", self.identity, self.namespace, self.name, why)
        self._notify(self._on_stopped)

    @staticmethod
    def _notify(callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:  # a callback's bug must not break the election
            log.exception("a leader-election callback failed")

    # --- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Run the election in a background task."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self.run(), name=f"lease-{self.name}")

    async def stop(self, *, release: bool = True) -> None:
        """Stop campaigning; if leading, step down and (by default) release the Lease at once.

        A call in flight (a renew) is let finish, for at most `STOP_GRACE_SECONDS`, so the release is
        written over the Lease as it now is; only then is the campaign cancelled.
        """
        was_leading = self._leading
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            if release:  # without a release there is nothing to keep consistent: stop at once
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), min(self._timeout, STOP_GRACE_SECONDS))
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        held = was_leading or self._leading  # the round let finish may have just acquired it
        self._stop_leading("shutting down")
        if release and held:
            await self._release()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def run(self) -> None:
        """Campaign and renew until cancelled (cancellation does not release: see `stop()`)."""
        try:
            while not self._stopping:
                self._wake.clear()  # before the round: a stop() during the round must end the wait
                if self._leading:
                    await self._renew_or_step_down()
                else:
                    await self._try_acquire()
                if self._stopping:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, self._next_attempt_in))
        except asyncio.CancelledError:
            self._stop_leading("stopped")
            raise

    # --- one round --------------------------------------------------------------------------------------

    async def _try_acquire(self) -> None:
        self._next_attempt_in = self.retry_interval
        try:
            current = await self._read()
        except ClusterError as error:
            log.debug("reading Lease %s/%s failed: %s", self.namespace, self.name, error.user_message)
            return
        now = self._clock()
        started = time.monotonic()
        if current is not None:
            spec = current.get("spec") or {}
            holder = spec.get("holderIdentity") or ""
            expires = self._expiry(spec)
            if holder and holder != self.identity and expires is not None and expires >= now:
                self._next_attempt_in = min(self.retry_interval, expires - now + _EXPIRY_SLACK_SECONDS)
                return
        lease = self._claimed(current, now)
        try:
            self._lease = await self._write(lease, create=current is None)
        except _Lost:
            return  # another candidate won the race (409)
        except ClusterError as error:
            log.debug("acquiring Lease %s/%s failed: %s", self.namespace, self.name, error.user_message)
            return
        self._start_leading(started)
        self._next_attempt_in = self.renew_interval

    async def _renew_or_step_down(self) -> None:
        started = time.monotonic()
        remaining = self._valid_until - started
        if remaining <= 0:
            self._stop_leading(f"could not renew the Lease for {self.renew_deadline:g} s")
            self._next_attempt_in = 0.0
            return
        if self._lease is None:  # after a 409: is it still ours?
            mine = await self._reload_mine()
            if mine is False:
                self._stop_leading("another candidate holds the Lease")
                self._next_attempt_in = self.retry_interval
                return
            if mine is None:
                self._next_attempt_in = self._retry_before_deadline()
                return
        lease = self._renewed(self._lease, self._clock())
        try:
            self._lease = await self._write(lease, create=False, limit=min(self._timeout, remaining))
        except _Lost:
            self._lease = None  # someone wrote the Lease: the next round reloads it and decides
            self._next_attempt_in = 0.0
            return
        except ClusterError as error:
            log.warning("renewing Lease %s/%s failed: %s", self.namespace, self.name, error.user_message)
            self._next_attempt_in = self._retry_before_deadline()
            return
        self._start_leading(started)
        self._next_attempt_in = self.renew_interval

    def _retry_before_deadline(self) -> float:
        return min(self.retry_interval, max(0.0, self._valid_until - time.monotonic()))

    async def _reload_mine(self) -> bool | None:
        """Read the Lease: True (and keep it) if we still hold it, False if not, None if unreadable."""
        try:
            current = await self._read()
        except ClusterError:
            return None
        if current is None or (current.get("spec") or {}).get("holderIdentity") != self.identity:
            return False
        self._lease = current
        return True

    async def _release(self) -> None:
        """Clear the holder so a standby leads at its next poll. A 409 means the Lease changed since our
        last successful write (a renew that timed out here but was applied): read it again and, if we
        still hold it, release that version. Failing is not fatal: the standby then waits for expiry."""
        for _attempt in range(2):
            if self._lease is None and await self._reload_mine() is not True:
                return  # someone else holds it now, or it cannot be read: nothing of ours to release
            lease = self._lease
            assert lease is not None
            try:
                await self._write(self._released(lease, self._clock()), create=False)
            except _Lost:
                self._lease = None
                continue
            except ClusterError as error:
                log.warning("releasing Lease %s/%s failed: %s", self.namespace, self.name, error)
                return
            self._lease = None
            log.info("%s released Lease %s/%s", self.identity, self.namespace, self.name)
            return
        log.warning(
            "releasing Lease %s/%s failed: it kept changing (409 Conflict); the standby takes over when it "
            "expires",
            self.namespace,
            self.name,
        )

    @staticmethod
    def _released(lease: JsonDict, now: float) -> JsonDict:
        spec = dict(lease.get("spec") or {})
        spec.update(
            holderIdentity="",
            leaseDurationSeconds=1,
            acquireTime=format_micro_time(now),
            renewTime=format_micro_time(now),
        )
        return {**lease, "spec": spec}

    # --- Lease objects ------------------------------------------------------------------------------------

    def _expiry(self, spec: JsonDict) -> float | None:
        """When the holder's claim ends (its renewTime + its leaseDurationSeconds); None: unreadable."""
        renewed = parse_micro_time(spec.get("renewTime") or spec.get("acquireTime"))
        duration = spec.get("leaseDurationSeconds")
        if renewed is None:
            return None
        seconds = duration if isinstance(duration, int | float) and duration > 0 else self.lease_duration
        return renewed + float(seconds)

    def _claimed(self, current: JsonDict | None, now: float) -> JsonDict:
        """The Lease naming us holder, based on `current` (keeping its resourceVersion)."""
        metadata: JsonDict = {"name": self.name, "namespace": self.namespace}
        spec: JsonDict = {}
        if current is not None:
            metadata = dict(current.get("metadata") or metadata)
            spec = dict(current.get("spec") or {})
        previous_holder = spec.get("holderIdentity") or ""
        transitions = spec.get("leaseTransitions")
        transitions = transitions if isinstance(transitions, int) else 0
        if previous_holder != self.identity:
            spec["acquireTime"] = format_micro_time(now)
            if current is not None:
                transitions += 1
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=math.ceil(self.lease_duration),
            renewTime=format_micro_time(now),
            leaseTransitions=transitions,
        )
        spec.setdefault("acquireTime", format_micro_time(now))
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}

    def _renewed(self, lease: JsonDict | None, now: float) -> JsonDict:
        if lease is None:
            return self._claimed(None, now)
        spec = {**(lease.get("spec") or {}), "renewTime": format_micro_time(now)}
        return {**lease, "spec": spec}

    # --- API calls --------------------------------------------------------------------------------------

    async def _read(self) -> JsonDict | None:
        call = ApiCall("get", "leases", self.namespace, self.name, kind="Lease")
        try:
            raw = await self._run(
                call, self._timeout, self._api.read_namespaced_lease, self.name, self.namespace
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise translate_error(error, call, self._timeout) from error
        return self._object(raw, call)

    async def _write(self, lease: JsonDict, *, create: bool, limit: float | None = None) -> JsonDict:
        """Create or replace (with the resourceVersion in `lease`); 409 raises `_Lost`."""
        seconds = limit if limit is not None else self._timeout
        if create:
            call = ApiCall("create", "leases", self.namespace, self.name, kind="Lease")
            body = {**lease, "metadata": {"name": self.name, "namespace": self.namespace}}
            request: tuple[Any, ...] = (self._send_json, "POST", _COLLECTION_PATH, body)
        else:
            call = ApiCall("update", "leases", self.namespace, self.name, kind="Lease")
            request = (self._send_json, "PUT", _OBJECT_PATH, lease)
        try:
            raw = await self._run(call, seconds, *request)
        except ApiException as error:
            if error.status in (409, 404):
                raise _Lost from error
            raise translate_error(error, call, seconds) from error
        return self._object(raw, call)

    def _send_json(self, method: str, path: str, body: JsonDict, **options: Any) -> Any:
        """One write with `body` sent as the JSON given, through the client's auth and User-Agent.

        Not `replace_namespaced_lease`: that validates the body into a `V1Lease` model, which turns
        the MicroTime strings into datetimes and back (`+00:00`, and no fraction when it is zero, which
        an apiserver's MicroTime parser rejects).
        """
        client = self._client
        request = client.param_serialize(
            method=method,
            resource_path=path,
            path_params={"namespace": self.namespace, "name": self.name},
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response: Any = client.call_api(*request, _request_timeout=options.get("_request_timeout"))
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response

    @staticmethod
    def _object(raw: bytes, call: ApiCall) -> JsonDict:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ClusterError(
                f"The Kubernetes API answered {call.verb} leases with something that is not JSON."
            )
        return body

    async def _run(self, call: ApiCall, seconds: float, client_call: Callable[..., Any], *args: Any) -> bytes:
        """The raw body of one call in a worker thread, bounded by `seconds`; `ApiException` passes."""

        def blocking() -> bytes:
            response = client_call(*args, _preload_content=False, _request_timeout=seconds)
            try:
                return bytes(response.data)
            finally:
                response.release_conn()

        try:
            # `asyncio.timeout`, not `wait_for`: Python 3.11's `wait_for` swallows a cancellation that
            # arrives as the call completes.
            async with asyncio.timeout(seconds):
                return await asyncio.to_thread(blocking)
        except ApiException:
            raise
        except Exception as error:
            raise translate_error(error, call, seconds) from error
