"""The crash watcher end to end: fake Kubernetes API → alert service → fake Slack Web API, over the wire.

Each test drives a pod through what the kubelet would write (an exit, the back-off, the restart) in the
fake apiserver and checks what an on-call engineer would see in Slack: one alert per crash, repeats in
its thread with the root's count edited, nothing for rollouts, deletes and preemptions, nothing missed or
repeated when the watch breaks, the apiserver restarts or the bot itself is restarted.

Timestamps are recent (the core ignores crashes older than the ledger's horizon); timings are shortened
through `AlertTuning` and `PosterSettings`, never asserted.

The `Harness` here is shared by the other `test_alert_*` service tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient
from prometheus_client import CollectorRegistry
from slack_sdk.web.async_client import AsyncWebClient

from bot.alert_service import AlertService, AlertTuning, ConsoleAlertSink, build_alert_service
from bot.alerting import Disposition, LedgerState
from bot.console import ConsoleOutput
from bot.knowledge import KnowledgeBase
from bot.kube.client import build_api_client
from bot.kube.ledger import LEDGER_KEY
from bot.kube.watch import Backoff, WatchSettings
from bot.metrics import AlertMetrics
from bot.render.mrkdwn import unescape
from bot.settings import Settings
from bot.slack.poster import PosterSettings, SlackAlertSink
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi, JsonDict
from tests.test_alerting_pods import (
    T0,
    backoff,
    deleting,
    deployment_pod,
    exited,
    restarted,
    ts,
    with_condition,
    with_pod_reason,
)

Pod = dict[str, Any]
WAIT = 15.0
STOP_WAIT = 30.0
BOT_NAMESPACE = "exitcode-bot"
CHANNEL = "#alerts"

FAST_WATCH = WatchSettings(
    request_timeout_seconds=5.0,
    watch_timeout_seconds=30,
    backoff=Backoff(base_seconds=0.02, cap_seconds=0.2),
    join_timeout_seconds=5.0,
)
FAST = AlertTuning(
    tick_seconds=0.1,
    save_debounce_seconds=0.02,
    refresh_seconds=0.2,
    unsaved_grace_seconds=30.0,
    evidence_timeout_seconds=3.0,
    digest_update_seconds=0.2,
    retry_cap_seconds=0.3,
    final_save_seconds=3.0,
    lease_renew_seconds=0.4,
    lease_retry_seconds=0.1,
    watch=FAST_WATCH,
)
FAST_POSTER = PosterSettings(
    messages_per_second=50.0,
    timeout_seconds=1.0,
    backoff_base_seconds=0.05,
    backoff_cap_seconds=0.2,
    channel_error_cap_seconds=0.2,
)


def now_offset(seconds: float = 0.0) -> float:
    """An offset for the pod helpers (`ts(offset)` is `T0 + offset`) that lands `seconds` from now."""
    return time.time() - T0 + seconds


async def until(what: str, condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Bot:
    """One running alert service (one replica of the bot)."""

    service: AlertService
    metrics: AlertMetrics
    stop: asyncio.Event
    task: asyncio.Task[None]
    client: ApiClient

    def received(self, disposition: Disposition | None = None) -> int:
        planner = self.service.planner
        if planner is None:
            return 0
        if disposition is None:
            return planner.accounting.received
        return planner.accounting.dispositions[disposition]

    def gauge(self, name: str) -> float | None:
        """A gauge of this bot's one (unnamed) cluster, as `/metrics` shows it."""
        return self.metrics.registry.get_sample_value(name, {"cluster": ""})

    def settled(self) -> bool:
        """Leading, and nothing planned is left to send."""
        planner = self.service.planner
        return planner is not None and not planner.state.outbox

    async def shutdown(self) -> None:
        self.stop.set()
        # A deadline, not a sleep: stopping joins the watch threads, writes the ledger a last time and
        # releases the Lease, each bounded (5 + 5 + 3 + 2 + 5 s); a loaded machine may need them all.
        await asyncio.wait_for(self.task, STOP_WAIT)

    async def kill(self) -> None:
        """As `kill -9`: no Lease release, no final ledger write."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@dataclass
class Harness:
    """A fake cluster, a fake Slack, and bots started against them."""

    kube: FakeKubeApi
    slack: FakeSlackApi
    knowledge: KnowledgeBase
    tmp_path: Path
    bots: list[Bot] = field(default_factory=list)
    clock: float = field(default_factory=lambda: now_offset(-300))
    """Pod time of the next crash: each crash ends a few seconds after the previous one, in the past."""

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "slack_bot_token": DEFAULT_BOT_TOKEN,
            "slack_api_url": self.slack.base_url,
            "alert_channel": CHANNEL,
            "pod_namespace": BOT_NAMESPACE,
            "lease_duration_seconds": 1.5,
            "kube_timeout_seconds": 5.0,
            "log_lines": 5,
            **overrides,
        }
        return Settings(_env_file=None, **values)

    async def start(
        self,
        identity: str = "bot-a",
        *,
        sink: Any = None,
        leader_election: bool = True,
        persistent_ledger: bool = True,
        tuning: AlertTuning = FAST,
        namespace_channels: dict[str, str] | None = None,
        surfaces: Any = None,
        **overrides: Any,
    ) -> Bot:
        client = build_api_client(config_file=self.kube.write_kubeconfig(self.tmp_path / "kubeconfig"))
        metrics = AlertMetrics(CollectorRegistry())
        if sink is False:  # alerts-only: no chat sink at all
            sink = None
        elif sink is None:
            web = AsyncWebClient(token=DEFAULT_BOT_TOKEN, base_url=self.slack.base_url)
            sink = SlackAlertSink(web, FAST_POSTER, on_error=metrics.slack_error)
        service = build_alert_service(
            self.settings(**overrides),
            self.knowledge,
            client,
            sink=sink,
            metrics=metrics,
            identity=identity,
            tuning=tuning,
            leader_election=leader_election,
            persistent_ledger=persistent_ledger,
            namespace_channels=namespace_channels,
            surfaces=surfaces,
        )
        stop = asyncio.Event()
        bot = Bot(service, metrics, stop, asyncio.create_task(service.run(stop)), client)
        self.bots.append(bot)
        return bot

    async def leading(self, bot: Bot) -> Bot:
        await until("the bot to lead and list pods", lambda: bot.service.watching)
        return bot

    def apply(self, pod: Pod) -> Pod:
        return self.kube.cluster.apply(pod)

    def crash(self, pod: Pod, code: int, *, container: str = "app", **details: Any) -> Pod:
        """One crash-loop turn, as the kubelet writes it: exit, back-off, restart (three watch events)."""
        self.clock += 3
        at = self.clock
        pod = self.apply(exited(pod, container, code, at, **details))
        pod = self.apply(backoff(pod, container))
        return self.apply(restarted(pod, container, at + 1))

    # --- what Slack saw ---------------------------------------------------------------------------------

    def posts(self, *, thread: bool | None = None) -> list[JsonDict]:
        """Successful chat.postMessage calls (roots: thread=False, replies: thread=True)."""
        calls = [call for call in self.slack.calls_to("chat.postMessage") if call.ok]
        if thread is not None:
            calls = [call for call in calls if bool(call.args.get("thread_ts")) is thread]
        return [call.args for call in calls]

    def updates(self) -> list[JsonDict]:
        return [call.args for call in self.slack.calls_to("chat.update") if call.ok]

    def ledger(self) -> LedgerState:
        """The ledger as stored in the fake cluster's ConfigMap (empty before the first write)."""
        config_map = self.kube.cluster.get("ConfigMap", BOT_NAMESPACE, "exitcode-bot-ledger")
        if config_map is None:
            return LedgerState()
        return LedgerState.from_json(config_map["data"][LEDGER_KEY])


