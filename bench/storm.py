"""Crash storm: 1,000 terminations in 10 s across 50 namespaces, against a Slack that allows 1 msg/s/channel.

The whole alert path runs as in production: the fake apiserver (list + watch over HTTP) → `PodStream` →
detection → policy → planner → outbox in the ledger ConfigMap → `SlackAlertSink` → the fake Slack Web
API, which answers `429` to a second `chat.postMessage` within a second in the same channel. Production
settings: STORM_THRESHOLD 10, GROUP_WINDOW 30 m, 1 message per second per channel, the leader Lease.
Each namespace routes to its own channel (`namespace_channels`); it runs 5 Deployments of 4 pods, and
every pod crashes once (exit 1, 137, 139 or 2), the crashes spread evenly over 10 s. The fakes run on
their own thread and event loop, like the remote services they stand for.

Figures:
- messages sent (posts and edits), next to the baseline of one message per termination (what a tool
  without grouping and storm digests sends);
- the most messages any channel received within one second (Slack's limit is 1), and the 429s;
- terminations accounted for: by the planner (each has one disposition), and in Slack (roots, replies
  and the digests' totals add up to every alerted termination);
- time from the first crash to the first alert in Slack (target ≤ 1 s);
- time from the first crash to the last message, next to the Slack rate floor for this storm: the
  busiest channel's messages (posts and edits) at Slack's 1 per second (target ≤ 1.25× the floor);
- peak RSS of the process (the fakes included).

With `--surfaces` (issue 12) the same storm also goes to Microsoft Teams, PagerDuty and the signed
webhook at once (their fakes on the same remote loop, the real adapters at their production pacing:
Teams and the webhook one request per second per target, PagerDuty one per 0.5 s per routing key), each
with its default target only, so each gets one destination for all 50 namespaces. Per surface: messages
accepted, refusals, duplicates, time from the first crash to its last message, and for the webhook (a
machine-readable surface) every crash accounted for in its events; and Slack's figures next to the run
without surfaces, which is the point: the other surfaces must not slow Slack down.

Run: `.venv/bin/python -m bench.storm [--terminations N] [--namespaces N] [--seconds S] [--surfaces]`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry
from slack_sdk.web.async_client import AsyncWebClient

from bench.figures import figure
from bench.watch_memory import peak_rss_kib
from bot.alert_service import AlertService, build_alert_service
from bot.alert_service.surfaces import AlertSurface, SurfaceSet
from bot.alerting import Disposition
from bot.alerting.destinations import is_chat_channel
from bot.knowledge import load_knowledge
from bot.kube.client import build_api_client
from bot.metrics import AlertMetrics
from bot.settings import Settings
from bot.slack.poster import SlackAlertSink
from bot.surfaces.pagerduty import PagerDutySurface
from bot.surfaces.teams import TeamsSurface
from bot.surfaces.webhook import WebhookRoute, WebhookSurface
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.pagerduty import ROUTING_KEY, FakePagerDuty
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi
from tests.fakes.teams import FakeTeams
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.test_alerting_pods import T0, deployment_pod, exited

T = TypeVar("T")
BOT_NAMESPACE = "exitcode-bot"
DEPLOYMENTS = 5
CODES = (1, 137, 139, 2)
FIRST_POST_TARGET_SECONDS = 1.0
FLOOR_RATIO_TARGET = 1.25
SLACK_MESSAGES_PER_SECOND = 1.0
DRAIN_TIMEOUT_SECONDS = 300.0
WEBHOOK_SECRET = "whsec-bench-0123456789abcdef"


class Remote:
    """The fake apiserver and the fake Slack (and with `surfaces`, fake Teams, PagerDuty and a webhook
    receiver), served from their own thread and event loop."""

    def __init__(self, surfaces: bool = False) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bench-fakes", daemon=True)
        self.thread.start()
        self.kube = FakeKubeApi(history_limit=20_000)
        self.slack: FakeSlackApi = self.run(self._start_slack())
        self.run(self.kube.start())
        self.teams: FakeTeams | None = None
        self.pagerduty: FakePagerDuty | None = None
        self.webhook: WebhookReceiver | None = None
        if surfaces:
            self.teams = self.run(FakeTeams().start())
            self.pagerduty = self.run(FakePagerDuty().start())
            self.webhook = self.run(WebhookReceiver(WEBHOOK_SECRET).start())

    async def _start_slack(self) -> FakeSlackApi:
        slack = FakeSlackApi()
        await slack.start()
        slack.set_rate_limit("chat.postMessage", calls=1, per_seconds=1.0, retry_after=1)
        return slack

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=60)

    def close(self) -> None:
        self.run(self.kube.stop())
        self.run(self.slack.close())
        for fake in (self.teams, self.pagerduty, self.webhook):
            if fake is not None:
                self.run(fake.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def namespaces(count: int) -> list[str]:
    return [f"team-{index:02d}" for index in range(count)]


def make_pods(
    remote: Remote, terminations: int, spaces: list[str], deployments: int = DEPLOYMENTS
) -> list[dict[str, Any]]:
    """One running pod per termination, spread over the namespaces and their Deployments."""
    pods = []
    for index in range(terminations):
        namespace = spaces[index % len(spaces)]
        deployment = f"svc-{(index // len(spaces)) % deployments}"
        pod = deployment_pod(
            f"{deployment}-7d9f8c6b5-{index:05d}",
            namespace=namespace,
            deployment=deployment,
            uid=f"uid-{index:05d}",
        )
        pods.append(remote.kube.cluster.create(pod))
    return pods


def crash_all(remote: Remote, pods: list[dict[str, Any]], seconds: float, started: list[float]) -> None:
    """Each pod's container exits once; the exits spread evenly over `seconds` (runs on its own thread)."""
    interval = seconds / len(pods)
    begin = time.monotonic()
    started.append(begin)
    for index, pod in enumerate(pods):
        delay = begin + index * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        finished = time.time() - T0 - 1
        remote.kube.cluster.apply(exited(pod, "app", CODES[index % len(CODES)], finished))


