"""Cold start of `exitcode-bot explain 137`, against `python -c pass` in the same run.

Each run is a fresh interpreter (no warm imports), interleaved with the baseline so both see the same
machine load. The goal (issue 11) is at most 3× the interpreter's own start: `explain` imports only what
it uses (no Slack, Kubernetes, aiohttp or Prometheus libraries; no pydantic-settings without a setting;
no PyYAML or pydantic once the knowledge cache is warm, which the warm-up run below fills, as any
earlier use would, along with the bytecode cache an installed package has; no argparse for a plain
`explain QUERY`). tests/test_cli.py and tests/test_knowledge_cache.py check those imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.figures import figure, median

RUNS = 15
REPO_ROOT = Path(__file__).resolve().parents[1]


def wall_time(command: list[str], cwd: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    # An installed package has its bytecode compiled (pip does it); a shell with PYTHONDONTWRITEBYTECODE
    # set would make every run here compile the bot's modules from source instead, measuring the
    # compiler (about a third of the cold start) rather than the start of an installed `exitcode-bot`.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cli = [sys.executable, "-m", "bot", "explain", "137"]
    baseline_cmd = [sys.executable, "-c", "pass"]
    with tempfile.TemporaryDirectory() as cwd:  # no .env from the repository
        wall_time(cli, cwd, env)  # warm the OS file cache and __pycache__, as any second run would be
        cli_times: list[float] = []
        baseline_times: list[float] = []
        for _ in range(RUNS):
            cli_times.append(wall_time(cli, cwd, env))
            baseline_times.append(wall_time(baseline_cmd, cwd, env))
    cold = median(cli_times)
    base = median(baseline_times)
    figure("exitcode-bot explain 137 (median)", cold, "s", target="<= 0.5 s", met=cold <= 0.5)
    figure("exitcode-bot explain 137 (slowest)", max(cli_times), "s")
    figure("python -c pass baseline (median)", base, "s")
    figure("explain 137 minus interpreter start", cold - base, "s")
    ratio = cold / base
    figure("ratio explain / python -c pass (medians)", ratio, "×", target="<= 3", met=ratio <= 3)


if __name__ == "__main__":
    main()