@pytest.fixture(name="harness")
async def harness_fixture(
    fake_kube: FakeKubeApi, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase, tmp_path: Path
) -> AsyncIterator[Harness]:
    """Uses conftest's `slack_api`, so a test can also run the Bolt app (`make_http_bot`) against it."""
    fake_kube.cluster.ensure_namespace(BOT_NAMESPACE)
    made = Harness(fake_kube, slack_api, knowledge_base, tmp_path)
    yield made
    for bot in made.bots:
        if not bot.task.done():
            await bot.shutdown()
        bot.client.close()  # type: ignore[no-untyped-call]


def header_text(message: JsonDict) -> str:
    blocks = message.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return next((block["text"]["text"] for block in blocks if block["type"] == "header"), "")


def all_text(message: JsonDict) -> str:
    blocks = message.get("blocks") or []
    return json.dumps(blocks) + str(message.get("text", ""))


def web_pod(name: str = "api-7d9f8c6b5-x2x9z", **options: Any) -> Pod:
    """A running Deployment pod, created now."""
    pod = deployment_pod(name, **options)
    pod["metadata"]["creationTimestamp"] = ts(now_offset(-600))
    return pod


# --- a crash, its repeats ---------------------------------------------------------------------------------


async def test_a_crash_posts_exactly_one_alert_that_says_what_and_why(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start())
    for previous in (False, True):  # the crashed instance's log, before and after the restart
        harness.kube.cluster.set_log(
            "shop",
            pod["metadata"]["name"],
            "app",
            "connecting to db\nFATAL: out of memory",
            previous=previous,
        )

    harness.crash(pod, 137, reason="OOMKilled")

    await until("the alert", lambda: len(harness.posts()) == 1 and bot.settled())
    root = harness.posts()[0]
    assert root["channel"] == CHANNEL
    assert "Deployment/api / app crashed: exit 137 (OOMKilled)" in header_text(root)
    text = all_text(root)
    assert "Diagnosis" in text and "OOMKilled" in text
    assert "FATAL: out of memory" in text  # the previous log tail
    for button in ("Re-diagnose", "Previous logs", "Snooze 1 h", "Snooze 24 h", "Runbook"):
        assert button in text
    assert bot.received(Disposition.ROOT) == 1


