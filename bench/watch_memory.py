"""Scale of the watcher: 10,000 and 100,000 pods listed and watched, in one run; memory and cost per event.

For each cluster size, three processes, so each one's memory is its own:
- the fake apiserver (`python -m tests.fakes.kube_api`), loaded with realistic pods
  (`bench.detect_core.new_pod`: ~2.5 KB of JSON each, 100 namespaces); it pages lists as the apiserver
  does (`limit` + `continue` over one snapshot);
- the **watcher**: `PodStream` over all namespaces (a paged list, 500 pods a page, then the watch) read
  with `batches()` and feeding `SeenPods` (`bench.watch_detect.watcher_step`: an event whose glance shows
  the cached container records is done, any other is decoded and detection runs), the way the alert
  service's term consumes it; after
  the list it receives as many watch events at every size (one change per pod of the largest cluster:
  readiness churn, and crash-loop steps for 2 % of the pods), queued in the fake while it waits, and
  reports its peak RSS (`VmHWM`) and the CPU time it spent listing and watching;
- the **baseline**: an idle interpreter that imported the same modules, so the figure above it is what
  listing and watching cost.

Rates are per CPU-second of the watcher process (list items, then watch events): the watcher's own cost
per event, which stays comparable on a busy machine and does not depend on how fast the fake can be fed.
Targets: peak RSS ≤ 250 MiB at 100,000 pods; watch events per CPU-second at 100,000 pods ≥ 0.8× the
10,000-pod figure (cost grows with events, never with the size of the cluster or its history).
Run: `.venv/bin/python -m bench.watch_memory [--sizes 10000 100000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bench.detect_core import churn, crash_step, new_pod, stamp
from bench.figures import figure
from bench.watch_detect import watcher_step
from bot.alerting.seen_pods import SeenPods
from bot.kube.client import build_api_client
from bot.kube.watch import PodStream, Synced, WatchSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_MIB = 250.0
TARGET_RATE_RATIO = 0.8
POST_BATCH = 1000
CRASH_EVERY = 50  # 2 % of the pods crash once during the watch
CHILD_TIMEOUT_SECONDS = 900.0


def peak_rss_kib() -> int:
    """This process's peak resident set size in KiB: `VmHWM` of /proc/self/status.

    Not `getrusage().ru_maxrss`: Linux carries the parent's high-water mark over fork + exec, so a child
    of a big driver process would report the driver's memory.
    """
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # not Linux: the best there is


# --- the child processes --------------------------------------------------------------------------------


def idle_child() -> None:
    """The baseline: the watcher's imports (done at module level above), nothing else."""
    print(json.dumps({"peak_rss_kib": peak_rss_kib()}), flush=True)


async def watch_child(kubeconfig: Path, watch_events: int) -> None:
    """List and watch; print a report after the list, then another after `watch_events` watch events."""
    api_client = build_api_client(config_file=kubeconfig)
    stream = PodStream(api_client, settings=WatchSettings(watch_timeout_seconds=3600))
    pods = SeenPods()
    terminations = seen = 0
    collections_before = [stats["collections"] for stats in gc.get_stats()]
    listed_cpu = 0.0
    started_cpu = watch_started_cpu = time.process_time()
    watch_started = time.perf_counter()
    async with asyncio.timeout(CHILD_TIMEOUT_SECONDS):
        async for batch in stream.batches():  # as the alert service's term reads it
            for item in batch:
                if isinstance(item, Synced):
                    pods.forget_missing(item.uids, item.covers)
                    if not listed_cpu:
                        listed_cpu = time.process_time() - started_cpu
                        report = {"synced": len(item.uids), "rss_kib": peak_rss_kib(), "list_cpu": listed_cpu}
                        print(json.dumps(report), flush=True)
                        if watch_events == 0:
                            break
                        # The driver writes every change now; they wait in the apiserver's watch queue
                        # (this process reads nothing more while it waits), so the watch phase below runs
                        # at the watcher's own pace whatever the cluster's size, not at the pace of the
                        # writes.
                        await asyncio.to_thread(sys.stdin.readline)
                        watch_started_cpu, watch_started = time.process_time(), time.perf_counter()
                        collections_before = [stats["collections"] for stats in gc.get_stats()]
                    continue
                terminations += watcher_step(pods, item)
                if listed_cpu:
                    seen += 1
                    if seen >= watch_events:
                        break
            if (listed_cpu and watch_events == 0) or (watch_events and seen >= watch_events):
                break
    watch_cpu = time.process_time() - watch_started_cpu
    collections = [stats["collections"] for stats in gc.get_stats()]
    watch_wall = time.perf_counter() - watch_started
    await stream.aclose()
    result = {
        "peak_rss_kib": peak_rss_kib(),
        "cached_pods": len(pods),
        "watch_events": seen,
        "terminations": terminations,
        "watch_cpu": watch_cpu,
        "watch_wall": watch_wall,
        "collections": [
            after - before for after, before in zip(collections, collections_before, strict=True)
        ],
    }
    print(json.dumps(result), flush=True)


# --- the driver -----------------------------------------------------------------------------------------


def pod(index: int) -> dict[str, Any]:
    """Pod `index` as created; the same every time, so the driver never holds the whole cluster."""
    return new_pod(index, 0, random.Random(index))