def settled(service: AlertService, expected: int) -> bool:
    """Every termination planned, every message sent, every digest edit flushed."""
    planner = service.planner
    if planner is None or planner.accounting.received < expected or planner.state.outbox:
        return False
    return not any(
        channel.digest is not None and channel.digest.dirty for channel in planner.state.channels.values()
    )


async def measure(args: argparse.Namespace, remote: Remote, workdir: Path) -> None:
    spaces = namespaces(args.namespaces)
    remote.kube.cluster.ensure_namespace(BOT_NAMESPACE)
    pods = make_pods(remote, args.terminations, spaces)
    settings = Settings(
        _env_file=None,
        slack_bot_token=DEFAULT_BOT_TOKEN,
        slack_api_url=remote.slack.base_url,
        alert_channel="#alerts",
        pod_namespace=BOT_NAMESPACE,
    )
    client = build_api_client(config_file=remote.kube.write_kubeconfig(workdir / "kubeconfig"))
    metrics = AlertMetrics(CollectorRegistry())
    sink = SlackAlertSink(AsyncWebClient(token=DEFAULT_BOT_TOKEN, base_url=remote.slack.base_url))
    surfaces = surface_set(remote, metrics)
    service = build_alert_service(
        settings,
        load_knowledge(),
        client,
        sink=sink,
        metrics=metrics,
        namespace_channels={namespace: f"#alerts-{namespace}" for namespace in spaces},
        identity="bench",
        surfaces=surfaces,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))
    while not service.watching:
        await asyncio.sleep(0.05)

    started: list[float] = []
    writer = threading.Thread(target=crash_all, args=(remote, pods, args.seconds, started), daemon=True)
    writer.start()
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while not settled(service, args.terminations) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    drained = time.monotonic() - started[0]
    writer.join(timeout=5)
    planner = service.planner
    assert planner is not None
    report(
        args.terminations,
        remote.slack,
        planner.accounting.dispositions,
        planner.accounting.balanced(),
        started[0],
        drained,
    )
    writes = sum(
        sample.value
        for family in metrics.ledger_writes.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    )
    count("ledger ConfigMap writes (batched; before: one per root or digest posted)", int(writes), "writes")
    if surfaces is not None:
        # A surface that cannot edit gets a storm's digest twice: when it starts, and its final count
        # once the storm is over (a full storm window after the peak): wait for that, then count.
        calm_deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
        while not storms_over(service) and time.monotonic() < calm_deadline:
            await asyncio.sleep(0.2)
        report_surfaces(remote, started[0], planner.accounting.dispositions)
    stop.set()
    await running
    if surfaces is not None:
        await surfaces.close()
    client.close()  # type: ignore[no-untyped-call]


