"""Watch → detection over the wire: the bot's pod stream against the official client's two watch modes.

One recorded stream of pod watch events (default 100,000; `bench.detect_core.record_stream`: 2,000
realistic pods, mostly readiness/condition churn, about 2 % crash-looping, seeded so every run is the
same) is served as one chunked watch response, one HTTP chunk per event as the apiserver sends them, by
a tiny apiserver stand-in in a child process (so its CPU does not compete with the measured process).
The same bytes are then consumed three ways, interleaved, in this run:

- **bot path**: `bot.kube.watch.PodStream` (chunked body split into lines on a reader thread, handed to
  the event loop in batches, read with `batches()`; each event glanced at with msgspec where it is
  consumed: uid and container statuses) plus `bot.alerting.SeenPods` (an event whose container records
  equal the cached ones is done; any other is decoded whole with orjson and detection runs on it), i.e.
  everything the alert service's term does per event before the policy (`watcher_step`);
- **client deserialize=False**: `Watch().stream(list_pod_for_all_namespaces, deserialize=False)`, the
  client's own way to skip the models (`json.loads` per line), plus the same detection (`SeenPods.update`);
- **client default**: `Watch().stream(list_pod_for_all_namespaces)`, which builds a `V1Pod` model per
  event; the loop does nothing else with it (so the ratio understates the difference: this path has not
  even looked for a termination yet). It is slow, so it reads the first `--default-events` events.

Also printed: the in-process ceiling, the bot path's per-event work (`watcher_step`) over the same lines
with no I/O and no threads, i.e. what the bot path would reach if reading the socket and handing over
cost nothing.
Figures: events/s (best of `--passes`) and the ratios (targets ≥ 20× the default, ≥ 1.5× deserialize=False).
Run: `.venv/bin/python -m bench.watch_detect [--events N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
import urllib.parse
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import yaml
from kubernetes import watch
from kubernetes.client import CoreV1Api

from bench.detect_core import record_stream
from bench.figures import figure
from bot.alerting.seen_pods import SeenPods
from bot.kube.client import build_api_client
from bot.kube.watch import PodEvent, PodStream, WatchSettings
from bot.kube.watch.glance import pod_event_from_line
from bot.kube.watch.reader import HEAD_TYPES, TYPE_AT

RECORDING_RESOURCE_VERSION = "1"
SEND_CHUNK_BYTES = 64 * 1024  # bytes per socket write (each holds many one-event chunks)
TARGET_OVER_DEFAULT = 20.0
TARGET_OVER_RAW = 1.5


# --- the apiserver stand-in (child process) ------------------------------------------------------------


def serve(recording: Path, ports: Queue[int]) -> None:
    """Serve `GET /api/v1/pods`: an empty list, and the recording as the watch from resourceVersion 1.

    Each event is its own HTTP chunk, as the apiserver sends them (Go's server turns every event it
    writes into a chunk of its own), framed once up front so that this process spends nothing per event
    while the clients are measured. A watch from any other resourceVersion (the bot's stream resuming
    after the recording ended) stays open and silent until its `timeoutSeconds`, as a quiet
    apiserver's would.
    """
    framed = b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in recording.open("rb")) + b"0\r\n\r\n"
    empty_list = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}'

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                target = head.split(b" ", 2)[1].decode()
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
                if query.get("watch", [""])[0] not in ("1", "true", "True"):
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(empty_list), empty_list)
                    )
                    continue
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                if query.get("resourceVersion", [""])[0] == RECORDING_RESOURCE_VERSION:
                    for start in range(0, len(framed), SEND_CHUNK_BYTES):
                        writer.write(framed[start : start + SEND_CHUNK_BYTES])
                        await writer.drain()
                else:
                    await asyncio.sleep(float(query.get("timeoutSeconds", ["60"])[0]))
                    writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up (it stops reading once it has counted its events)
        finally:
            writer.close()

    async def run() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        ports.put(int(server.sockets[0].getsockname()[1]))
        await asyncio.Event().wait()

    asyncio.run(run())


def write_kubeconfig(path: Path, port: int) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bench", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "bench", "user": {"token": "bench-token"}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
        "current-context": "bench",
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


# --- the two consumers ----------------------------------------------------------------------------------


def watcher_step(pods: SeenPods, event: PodEvent) -> int:
    """What the alert service's term does with one pod event before its policy (`LeadershipTerm._watch`):
    an event whose glance shows the container records the cache holds is done; any other is decoded
    whole and detection runs on it. Returns the terminations found."""
    glance = event.glance
    if (
        glance is not None
        and event.type == "MODIFIED"
        and pods.unchanged(glance.uid, glance.init_container_statuses, glance.container_statuses)
    ):
        return 0
    return len(pods.update(event.type, event.pod))


async def bot_path(kubeconfig: Path, events: int) -> tuple[float, int]:
    """Seconds to consume `events` through `PodStream` + detection, and the terminations found."""
    api_client = build_api_client(config_file=kubeconfig)
    stream = PodStream(api_client, settings=WatchSettings(watch_timeout_seconds=3600))
    pods = SeenPods()
    found = seen = 0
    started = time.perf_counter()
    async for batch in stream.batches():  # as the term reads it
        for item in batch:
            if isinstance(item, PodEvent):
                found += watcher_step(pods, item)
                seen += 1
                if seen == events:
                    break
        if seen == events:
            break
    elapsed = time.perf_counter() - started
    await stream.aclose()
    api_client.close()  # type: ignore[no-untyped-call]
    return elapsed, found


def client_default(kubeconfig: Path, events: int) -> float:
    """Seconds to consume `events` through the client's `Watch.stream` (a `V1Pod` per event)."""
    api_client = build_api_client(config_file=kubeconfig)
    core = CoreV1Api(api_client)
    watcher: Any = watch.Watch()  # type: ignore[no-untyped-call]
    started = time.perf_counter()
    stream = watcher.stream(
        core.list_pod_for_all_namespaces, resource_version=RECORDING_RESOURCE_VERSION, timeout_seconds=3600
    )
    for seen, _event in enumerate(stream, start=1):
        if seen == events:
            break
    elapsed = time.perf_counter() - started
    stream.close()
    api_client.close()  # type: ignore[no-untyped-call]
    return elapsed


