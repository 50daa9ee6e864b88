"""One way to print a benchmark figure, so `make bench` output reads the same for every module."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def figure(name: str, value: float, unit: str, *, target: str | None = None, met: bool | None = None) -> None:
    """Print `name: value unit   [target …: met/MISSED]`."""
    line = f"   {name}: {value:,.3f} {unit}" if value < 100 else f"   {name}: {value:,.0f} {unit}"
    if target is not None:
        verdict = "" if met is None else (" met" if met else " MISSED")
        line += f"   [target {target}:{verdict}]"
    print(line, flush=True)


def percentile(samples: Sequence[float], pct: float) -> float:
    """The `pct` percentile (0–100) by the nearest-rank method, which never invents a value."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)
