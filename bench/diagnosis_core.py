"""The diagnosis core: `diagnose()` over 10,000 recorded pods, against decoding the same pods.

The pods are the recorded scenarios (`tests/fixtures/scenarios/*.json`: every case of the engine, with
events, owners and log tails) under varied names and uids, each stored as the JSON text an apiserver
would send. Each pass reads the same documents:

- baseline: `json.loads` of every document (pod, events, owners, logs);
- bot path: `json.loads` + `diagnose()`;
- core alone: `diagnose()` on already-decoded documents (the figure the ≥ 5,000 pods/s target is about).

Run: `.venv/bin/python -m bench.diagnosis_core [--pods N]`. Best of three passes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.figures import figure
from bot.diagnosis.engine import diagnose
from bot.diagnosis.evidence import PodEvidence
from bot.knowledge import KnowledgeBase, load_knowledge

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "scenarios"
PODS = 10_000
PASSES = 3
TARGET_PODS_PER_SECOND = 5_000


def recorded_pods(count: int) -> tuple[list[str], list[datetime]]:
    """`count` scenario documents as JSON text, renamed so no two pods are alike, with their capture time."""
    scenarios = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(SCENARIO_DIR.glob("*.json"))]
    documents: list[str] = []
    moments: list[datetime] = []
    for index in range(count):
        scenario = scenarios[index % len(scenarios)]
        document = {key: scenario[key] for key in ("pod", "events", "owners", "logs")}
        text = json.dumps(document)
        name = scenario["pod"]["metadata"]["name"]
        uid = scenario["pod"]["metadata"]["uid"]
        text = text.replace(name, f"{name[:40]}-{index:05d}").replace(uid, f"{uid[:-5]}{index:05d}")
        documents.append(text)
        moments.append(datetime.fromisoformat(scenario["captured_at"]))
    return documents, moments


def evidence_of(document: dict[str, Any]) -> PodEvidence:
    return PodEvidence(
        pod=document["pod"],
        events=tuple(document["events"]),
        owners=tuple(document["owners"]),
        log_tails=document["logs"],
    )


def best_rate(work: Callable[[], int]) -> float:
    """Items per second of the fastest of `PASSES` runs."""
    best = float("inf")
    items = 0
    for _ in range(PASSES):
        started = time.perf_counter()
        items = work()
        best = min(best, time.perf_counter() - started)
    return items / best


def measure(kb: KnowledgeBase, documents: list[str], moments: list[datetime]) -> dict[str, float]:
    decoded = [json.loads(text) for text in documents]
    pairs = list(zip(decoded, moments, strict=True))

    def decode_only() -> int:
        for text in documents:
            json.loads(text)
        return len(documents)

    def decode_and_diagnose() -> int:
        for text, moment in zip(documents, moments, strict=True):
            diagnose(evidence_of(json.loads(text)), kb, moment)
        return len(documents)

    def diagnose_only() -> int:
        for document, moment in pairs:
            diagnose(evidence_of(document), kb, moment)
        return len(pairs)

    return {
        "decode": best_rate(decode_only),
        "decode_diagnose": best_rate(decode_and_diagnose),
        "diagnose": best_rate(diagnose_only),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.diagnosis_core", description=__doc__)
    parser.add_argument("--pods", type=int, default=PODS, help=f"recorded pods per pass (default {PODS:,})")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    kb = load_knowledge()
    documents, moments = recorded_pods(args.pods)
    size = sum(len(text) for text in documents) / len(documents)
    print(f"   {len(documents):,} recorded pods, {size / 1024:.1f} KiB of JSON each on average", flush=True)
    rates = measure(kb, documents, moments)
    figure("baseline json.loads", rates["decode"], "pods/s")
    figure("json.loads + diagnose", rates["decode_diagnose"], "pods/s")
    figure(
        "diagnose alone",
        rates["diagnose"],
        "pods/s",
        target=f">= {TARGET_PODS_PER_SECOND:,} pods/s",
        met=rates["diagnose"] >= TARGET_PODS_PER_SECOND,
    )
    figure("diagnose cost / json.loads cost", rates["decode"] / rates["diagnose"], "x")


if __name__ == "__main__":
    main()
