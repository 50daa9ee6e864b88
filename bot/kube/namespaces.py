"""Namespace annotations for the alert policy, kept current without an API call per alert.

The policy reads two namespace annotations (`exitcode-bot/ignore`, `exitcode-bot/channel`), and a crash
storm must not turn into a storm of namespace reads, so the annotations are cached and kept current:

- **watch** (normal): list + watch namespaces with the same machinery as the pod watch
  (`ResourceStream`), so an annotation an operator sets takes effect within a second;
- **get** (fallback): in single-namespace mode the bot runs with a Role, and a Role cannot grant `list`
  on namespaces (a cluster-scoped resource). Then each watched namespace is read with `get` (which a
  ClusterRole restricted by `resourceNames` can allow) and re-read every `refresh_seconds`; with no list
  of namespaces, `lookup()` reads a namespace the first time it is asked about;
- **none**: if `get` is forbidden too, the bot carries on with no namespace annotations and says so in
  one warning (pod annotations and the settings still work).

Whether the bot may list namespaces is probed with one `list` (a 403 means get mode) unless the
caller knows and says so with `may_list=` (the single-namespace install: `False`, so the audit log
shows no denied call).

Use: `cache = NamespaceAnnotations(api_client, namespaces=settings.watch_namespaces)`,
`await cache.start()`, then `cache.annotations(ns)` (never blocks; `{}` when unknown) or
`await cache.lookup(ns)` (reads an unknown namespace in get mode; waits briefly for the first list in
watch mode), and `await cache.aclose()` on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from bot.diagnosis.ports import ClusterError
from bot.kube.errors import ApiCall, translate_error
from bot.kube.watch import EventType, ResourceStream, Synced, WatchHooks, WatchSettings

__all__ = ["AnnotationSource", "NamespaceAnnotations"]

log = logging.getLogger(__name__)

_EMPTY: Mapping[str, str] = {}


class AnnotationSource(StrEnum):
    """Where the cache gets its annotations from (see the module docstring)."""

    WATCH = "watch"
    GET = "get"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class _NamespaceEvent:
    type: EventType
    namespace: dict[str, Any]
    relist: bool


@dataclass(frozen=True, slots=True)
class _Entry:
    uid: str
    annotations: Mapping[str, str]
    fetched_at: float


def _entry(namespace: Mapping[str, Any], now: float) -> tuple[str, _Entry]:
    metadata = namespace.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    return str(metadata.get("name") or ""), _Entry(
        uid=str(metadata.get("uid") or ""),
        annotations={str(key): str(value) for key, value in annotations.items()},
        fetched_at=now,
    )


class NamespaceAnnotations:
    """Namespace name → its annotations, from a watch, periodic gets, or nothing (see module docstring)."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        namespaces: Sequence[str] = (),
        timeout_seconds: float = 10.0,
        refresh_seconds: float = 300.0,
        hooks: WatchHooks | None = None,
        watch_settings: WatchSettings | None = None,
        may_list: bool | None = None,
    ) -> None:
        self._core = CoreV1Api(api_client)
        self._may_list_hint = may_list
        self._namespaces = tuple(dict.fromkeys(namespaces))
        self._timeout = timeout_seconds
        self._refresh = refresh_seconds
        self._hooks = hooks
        self._watch_settings = watch_settings or WatchSettings(request_timeout_seconds=timeout_seconds)
        self._entries: dict[str, _Entry] = {}
        self._source: AnnotationSource | None = None
        self._stream: ResourceStream[_NamespaceEvent] | None = None
        self._task: asyncio.Task[None] | None = None
        self._synced = asyncio.Event()
        self._warned = False

    @property
    def source(self) -> AnnotationSource | None:
        """How annotations are obtained; None before `start()`."""
        return self._source

    def annotations(self, namespace: str) -> Mapping[str, str]:
        """The namespace's annotations as last seen; `{}` when unknown. Never blocks."""
        entry = self._entries.get(namespace)
        return entry.annotations if entry is not None else _EMPTY

    async def lookup(self, namespace: str) -> Mapping[str, str]:
        """The namespace's annotations, reading it first if the cache cannot know them yet.

        Watch mode: waits (up to the request timeout) for the first list. Get mode: reads a namespace
        not seen within `refresh_seconds`. Never raises: a failed read logs and answers `{}`.
        """
        if self._source is AnnotationSource.WATCH and not self._synced.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._synced.wait(), self._timeout)
        elif self._source is AnnotationSource.GET:
            entry = self._entries.get(namespace)
            if entry is None or time.monotonic() - entry.fetched_at > self._refresh:
                await self._get_all([namespace])
        return self.annotations(namespace)

    # --- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Pick the source (can the bot list namespaces?) and start keeping the cache current."""
        if self._source is not None:
            return
        may_list = self._may_list_hint if self._may_list_hint is not None else await self._may_list()
        if may_list:
            self._source = AnnotationSource.WATCH
            stream: ResourceStream[_NamespaceEvent] = ResourceStream(
                resource="namespaces",
                list_calls={None: self._core.list_namespace},
                make_event=_NamespaceEvent,
                hooks=self._hooks,
                settings=self._watch_settings,
            )
            self._stream = stream
            self._task = asyncio.create_task(self._follow(stream), name="namespace-annotations")
            return
        self._source = AnnotationSource.GET
        log.info(
            "the bot may not list namespaces (single-namespace RBAC); reading %s with get instead",
            ", ".join(self._namespaces) or "each namespace when it is first needed",
        )
        if self._namespaces:
            await self._get_all(self._namespaces)
            self._task = asyncio.create_task(self._refresh_loop(), name="namespace-annotations")

    async def aclose(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- watch mode -----------------------------------------------------------------------------------

    async def _may_list(self) -> bool:
        """One small list: 403 means fall back to get; any other failure leaves it to the watch's retries."""

        def probe() -> None:
            response: Any = self._core.list_namespace(
                limit=1, _preload_content=False, _request_timeout=self._timeout
            )
            response.release_conn()

        try:
            await asyncio.wait_for(asyncio.to_thread(probe), self._timeout)
        except ApiException as error:
            return bool(error.status != 403)
        except Exception:  # unreachable now; the watch retries with backoff until it is reachable
            log.debug("namespace list probe failed", exc_info=True)
        return True

    async def _follow(self, stream: ResourceStream[_NamespaceEvent]) -> None:
        async for item in stream:
            now = time.monotonic()
            if isinstance(item, Synced):
                self._entries = {
                    name: entry for name, entry in self._entries.items() if entry.uid in item.uids
                }
                self._synced.set()
                continue
            name, entry = _entry(item.namespace, now)
            if item.type == "DELETED":
                self._entries.pop(name, None)
            else:
                self._entries[name] = entry

    # --- get mode -------------------------------------------------------------------------------------

    async def _refresh_loop(self) -> None:
        while self._source is AnnotationSource.GET:
            await asyncio.sleep(self._refresh)
            await self._get_all(self._namespaces)

    async def _get_all(self, names: Sequence[str]) -> None:
        for name in names:
            if self._source is AnnotationSource.NONE:
                return
            try:
                found = await self._get(name)
            except ClusterError as error:
                log.warning("cannot read namespace %s for its annotations: %s", name, error.user_message)
                continue
            if found is None:
                self._entries.pop(name, None)
            else:
                key, entry = _entry(found, time.monotonic())
                self._entries[key or name] = entry

    async def _get(self, name: str) -> dict[str, Any] | None:
        """The namespace, or None if it does not exist; switches to NONE (one warning) on 403."""

        def read() -> bytes:
            response: Any = self._core.read_namespace(
                name, _preload_content=False, _request_timeout=self._timeout
            )
            try:
                return bytes(response.data)
            finally:
                response.release_conn()

        call = ApiCall("get", "namespaces", None, name, kind="Namespace")
        try:
            raw = await asyncio.wait_for(asyncio.to_thread(read), self._timeout)
        except ApiException as error:
            if error.status == 404:
                return None
            if error.status == 403:
                self._give_up(translate_error(error, call, self._timeout))
                return None
            raise translate_error(error, call, self._timeout) from error
        except Exception as error:
            raise translate_error(error, call, self._timeout) from error
        try:
            body = orjson.loads(raw)
        except ValueError:
            body = None
        return body if isinstance(body, dict) else None

    def _give_up(self, error: ClusterError) -> None:
        self._source = AnnotationSource.NONE
        self._entries.clear()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        if not self._warned:
            self._warned = True
            log.warning(
                "namespace annotations (exitcode-bot/ignore, exitcode-bot/channel on a namespace) are "
                "disabled: %s Pod annotations and the settings still apply.",
                error.user_message,
            )
