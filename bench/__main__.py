"""`make bench` = `python -m bench [NAME…]`: run the benchmarks and print their figures.

Every public module in `bench/` with a `main()` is a benchmark (`python -m bench explain_core` runs
one; `python -m bench.explain_core` too). Helpers are private (`_name.py`) or have no `main`.
Delivery under faults is `python -m bench faults` (`bench/faults.py`, never lose / never repeat); the
crash storm's pace is `python -m bench storm`.
Benchmarks print figures, each next to a baseline measured in the same run, and never fail the
build: timing goals are judged by reading the figures (the README records them with the command
that produced them), not asserted.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def available() -> dict[str, Callable[..., Any]]:
    """Benchmark name → its `main`, in name order."""
    here = str(Path(__file__).resolve().parent)
    found: dict[str, Callable[..., Any]] = {}
    for module_info in sorted(pkgutil.iter_modules([here]), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{module_info.name}")
        entry = getattr(module, "main", None)
        if callable(entry):
            found[module_info.name] = entry
    return found


def run(entry: Callable[..., Any]) -> None:
    """Call `main()`, or `main([])` for benchmarks that take their own command-line arguments."""
    if inspect.signature(entry).parameters:
        entry([])
    else:
        entry()


def main(argv: list[str]) -> int:
    benchmarks = available()
    chosen = argv or list(benchmarks)
    unknown = [name for name in chosen if name not in benchmarks]
    if unknown:
        sys.stderr.write(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(benchmarks)}\n")
        return 2
    for name in chosen:
        print(f"== {name} ==", flush=True)
        started = time.perf_counter()
        run(benchmarks[name])
        print(f"   ({time.perf_counter() - started:.1f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
