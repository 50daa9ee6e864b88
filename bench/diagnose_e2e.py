"""`/exitcode pod` end to end: a signed slash command in, the diagnosis recorded at the `response_url` out.

The bot is `bot.wiring.SlackBot` in HTTP mode as production assembles it (Bolt, the diagnose service, the
official Kubernetes client reached through a kubeconfig), serving on a local port. The Kubernetes API is
the tests' fake server in a process of its own, holding every recorded scenario; Slack is the tests' fake
Web API (the `response_url` posts land there, timestamped on arrival).

One engineer asking at a time: requests are sent one after the other, each for the next scenario pod, and
latency is measured from sending the command to the diagnosis arriving at the `response_url`. The same
requests run with 20 ms of latency injected into every Kubernetes API call and, as the baseline in the
same run, with none; the two alternate in rounds so drift in machine load hits both alike. A diagnosis
makes several API calls, but the reads after the pod are concurrent, so the critical path is about two
round trips, which the "injected cost" figure shows.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import cycle
from pathlib import Path

import aiohttp

from bench.figures import figure, percentile
from bot.access import BotConfig
from bot.application.cluster import connect_cluster
from bot.knowledge import load_knowledge
from bot.kube.client import USER_AGENT
from bot.settings import Settings
from bot.web import start_web_server
from bot.wiring import SlackBot
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi
from tests.fakes.slack_signing import signed_headers, slash_command_body
from tests.fixtures.scenarios import SCENARIO_DIR, all_scenarios

REPO_ROOT = Path(__file__).resolve().parents[1]
SIGNING_SECRET = "bench-signing-secret-0123456789"
INJECTED_LATENCY = 0.020
ROUNDS = 5
REQUESTS_PER_ROUND = 50
WARM_UP = 20


class FakeCluster:
    """The fake Kubernetes API in its own process, driven through its `/_fake/` controls."""

    def __init__(self, kubeconfig: Path) -> None:
        scenarios = [arg for path in sorted(SCENARIO_DIR.glob("*.json")) for arg in ("--scenario", str(path))]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.kube_api", "--kubeconfig", str(kubeconfig), *scenarios],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip().rsplit(" ", 1)[-1]
        if not self.url.startswith("http"):
            raise RuntimeError(f"the fake Kubernetes API did not start: {self.url!r}")

    async def set_latency(self, session: aiohttp.ClientSession, seconds: float) -> None:
        async with session.post(f"{self.url}/_fake/latency", json={"seconds": seconds}) as response:
            response.raise_for_status()

    async def bot_calls(self, session: aiohttp.ClientSession, *, clear: bool) -> int:
        async with session.get(f"{self.url}/_fake/requests") as response:
            entries = await response.json()
        if clear:
            async with session.delete(f"{self.url}/_fake/requests") as response:
                response.raise_for_status()
        return sum(1 for entry in entries if str(entry["user_agent"]).startswith(USER_AGENT))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def targets() -> Iterator[tuple[str, str]]:
    """(`pod NS/NAME`, expected cause) for every scenario pod, round and round."""
    return cycle([(f"pod {s.namespace}/{s.pod_name}", s.expected_cause) for s in all_scenarios()])


async def ask(
    session: aiohttp.ClientSession, bot_url: str, slack: FakeSlackApi, text: str, cause: str
) -> float:
    """Seconds from sending the command to the diagnosis arriving at its response_url (checked)."""
    response_url = slack.response_url()
    body = slash_command_body(text, response_url=response_url)
    headers = signed_headers(SIGNING_SECRET, body)
    sent = time.monotonic()
    async with session.post(bot_url, data=body, headers=headers) as response:
        if response.status != 200:
            raise RuntimeError(f"the bot answered {response.status}: {await response.text()}")
    await slack.wait_until(lambda: any(p.url == response_url for p in slack.response_posts), timeout=10)
    post = next(p for p in slack.response_posts if p.url == response_url)
    if post.status != 200 or f"`{cause}`" not in json.dumps(post.body.get("blocks"), ensure_ascii=False):
        raise RuntimeError(f"unexpected reply to {text!r}: {str(post.body)[:300]}")
    return post.at - sent


async def measure(cluster: FakeCluster, kubeconfig: Path) -> None:
    async with FakeSlackApi() as slack:
        settings = Settings(
            _env_file=None,
            slack_bot_token=DEFAULT_BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.base_url,
            kube_timeout_seconds=10.0,
        )
        connection = connect_cluster(settings.kube_timeout_seconds, environ={"KUBECONFIG": str(kubeconfig)})
        bot = SlackBot(settings, load_knowledge(), cluster=connection, config=BotConfig())
        await bot.start()
        server = await start_web_server(bot.web_app, 0, "127.0.0.1")
        bot_url = f"http://127.0.0.1:{server.port}/slack/events"
        samples: dict[float, list[float]] = {0.0: [], INJECTED_LATENCY: []}
        calls = {0.0: 0, INJECTED_LATENCY: 0}
        requests = targets()
        try:
            async with aiohttp.ClientSession() as session:
                for latency in samples:  # warm-up: connections, code paths, Bolt's auth.test
                    await cluster.set_latency(session, latency)
                    for _ in range(WARM_UP):
                        await ask(session, bot_url, slack, *next(requests))
                await cluster.bot_calls(session, clear=True)
                for round_number in range(ROUNDS):
                    order = list(samples) if round_number % 2 == 0 else list(reversed(samples))
                    for latency in order:
                        await cluster.set_latency(session, latency)
                        for _ in range(REQUESTS_PER_ROUND):
                            samples[latency].append(await ask(session, bot_url, slack, *next(requests)))
                        calls[latency] += await cluster.bot_calls(session, clear=True)
        finally:
            await server.close()
            await bot.close()
            connection.close()
    report(samples, calls)


def report(samples: dict[float, list[float]], calls: dict[float, int]) -> None:
    baseline, injected = samples[0.0], samples[INJECTED_LATENCY]
    per_request = calls[INJECTED_LATENCY] / len(injected)
    p99 = percentile(injected, 99) * 1000
    figure("requests per configuration (one at a time)", len(injected), "")
    figure("Kubernetes API calls per diagnosis", per_request, "")
    figure("p50, 20 ms per API call", percentile(injected, 50) * 1000, "ms")
    figure("p99, 20 ms per API call", p99, "ms", target="< 200 ms", met=p99 < 200)
    figure("p50, no injected latency (baseline)", percentile(baseline, 50) * 1000, "ms")
    figure("p99, no injected latency (baseline)", percentile(baseline, 99) * 1000, "ms")
    cost = (percentile(injected, 50) - percentile(baseline, 50)) * 1000
    figure("injected cost at p50", cost, f"ms (= {cost / (INJECTED_LATENCY * 1000):.1f} sequential calls)")


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        kubeconfig = Path(scratch) / "kubeconfig"
        cluster = FakeCluster(kubeconfig)
        try:
            asyncio.run(measure(cluster, kubeconfig))
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
