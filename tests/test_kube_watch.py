"""The pod watch (and the namespace-annotation cache) against the fake apiserver, over the real wire.

What the alerting relies on: every pod change arrives once, in order, as the API's JSON; a dropped
connection, an apiserver restart or a compaction loses nothing and repeats nothing (a relist is marked
and followed by `Synced`, so vanished pods can be forgotten); an outage or an RBAC denial never ends the
iterator; and `aclose()` stops the reader threads at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient

from bot.alerting.seen_pods import SeenPods
from bot.kube.client import build_api_client
from bot.kube.namespaces import AnnotationSource, NamespaceAnnotations
from bot.kube.watch import Backoff, PodEvent, PodStream, RestartReason, Synced, WatchHooks, WatchSettings
from bot.kube.watch.reader import body_lines
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_fixtures import TEST_BOOKMARK_INTERVAL, fake_kube_fixture  # noqa: F401
from tests.test_alerting_pods import backoff, deployment_pod, exited, make_pod, restarted, ts
from tests.test_watch_glance import through_glance

JsonDict = dict[str, Any]
Item = PodEvent | Synced
WAIT = 15.0  # generous: how long a test waits for something that must happen
FAST = WatchSettings(
    request_timeout_seconds=5.0,
    watch_timeout_seconds=30,
    backoff=Backoff(base_seconds=0.02, cap_seconds=0.2),
    join_timeout_seconds=5.0,
)


@pytest.fixture
def api_client(fake_kube: FakeKubeApi, tmp_path: Path) -> Iterator[ApiClient]:
    client = build_api_client(config_file=fake_kube.write_kubeconfig(tmp_path / "kubeconfig"))
    yield client
    client.close()  # type: ignore[no-untyped-call]


class Watcher:
    """Runs a `PodStream` in a task and records what it yields and what its hooks were told."""

    def __init__(self, stream: PodStream, *, by_batch: bool = False) -> None:
        self.stream = stream
        self.by_batch = by_batch
        """Read with `stream.batches()`, as the crash watcher does, rather than item by item."""
        self.items: list[Item] = []
        self.restarts: list[str] = []
        self.event_types: list[str] = []
        self.task: asyncio.Task[None] | None = None

    async def consume(self) -> None:
        if self.by_batch:
            async for batch in self.stream.batches():
                self.items.extend(batch)
            return
        async for item in self.stream:
            self.items.append(item)

    @property
    def events(self) -> list[PodEvent]:
        return [item for item in self.items if isinstance(item, PodEvent)]

    @property
    def synced(self) -> list[Synced]:
        return [item for item in self.items if isinstance(item, Synced)]

    def changes(self) -> list[tuple[str, str, str]]:
        """(type, pod name, resourceVersion) of every watch event after the first list."""
        first_sync = self.items.index(self.synced[0])
        return [
            (item.type, item.pod["metadata"]["name"], item.pod["metadata"]["resourceVersion"])
            for item in self.items[first_sync + 1 :]
            if isinstance(item, PodEvent) and not item.relist
        ]

    def watching(self) -> bool:
        """Every scope listed and its watch open: from now on every change arrives as a watch event.

        The condition tests act on, rather than a proxy such as "a Synced arrived" (the watch request
        may not have reached the apiserver yet) or "some watch started" (maybe another one)."""
        listed = {synced.namespace for synced in self.synced}
        scopes = self.stream.scopes
        return all(scope in listed and self.stream.watching(scope) for scope in scopes)

    async def until_watching(self) -> None:
        await self.until("the first list and the watch", self.watching)

    async def until(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = asyncio.get_running_loop().time() + WAIT
        while not condition():
            assert self.task is not None
            if self.task.done():
                self.task.result()  # surfaces an exception the iterator must never raise
                raise AssertionError(f"the stream ended while waiting for {what}")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {self.items!r}")
            await asyncio.sleep(0.01)


@pytest.fixture
async def make_watcher(api_client: ApiClient) -> AsyncIterator[Callable[..., Watcher]]:
    made: list[Watcher] = []

    def make(**options: Any) -> Watcher:
        watcher_ref: list[Watcher] = []
        hooks = WatchHooks(
            on_event=lambda kind: watcher_ref[0].event_types.append(kind),
            on_restart=lambda reason: watcher_ref[0].restarts.append(reason),
        )
        options.setdefault("settings", FAST)
        by_batch = options.pop("by_batch", False)
        watcher = Watcher(PodStream(api_client, hooks=hooks, **options), by_batch=by_batch)
        watcher_ref.append(watcher)
        watcher.task = asyncio.create_task(watcher.consume())
        made.append(watcher)
        return watcher

    yield make
    for watcher in made:
        await watcher.stream.aclose()
        assert watcher.task is not None
        await asyncio.wait_for(watcher.task, WAIT)


def create(fake: FakeKubeApi, pod: JsonDict) -> JsonDict:
    return fake.cluster.create(pod)


def crash(fake: FakeKubeApi, name: str, code: int, at: float, namespace: str = "shop") -> None:
    """One exit, back-off and restart of container `app`, as three writes (three watch events)."""
    steps: list[Callable[[JsonDict], JsonDict]] = [
        lambda pod: exited(pod, "app", code, at),
        lambda pod: backoff(pod, "app"),
        lambda pod: restarted(pod, "app", at + 10),
    ]
    for step in steps:
        current = fake.cluster.get("Pod", namespace, name)
        assert current is not None
        fake.cluster.update(step(current))


def relabel(**labels: str) -> Callable[[JsonDict], None]:
    """A `cluster.modify` change that sets labels (any write is a watch event)."""

    def change(obj: JsonDict) -> None:
        obj["metadata"].setdefault("labels", {}).update(labels)

    return change


def names(events: list[PodEvent]) -> list[str]:
    return sorted(event.pod["metadata"]["name"] for event in events)


# --- list, then live events ------------------------------------------------------------------------


@pytest.mark.parametrize("by_batch", [False, True], ids=["by-item", "by-batch"])
async def test_initial_list_then_live_added_modified_deleted(
    fake_kube: FakeKubeApi, make_watcher: Callable[..., Watcher], by_batch: bool
) -> None:
    create(fake_kube, deployment_pod("api-1", uid="uid-api-1"))
    create(fake_kube, deployment_pod("api-2", uid="uid-api-2"))
    create(fake_kube, make_pod("db-0", namespace="data", uid="uid-db-0"))
    watcher = make_watcher(by_batch=by_batch)
    await watcher.until_watching()

    listed = watcher.events
    assert names(listed) == ["api-1", "api-2", "db-0"]
    assert {event.type for event in listed} == {"ADDED"} and not any(event.relist for event in listed)
    assert listed[0].pod["kind"] == "Pod" and listed[0].pod["apiVersion"] == "v1"  # as a get returns it
    assert watcher.synced[0] == Synced(
        None, frozenset({"uid-api-1", "uid-api-2", "uid-db-0"}), False, watcher.synced[0].resource_version
    )

    create(fake_kube, deployment_pod("api-3", uid="uid-api-3"))
    current = fake_kube.cluster.get("Pod", "shop", "api-1")
    assert current is not None
    fake_kube.cluster.update(exited(current, "app", 137, 60, reason="OOMKilled"))
    fake_kube.cluster.delete("Pod", "shop", "api-2")
    await watcher.until("three live events", lambda: len(watcher.changes()) == 3)

    assert [(kind, name) for kind, name, _ in watcher.changes()] == [
        ("ADDED", "api-3"),
        ("MODIFIED", "api-1"),
        ("DELETED", "api-2"),
    ]
    modified = watcher.events[-2].pod
    terminated = modified["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 137 and terminated["reason"] == "OOMKilled"  # raw camelCase JSON
    assert watcher.event_types.count("ADDED") == 4 and watcher.event_types[-2:] == ["MODIFIED", "DELETED"]


async def test_large_lists_are_read_in_pages(
    fake_kube: FakeKubeApi, make_watcher: Callable[..., Watcher]
) -> None:
    for index in range(7):
        create(fake_kube, deployment_pod(f"api-{index}", uid=f"uid-{index}"))
    settings = WatchSettings(
        request_timeout_seconds=5.0, watch_timeout_seconds=30, page_size=3, backoff=FAST.backoff
    )
    watcher = make_watcher(settings=settings)
    await watcher.until_watching()

    assert len(watcher.events) == 7 and len(watcher.synced[0].uids) == 7
    assert fake_kube.requests.count("list", "pods") == 3  # 3 + 3 + 1


async def test_an_expired_continue_token_starts_the_list_over_as_a_relist(
    fake_kube: FakeKubeApi, api_client: ApiClient
) -> None:
    """Compaction between two pages: the apiserver answers a continue with 410, the list starts over."""
    for index in range(5):
        create(fake_kube, deployment_pod(f"api-{index}", uid=f"uid-{index}"))
    settings = WatchSettings(
        request_timeout_seconds=5.0,
        watch_timeout_seconds=30,
        page_size=2,
        max_pending_batches=1,  # the reader waits with page 2 until page 1 is taken
        backoff=FAST.backoff,
    )
    stream = PodStream(api_client, settings=settings)
    try:
        stream.start()
        deadline = asyncio.get_running_loop().time() + WAIT
        while fake_kube.requests.count("list", "pods") < 2:  # page 2 asked for, page 3 not yet
            assert asyncio.get_running_loop().time() < deadline, "the second page was never asked for"
            await asyncio.sleep(0.01)
        fake_kube.cluster.compact()  # the list's resourceVersion leaves the window

        items: list[Item] = []
        while not items or not isinstance(items[-1], Synced):
            items.append(await asyncio.wait_for(stream.__anext__(), WAIT))
    finally:
        await stream.aclose()

    events = [item for item in items if isinstance(item, PodEvent)]
    first = [event for event in events if not event.relist]
    relisted = [event for event in events if event.relist]
    assert len(first) in (2, 4) and events[: len(first)] == first  # the pages read before the 410
    assert names(relisted) == [f"api-{index}" for index in range(5)]  # then the whole list again
    synced = items[-1]
    assert isinstance(synced, Synced) and synced.relist
    assert synced.uids == frozenset(f"uid-{index}" for index in range(5))
    assert int(synced.resource_version) >= fake_kube.cluster.resource_version  # a fresh list


async def test_watching_listed_namespaces_only(
    fake_kube: FakeKubeApi, make_watcher: Callable[..., Watcher]
) -> None:
    create(fake_kube, deployment_pod("api-1", namespace="shop"))
    create(fake_kube, make_pod("db-0", namespace="data"))
    create(fake_kube, make_pod("noise", namespace="other"))
    watcher = make_watcher(namespaces=["shop", "data"])
    await watcher.until_watching()

    assert names(watcher.events) == ["api-1", "db-0"]
    assert {synced.namespace for synced in watcher.synced} == {"shop", "data"}
    shop = next(synced for synced in watcher.synced if synced.namespace == "shop")
    assert shop.covers("shop") and not shop.covers("data")

    create(fake_kube, make_pod("noise-2", namespace="other"))
    create(fake_kube, make_pod("db-1", namespace="data"))
    await watcher.until("db-1", lambda: "db-1" in names(watcher.events))
    assert "noise-2" not in names(watcher.events)
    assert all(event.pod["metadata"]["namespace"] in ("shop", "data") for event in watcher.events)


async def test_label_selector_filters_on_the_server(
    fake_kube: FakeKubeApi, make_watcher: Callable[..., Watcher]
) -> None:
    create(fake_kube, make_pod("watched", labels={"team": "pay"}))
    create(fake_kube, make_pod("ignored", labels={"team": "ads"}))
    watcher = make_watcher(label_selector="team=pay")
    await watcher.until_watching()
    assert names(watcher.events) == ["watched"]

    fake_kube.cluster.modify("Pod", "shop", "watched", relabel(team="ads"))
    await watcher.until("the pod leaving the selection", lambda: len(watcher.changes()) == 1)
    assert watcher.changes()[0][:2] == ("DELETED", "watched")


# --- resuming ------------------------------------------------------------------------------------------


async def test_bookmarks_move_the_resume_point_past_other_resources_writes(tmp_path: Path) -> None:
    """With a small watch window, a quiet pod watch survives a drop only because bookmarks advanced it."""
    async with FakeKubeApi(history_limit=20, bookmark_interval=TEST_BOOKMARK_INTERVAL) as fake:
        client = build_api_client(config_file=fake.write_kubeconfig(tmp_path / "kubeconfig"))
        restarts: list[str] = []
        stream = PodStream(client, settings=FAST, hooks=WatchHooks(on_restart=restarts.append))
        watcher = Watcher(stream)
        watcher.task = asyncio.create_task(watcher.consume())
        try:
            create(fake, make_pod("quiet"))
            await watcher.until_watching()
            listed_at = int(stream.resource_version() or 0)
            for index in range(50):  # other resources' writes push the pod's RV out of the window
                fake.cluster.create({"kind": "ConfigMap", "metadata": {"name": f"cm-{index}"}, "data": {}})
            target = fake.cluster.resource_version
            await watcher.until("a bookmark", lambda: int(stream.resource_version() or 0) >= target)
            assert listed_at < target - 20  # the listed RV alone would now be too old to resume from

            fake.cluster.drop_watches()
            fake.cluster.modify("Pod", "shop", "quiet", relabel(v="2"))
            await watcher.until("the change after the drop", lambda: len(watcher.changes()) == 1)
            assert watcher.changes()[0][:2] == ("MODIFIED", "quiet")
            assert RestartReason.EXPIRED not in restarts and len(watcher.synced) == 1  # resumed, no relist
        finally:
            await stream.aclose()
            await watcher.task
            client.close()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("by_batch", [False, True], ids=["by-item", "by-batch"])
async def test_dropped_connections_resume_without_missing_or_repeating(
    fake_kube: FakeKubeApi, make_watcher: Callable[..., Watcher], by_batch: bool
) -> None:
    for index in range(3):
        create(fake_kube, deployment_pod(f"api-{index}", uid=f"uid-{index}"))
    watcher = make_watcher(by_batch=by_batch)
    await watcher.until_watching()

    written: list[str] = []
    for step in range(40):
        updated = fake_kube.cluster.modify("Pod", "shop", f"api-{step % 3}", relabel(step=str(step)))
        written.append(updated["metadata"]["resourceVersion"])
        if step % 8 == 3:
            fake_kube.cluster.drop_watches()  # some changes land while the stream reconnects
            await asyncio.sleep(0.005)
    await watcher.until("every change", lambda: len(watcher.changes()) >= len(written))
    await asyncio.sleep(0.2)  # a repeat, if any, would arrive now

    assert [rv for _, _, rv in watcher.changes()] == written  # each once, in order
    assert watcher.restarts.count(RestartReason.DROPPED) >= 1
    assert RestartReason.EXPIRED not in watcher.restarts and len(watcher.synced) == 1


@pytest.mark.parametrize("by_batch", [False, True], ids=["by-item", "by-batch"])
async def test_compaction_410_relists_marks_the_events_and_syncs(
    fake_kube: FakeKubeApi, make_watcher: Callable[..., Watcher], by_batch: bool
) -> None:
    create(fake_kube, deployment_pod("api-1", uid="uid-1"))
    create(fake_kube, deployment_pod("api-2", uid="uid-2"))
    watcher = make_watcher(by_batch=by_batch)
    await watcher.until_watching()

    fake_kube.cluster.compact()
    fake_kube.cluster.drop_watches()  # the resume point is now older than the history: ERROR 410
    await watcher.until("the relist", lambda: len(watcher.synced) == 2)

    relisted = [item for item in watcher.events if item.relist]
    assert names(relisted) == ["api-1", "api-2"] and {event.type for event in relisted} == {"ADDED"}
    assert watcher.synced[1].relist and watcher.synced[1].uids == frozenset({"uid-1", "uid-2"})
    assert RestartReason.EXPIRED in watcher.restarts

    create(fake_kube, deployment_pod("api-3"))
    await watcher.until("a live event after the relist", lambda: "api-3" in names(watcher.events))
    assert not watcher.events[-1].relist


async def test_http_410_on_the_watch_request_relists_too(
    fake_kube: FakeKubeApi, make_watcher: Callable[..., Watcher]
) -> None:
    create(fake_kube, deployment_pod("api-1"))
    watcher = make_watcher()
    await watcher.until_watching()
    fake_kube.faults.fail("watch", "pods", 410, times=1, message="too old resource version")
    fake_kube.cluster.drop_watches()
    await watcher.until("the relist", lambda: len(watcher.synced) == 2)
    assert watcher.synced[1].relist and [event.relist for event in watcher.events] == [False, True]


@pytest.mark.parametrize("forget_history", [False, True])
async def test_apiserver_restart_loses_no_change(
    fake_kube: FakeKubeApi, make_watcher: Callable[..., Watcher], forget_history: bool
) -> None:
    create(fake_kube, deployment_pod("stays", uid="uid-stays"))
    create(fake_kube, deployment_pod("goes", uid="uid-goes"))
    watcher = make_watcher()
    await watcher.until_watching()

    await fake_kube.stop()
    crash(fake_kube, "stays", 1, 120)  # while the apiserver is down
    fake_kube.cluster.delete("Pod", "shop", "goes")
    create(fake_kube, deployment_pod("new", uid="uid-new"))
    if forget_history:
        fake_kube.cluster.compact()
    await fake_kube.start()

    if forget_history:  # 410 → relist: the current state, marked, then Synced without the deleted pod
        await watcher.until("the relist", lambda: len(watcher.synced) == 2)
        assert watcher.synced[1].relist and watcher.synced[1].uids == frozenset({"uid-stays", "uid-new"})
        relisted = {event.pod["metadata"]["name"]: event.pod for event in watcher.events if event.relist}
        assert sorted(relisted) == ["new", "stays"]
        assert relisted["stays"]["status"]["containerStatuses"][0]["restartCount"] == 1
    else:  # resumed: every change replayed once, in order
        await watcher.until("the replay", lambda: len(watcher.changes()) == 5)
        assert [(kind, name) for kind, name, _ in watcher.changes()] == [
            ("MODIFIED", "stays"),
            ("MODIFIED", "stays"),
            ("MODIFIED", "stays"),
            ("DELETED", "goes"),
            ("ADDED", "new"),
        ]
        assert len(watcher.synced) == 1


async def test_an_outage_backs_off_then_recovers_and_never_raises(
    fake_kube: FakeKubeApi, make_watcher: Callable[..., Watcher], caplog: pytest.LogCaptureFixture
) -> None:
    create(fake_kube, deployment_pod("api-1"))
    watcher = make_watcher()
    await watcher.until_watching()

    with caplog.at_level(logging.DEBUG, logger="bot.kube.watch"):
        await fake_kube.stop()
        await watcher.until(
            "retries while down", lambda: watcher.restarts.count(RestartReason.UNREACHABLE) >= 3
        )
        assert not watcher.stream.watching()
        await fake_kube.start()
        create(fake_kube, deployment_pod("api-2"))
        await watcher.until("the change after the outage", lambda: "api-2" in names(watcher.events))

    assert watcher.task is not None and not watcher.task.done()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "bot.kube.watch"]
    assert len(warnings) == 1 and "cannot be reached" in warnings[0].getMessage()  # one warning per outage
    assert any("works again" in record.getMessage() for record in caplog.records)


async def test_server_errors_are_retried_and_rbac_denials_wait_for_a_fix(
    fake_kube: FakeKubeApi, make_watcher: Callable[..., Watcher], caplog: pytest.LogCaptureFixture
) -> None:
    create(fake_kube, deployment_pod("api-1"))
    fake_kube.faults.forbid("list", "pods")
    with caplog.at_level(logging.WARNING, logger="bot.kube.watch"):
        watcher = make_watcher()
        await watcher.until("a denial", lambda: RestartReason.FORBIDDEN in watcher.restarts)
    assert not watcher.items
    assert 'lacks the "list" verb on "pods"' in caplog.text  # the operator learns what to grant

    fake_kube.faults.clear()  # the ClusterRole gets fixed
    await watcher.until_watching()
    fake_kube.faults.fail("watch", "pods", 500, times=2)
    fake_kube.cluster.drop_watches()
    create(fake_kube, deployment_pod("api-2"))
    await watcher.until("the change after the errors", lambda: "api-2" in names(watcher.events))
    assert watcher.restarts.count(RestartReason.ERROR) == 2


@pytest.mark.parametrize("by_batch", [False, True], ids=["by-item", "by-batch"])
async def test_aclose_stops_the_threads_and_ends_the_iteration(
    fake_kube: FakeKubeApi, api_client: ApiClient, by_batch: bool
) -> None:
    create(fake_kube, deployment_pod("api-1"))
    before = set(threading.enumerate())  # other tests' threads are not this stream's business
    stream = PodStream(api_client, namespaces=["shop", "data"], settings=FAST)
    watcher = Watcher(stream, by_batch=by_batch)
    watcher.task = asyncio.create_task(watcher.consume())
    await watcher.until_watching()
    started = [thread for thread in threading.enumerate() if thread not in before]
    assert sorted(thread.name for thread in started) == ["watch-pods-data", "watch-pods-shop"]

    await stream.aclose()
    await asyncio.wait_for(watcher.task, WAIT)  # `async for` ends
    assert not stream.watching("shop") and not stream.watching("data")
    assert not any(thread.is_alive() for thread in started)
    await stream.aclose()  # idempotent
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    assert [batch async for batch in stream.batches()] == []


class ScriptedResponse:
    """Just what `body_lines` reads of a urllib3 response: the socket's buffered stream, in pieces."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.chunked = True
        self.headers: dict[str, str] = {}
        self._fp = self
        self.fp = self
        self._pieces = list(pieces)

    def read1(self, _: int) -> bytes:
        return self._pieces.pop(0) if self._pieces else b""