def storms_over(service: AlertService) -> bool:
    """Every other surface's storm digest had its final (calm) message sent."""
    planner = service.planner
    if planner is None or planner.state.outbox:
        return False
    return all(
        channel.digest is None
        for name, channel in planner.state.channels.items()
        if not is_chat_channel(name)
    )


def surface_set(remote: Remote, metrics: AlertMetrics) -> SurfaceSet | None:
    """The real adapters, at their production pacing, one `default` target each."""
    if remote.teams is None or remote.pagerduty is None or remote.webhook is None:
        return None
    teams_url = remote.teams.workflow("oncall")
    made: dict[str, AlertSurface] = {
        "teams": TeamsSurface({"default": teams_url}, metrics=metrics),
        "pagerduty": PagerDutySurface(
            {"default": ROUTING_KEY}, events_url=remote.pagerduty.events_url, metrics=metrics
        ),
        "webhook": WebhookSurface(
            {"default": WebhookRoute(remote.webhook.url, WEBHOOK_SECRET)}, metrics=metrics
        ),
    }
    return SurfaceSet(made, {})


def report_surfaces(remote: Remote, first_crash: float, dispositions: dict[Disposition, int]) -> None:
    """Per surface: what it accepted, what it refused or saw twice, and when its last message arrived."""
    assert remote.teams is not None and remote.pagerduty is not None and remote.webhook is not None
    alerted = sum(
        dispositions[kind]
        for kind in (Disposition.ROOT, Disposition.REPLY, Disposition.DIGEST, Disposition.ROOT_COUNT)
    )
    print("   -- other surfaces (each: one destination for every namespace) --", flush=True)
    teams = remote.teams
    count("Teams: cards posted", len(teams.cards), "messages")
    count(
        "Teams: 429 answers, failed flow runs",
        sum(1 for status in teams.statuses if status == 429) + len(teams.failed_runs),
    )
    pagerduty = remote.pagerduty
    count("PagerDuty: events accepted", len(pagerduty.accepted), "events")
    count("PagerDuty: alerts (one per incident or storm)", len(pagerduty.alerts))
    count("PagerDuty: 429 answers", sum(1 for request in pagerduty.requests if request.status == 429))
    webhook = remote.webhook
    count("webhook: events delivered to the application", len(webhook.events), "events")
    count(
        "webhook: duplicates seen by the receiver",
        len(webhook.duplicates),
        target="0",
        met=not webhook.duplicates,
    )
    latest: dict[str, int] = {}
    singles = 0
    for event in webhook.events:
        if event["event"] in ("crash", "repeat"):
            singles += 1
        elif event["event"] == "digest" and isinstance(event.get("digest"), dict):
            latest[str(event["incident_key"])] = int(event["digest"].get("total") or 0)
    in_webhook = singles + sum(latest.values())
    count(
        "webhook: crash + repeat events + digest totals",
        in_webhook,
        f"of {alerted} alerted",
        target=str(alerted),
        met=in_webhook == alerted,
    )
    last = max(
        [
            posted_at
            for posted_at in (teams_last(teams), pagerduty_last(pagerduty), webhook_last(webhook))
            if posted_at
        ]
        or [float("nan")]
    )
    figure("first crash → last message on any other surface", last - first_crash, "s")


def teams_last(teams: FakeTeams) -> float | None:
    return max((posted.at for posted in teams.cards), default=None)


def pagerduty_last(pagerduty: FakePagerDuty) -> float | None:
    return max((request.at for request in pagerduty.accepted), default=None)


def webhook_last(webhook: WebhookReceiver) -> float | None:
    return max((attempt.at for attempt in webhook.attempts if 200 <= attempt.status < 300), default=None)


