"""Signed `/exitcode` requests over HTTP: the bot against a minimal Bolt app that only acks.

Same run, same aiohttp client, same request mix, interleaved in rounds (alternating which goes first).
Each server runs in its own process (`bench._slash_servers`) and the client in this one. Every request
is signed like Slack's; every answer is checked (HTTP 200; the bot's first answer for real content).

Two views of throughput: wall-clock requests per second with 8 requests in flight (what a client
sees, but disturbed by anything else running on the machine), and server CPU time per request read
from /proc (what a single-threaded asyncio server can sustain, and far steadier on a shared machine).
Latency: percentiles one request at a time (what one engineer sees) and with 8 in flight.

The request mix repeats ten common queries, as real use does, so the bot's cache of rendered answers
is warm; a separate figure sends never-repeated queries (every answer parsed, looked up and rendered
afresh) to show the uncached cost.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench._slash_servers import SIGNING_SECRET
from bench.figures import figure, median, percentile
from tests.fakes.slack_signing import signed_headers, slash_command_body

REPO_ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["137", "143", "1", "OOMKilled", "sigsegv", "-1", "CrashLoopBackOff", "137 share", "help", "foo"]
ROUNDS = 8
REQUESTS_PER_ROUND = 2000
CONCURRENCY = 8
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    requests: int = 0
    latencies: list[float] = field(default_factory=list)


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def start_server(which: str) -> Server:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench._slash_servers", which],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return Server(process, f"http://127.0.0.1:{port}/slack/events")


async def one(session: aiohttp.ClientSession, url: str, query: str, sample: Sample) -> None:
    body = slash_command_body(query)
    headers = signed_headers(SIGNING_SECRET, body)
    started = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        text = await response.text()
    sample.latencies.append(time.perf_counter() - started)
    if response.status != 200:
        raise RuntimeError(f"{url} answered {response.status}: {text[:200]}")


async def burst(
    session: aiohttp.ClientSession,
    server: Server,
    sample: Sample,
    requests: int,
    concurrency: int,
    queries: Iterator[str] | None = None,
) -> None:
    source = queries if queries is not None else itertools.cycle(QUERIES)
    queue = [next(source) for _ in range(requests)]

    async def worker() -> None:
        while queue:
            await one(session, server.url, queue.pop(), sample)

    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sample.seconds += time.perf_counter() - started
    sample.cpu_seconds += server.cpu_seconds() - cpu_before
    sample.requests += requests


async def measure(servers: dict[str, Server]) -> None:
    loaded = {name: Sample() for name in servers}
    single = {name: Sample() for name in servers}
    distinct = Sample()
    round_ratios: list[float] = []
    # Never-repeated queries (-1000000, -999999, …): every answer is computed and rendered afresh.
    fresh = (str(n) for n in itertools.count(-1_000_000))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
        body = slash_command_body("137")
        async with session.post(
            servers["bot"].url, data=body, headers=signed_headers(SIGNING_SECRET, body)
        ) as check:
            assert "SIGKILL" in json.loads(await check.text())["text"]
        for server in servers.values():  # warm-up: connections, Bolt's auth.test, code paths
            await burst(session, server, Sample(), 500, CONCURRENCY)
        for round_number in range(ROUNDS):
            order = list(servers) if round_number % 2 == 0 else list(reversed(servers))
            spent_before = {name: loaded[name].seconds for name in servers}
            for name in order:
                await burst(session, servers[name], loaded[name], REQUESTS_PER_ROUND, CONCURRENCY)
                await burst(session, servers[name], single[name], REQUESTS_PER_ROUND // 10, 1)
            await burst(session, servers["bot"], distinct, REQUESTS_PER_ROUND, CONCURRENCY, fresh)
            spent = {name: loaded[name].seconds - spent_before[name] for name in servers}
            round_ratios.append(spent["baseline"] / spent["bot"])  # same request count: time ratio

    def cpu_per_request(sample: Sample) -> float:
        return sample.cpu_seconds / sample.requests

    wall_ratio = median(round_ratios)  # per-round ratios cancel drift in machine load between rounds
    cpu_ratio = cpu_per_request(loaded["baseline"]) / cpu_per_request(loaded["bot"])
    uncached_ratio = cpu_per_request(loaded["baseline"]) / cpu_per_request(distinct)
    rate = {name: s.requests / s.seconds for name, s in loaded.items()}
    figure(f"bot throughput, wall clock ({CONCURRENCY} in flight)", rate["bot"], "requests/s")
    figure(f"ack-only Bolt app, wall clock ({CONCURRENCY} in flight)", rate["baseline"], "requests/s")
    figure("wall-clock ratio bot / ack-only (median of rounds)", wall_ratio, "")
    figure("  lowest / highest round", min(round_ratios), f"/ {max(round_ratios):.3f}")
    figure("server CPU per request, bot", cpu_per_request(loaded["bot"]) * 1e6, "µs")
    figure("server CPU per request, ack-only", cpu_per_request(loaded["baseline"]) * 1e6, "µs")
    figure(
        "throughput ratio bot / ack-only (server CPU)", cpu_ratio, "", target=">= 0.8", met=cpu_ratio >= 0.8
    )
    figure("server CPU per request, bot, every query new", cpu_per_request(distinct) * 1e6, "µs")
    figure("  ratio to ack-only (server CPU)", uncached_ratio, "", target=">= 0.8", met=uncached_ratio >= 0.8)
    for label, samples in (("one at a time", single), (f"{CONCURRENCY} in flight", loaded)):
        p99 = percentile(samples["bot"].latencies, 99) * 1000
        figure(f"bot latency p50, {label}", percentile(samples["bot"].latencies, 50) * 1000, "ms")
        figure(f"bot latency p99, {label}", p99, "ms", target="< 50 ms", met=p99 < 50)
        figure(f"ack-only latency p99, {label}", percentile(samples["baseline"].latencies, 99) * 1000, "ms")


def main() -> None:
    servers = {"bot": start_server("bot"), "baseline": start_server("baseline")}
    try:
        asyncio.run(measure(servers))
    finally:
        for server in servers.values():
            if server.process.stdin is not None:
                server.process.stdin.close()
            server.process.wait(timeout=10)


if __name__ == "__main__":
    main()