def framed(*payloads: bytes) -> bytes:
    """A chunked body as the apiserver frames it, one chunk per payload (one with an extension)."""
    chunks = [
        b"%x;ext=1\r\n%s\r\n" % (len(p), p) if i == 1 else b"%x\r\n%s\r\n" % (len(p), p)
        for i, p in enumerate(payloads)
    ]
    return b"".join(chunks) + b"0\r\n\r\n"


def read_lines(pieces: list[bytes]) -> list[bytes]:
    return [line for lines in body_lines(ScriptedResponse([p for p in pieces if p])) for line in lines]


def test_the_chunked_body_reads_the_same_lines_however_the_network_splits_it() -> None:
    # One event per chunk (the apiserver's way, one with an extension), an event split over chunks,
    # two events in one chunk, an empty line, and a last line without its newline (not an event).
    body = framed(
        b'{"type":"ADDED"}\n',
        b'{"type":"MODIFIED"}\n',
        b'{"type":"MODIFIED"}\n{"ty',
        b'pe":',
        b'"DELETED"}\n{"type":"BOOKMARK"}\n',
        b"\n",
        b'{"type":"ADDED"}\n',
        b'{"type":"ADD',
    )
    expected = [
        b'{"type":"ADDED"}',
        b'{"type":"MODIFIED"}',
        b'{"type":"MODIFIED"}',
        b'{"type":"DELETED"}',
        b'{"type":"BOOKMARK"}',
        b"",
        b'{"type":"ADDED"}',
    ]
    for cut in range(1, len(body)):
        for second in (cut, min(len(body), cut + 7)):
            assert read_lines([body[:cut], body[cut:second], body[second:]]) == expected, (cut, second)
    assert read_lines([body]) == expected