async def test_repeats_go_into_the_thread_and_update_the_root(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start())

    pod = harness.crash(pod, 1)
    await until("the root", lambda: len(harness.posts()) == 1 and bot.settled())
    pod = harness.crash(pod, 1)
    pod = harness.crash(pod, 1)

    await until("two replies", lambda: len(harness.posts(thread=True)) == 2 and bot.settled())
    root_ref = harness.posts(thread=False)
    assert len(root_ref) == 1
    replies = harness.posts(thread=True)
    root_ts = {reply["thread_ts"] for reply in replies}
    assert len(root_ts) == 1
    assert "Again" in replies[0]["text"]
    updates = harness.updates()
    assert updates and updates[-1]["ts"] in root_ts
    assert "Crashed 3 times" in all_text(updates[-1])
    assert bot.received(Disposition.REPLY) == 2


async def test_channel_mention_in_a_termination_message_is_escaped(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start())

    harness.crash(pod, 1, message="<!channel> db is down & <@U123> <https://evil.example|docs>")

    await until("the alert", lambda: len(harness.posts()) == 1 and bot.settled())
    message = harness.slack.messages[next(iter(harness.slack.messages))][0]
    text = all_text(message)
    assert "<!channel>" not in text and "<@U123>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt; db is down &amp; &lt;@U123&gt;" in text
    assert unescape("&lt;!channel&gt;") == "<!channel>"


