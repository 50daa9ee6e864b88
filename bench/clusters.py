"""Many clusters in one process (issue 13): 20 clusters × 2,000 pods against one cluster of 40,000 pods,
and the time a replica takes to take over a dead replica's clusters.

Part 1, the watch path, measured as `bench.watch_memory` measures it (fakes in their own processes, the
watcher in a fresh process so its memory is its own):
- **many**: 20 fake apiservers (`python -m tests.fakes.kube_api`) of 2,000 pods each, one watcher process
  running one `PodStream` + `SeenPods` detection cache per cluster (`bench.watch_detect.watcher_step`),
  concurrently, as the per-cluster alert services do;
- **one** (the baseline): one fake of 40,000 pods, one stream in one watcher process.
Same pods, same changes (one change per pod after the list, 2 % crash-loop steps), so the figures are
the price of splitting 40,000 pods over 20 clusters: peak RSS, and watch events per CPU-second of the
watcher (its own cost per event, comparable on a busy machine).

Part 2, failover, in this process: two replicas (`build_cluster_alert_runners`, the production builder)
over N small in-process fake clusters with their Leases in the first one; replica A leads them all, is
killed (no Lease release, as `kill -9`), and the time until replica B watches every cluster is reported
against `LEASE_DURATION_SECONDS` (the floor: B may only take a Lease once it expired).

Run: `.venv/bin/python -m bench.clusters [--clusters 20] [--pods 2000] [--failover-clusters 20]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.figures import figure
from bench.watch_detect import watcher_step
from bench.watch_memory import batches, changed, peak_rss_kib, pod, post, read_json, start_fake
from bot.alerting.seen_pods import SeenPods
from bot.kube.client import build_api_client
from bot.kube.watch import PodStream, Synced, WatchSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
CHILD_TIMEOUT_SECONDS = 900.0
LEASE_SECONDS = 2.0


# --- part 1: the watcher child ----------------------------------------------------------------------------


async def _watch_one(kubeconfig: Path, events: int, synced: asyncio.Event, go: asyncio.Event) -> int:
    """List and watch one cluster: set `synced` after the list, wait for `go`, consume `events` events."""
    stream = PodStream(
        build_api_client(config_file=kubeconfig), settings=WatchSettings(watch_timeout_seconds=3600)
    )
    pods = SeenPods()
    seen = terminations = 0
    async for batch in stream.batches():  # as each cluster's alert service reads it
        for item in batch:
            if isinstance(item, Synced):
                if not synced.is_set():
                    synced.set()
                    await go.wait()
                continue
            terminations += watcher_step(pods, item)
            if synced.is_set():
                seen += 1
                if seen >= events:
                    break
        if seen >= events:
            break
    await stream.aclose()
    return len(pods)


async def watch_child(kubeconfigs: list[Path], events_each: int) -> None:
    go = asyncio.Event()
    synced = [asyncio.Event() for _ in kubeconfigs]
    started_cpu = time.process_time()
    async with asyncio.timeout(CHILD_TIMEOUT_SECONDS):
        tasks = [
            asyncio.create_task(_watch_one(path, events_each, done, go))
            for path, done in zip(kubeconfigs, synced, strict=True)
        ]
        for done in synced:
            await done.wait()
        listed_cpu = time.process_time() - started_cpu
        print(json.dumps({"rss_kib": peak_rss_kib(), "list_cpu": listed_cpu}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the driver queued every change in the fakes
        watch_cpu = time.process_time()
        go.set()
        cached = sum(await asyncio.gather(*tasks))
    report = {"peak_rss_kib": peak_rss_kib(), "watch_cpu": time.process_time() - watch_cpu, "cached": cached}
    print(json.dumps(report), flush=True)


def measure(clusters: int, pods_each: int) -> dict[str, Any]:
    """`clusters` fakes of `pods_each` pods, one watcher process over all of them."""
    import subprocess

    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        fakes = []
        for number in range(clusters):
            sub = Path(folder) / str(number)
            sub.mkdir()
            process, url, kubeconfig = start_fake(sub)
            stack.callback(process.wait, 30)
            stack.callback(process.terminate)
            fakes.append((url, kubeconfig))
            for batch in batches(pod(index) for index in range(pods_each)):
                post(url, batch)
        command = [sys.executable, "-m", "bench.clusters", "--child", str(pods_each)]
        command += [str(kubeconfig) for _, kubeconfig in fakes]
        watcher = subprocess.Popen(
            command, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        listed = read_json(watcher)
        for url, _ in fakes:
            for batch in batches(changed(index, 1) for index in range(pods_each)):
                post(url, batch)
        assert watcher.stdin is not None
        watcher.stdin.write("go\n")
        watcher.stdin.flush()
        result = read_json(watcher)
        watcher.wait(60)
    return {**listed, **result, "events": clusters * pods_each}


# --- part 2: failover ----------------------------------------------------------------------------------


async def failover(count: int) -> tuple[float, int]:
    """Seconds from replica A's death until replica B watches all `count` clusters."""
    from prometheus_client import CollectorRegistry

    from bot.access import BotConfig
    from bot.alert_service import ConsoleAlertSink
    from bot.alert_service.tuning import AlertTuning
    from bot.application.clusters import connect_clusters
    from bot.console import ConsoleOutput
    from bot.knowledge import load_knowledge
    from bot.metrics import AlertMetrics
    from bot.settings import Settings
    from bot.wiring import build_cluster_alert_runners
    from tests.fakes.kube_api import FakeKubeApi
    from tests.fakes.kubeconfig import write_multi_kubeconfig

    knowledge = load_knowledge()
    tuning = AlertTuning(lease_renew_seconds=LEASE_SECONDS / 3, lease_retry_seconds=0.1)
    settings = Settings(_env_file=None, pod_namespace="exitcode-bot", lease_duration_seconds=LEASE_SECONDS)
    async with contextlib.AsyncExitStack() as stack:
        fakes = [await stack.enter_async_context(FakeKubeApi(bookmark_interval=0.5)) for _ in range(count)]
        fakes[0].cluster.ensure_namespace("exitcode-bot")
        with tempfile.TemporaryDirectory() as folder:
            kubeconfig = write_multi_kubeconfig(
                Path(folder) / "kubeconfig", {f"c{index:02d}": fake.url for index, fake in enumerate(fakes)}
            )

            def replica(identity: str) -> Any:
                registry = connect_clusters(
                    ["*"], cluster_name=None, timeout_seconds=5.0, environ={"KUBECONFIG": str(kubeconfig)}
                )
                stack.callback(registry.close)
                runners = build_cluster_alert_runners(
                    settings,
                    knowledge,
                    registry,
                    BotConfig(),
                    sink=ConsoleAlertSink(ConsoleOutput()),
                    metrics=AlertMetrics(CollectorRegistry()),
                    identity=identity,
                    tuning=tuning,
                )
                assert runners is not None
                runners.start()
                return runners

            a = replica("replica-a")
            await _until(lambda: all(r.service.watching for r in a.runners.values()))
            b = replica("replica-b")
            await asyncio.sleep(LEASE_SECONDS)  # B is a settled standby when A dies
            killed = time.perf_counter()
            for runner in a.runners.values():
                runner.task.cancel()
            await _until(lambda: all(r.service.watching for r in b.runners.values()))
            took = time.perf_counter() - killed
            await b.stop(5.0)
            for runner in a.runners.values():
                runner.close_client()
    return took, count