def report(
    terminations: int,
    slack: FakeSlackApi,
    dispositions: dict[Disposition, int],
    balanced: bool,
    first_crash: float,
    drained: float,
) -> None:
    calls = list(slack.calls)
    posts = [call for call in calls if call.method == "chat.postMessage" and call.ok]
    edits = [call for call in calls if call.method == "chat.update" and call.ok]
    refused = sum(1 for call in calls if call.status == 429)
    count("terminations", terminations)
    count("messages sent (posts + edits)", len(posts) + len(edits), "messages")
    count("   posts", len(posts))
    count("   edits (root counts, digests)", len(edits))
    count("baseline: one message per termination", terminations, "messages")
    figure("messages / baseline", (len(posts) + len(edits)) / terminations, "x")
    by_channel: dict[str, list[float]] = defaultdict(list)
    for call in posts:
        by_channel[str(call.args.get("channel"))].append(call.at)
    count("channels", len(by_channel))
    most = max_in_window(by_channel, 1.0)
    count(
        "max posts in any 1 s window of one channel",
        most,
        target="1",
        met=most <= 1,
    )
    count("429 answers from Slack", refused)

    alerted = sum(
        dispositions[kind]
        for kind in (Disposition.ROOT, Disposition.REPLY, Disposition.DIGEST, Disposition.ROOT_COUNT)
    )
    accounted = sum(dispositions.values())
    count(
        "planner: terminations with a disposition",
        accounted,
        f"of {terminations}",
        target=str(terminations),
        met=accounted == terminations and balanced,
    )
    for kind, number in sorted(dispositions.items()):
        count(f"   {kind.value}", number)
    roots = sum(
        1 for call in posts if not call.args.get("thread_ts") and "storm" not in str(call.args.get("text"))
    )
    replies = sum(1 for call in posts if call.args.get("thread_ts"))
    digest_total = sum(digest_count(message) for messages in slack.messages.values() for message in messages)
    in_slack = roots + replies + digest_total + dispositions[Disposition.ROOT_COUNT]
    count(
        "Slack: roots + replies + digest totals",
        in_slack,
        f"of {alerted} alerted",
        target=str(alerted),
        met=in_slack == alerted,
    )
    first_post = min((call.at for call in posts), default=float("nan")) - first_crash
    figure(
        "first crash → first alert in Slack",
        first_post,
        "s",
        target=f"≤ {FIRST_POST_TARGET_SECONDS:g} s",
        met=first_post <= FIRST_POST_TARGET_SECONDS,
    )
    figure("first crash → every message sent", drained, "s")
    per_channel: dict[str, int] = defaultdict(int)
    for call in posts + edits:
        per_channel[str((call.response or {}).get("channel") or call.args.get("channel"))] += 1
    floor = max(per_channel.values(), default=0) / SLACK_MESSAGES_PER_SECOND
    figure("Slack rate floor (busiest channel's messages at 1/s)", floor, "s")
    ratio = drained / floor if floor else float("nan")
    figure(
        "every message sent / floor",
        ratio,
        "x",
        target=f"≤ {FLOOR_RATIO_TARGET:g}×",
        met=ratio <= FLOOR_RATIO_TARGET,
    )
    figure("peak RSS (bot and fakes, one process)", peak_rss_kib() / 1024, "MiB")


def count(
    name: str, value: int, unit: str = "", *, target: str | None = None, met: bool | None = None
) -> None:
    """`figure()` for whole numbers (it prints three decimals below 100)."""
    line = f"   {name}: {value:,} {unit}".rstrip()
    if target is not None:
        verdict = "" if met is None else (" met" if met else " MISSED")
        line += f"   [target {target}:{verdict}]"
    print(line, flush=True)


_DIGEST_TOTAL = re.compile(r"Crash storm (?:in progress|over): (\d+) alerts")


def digest_count(message: dict[str, Any]) -> int:
    """The total a digest message shows now (after its last edit); 0 for any other message."""
    match = _DIGEST_TOTAL.search(str(message.get("text", "")))
    return int(match.group(1)) if match else 0


def max_in_window(times_by_channel: dict[str, list[float]], window: float) -> int:
    """The most events any one channel had within `window` seconds (a sliding window over its times)."""
    most = 0
    for times in times_by_channel.values():
        ordered = sorted(times)
        start = 0
        for end, moment in enumerate(ordered):
            while moment - ordered[start] >= window:
                start += 1
            most = max(most, end - start + 1)
    return most


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.storm", description=__doc__.splitlines()[0])
    parser.add_argument("--terminations", type=int, default=1000)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--surfaces", action="store_true", help="also Teams, PagerDuty and the webhook")
    run_against_remote(measure, parser.parse_args(argv))


Measurement = Callable[[argparse.Namespace, "Remote", Path], Coroutine[Any, Any, None]]


def run_against_remote(measurement: Measurement, args: argparse.Namespace) -> None:
    """Run one measurement against the fakes' process (`Remote`) in a scratch directory; always stops it."""
    remote = Remote(surfaces=bool(getattr(args, "surfaces", False)))
    try:
        with tempfile.TemporaryDirectory() as workdir:
            asyncio.run(measurement(args, remote, Path(workdir)))
    finally:
        remote.close()


if __name__ == "__main__":
    main()