async def test_alerts_go_where_annotations_and_the_config_file_route_them(harness: Harness) -> None:
    harness.kube.cluster.ensure_namespace(
        "payments", annotations={"exitcode-bot/channel": "#payments-oncall"}
    )
    harness.kube.cluster.ensure_namespace("quiet", annotations={"exitcode-bot/ignore": "true"})
    pods = {
        namespace: harness.apply(web_pod(namespace=namespace, uid=f"uid-{namespace}"))
        for namespace in ("payments", "batch-eu", "shop", "quiet")
    }
    bot = await harness.leading(await harness.start(namespace_channels={"batch-*": "#batch"}))

    for pod in pods.values():
        harness.crash(pod, 1)

    await until("every crash", lambda: bot.received() == 4 and bot.settled())
    assert sorted(post["channel"] for post in harness.posts()) == ["#alerts", "#batch", "#payments-oncall"]
    assert bot.received(Disposition.SUPPRESSED) == 1  # the namespace annotated exitcode-bot/ignore


# --- not crashes ------------------------------------------------------------------------------------------


async def test_rollouts_deletes_scale_downs_and_preemptions_post_nothing(harness: Harness) -> None:
    bot = await harness.leading(await harness.start())
    at = now_offset(-2)
    cases: list[Pod] = []
    for index, reason in enumerate(("rollout", "scale-down", "delete")):
        pod = harness.apply(web_pod(f"api-7d9f8c6b5-{reason}", uid=f"uid-{reason}"))
        pod = harness.apply(deleting(pod, at - 1))
        cases.append(harness.apply(exited(pod, "app", 143 if index else 137, at)))
    preempted = harness.apply(web_pod("api-7d9f8c6b5-preempt", uid="uid-preempt"))
    preempted = harness.apply(with_condition(preempted, "DisruptionTarget", "PreemptionByScheduler", at - 1))
    harness.apply(exited(deleting(preempted, at - 1), "app", 143, at))
    drained = harness.apply(web_pod("api-7d9f8c6b5-drain", uid="uid-drain"))
    drained = harness.apply(with_condition(drained, "DisruptionTarget", "EvictionByEvictionAPI", at - 1))
    harness.apply(exited(deleting(drained, at - 1), "app", 137, at))
    for pod in cases:
        harness.kube.cluster.delete("Pod", "shop", pod["metadata"]["name"])

    await until("five suppressed terminations", lambda: bot.received(Disposition.SUPPRESSED) == 5)
    await asyncio.sleep(0.3)  # anything wrongly planned would be sent by now
    assert harness.posts() == []
    suppressed = bot.service.planner.accounting.suppressed  # type: ignore[union-attr]
    assert {str(reason) for reason in suppressed} == {"deleting", "disruption_target"}


async def test_an_eviction_is_its_own_kind_of_alert_not_a_crash(harness: Harness) -> None:
    bot = await harness.leading(await harness.start())
    at = now_offset(-2)
    pod = harness.apply(web_pod())
    pod = with_condition(pod, "DisruptionTarget", "TerminationByKubelet", at - 1)
    pod = with_pod_reason(pod, "Evicted", "The node was low on resource: memory.")
    harness.apply(exited(pod, "app", 137, at))

    await until("the eviction alert", lambda: len(harness.posts()) == 1 and bot.settled())
    header = header_text(harness.posts()[0])
    assert "evicted" in header and "node pressure" in header
    assert "crashed" not in header
    assert "The node was low on resource: memory." in all_text(harness.posts()[0])


