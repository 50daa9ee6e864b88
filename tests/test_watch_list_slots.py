"""Lists take turns across the process, and a cluster that does not answer never holds a turn.

A bot watching many clusters would list all of them at once and hold every cluster's decoded pages
together (`bench clusters`); `LIST_SLOTS` lets a few lists hold pages at a time. The turn is taken only
once the apiserver has answered, so apiservers that never answer (a blackholed address, a partition)
cannot delay the lists of healthy clusters.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bot.kube.client import build_api_client
from bot.kube.watch import PodEvent, PodStream, ResourceStream, Synced, WatchHooks
from bot.kube.watch.list_slots import LIST_SLOTS
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.fakes.kubeconfig import write_kubeconfig
from tests.test_alerting_pods import deployment_pod
from tests.test_kube_watch import FAST, WAIT, Watcher

SLOTS = 4  # LIST_SLOTS' size


class SilentApiserver:
    """An address that accepts connections and never answers: requests hang until their timeout."""

    def __init__(self) -> None:
        self._connections: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._connections.append(writer)

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def hang_up(self) -> None:
        """Refuse new connections and drop the open ones: every hung request fails at once."""
        if self._server is not None:
            self._server.close()
        for writer in self._connections:
            writer.close()


@pytest.fixture
async def silent() -> AsyncIterator[SilentApiserver]:
    server = SilentApiserver()
    yield server
    server.hang_up()


async def test_clusters_that_never_answer_hold_no_turn_to_list(
    fake_kube: FakeKubeApi, silent: SilentApiserver, tmp_path: Path
) -> None:
    fake_kube.cluster.apply(deployment_pod("api-1", uid="uid-api-1"))
    port = await silent.start()
    silent_client = build_api_client(
        config_file=write_kubeconfig(tmp_path / "silent", f"http://127.0.0.1:{port}")
    )
    restarts: list[str] = []
    hung = [
        Watcher(
            PodStream(
                silent_client,
                namespaces=[f"team-{index}"],
                settings=FAST,
                hooks=WatchHooks(on_restart=restarts.append),
            )
        )
        for index in range(SLOTS + 2)
    ]
    healthy_client = build_api_client(config_file=fake_kube.write_kubeconfig(tmp_path / "kubeconfig"))
    healthy = Watcher(PodStream(healthy_client, settings=FAST))
    watchers = [*hung, healthy]
    for watcher in watchers:
        watcher.task = asyncio.create_task(watcher.consume())
    try:
        await healthy.until_watching()

        # Listed while every hung list still waits for an answer (none has timed out and retried).
        assert [event.pod["metadata"]["name"] for event in healthy.events] == ["api-1"]
        assert not any(watcher.synced for watcher in hung) and restarts == []
    finally:
        silent.hang_up()
        for watcher in watchers:
            await watcher.stream.aclose()
        silent_client.close()  # type: ignore[no-untyped-call]
        healthy_client.close()  # type: ignore[no-untyped-call]


class GatedPage:
    """A urllib3 response to a list call whose body arrives only when the test opens its gate."""

    def __init__(self, meter: Meter) -> None:
        self._meter = meter
        self.gate = threading.Event()

    @property
    def data(self) -> bytes:
        self._meter.enter()
        try:
            assert self.gate.wait(WAIT), "the test never opened this page's gate"
        finally:
            self._meter.leave()
        return b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[]}'

    def release_conn(self) -> None:
        return None

    def close(self) -> None:
        return None

    def shutdown(self) -> None:
        self.gate.set()


class EmptyWatch:
    """A watch response that ends at once (the stream then resumes, which is all these tests need)."""

    chunked = False
    connection = None

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}

    def stream(self, amt: int | None = None, decode_content: bool = True) -> Iterator[bytes]:
        yield from ()

    def release_conn(self) -> None:
        return None

    def close(self) -> None:
        return None

    def shutdown(self) -> None:
        return None


class Meter:
    """How many list bodies are being read at once, and the most there ever were."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = self.most = self.calls = 0
        self.pages: list[GatedPage] = []

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1

    def list_call(self, **options: Any) -> GatedPage | EmptyWatch:
        if options.get("watch"):
            return EmptyWatch()
        page = GatedPage(self)
        with self._lock:
            self.calls += 1
            self.pages.append(page)
        return page


def free_slots() -> int:
    taken = 0
    while LIST_SLOTS.acquire(blocking=False):
        taken += 1
    for _ in range(taken):
        LIST_SLOTS.release()
    return taken


async def until(what: str, condition: Any) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_no_more_lists_read_pages_at_once_than_there_are_slots() -> None:
    meter = Meter()
    streams = [
        ResourceStream(
            resource="pods", list_calls={f"team-{index}": partial(meter.list_call)}, make_event=PodEvent
        )
        for index in range(SLOTS + 2)
    ]
    synced: list[Synced] = []

    async def consume(stream: ResourceStream[PodEvent]) -> None:
        async for item in stream:
            if isinstance(item, Synced):
                synced.append(item)

    tasks = [asyncio.create_task(consume(stream)) for stream in streams]
    try:
        await until(
            "every list asked and the first ones reading",
            lambda: meter.calls == len(streams) and meter.now == SLOTS,
        )
        for opened in range(len(streams)):  # one body at a time; a waiting list takes the freed turn
            await until(
                f"{opened + 1} pages handed out", partial(lambda count: len(meter.pages) > count, opened)
            )
            meter.pages[opened].gate.set()
        await until("every list done", lambda: len(synced) == len(streams))

        assert meter.most == SLOTS
        assert free_slots() == SLOTS  # every turn was given back
    finally:
        for stream in streams:
            await stream.aclose()
        for task in tasks:
            await task