async def _until(condition: Any, timeout: float = 120.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the condition did not hold in time")
        await asyncio.sleep(0.02)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--pods", type=int, default=2000, help="pods per cluster")
    parser.add_argument("--failover-clusters", type=int, default=20)
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child is not None:
        asyncio.run(watch_child([Path(path) for path in options.child[1:]], int(options.child[0])))
        return
    mib = 1024.0
    total = options.clusters * options.pods
    one = measure(1, total)
    many = measure(options.clusters, options.pods)
    for label, result in (
        (f"1 cluster × {total:,} pods", one),
        (f"{options.clusters} clusters × {options.pods:,} pods", many),
    ):
        figure(f"{label}: peak RSS after the lists", result["rss_kib"] / mib, "MiB")
        figure(f"{label}: peak RSS", result["peak_rss_kib"] / mib, "MiB")
        figure(f"{label}: watch + detect", result["events"] / result["watch_cpu"], "events per CPU-second")
    figure("peak RSS, many clusters vs one", many["peak_rss_kib"] / one["peak_rss_kib"], "×")
    rate_ratio = (many["events"] / many["watch_cpu"]) / (one["events"] / one["watch_cpu"])
    figure("watch events per CPU-second, many clusters vs one", rate_ratio, "×")
    took, count = asyncio.run(failover(options.failover_clusters))
    figure(f"takeover of {count} clusters after a replica's death", took, "s")
    figure("takeover / LEASE_DURATION_SECONDS (the floor)", took / LEASE_SECONDS, "×")


if __name__ == "__main__":
    main(sys.argv[1:])