def client_raw(kubeconfig: Path, events: int) -> tuple[float, int]:
    """Seconds to consume `events` through `Watch.stream(deserialize=False)` + the same detection.

    The client's own way to skip the models: a `json.loads` per line, then the same detection and
    cache as the bot path (`SeenPods.update`), on the calling thread.
    """
    api_client = build_api_client(config_file=kubeconfig)
    core = CoreV1Api(api_client)
    watcher: Any = watch.Watch()  # type: ignore[no-untyped-call]
    pods = SeenPods()
    found = 0
    started = time.perf_counter()
    stream = watcher.stream(
        core.list_pod_for_all_namespaces,
        resource_version=RECORDING_RESOURCE_VERSION,
        timeout_seconds=3600,
        deserialize=False,
    )
    for seen, event in enumerate(stream, start=1):
        found += len(pods.update(event["type"], event["object"]))
        if seen == events:
            break
    elapsed = time.perf_counter() - started
    stream.close()
    api_client.close()  # type: ignore[no-untyped-call]
    return elapsed, found


def ceiling(recording: Path, events: int) -> float:
    """Seconds for the bot path's per-event work over the recorded lines in memory: no socket, no thread."""
    lines = recording.read_bytes().split(b"\n")[:events]
    pods = SeenPods()
    started = time.perf_counter()
    for line in lines:
        watcher_step(pods, pod_event_from_line(HEAD_TYPES[line[TYPE_AT]], line))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000, help="watch events (default 100,000)")
    parser.add_argument("--passes", type=int, default=2, help="passes of each path (the best counts)")
    parser.add_argument(
        "--default-events",
        type=int,
        default=20_000,
        help="events for the (slow) client default path; its rate is per event (default 20,000)",
    )
    options = parser.parse_args(argv)
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        recording = Path(folder) / "pod-watch.jsonl"
        exits = record_stream(recording, options.events)
        with recording.open("rb") as lines:
            events = sum(1 for _ in lines)  # a replaced pod adds a DELETED line to the recording
        size_mib = recording.stat().st_size / 2**20
        print(f"   stream: {events:,} events, {size_mib:,.1f} MiB, {exits} container exits", flush=True)
        ports: Queue[int] = context.Queue()
        server = context.Process(target=serve, args=(recording, ports), daemon=True)
        server.start()
        try:
            kubeconfig = write_kubeconfig(Path(folder) / "kubeconfig", ports.get(timeout=30))
            bot_seconds = raw_seconds = default_seconds = ceiling_seconds = float("inf")
            found = raw_found = 0
            default_events = min(events, options.default_events)
            for _ in range(max(1, options.passes)):  # interleaved, so drift in the machine hits all three
                seconds, found = asyncio.run(bot_path(kubeconfig, events))
                bot_seconds = min(bot_seconds, seconds)
                seconds, raw_found = client_raw(kubeconfig, events)
                raw_seconds = min(raw_seconds, seconds)
                default_seconds = min(default_seconds, client_default(kubeconfig, default_events))
                ceiling_seconds = min(ceiling_seconds, ceiling(recording, events))
        finally:
            server.terminate()
            server.join(10)
    bot_rate, raw_rate = events / bot_seconds, events / raw_seconds
    default_rate = default_events / default_seconds
    over_default, over_raw = bot_rate / default_rate, bot_rate / raw_rate
    ceiling_rate = events / ceiling_seconds
    figure("bot path (PodStream + detect, compact cache)", bot_rate, "events/s")
    figure("client deserialize=False (Watch.stream → dict) + the same detection", raw_rate, "events/s")
    figure(
        f"client default (Watch.stream → V1Pod; first {default_events:,} events)", default_rate, "events/s"
    )
    figure(
        "bot / client default",
        over_default,
        "×",
        target=f"≥ {TARGET_OVER_DEFAULT:g}×",
        met=over_default >= TARGET_OVER_DEFAULT,
    )
    figure(
        "bot / client deserialize=False",
        over_raw,
        "×",
        target=f"≥ {TARGET_OVER_RAW:g}×",
        met=over_raw >= TARGET_OVER_RAW,
    )
    figure(
        "in-process ceiling (the bot path's per-event work, no I/O)",
        ceiling_rate,
        f"events/s = {ceiling_rate / default_rate:.1f}× the client default; bot path at "
        f"{bot_rate / ceiling_rate:.0%} of it",
    )
    print(
        f"   terminations found: bot path {found}, client deserialize=False {raw_found} "
        f"(container exits recorded: {exits})",
        flush=True,
    )


if __name__ == "__main__":
    main()