async def test_a_storm_becomes_one_digest_that_counts_every_crash(harness: Harness) -> None:
    pods = [
        harness.apply(web_pod(f"svc{index}-7d9f8c6b5-x2x9z", deployment=f"svc{index}", uid=f"uid-{index}"))
        for index in range(12)
    ]
    bot = await harness.leading(await harness.start(storm_threshold=3))

    for index, pod in enumerate(pods):
        harness.crash(pod, 137 if index % 2 else 1)

    def digest_text() -> str:
        messages = next(iter(harness.slack.messages.values()), [])
        return next((message["text"] for message in messages if "storm" in message["text"]), "")

    await until("the digest to count all", lambda: "9 alerts" in digest_text() and bot.settled())
    assert len(harness.posts(thread=False)) == 4  # three alerts, then the digest
    assert harness.posts(thread=True) == []
    assert bot.received() == 12 and bot.received(Disposition.DIGEST) == 9
    messages = next(iter(harness.slack.messages.values()))
    digest = next(message for message in messages if "storm" in message["text"])
    rows = json.dumps(digest["blocks"], ensure_ascii=False)
    assert "Deployment/svc11: exit 137 (SIGKILL) × 1" in rows
    assert "Deployment/svc10: exit 1 (general error (catch-all)) × 1" in rows


# --- the watch breaking -------------------------------------------------------------------------------------


async def test_dropped_watches_410_and_apiserver_restarts_miss_nothing_and_repeat_nothing(
    harness: Harness,
) -> None:
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start())

    pod = harness.crash(pod, 2)
    await until("crash 1", lambda: len(harness.posts()) == 1 and bot.settled())

    started = harness.kube.cluster.watches_started
    harness.kube.cluster.drop_watches()
    pod = harness.crash(pod, 2)  # happens while the watch reconnects
    await until("the watch to resume", lambda: harness.kube.cluster.watches_started > started)
    await until("crash 2", lambda: len(harness.posts()) == 2 and bot.settled())

    started = harness.kube.cluster.watches_started
    await harness.kube.restart(forget_history=True)  # resuming gets 410 Gone: relist
    pod = harness.crash(pod, 2)
    await until("the relist", lambda: harness.kube.cluster.watches_started > started)
    await until("crash 3", lambda: len(harness.posts()) == 3 and bot.settled())
    await asyncio.sleep(0.3)

    assert len(harness.posts(thread=False)) == 1
    assert len(harness.posts(thread=True)) == 2
    assert bot.received() == 3
    assert bot.metrics.watch_restarts.labels(reason="expired")._value.get() >= 1


# --- restarts and failover -------------------------------------------------------------------------------


async def test_a_restarted_bot_repeats_nothing_and_reports_what_happened_while_it_was_down(
    harness: Harness,
) -> None:
    pod = harness.apply(web_pod())
    first = await harness.leading(await harness.start())
    pod = harness.crash(pod, 1)
    await until("crash 1", lambda: len(harness.posts()) == 1 and first.settled())
    pod = harness.crash(pod, 1)
    await until("crash 2", lambda: len(harness.posts()) == 2 and first.settled())
    await first.shutdown()

    second = await harness.leading(await harness.start())  # lists the pod: crash 2 is in lastState
    await until("the relisted crash", lambda: second.received() == 1)
    assert second.received(Disposition.DUPLICATE) == 1
    await second.shutdown()

    pod = harness.crash(pod, 1)  # while no bot runs: still visible in lastState when the next one starts

    third = await harness.leading(await harness.start())
    await until("crash 3", lambda: len(harness.posts()) == 3 and third.settled())
    harness.crash(pod, 1)
    await until("crash 4", lambda: len(harness.posts()) == 4 and third.settled())
    await asyncio.sleep(0.3)

    assert len(harness.posts(thread=False)) == 1
    replies = harness.posts(thread=True)
    assert len(replies) == 3 and len({reply["thread_ts"] for reply in replies}) == 1
    assert "Crashed 4 times" in all_text(harness.updates()[-1])


