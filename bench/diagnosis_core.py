"""The diagnosis core: `diagnose()` over 10,000 recorded pods, against decoding the same pods.

The pods are the recorded scenarios (`tests/fixtures/scenarios/*.json`: every case of the engine, with
events, owners and log tails) under varied names and uids, each stored as the JSON text an apiserver
would send. Each pass reads the same documents:

- baseline: `json.loads` of every document (pod, events, owners, logs);
- bot path: `json.loads` + `diagnose()`;
- core alone: `diagnose()` on already-decoded documents.

Targets: the core alone at ≥ 5,000 pods/s, and at ≥ 0.5× the rate of `json.loads` of the same
documents (issue 11: diagnosing a pod may cost at most twice decoding it). The machine is shared, so the
three measurements are interleaved pass by pass and each keeps its best pass: a burst of load from
elsewhere hits all three alike instead of whichever happened to run then.

Run: `.venv/bin/python -m bench.diagnosis_core [--pods N] [--passes N]`.
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

from bench.figures import figure, median, percentile
from bot.diagnosis.engine import diagnose
from bot.diagnosis.evidence import PodEvidence
from bot.knowledge import KnowledgeBase, load_knowledge

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "scenarios"
PODS = 10_000
PASSES = 5
TARGET_PODS_PER_SECOND = 5_000
TARGET_RATIO_TO_DECODE = 0.5
SLICE = 250


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


def best_rates(works: dict[str, Callable[[], int]], passes: int = PASSES) -> dict[str, float]:
    """Items per second of each work's fastest pass, the works interleaved pass by pass."""
    best = dict.fromkeys(works, float("inf"))
    items = dict.fromkeys(works, 0)
    for _ in range(passes):
        for name, work in works.items():
            started = time.perf_counter()
            items[name] = work()
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: items[name] / best[name] for name in works}


def measure(
    kb: KnowledgeBase, documents: list[str], moments: list[datetime], passes: int = PASSES
) -> dict[str, float]:
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

    return best_rates(
        {"decode": decode_only, "decode_diagnose": decode_and_diagnose, "diagnose": diagnose_only}, passes
    )


def paired_ratios(
    kb: KnowledgeBase, documents: list[str], moments: list[datetime], passes: int, size: int = SLICE
) -> list[float]:
    """`json.loads` time / `diagnose()` time (the same rate ratio) for each slice, timed back to back."""
    pairs = [(json.loads(text), moment) for text, moment in zip(documents, moments, strict=True)]
    ratios: list[float] = []
    clock = time.perf_counter
    for turn in range(passes * max(1, len(documents) // size)):
        start = (turn * size) % len(documents)
        texts, decoded = documents[start : start + size], pairs[start : start + size]
        spent: dict[str, float] = {}
        for work in ("decode", "diagnose") if turn % 2 == 0 else ("diagnose", "decode"):
            started = clock()
            if work == "decode":
                for text in texts:
                    json.loads(text)
            else:
                for document, moment in decoded:
                    diagnose(evidence_of(document), kb, moment)
            spent[work] = clock() - started
        ratios.append(spent["decode"] / spent["diagnose"])
    return ratios


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.diagnosis_core", description=__doc__)
    parser.add_argument("--pods", type=int, default=PODS, help=f"recorded pods per pass (default {PODS:,})")
    parser.add_argument("--passes", type=int, default=PASSES, help=f"passes of each (default {PASSES})")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    kb = load_knowledge()
    documents, moments = recorded_pods(args.pods)
    size = sum(len(text) for text in documents) / len(documents)
    print(f"   {len(documents):,} recorded pods, {size / 1024:.1f} KiB of JSON each on average", flush=True)
    rates = measure(kb, documents, moments, args.passes)
    figure("baseline json.loads", rates["decode"], "pods/s")
    figure("json.loads + diagnose", rates["decode_diagnose"], "pods/s")
    figure(
        "diagnose alone",
        rates["diagnose"],
        "pods/s",
        target=f">= {TARGET_PODS_PER_SECOND:,} pods/s",
        met=rates["diagnose"] >= TARGET_PODS_PER_SECOND,
    )
    figure("diagnose alone / json.loads, best passes (rate)", rates["diagnose"] / rates["decode"], "x")
    ratios = paired_ratios(kb, documents, moments, args.passes)
    ratio = median(ratios)
    print(
        f"   per-slice ratios ({len(ratios)} slices of {SLICE}): quartiles "
        f"{percentile(ratios, 25):.3f} / {ratio:.3f} / {percentile(ratios, 75):.3f}"
    )
    figure(
        "diagnose alone / json.loads (rate), median of back-to-back slices",
        ratio,
        "x",
        target=f">= {TARGET_RATIO_TO_DECODE}x",
        met=ratio >= TARGET_RATIO_TO_DECODE,
    )


if __name__ == "__main__":
    main()