class DecodedResponse:
    """A response urllib3 must de-frame itself (here: gzip-encoded), read through `stream()`."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.chunked = True
        self.headers = {"content-encoding": "gzip"}
        self._pieces = pieces

    def stream(self, amt: int | None = None, decode_content: bool = True) -> Iterator[bytes]:
        assert amt is None and decode_content
        yield from self._pieces


def test_a_body_urllib3_decodes_reads_the_same_lines() -> None:
    body = b'{"type":"ADDED"}\n{"type":"MODIFIED"}\n\n{"type":"DELETED"}\n{"type":"ADD'
    expected = [b'{"type":"ADDED"}', b'{"type":"MODIFIED"}', b"", b'{"type":"DELETED"}']
    for cut in range(len(body) + 1):
        pieces = [piece for piece in (body[:cut], body[cut:]) if piece]
        got = [line for lines in body_lines(DecodedResponse(pieces)) for line in lines]
        assert got == expected, cut


@pytest.mark.parametrize(
    "body",
    [framed(b"{}\n")[:-5], b"zz\r\n{}\r\n"],  # closed before the last chunk; not chunked framing
)
def test_a_broken_chunked_body_raises_so_the_watch_resumes(body: bytes) -> None:
    with pytest.raises((ConnectionError, ValueError)):
        read_lines([body])


def test_backoff_has_full_jitter_and_a_cap() -> None:
    policy = Backoff(base_seconds=0.5, cap_seconds=30.0)
    rng = random.Random(7)
    for attempt in range(12):
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        ceiling = min(30.0, 0.5 * 2**attempt)
        assert all(0.0 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling * 0.8 and min(delays) < ceiling * 0.2  # spread over the whole range


# --- what the alerting sees ----------------------------------------------------------------------------


@pytest.mark.parametrize("by_batch", [False, True], ids=["by-item", "by-batch"])
async def test_detection_through_drops_and_relists_reports_each_crash_once(
    fake_kube: FakeKubeApi, make_watcher: Callable[..., Watcher], by_batch: bool
) -> None:
    """The watcher's consumer loop: glance, detect with a compact cache, forget what `Synced` no longer
    lists."""
    create(fake_kube, deployment_pod("api-1", uid="uid-api-1"))
    create(fake_kube, deployment_pod("gone", uid="uid-gone"))
    watcher = make_watcher(by_batch=by_batch)
    pods = SeenPods()
    found: list[str] = []
    handled = 0

    def consume() -> None:
        nonlocal handled
        for item in watcher.items[handled:]:
            if isinstance(item, Synced):
                pods.forget_missing(item.uids, item.covers)
                continue
            found.extend(t.key for t in through_glance(pods, item))
        handled = len(watcher.items)

    await watcher.until_watching()
    crash(fake_kube, "api-1", 1, 100)
    fake_kube.cluster.drop_watches()
    crash(fake_kube, "api-1", 2, 200)
    await watcher.until("two crashes", lambda: len(watcher.changes()) == 6)
    consume()
    await fake_kube.stop()
    fake_kube.cluster.delete("Pod", "shop", "gone")
    crash(fake_kube, "api-1", 139, 300)
    fake_kube.cluster.compact()
    await fake_kube.start()
    await watcher.until("the relist", lambda: len(watcher.synced) == 2)
    consume()

    assert found == [f"uid-api-1/app/{ts(at)}" for at in (100, 200, 300)]  # each crash once, none lost
    assert "uid-api-1" in pods and "uid-gone" not in pods  # the pod deleted during the outage was forgotten
    assert len(pods) == 1


# --- namespace annotations ------------------------------------------------------------------------------


async def test_namespace_annotations_follow_changes(fake_kube: FakeKubeApi, api_client: ApiClient) -> None:
    fake_kube.cluster.ensure_namespace("shop", annotations={"exitcode-bot/channel": "#shop-alerts"})
    cache = NamespaceAnnotations(api_client, timeout_seconds=5.0, watch_settings=FAST)
    await cache.start()
    try:
        assert cache.source is AnnotationSource.WATCH
        assert await cache.lookup("shop") == {"exitcode-bot/channel": "#shop-alerts"}
        assert cache.annotations("nowhere") == {}

        fake_kube.cluster.modify(
            "Namespace",
            None,
            "shop",
            lambda ns: ns["metadata"]["annotations"].update({"exitcode-bot/ignore": "true"}),
        )
        deadline = asyncio.get_running_loop().time() + WAIT
        while cache.annotations("shop").get("exitcode-bot/ignore") != "true":
            assert asyncio.get_running_loop().time() < deadline, "the annotation change never arrived"
            await asyncio.sleep(0.01)
    finally:
        await cache.aclose()


async def test_namespace_annotations_fall_back_to_get_when_list_is_forbidden(
    fake_kube: FakeKubeApi, api_client: ApiClient
) -> None:
    fake_kube.cluster.ensure_namespace("shop", annotations={"exitcode-bot/ignore": "true"})
    fake_kube.faults.forbid("list", "namespaces")
    fake_kube.faults.forbid("watch", "namespaces")
    cache = NamespaceAnnotations(api_client, namespaces=["shop"], timeout_seconds=5.0)
    await cache.start()
    try:
        assert cache.source is AnnotationSource.GET
        assert cache.annotations("shop") == {"exitcode-bot/ignore": "true"}  # read at start
        gets = [r for r in fake_kube.requests.entries if r.resource == "namespaces" and r.verb == "get"]
        assert [r.name for r in gets] == ["shop"]
    finally:
        await cache.aclose()


async def test_namespace_annotations_carry_on_empty_with_one_warning_when_get_is_forbidden_too(
    fake_kube: FakeKubeApi, api_client: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake_kube.cluster.ensure_namespace("shop", annotations={"exitcode-bot/ignore": "true"})
    fake_kube.cluster.ensure_namespace("data")
    fake_kube.faults.forbid("list", "namespaces")
    fake_kube.faults.forbid("get", "namespaces")
    cache = NamespaceAnnotations(api_client, namespaces=["shop", "data"], timeout_seconds=5.0)
    with caplog.at_level(logging.WARNING, logger="bot.kube.namespaces"):
        await cache.start()
        assert await cache.lookup("shop") == {} and await cache.lookup("data") == {}
    await cache.aclose()
    assert cache.source is AnnotationSource.NONE
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "namespace annotations" in warnings[0] and '"get"' in warnings[0]


async def test_namespace_lookup_reads_unknown_namespaces_on_demand_in_get_mode(
    fake_kube: FakeKubeApi, api_client: ApiClient
) -> None:
    fake_kube.cluster.ensure_namespace("shop", annotations={"exitcode-bot/channel": "#shop"})
    fake_kube.faults.forbid("list", "namespaces")
    cache = NamespaceAnnotations(api_client, timeout_seconds=5.0)
    await cache.start()
    try:
        assert cache.annotations("shop") == {}  # not read yet: no watched namespaces were named
        assert await cache.lookup("shop") == {"exitcode-bot/channel": "#shop"}
        assert await cache.lookup("missing") == {}
        assert cache.annotations("shop") == {"exitcode-bot/channel": "#shop"}
    finally:
        await cache.aclose()


async def test_single_namespace_install_reads_its_namespace_without_a_denied_list(
    fake_kube: FakeKubeApi, api_client: ApiClient
) -> None:
    fake_kube.cluster.ensure_namespace("shop", annotations={"exitcode-bot/channel": "#shop"})
    cache = NamespaceAnnotations(api_client, namespaces=["shop"], timeout_seconds=5.0, may_list=False)
    await cache.start()
    try:
        assert cache.source is AnnotationSource.GET
        assert cache.annotations("shop") == {"exitcode-bot/channel": "#shop"}
        verbs = {r.verb for r in fake_kube.requests.entries if r.resource == "namespaces"}
        assert verbs == {"get"}  # a Role cannot grant list/watch on namespaces: never asked
    finally:
        await cache.aclose()
