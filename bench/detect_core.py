"""Watch → detection on the hot path: `detect_terminations` over a recorded stream of pod watch events.

A busy cluster's pod watch is mostly noise: readiness flips, condition timestamps, resourceVersion
bumps. The detector runs on every event, so what matters is its cost next to the unavoidable part,
decoding the JSON line. The stream (default 100,000 events over 2,000 pods, about 2 % of them crash-loop
transitions) is written to a temporary file once; each pass reads the same lines:

- baseline: `json.loads` of every line;
- bot path: `json.loads` + `detect_terminations(previous, pod)`, keeping the full previous pod;
- bot path, compact cache: the same, keeping `compact_previous(pod)` as the watcher's cache would.

Run: `.venv/bin/python -m bench.detect_core [--events N]`. Figures are ratios to the baseline of the
same run, best of three passes.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.figures import figure
from bot.alerting import compact_previous, detect_terminations

Pod = dict[str, Any]
T0 = 1_767_225_600.0
PODS = 2_000
NAMESPACES = 100
PASSES = 3


def stamp(offset: float) -> str:
    return datetime.fromtimestamp(T0 + offset, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_pod(index: int, generation: int, rng: random.Random) -> Pod:
    """A realistic running pod (no managedFields), about 2.5 KB of JSON."""
    namespace = f"team-{index % NAMESPACES:03d}"
    app = f"svc-{index % 400:03d}"
    template_hash = f"{rng.randrange(16**9):09x}"
    name = f"{app}-{template_hash}-{rng.randrange(36**5):05x}"
    containers = ["app", "proxy"] if index % 3 == 0 else ["app"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"{index:08x}-{generation:04x}-4000-8000-{rng.randrange(16**12):012x}",
            "resourceVersion": str(rng.randrange(10**6, 10**7)),
            "creationTimestamp": stamp(0),
            "labels": {"app": app, "pod-template-hash": template_hash, "team": namespace},
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{app}-{template_hash}",
                    "uid": f"rs-{index:08x}",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": container,
                    "image": f"registry.example.com/{namespace}/{app}-{container}:1.{index % 20}.0",
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {
                        "limits": {"memory": "512Mi"},
                        "requests": {"cpu": "100m", "memory": "256Mi"},
                    },
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 10},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                }
                for container in containers
            ],
            "restartPolicy": "Always",
            "nodeName": f"node-{index % 50:02d}",
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
        },
        "status": {
            "phase": "Running",
            "hostIP": f"10.0.{index % 50}.10",
            "podIP": f"10.1.{index // 250}.{index % 250}",
            "startTime": stamp(0),
            "qosClass": "Burstable",
            "conditions": [
                {"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp(0)}
                for kind in (
                    "PodReadyToStartContainers",
                    "Initialized",
                    "Ready",
                    "ContainersReady",
                    "PodScheduled",
                )
            ],
            "containerStatuses": [
                {
                    "name": container,
                    "image": f"registry.example.com/{namespace}/{app}-{container}:1.{index % 20}.0",
                    "imageID": f"registry.example.com/{app}@sha256:{rng.randrange(16**64):064x}",
                    "containerID": f"containerd://{rng.randrange(16**64):064x}",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": stamp(0)}},
                    "lastState": {},
                }
                for container in containers
            ],
        },
    }


def churn(pod: Pod, clock: float, rng: random.Random) -> None:
    """What most watch events are: a condition flips or a probe result changes readiness."""
    status = pod["status"]
    condition = status["conditions"][rng.randrange(len(status["conditions"]))]
    condition["lastTransitionTime"] = stamp(clock)
    container = status["containerStatuses"][rng.randrange(len(status["containerStatuses"]))]
    container["ready"] = not container["ready"]


def crash_step(pod: Pod, clock: float, rng: random.Random) -> None:
    """Advance one container through the kubelet's crash loop: exit → back-off → restart."""
    container = pod["status"]["containerStatuses"][0]
    state = container["state"]
    if "running" in state:
        code = rng.choice((1, 2, 137, 139))
        container["state"] = {
            "terminated": {
                "exitCode": code,
                "reason": "OOMKilled" if code == 137 else "Error",
                "startedAt": state["running"]["startedAt"],
                "finishedAt": stamp(clock),
                "containerID": container["containerID"],
            }
        }
    elif "terminated" in state:
        container["lastState"] = {"terminated": state["terminated"]}
        container["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}
    else:
        container["restartCount"] += 1
        container["state"] = {"running": {"startedAt": stamp(clock)}}


def record_stream(path: Path, events: int, seed: int = 42) -> int:
    """Write `events` watch events (JSON lines) to `path`; returns how many pods crashed (exits)."""
    rng = random.Random(seed)
    pods = [new_pod(index, 0, rng) for index in range(PODS)]
    generations = [0] * PODS
    crashers = set(rng.sample(range(PODS), PODS // 50))
    exits = 0
    with path.open("w", encoding="utf-8") as out:
        for number in range(events):
            clock = number * 0.05
            index = rng.randrange(PODS)
            pod = pods[index]
            kind = "MODIFIED"
            roll = rng.random()
            if index in crashers and roll < 0.5:
                before = "running" in pod["status"]["containerStatuses"][0]["state"]
                crash_step(pod, clock, rng)
                exits += before
            elif roll < 0.005:
                out.write(json.dumps({"type": "DELETED", "object": pod}, separators=(",", ":")) + "\n")
                generations[index] += 1
                pod = pods[index] = new_pod(index, generations[index], rng)
                kind = "ADDED"
            else:
                churn(pod, clock, rng)
            pod["metadata"]["resourceVersion"] = str(int(pod["metadata"]["resourceVersion"]) + 1)
            out.write(json.dumps({"type": kind, "object": pod}, separators=(",", ":")) + "\n")
    return exits


def lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as stream:
        yield from stream


def baseline(path: Path) -> int:
    count = 0
    for line in lines(path):
        json.loads(line)
        count += 1
    return count


def bot_path(path: Path, *, compact: bool) -> int:
    """The watcher's per-event work; returns the number of terminations found."""
    cache: dict[str, Any] = {}
    found = 0
    for line in lines(path):
        event = json.loads(line)
        pod = event["object"]
        uid = pod["metadata"]["uid"]
        if event["type"] == "DELETED":
            cache.pop(uid, None)
            continue
        found += len(detect_terminations(cache.get(uid), pod))
        cache[uid] = compact_previous(pod) if compact else pod
    return found


def best_rates(works: dict[str, Callable[[], object]], events: int) -> dict[str, tuple[float, object]]:
    """Events per second of each work, best of `PASSES`, passes interleaved so drift hits all alike."""
    best: dict[str, tuple[float, object]] = {name: (0.0, None) for name in works}
    for _ in range(PASSES):
        for name, work in works.items():
            started = time.perf_counter()
            result = work()
            rate = events / (time.perf_counter() - started)
            if rate > best[name][0]:
                best[name] = (rate, result)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--events", type=int, default=100_000, help="watch events to record (default 100,000)"
    )
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pod-watch.jsonl"
        exits = record_stream(path, options.events)
        total = sum(1 for _ in lines(path))
        size_mib = path.stat().st_size / 2**20
        print(f"   stream: {total:,} events, {size_mib:,.1f} MiB, {exits} container exits", flush=True)
        rates = best_rates(
            {
                "baseline": lambda: baseline(path),
                "full": lambda: bot_path(path, compact=False),
                "compact": lambda: bot_path(path, compact=True),
            },
            total,
        )
    base_rate = rates["baseline"][0]
    (full_rate, found_full), (compact_rate, found_compact) = rates["full"], rates["compact"]
    figure("json.loads baseline", base_rate, "events/s")
    figure("json.loads + detect (full previous)", full_rate, "events/s")
    figure("json.loads + detect (compact previous)", compact_rate, "events/s")
    figure("detect overhead, full previous", 100 * (base_rate / full_rate - 1), "% over json.loads")
    figure("detect overhead, compact previous", 100 * (base_rate / compact_rate - 1), "% over json.loads")
    print(f"   terminations found: {found_full} (full), {found_compact} (compact), exits recorded: {exits}")


if __name__ == "__main__":
    main()
