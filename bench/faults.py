"""Faults: a few hundred crashes through everything that goes wrong, and the count of what users saw.

The whole alert path runs as in production (fake apiserver over HTTP → watch → planner → ledger
ConfigMap → `SlackAlertSink` → fake Slack Web API), while the fakes inject, on the wire:

1. **Slack trouble** (first phase): `429` with `Retry-After` (on top of Slack's per-channel limit),
   `503`s, answers slower than the sink's timeout *after* the message was posted, and connections
   reset before or after Slack carried the post out; `chat.update` gets `503`s too;
2. **an API-server outage** longer than the Lease: ledger writes and Lease renewals answer `503`, the
   leader posts what it planned (after the unsaved grace), loses the Lease and leads again;
3. **a restart mid-outage**: another outage, the bot is killed (`kill -9`: no release, no final
   write) in its middle, and a second bot takes over once the apiserver is back.

Every crash is one pod's container exiting (a unique pod name per crash, so each message can be tied
to its crash). At the end, from the messages in the fake Slack's channels:

- **written**: crashes written to the cluster;
- **accounted**: crashes that appear in Slack (a root or a thread reply naming the pod, or counted in
  a digest's total);
- **duplicated**: messages beyond the first for the same crash;
- **lost**: written − accounted.

Slack's pace is raised to 5 messages per second per channel on both sides (the fake's limit and the
sink's pacing) so the run takes about a minute; the faults, not the pace, are what is measured.

Run: `.venv/bin/python -m bench faults` or `.venv/bin/python -m bench.faults [--crashes N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from slack_sdk.web.async_client import AsyncWebClient

from bench.storm import Remote, count, make_pods, run_against_remote
from bot.alert_service import AlertService, AlertTuning, build_alert_service
from bot.knowledge import KnowledgeBase, load_knowledge
from bot.kube.client import build_api_client
from bot.kube.watch import Backoff, WatchSettings
from bot.metrics import AlertMetrics
from bot.settings import Settings
from bot.slack.poster import PosterSettings, SlackAlertSink
from tests.fakes.slack_api import (
    DEFAULT_BOT_TOKEN,
    Disconnect,
    Fault,
    LateAnswer,
    RateLimited,
    ServerError,
)
from tests.test_alerting_pods import T0, exited

BOT_NAMESPACE = "exitcode-bot"
NAMESPACES = 10
DEPLOYMENTS = 4
CODES = (1, 137, 139, 2)
PACE = 5.0
SETTLE_TIMEOUT_SECONDS = 180.0
_POD = re.compile(r"(team-\d\d/svc-\d-7d9f8c6b5-\d{5})")
_DIGEST = re.compile(r"Crash storm (?:in progress|over): (\d+) alerts")

TUNING = AlertTuning(
    tick_seconds=0.2,
    save_debounce_seconds=0.05,
    refresh_seconds=1.0,
    unsaved_grace_seconds=1.0,
    evidence_timeout_seconds=1.0,
    digest_update_seconds=1.0,
    retry_cap_seconds=1.0,
    final_save_seconds=2.0,
    lease_renew_seconds=0.5,
    lease_retry_seconds=0.2,
    watch=WatchSettings(
        request_timeout_seconds=3.0,
        watch_timeout_seconds=30,
        backoff=Backoff(base_seconds=0.05, cap_seconds=0.5),
        join_timeout_seconds=3.0,
    ),
)
POSTER = PosterSettings(
    messages_per_second=PACE,
    timeout_seconds=1.0,
    backoff_base_seconds=0.2,
    backoff_cap_seconds=2.0,
    channel_error_cap_seconds=2.0,
)


@dataclass
class Bot:
    service: AlertService
    stop: asyncio.Event
    task: asyncio.Task[None]


class Run:
    """One fault run: the fakes, the bots started against them, and the crashes written."""

    def __init__(self, remote: Remote, workdir: Path, knowledge: KnowledgeBase) -> None:
        self.remote = remote
        self.workdir = workdir
        self.knowledge = knowledge
        self.channels = {f"team-{index:02d}": f"C0FAULTS{index:02d}" for index in range(NAMESPACES)}
        self.pods: list[dict[str, Any]] = []
        self.written = 0
        self.bots: list[Bot] = []
        self.rng = random.Random(8)  # a reproducible fault mix
        self.injected: Counter[str] = Counter()

    def setup(self, crashes: int) -> None:
        cluster = self.remote.kube.cluster
        cluster.ensure_namespace(BOT_NAMESPACE)
        for channel in self.channels.values():
            self.remote.slack.messages[channel] = []  # the bot was invited to each channel
        self.remote.slack.set_rate_limit("chat.postMessage", calls=int(PACE), per_seconds=1.0)
        self.pods.extend(make_pods(self.remote, crashes, list(self.channels), DEPLOYMENTS))

    def start(self, identity: str) -> Bot:
        settings = Settings(
            _env_file=None,
            slack_bot_token=DEFAULT_BOT_TOKEN,
            slack_api_url=self.remote.slack.base_url,
            pod_namespace=BOT_NAMESPACE,
            lease_duration_seconds=2.0,
            kube_timeout_seconds=2.0,
            storm_threshold=1000,  # storms are `bench storm`'s subject; here every crash is its own message
            log_lines=5,
        )
        client = build_api_client(config_file=self.remote.kube.write_kubeconfig(self.workdir / "kubeconfig"))
        web = AsyncWebClient(token=DEFAULT_BOT_TOKEN, base_url=self.remote.slack.base_url)
        service = build_alert_service(
            settings,
            self.knowledge,
            client,
            sink=SlackAlertSink(web, POSTER),
            metrics=AlertMetrics(CollectorRegistry()),
            namespace_channels=self.channels,
            identity=identity,
            tuning=TUNING,
        )
        stop = asyncio.Event()
        bot = Bot(service, stop, asyncio.create_task(service.run(stop)))
        self.bots.append(bot)
        return bot

    async def crash(self, count: int, seconds: float) -> None:
        """The next `count` pods' containers exit, spread over `seconds`."""
        for _ in range(count):
            if self.written >= len(self.pods):
                return
            pod = self.pods[self.written]
            code = CODES[self.written % len(CODES)]
            self.remote.kube.cluster.apply(exited(pod, "app", code, time.time() - T0 - 1))
            self.written += 1
            await asyncio.sleep(seconds / count)

    def slack_faults(self, crashes: int) -> None:
        """A shuffled mix of Slack's failures for the posts (and some edits) of the first phase."""
        mix: list[tuple[Fault, int]] = [
            (RateLimited(retry_after=1), crashes // 10),
            (ServerError(503), crashes // 10),
            (LateAnswer(1.5), crashes // 12),
            (Disconnect(carried_out=True), crashes // 20),
            (Disconnect(carried_out=False), crashes // 20),
        ]
        faults = [fault for fault, times in mix for _ in range(times)]
        self.rng.shuffle(faults)
        for fault in faults:
            self.remote.slack.fail("chat.postMessage", fault)
        self.remote.slack.fail("chat.update", ServerError(503), times=crashes // 20)
        self.injected = Counter(type(fault).__name__ for fault in faults)
        self.injected["ServerError (chat.update)"] = crashes // 20

    def outage(self, on: bool) -> None:
        faults = self.remote.kube.faults
        if on:
            faults.fail("update", "configmaps", 503)
            faults.fail("create", "configmaps", 503)
            faults.fail("update", "leases", 503)
        else:
            faults.clear()


async def leading(bot: Bot) -> None:
    while not bot.service.watching:
        await asyncio.sleep(0.05)


def settled(bot: Bot) -> bool:
    planner = bot.service.planner
    return planner is not None and not planner.state.outbox


async def drive(args: argparse.Namespace, run: Run) -> float:
    crashes = args.crashes
    run.setup(crashes)
    first = run.start("bench-a")
    await leading(first)
    started = time.monotonic()
    phase1, phase2 = crashes * 2 // 5, crashes // 5
    phase3 = crashes - phase1 - 2 * phase2
    run.slack_faults(phase1)
    await run.crash(phase1, 10.0)  # 1. Slack trouble
    run.outage(True)  # 2. the apiserver refuses writes for longer than the Lease
    await run.crash(phase2, 6.0)
    run.outage(False)
    await asyncio.sleep(3.0)
    run.outage(True)  # 3. another outage, and the bot is killed in its middle
    await run.crash(phase2 // 2, 3.0)
    first.task.cancel()
    await asyncio.gather(first.task, return_exceptions=True)
    await run.crash(phase2 - phase2 // 2, 2.0)
    run.outage(False)
    second = run.start("bench-b")
    await run.crash(phase3, 6.0)
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while time.monotonic() < deadline and not (settled(second) and second.service.watching):
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.0)  # anything still on its way lands
    elapsed = time.monotonic() - started
    second.stop.set()
    await second.task
    return elapsed


def report(run: Run, elapsed: float) -> None:
    slack = run.remote.slack
    per_crash: Counter[str] = Counter()
    digested = 0
    for channel in run.channels.values():
        for message in slack.messages[channel]:
            text = str(message.get("text", ""))
            digest = _DIGEST.search(text)
            if digest:
                digested += int(digest.group(1))
                continue
            found = _POD.search(text)
            if found:
                per_crash[found.group(1)] += 1
    accounted = len(per_crash) + digested
    duplicated = sum(number - 1 for number in per_crash.values() if number > 1)
    calls = slack.calls
    count("crashes written", run.written)
    count("crashes accounted in Slack", accounted, target=str(run.written), met=accounted == run.written)
    count("   as a root or a thread reply", len(per_crash))
    count("   in a digest's total", digested)
    count("crashes duplicated (messages beyond the first)", duplicated, target="0", met=duplicated == 0)
    lost = run.written - accounted
    count("crashes lost", max(0, lost), target="0", met=lost == 0)
    unused = slack.pending_faults("chat.postMessage") + slack.pending_faults("chat.update")
    faults = ", ".join(f"{name} × {number}" for name, number in sorted(run.injected.items()))
    print(f"   Slack faults queued: {faults} ({unused} left unused)", flush=True)
    count("429 answers (queued and Slack's own per-channel limit)", sum(1 for c in calls if c.status == 429))
    print("   API-server outages: 2 (ledger and Lease writes 503 for 6 s and 5 s; Lease 2 s)", flush=True)
    print("   bot killed mid-outage (kill -9), a second bot took over: 1", flush=True)
    count(
        "history checks (conversations.history/replies)",
        sum(1 for c in calls if "conversations." in c.method),
    )
    print(f"   run time: {elapsed:.1f} s", flush=True)


async def measure(args: argparse.Namespace, remote: Remote, workdir: Path) -> None:
    run = Run(remote, workdir, load_knowledge())
    elapsed = await drive(args, run)
    report(run, elapsed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--crashes", type=int, default=300)
    run_against_remote(measure, parser.parse_args(argv))


if __name__ == "__main__":
    main()