async def test_an_alert_planned_before_a_crash_of_the_bot_is_sent_once_by_the_next(harness: Harness) -> None:
    from tests.fakes.slack_api import ServerError

    harness.slack.fail("chat.postMessage", ServerError(503), times=1000)
    pod = harness.apply(web_pod())
    first = await harness.leading(await harness.start())
    harness.crash(pod, 139)
    await until("the alert to wait in the ledger's outbox", lambda: bool(harness.ledger().outbox))
    await until("Slack to refuse it", lambda: len(harness.slack.calls_to("chat.postMessage")) >= 2)
    await first.kill()

    harness.slack._faults.clear()  # Slack is back
    second = await harness.leading(await harness.start("bot-b"))
    await until("the alert", lambda: len(harness.posts()) == 1 and second.settled())
    await asyncio.sleep(0.3)
    assert len(harness.posts()) == 1
    assert "exit 139" in header_text(harness.posts()[0])
    await until("the ledger to forget the sent entry", lambda: not harness.ledger().outbox)


async def test_two_replicas_post_once_and_the_standby_takes_over(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    a = await harness.start("bot-a")
    await until("a leader", lambda: a.service.leading)
    b = await harness.start("bot-b")
    await harness.leading(a)

    pod = harness.crash(pod, 1)
    await until("the alert", lambda: len(harness.posts()) == 1 and a.settled())
    assert not b.service.leading and b.service.planner is None

    await until("the ledger to hold the sent alert", lambda: not harness.ledger().outbox)
    await a.kill()  # no release: b takes over when the Lease expires
    await until("the standby to take over", lambda: b.settled(), timeout=10)
    harness.crash(pod, 1)
    await until("the repeat", lambda: len(harness.posts()) == 2 and b.settled())
    await asyncio.sleep(0.3)

    assert len(harness.posts(thread=False)) == 1
    assert len(harness.posts(thread=True)) == 1
    assert b.gauge("exitcode_bot_leader") == 1


# --- Slack failing ------------------------------------------------------------------------------------------


async def test_slack_rate_limits_errors_and_timeouts_lose_nothing(harness: Harness) -> None:
    from tests.fakes.slack_api import Delay, RateLimited, ServerError

    harness.slack.fail("chat.postMessage", RateLimited(retry_after=1), times=1)
    harness.slack.fail("chat.postMessage", ServerError(500), times=2)
    harness.slack.fail("chat.postMessage", Delay(2.0, then=ServerError(502)), times=1)  # client times out
    pods = [harness.apply(web_pod(f"api-7d9f8c6b5-p{index}", uid=f"uid-p{index}")) for index in range(3)]
    bot = await harness.leading(await harness.start())

    for index, pod in enumerate(pods):
        harness.crash(pod, 1 if index else 2)

    await until("every crash in Slack", lambda: bot.received() == 3 and bot.settled(), timeout=20)
    roots = harness.posts(thread=False)
    replies = harness.posts(thread=True)
    assert len(roots) + len(replies) == 3  # exit 2 alone, exit 1 twice (root + reply): nothing lost
    kinds = {
        kind: bot.metrics.slack_errors.labels(kind=kind)._value.get()
        for kind in ("ratelimited", "server_error", "timeout")
    }
    assert kinds["ratelimited"] == 1 and kinds["server_error"] == 2 and kinds["timeout"] == 1


# --- console mode -------------------------------------------------------------------------------------------


async def test_console_mode_prints_the_alert_text(harness: Harness) -> None:
    stream = io.StringIO()
    pod = harness.apply(web_pod())
    bot = await harness.start(
        sink=ConsoleAlertSink(ConsoleOutput(stream)),
        leader_election=False,
        persistent_ledger=False,
        alert_channel=None,
    )
    await harness.leading(bot)

    harness.crash(pod, 127, message='exec: "serve": executable file not found in $PATH')

    await until("the printed alert", lambda: "crashed" in stream.getvalue() and bot.settled())
    printed = stream.getvalue()
    assert "Deployment/api / app crashed: exit 127" in printed
    assert 'exec: "serve": executable file not found' in printed
    assert harness.kube.cluster.get("ConfigMap", BOT_NAMESPACE, "exitcode-bot-ledger") is None
    assert harness.kube.cluster.get("Lease", BOT_NAMESPACE, "exitcode-bot-leader") is None
    assert harness.posts() == []
