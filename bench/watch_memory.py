"""Memory of the watcher: 10,000 pods listed and watched, peak RSS against an idle interpreter.

Three processes, so each one's memory is its own:
- the fake apiserver (`python -m tests.fakes.kube_api`), loaded with 10,000 realistic pods
  (`bench.detect_core.new_pod`: ~2.5 KB of JSON each, 100 namespaces);
- the **watcher**: `PodStream` over all namespaces (paged list of 500, then the watch) feeding
  `detect_terminations` with a `compact_previous` cache, the way the alert service consumes it; after
  the list it receives `--churn` more events (readiness churn, and crash-loop steps for 2 % of the pods)
  and reports its peak RSS (`VmHWM`);
- the **baseline**: an idle interpreter that imported the same modules, so the figure above it is what
  listing and watching cost.

Target: the watcher's peak RSS ≤ 150 MiB. Run: `.venv/bin/python -m bench.watch_memory [--pods N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.detect_core import churn, crash_step, new_pod
from bench.figures import figure
from bot.alerting import compact_previous, detect_terminations
from bot.kube.client import build_api_client
from bot.kube.watch import PodStream, Synced

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_MIB = 150.0
POST_BATCH = 500
CHILD_TIMEOUT_SECONDS = 600.0


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


async def watch_child(kubeconfig: Path, churn_events: int) -> None:
    """List and watch; print `{"synced": …}` after the list, then the result after `churn_events`."""
    api_client = build_api_client(config_file=kubeconfig)
    stream = PodStream(api_client)
    cache: dict[str, Any] = {}
    terminations = seen = 0
    synced_at: float | None = None
    started = time.perf_counter()
    async with asyncio.timeout(CHILD_TIMEOUT_SECONDS):
        async for item in stream:
            if isinstance(item, Synced):
                for uid in [uid for uid in cache if uid not in item.uids]:
                    del cache[uid]
                if synced_at is None:
                    synced_at = time.perf_counter()
                    report = {"synced": len(item.uids), "rss_kib": peak_rss_kib()}
                    print(json.dumps(report), flush=True)
                    if churn_events == 0:
                        break
                continue
            pod = item.pod
            uid = pod["metadata"]["uid"]
            if item.type == "DELETED":
                cache.pop(uid, None)
            else:
                terminations += len(detect_terminations(cache.get(uid), pod))
                cache[uid] = compact_previous(pod)
            if synced_at is not None:
                seen += 1
                if seen >= churn_events:
                    break
    await stream.aclose()
    result = {
        "peak_rss_kib": peak_rss_kib(),
        "cached_pods": len(cache),
        "watch_events": seen,
        "terminations": terminations,
        "list_seconds": (synced_at or started) - started,
    }
    print(json.dumps(result), flush=True)


# --- the driver -----------------------------------------------------------------------------------------


def post(url: str, objects: list[dict[str, Any]]) -> None:
    """Create or replace objects in the standalone fake through its test control endpoint."""
    request = urllib.request.Request(  # a local http:// URL the fake printed
        f"{url}/_fake/objects",
        data=json.dumps(objects).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()


def post_all(url: str, pods: list[dict[str, Any]]) -> None:
    for start in range(0, len(pods), POST_BATCH):
        post(url, [{"kind": "Pod", **pod} for pod in pods[start : start + POST_BATCH]])


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
    return subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)


def read_json(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("a benchmark child process ended without reporting")
    value: dict[str, Any] = json.loads(line)
    return value


def churned(pods: list[dict[str, Any]], rounds: int, rng: random.Random) -> list[list[dict[str, Any]]]:
    """`rounds` updates of every pod, as batches to post: readiness churn, crash-loop steps for 2 %."""
    crashers = set(rng.sample(range(len(pods)), max(1, len(pods) // 50)))
    batches: list[list[dict[str, Any]]] = []
    for round_number in range(rounds):
        for index, pod in enumerate(pods):
            clock = 60.0 * (round_number + 1) + index * 0.001
            if index in crashers:
                crash_step(pod, clock, rng)
            else:
                churn(pod, clock, rng)
        batches.append(json.loads(json.dumps(pods)))  # a snapshot of this round
    return batches


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pods", type=int, default=10_000, help="pods in the cluster (default 10,000)")
    parser.add_argument("--rounds", type=int, default=2, help="watch updates per pod after the list")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child is not None:
        if options.child[:1] == ["idle"]:
            idle_child()
        else:
            asyncio.run(watch_child(Path(options.child[1]), int(options.child[2])))
        return

    rng = random.Random(42)
    pods = [new_pod(index, 0, rng) for index in range(options.pods)]
    with tempfile.TemporaryDirectory() as folder:
        fake, url, kubeconfig = start_fake(Path(folder))
        try:
            post_all(url, pods)
            baseline = read_json(child("idle"))["peak_rss_kib"]
            updates = churned(pods, options.rounds, rng)
            watcher = child("watch", str(kubeconfig), str(options.pods * options.rounds))
            listed = read_json(watcher)
            for snapshot in updates:
                post_all(url, snapshot)
            result = read_json(watcher)
            watcher.wait(60)
        finally:
            fake.terminate()
            fake.wait(30)
    mib = 1024.0
    print(
        f"   {listed['synced']:,} pods listed in {result['list_seconds']:.1f} s, then "
        f"{result['watch_events']:,} watch events; {result['cached_pods']:,} pods cached, "
        f"{result['terminations']} terminations detected",
        flush=True,
    )
    figure("idle interpreter with the watcher's imports (baseline)", baseline / mib, "MiB peak RSS")
    figure("watcher after the list", listed["rss_kib"] / mib, "MiB peak RSS")
    peak = result["peak_rss_kib"] / mib
    figure("watcher peak", peak, "MiB RSS", target=f"≤ {TARGET_MIB:g} MiB", met=peak <= TARGET_MIB)
    figure("above the baseline", peak - baseline / mib, "MiB")


if __name__ == "__main__":
    main(sys.argv[1:])