def changed(index: int, rounds: int) -> dict[str, Any]:
    """Pod `index` after `rounds` watch-phase changes: a new exit each round for 2 % of the pods,
    readiness churn for the others.

    Every round brings each crashing pod one exit, so the watch events carry the same share of exits
    (2 %) at every cluster size and the sizes are compared on the same work. With the kubelet's own
    three-step cycle (`crash_step`: exit, back-off, restart) one round at 100,000 pods held 2,000 exits
    in its 100,000 events, ten rounds at 10,000 pods only 800, and the per-event figures differed by
    that mix as much as by the size."""
    changed_pod = pod(index)
    step = exit_again if index % CRASH_EVERY == 0 else churn
    for round_number in range(rounds):
        step(
            changed_pod, 60.0 * (round_number + 1) + index * 0.001, random.Random(index * 1000 + round_number)
        )
    return changed_pod


def exit_again(crashing: dict[str, Any], clock: float, rng: random.Random) -> None:
    """The first container exits once more: the previous exit moves to `lastState` and the restart is
    counted, as the kubelet shows a crash-looping container after its next instance died."""
    container = crashing["status"]["containerStatuses"][0]
    if "terminated" in container["state"]:
        container["lastState"] = {"terminated": container["state"]["terminated"]}
        container["restartCount"] += 1
        container["state"] = {"running": {"startedAt": stamp(clock - 30.0)}}
    crash_step(crashing, clock, rng)  # running → terminated: a new exit code and finishedAt


def post(url: str, objects: list[dict[str, Any]]) -> None:
    """Create or replace objects in the standalone fake through its test control endpoint."""
    request = urllib.request.Request(  # a local http:// URL the fake printed
        f"{url}/_fake/objects?echo=false",
        data=json.dumps(objects).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        response.read()


def batches(pods: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for one in pods:
        batch.append({"kind": "Pod", **one})
        if len(batch) == POST_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def start_fake(folder: Path) -> tuple[subprocess.Popen[str], str, Path]:
    kubeconfig = folder / "kubeconfig"
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.kube_api", "--port", "0", "--kubeconfig", str(kubeconfig)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert fake.stdout is not None
    line = fake.stdout.readline()
    if "listening on" not in line:
        fake.kill()
        raise RuntimeError(f"the fake Kubernetes API did not start: {line!r}")
    return fake, line.rsplit(" ", 1)[-1].strip(), kubeconfig


def child(*arguments: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "bench.watch_memory", "--child", *arguments]
    return subprocess.Popen(command, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def read_json(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("a benchmark child process ended without reporting")
    value: dict[str, Any] = json.loads(line)
    return value


def measure(size: int, rounds: int) -> dict[str, Any]:
    """List a cluster of `size` pods in fresh processes, then watch `rounds` changes of every pod."""
    with tempfile.TemporaryDirectory() as folder:
        fake, url, kubeconfig = start_fake(Path(folder))
        try:
            for batch in batches(pod(index) for index in range(size)):
                post(url, batch)
            watcher = child("watch", str(kubeconfig), str(size * rounds))
            listed = read_json(watcher)
            for round_number in range(1, rounds + 1):
                for batch in batches(changed(index, round_number) for index in range(size)):
                    post(url, batch)
            assert watcher.stdin is not None
            watcher.stdin.write("go\n")  # every change is queued in the fake's watch: consume them now
            watcher.stdin.flush()
            result = read_json(watcher)
            watcher.wait(60)
        finally:
            fake.terminate()
            fake.wait(30)
    return {**listed, **result}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000], help="cluster sizes (default 10k 100k)"
    )
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child is not None:
        if options.child[:1] == ["idle"]:
            idle_child()
        else:
            asyncio.run(watch_child(Path(options.child[1]), int(options.child[2])))
        return

    mib = 1024.0
    baseline = read_json(child("idle"))["peak_rss_kib"] / mib
    figure("idle interpreter with the watcher's imports (baseline)", baseline, "MiB peak RSS")
    rates: list[float] = []
    events = max(options.sizes)  # the same number of watch events at every size
    for size in options.sizes:
        result = measure(size, rounds=max(1, events // size))
        list_rate = result["synced"] / result["list_cpu"]
        watch_rate = result["watch_events"] / result["watch_cpu"]
        rates.append(watch_rate)
        print(
            f"   {size:,} pods: {result['synced']:,} listed, then {result['watch_events']:,} watch events; "
            f"{result['cached_pods']:,} pods cached, {result['terminations']} terminations detected",
            flush=True,
        )
        figure(f"{size:,} pods: list", list_rate, "pods per CPU-second")
        figure(f"{size:,} pods: watch + detect", watch_rate, "events per CPU-second")
        young, middle, full = result["collections"]
        print(
            f"   {size:,} pods: garbage collections during the watch: "
            f"{young} young, {middle} middle, {full} full",
            flush=True,
        )
        busy = result["watch_cpu"] / result["watch_wall"]
        figure(f"{size:,} pods: watcher busy during the watch", busy * 100, "% (CPU time / wall time)")
        figure(f"{size:,} pods: peak RSS after the list", result["rss_kib"] / mib, "MiB")
        peak = result["peak_rss_kib"] / mib
        met = peak <= TARGET_MIB
        figure(f"{size:,} pods: peak RSS", peak, "MiB", target=f"≤ {TARGET_MIB:g} MiB", met=met)
        figure(f"{size:,} pods: above the baseline", peak - baseline, "MiB")
    if len(rates) > 1:
        ratio = rates[-1] / rates[0]
        figure(
            f"watch events per CPU-second, {options.sizes[-1]:,} vs {options.sizes[0]:,} pods",
            ratio,
            "×",
            target=f"≥ {TARGET_RATE_RATIO:g}×",
            met=ratio >= TARGET_RATE_RATIO,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
