"""`python -m bot` with the crash watcher, as real processes against a cluster and Slack over the wire.

What an operator relies on: with a cluster, the bot it starts also watches for crashes. In console mode
each crash prints once between the replies and commands keep working; in Slack mode, of two replicas
exactly one posts each crash, a replica stopped with SIGTERM exits 0 and hands the Lease over at once,
and one killed with `kill -9` is replaced within the lease duration, with no crash posted twice.

The fake Kubernetes API runs standalone in its own process (`python -m tests.fakes.kube_api`) and is
driven through its `/_fake/` endpoints, as several bot processes share it; the fake Slack Web API runs
in this test's event loop. Bots are configured only through their environment, as in a pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.alerting import LedgerState
from bot.kube.ledger import LEDGER_KEY
from tests.conftest import REPO_ROOT, SIGNING_SECRET, bot_env, free_port
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi, JsonDict
from tests.test_alert_service import now_offset, web_pod
from tests.test_alerting_pods import backoff, exited, restarted

BOT_NAMESPACE = "exitcode-bot"
CHANNEL = "#alerts"
LEDGER = "exitcode-bot-ledger"
WAIT = 20.0
"""Upper bound of every wait (process start-up included); a healthy run needs a fraction of it."""
STOP_TIMEOUT = 10.0
OOM_HEADLINE = "Deployment/api / app crashed: exit 137 (OOMKilled)"
LEADER_GAUGE = re.compile(r'^exitcode_bot_leader\{cluster=""\} (\S+)$', re.MULTILINE)


async def until(what: str, condition: Callable[[], bool | Awaitable[bool]], timeout: float = WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        met = condition()
        if met if isinstance(met, bool) else await met:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


# --- the standalone fake Kubernetes API --------------------------------------------------------------


class StandaloneKube:
    """`python -m tests.fakes.kube_api` in its own process, and its `/_fake/` test controls."""

    def __init__(self, process: asyncio.subprocess.Process, url: str, kubeconfig: Path) -> None:
        self.process = process
        self.url = url
        self.kubeconfig = kubeconfig
        self.clock = now_offset(-120)
        """Pod time of the next crash: a few seconds after the previous one, recent enough to alert."""

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.url + path, json=body) as response,
        ):
            if response.status == 404:
                return None
            assert response.status == 200, f"{method} {path}: {response.status} {await response.text()}"
            return await response.json()

    async def apply(self, *objects: JsonDict) -> list[JsonDict]:
        """Create or replace each object in order (each change is a watch event)."""
        stored: list[JsonDict] = await self._call("POST", "/_fake/objects", list(objects))
        return stored

    async def crash(self, pod: JsonDict, code: int, **details: Any) -> JsonDict:
        """One crash-loop turn as the kubelet writes it: exit, back-off, restart."""
        self.clock += 3
        crashed = exited(pod, "app", code, self.clock, **details)
        waiting = backoff(crashed, "app")
        return (await self.apply(crashed, waiting, restarted(waiting, "app", self.clock + 1)))[-1]

    async def bot_requests(self) -> list[JsonDict]:
        """The API calls the bot processes made (the tests' controls are not API calls)."""
        entries: list[JsonDict] = await self._call("GET", "/_fake/requests")
        return [entry for entry in entries if entry["user_agent"].startswith("exitcode-bot/")]

    async def ledger(self) -> LedgerState | None:
        """The alert ledger as the bots stored it in their ConfigMap (None before the first write)."""
        path = f"/api/v1/namespaces/{BOT_NAMESPACE}/configmaps/{LEDGER}"
        config_map = await self._call("GET", path)
        return LedgerState.from_json(config_map["data"][LEDGER_KEY]) if config_map else None


@pytest.fixture
async def kube(tmp_path: Path) -> AsyncIterator[StandaloneKube]:
    kubeconfig = tmp_path / "kubeconfig"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.kube_api",
        "--port",
        "0",
        "--kubeconfig",
        str(kubeconfig),
        cwd=REPO_ROOT,
        env=bot_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=(tmp_path / "fake-kube.log").open("wb"),
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), WAIT)).decode()
        url = line.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://"), f"the fake did not start: {line!r}"
        fake = StandaloneKube(process, url, kubeconfig)
        await fake.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": BOT_NAMESPACE}})
        yield fake
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()


# --- bot processes ------------------------------------------------------------------------------------


class BotProcess:
    """`python -m bot` with its output collected as it comes (a full pipe would stall the bot)."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.stdout = ""
        self.stderr = ""
        assert process.stdout is not None and process.stderr is not None
        self._readers = [
            asyncio.ensure_future(self._collect(process.stdout, "stdout")),
            asyncio.ensure_future(self._collect(process.stderr, "stderr")),
        ]

    async def _collect(self, stream: asyncio.StreamReader, name: str) -> None:
        while chunk := await stream.read(4096):
            setattr(self, name, getattr(self, name) + chunk.decode(errors="replace"))

    async def printed(self, text: str) -> None:
        async def seen() -> bool:
            assert self.process.returncode is None, f"the bot exited early:\n{self.stderr[-2000:]}"
            return text in self.stdout

        await until(f"{text!r} on stdout", seen)

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")

    async def ready(self) -> None:
        async def answering() -> bool:
            assert self.process.returncode is None, f"the bot exited early:\n{self.stderr[-2000:]}"
            with contextlib.suppress(aiohttp.ClientError):
                async with aiohttp.ClientSession() as session, session.get(self.url + "/readyz") as reply:
                    return reply.status == 200
            return False

        await until("the bot to be ready", answering)

    async def metrics(self) -> str:
        async with aiohttp.ClientSession() as session, session.get(self.url + "/metrics") as reply:
            return await reply.text()

    async def leading(self) -> bool:
        found = LEADER_GAUGE.search(await self.metrics())
        return found is not None and float(found.group(1)) == 1.0

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send `signum` and wait for the exit (bounded: a pod gets 30 s, the bot needs a few)."""
        self.process.send_signal(signum)
        return await self.exited(STOP_TIMEOUT)

    async def exited(self, timeout: float = WAIT) -> int:
        """The exit code, once the process ended and all its output is read."""
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await asyncio.gather(*self._readers)
        return code

    async def end(self) -> None:
        """Teardown: whatever state the test left the process in."""
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        for reader in self._readers:
            reader.cancel()


@pytest.fixture
async def start_bot(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[BotProcess]]]:
    started: list[BotProcess] = []

    async def start(**env: str) -> BotProcess:
        port = free_port()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=bot_env(PORT=str(port), **env),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        bot = BotProcess(process, port)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        await bot.end()


def cluster_env(kube: StandaloneKube, **overrides: str) -> dict[str, str]:
    return {
        "KUBECONFIG": str(kube.kubeconfig),
        "POD_NAMESPACE": BOT_NAMESPACE,
        "WATCH_NAMESPACES": "shop",
        "KUBE_TIMEOUT_SECONDS": "5",
        **overrides,
    }


def slack_env(kube: StandaloneKube, slack: FakeSlackApi, **overrides: str) -> dict[str, str]:
    """HTTP mode against the fake Slack, alerts to `CHANNEL`."""
    slack_settings = {
        "SLACK_BOT_TOKEN": DEFAULT_BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.base_url,
        "ALERT_CHANNEL": CHANNEL,
    }
    return cluster_env(kube, **(slack_settings | overrides))


def posts(slack: FakeSlackApi, *, thread: bool) -> list[JsonDict]:
    """Successful chat.postMessage calls: alert roots (thread=False) or replies in their threads."""
    calls = [call for call in slack.calls_to("chat.postMessage") if call.ok and call.response]
    return [
        call.args | {"ts": call.response["ts"]}
        for call in calls
        if call.response and bool(call.args.get("thread_ts")) is thread
    ]


def sent_roots(metrics: str) -> float:
    found = re.search(
        r'^exitcode_bot_alert_messages_total\{cluster="",kind="root"\} (\S+)$', metrics, re.MULTILINE
    )
    return float(found.group(1)) if found else 0.0


async def the_leader(bots: list[BotProcess]) -> BotProcess:
    """The one replica that leads, once exactly one does."""
    leaders: list[BotProcess] = []

    async def one() -> bool:
        leaders[:] = [bot for bot in bots if await bot.leading()]
        return len(leaders) == 1

    await until("exactly one leader", one)
    return leaders[0]


async def root_stored(kube: StandaloneKube, slack: FakeSlackApi) -> bool:
    """The posted root's reference is in the ledger and nothing is left to send."""
    ledger = await kube.ledger()
    roots = posts(slack, thread=False)
    return bool(ledger and not ledger.outbox and roots and roots[0]["ts"] in ledger.to_json())


# --- console mode -------------------------------------------------------------------------------------


async def test_console_mode_prints_a_crash_once_and_keeps_answering(
    kube: StandaloneKube, start_bot: Callable[..., Awaitable[BotProcess]]
) -> None:
    pod = (await kube.apply(web_pod()))[0]
    bot = await start_bot(**cluster_env(kube))
    await bot.printed("console mode")

    await kube.crash(pod, 137, reason="OOMKilled", message="<!channel> out of memory")
    await bot.printed(OOM_HEADLINE)
    bot.type("/exitcode 137")
    await bot.printed("137 = 128 + 9 → SIGKILL\n=")  # the reply's heading, not the alert's text
    code = await bot.stop(signal.SIGTERM)

    assert code == 0, bot.stderr
    assert bot.stdout.count(OOM_HEADLINE) == 1
    assert "<!channel> out of memory" in bot.stdout  # plain text on a terminal: nothing to escape
    assert bot.stdout.index(OOM_HEADLINE) < bot.stdout.index("137 = 128 + 9")
    assert "Traceback" not in bot.stderr
    touched = {(entry["verb"], entry["resource"]) for entry in await kube.bot_requests()}
    assert ("watch", "pods") in touched
    assert not {resource for verb, resource in touched if verb in ("create", "update", "patch")}, (
        "a laptop in console mode must not take the cluster's Lease or write its ledger"
    )
    assert not {verb for verb, resource in touched if resource == "leases"}


async def test_a_bad_label_selector_stops_startup_with_one_line_and_exit_2(
    tmp_path: Path, start_bot: Callable[..., Awaitable[BotProcess]]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "current-context: c\n"
    )
    bot = await start_bot(KUBECONFIG=str(kubeconfig), WATCH_LABEL_SELECTOR="app in (api")

    code = await bot.exited()

    assert code == 2
    errors = [line for line in bot.stderr.splitlines() if line.startswith("exitcode-bot:")]
    assert len(errors) == 1 and bot.stderr.endswith(errors[0] + "\n")
    assert "WATCH_LABEL_SELECTOR" in errors[0] and "'app in (api'" in errors[0]
    assert "Traceback" not in bot.stderr


async def test_without_a_cluster_the_bot_explains_and_says_no_alerts_are_watched(
    tmp_path: Path, start_bot: Callable[..., Awaitable[BotProcess]]
) -> None:
    bot = await start_bot(KUBECONFIG=str(tmp_path / "missing"))
    bot.type("137")
    assert bot.process.stdin is not None
    bot.process.stdin.close()

    code = await bot.exited()

    assert code == 0
    assert "137 = 128 + 9 → SIGKILL" in bot.stdout
    assert "no crash alerts are watched" in bot.stderr and "Traceback" not in bot.stderr


# --- Slack mode ---------------------------------------------------------------------------------------


async def test_two_replicas_post_each_crash_once_and_a_killed_leader_is_replaced(
    kube: StandaloneKube, slack_api: FakeSlackApi, start_bot: Callable[..., Awaitable[BotProcess]]
) -> None:
    pod = (await kube.apply(web_pod()))[0]
    env = slack_env(kube, slack_api, LEASE_DURATION_SECONDS="2")
    bots = [await start_bot(**env), await start_bot(**env)]
    await asyncio.gather(*(bot.ready() for bot in bots))
    leader = await the_leader(bots)
    standby = next(bot for bot in bots if bot is not leader)

    pod = await kube.crash(pod, 137, reason="OOMKilled")
    await until("the alert", lambda: len(posts(slack_api, thread=False)) == 1)
    await until("the ledger to record it", lambda: root_stored(kube, slack_api))
    assert sent_roots(await leader.metrics()) == 1 and sent_roots(await standby.metrics()) == 0

    await leader.stop(signal.SIGKILL)  # no release: the standby waits for the Lease to expire
    await kube.crash(pod, 137, reason="OOMKilled")

    await until("the repeat in the alert's thread", lambda: len(posts(slack_api, thread=True)) == 1)
    assert await standby.leading()
    roots, replies = posts(slack_api, thread=False), posts(slack_api, thread=True)
    assert len(roots) == 1, "the new leader posted the first crash again"
    assert replies[0]["thread_ts"] == roots[0]["ts"] and roots[0]["channel"] == CHANNEL
    assert OOM_HEADLINE in str(roots[0]["blocks"])
    assert await standby.stop(signal.SIGTERM) == 0


async def test_a_leader_stopped_with_sigterm_exits_0_and_hands_over_at_once(
    kube: StandaloneKube, slack_api: FakeSlackApi, start_bot: Callable[..., Awaitable[BotProcess]]
) -> None:
    """With a 30-second Lease only its release explains the standby leading within seconds."""
    pod = (await kube.apply(web_pod()))[0]
    env = slack_env(kube, slack_api, LEASE_DURATION_SECONDS="30")
    first = await start_bot(**env)
    await first.ready()
    await until("the first replica to lead", first.leading)
    second = await start_bot(**env)
    await second.ready()

    pod = await kube.crash(pod, 1)
    await until("the alert", lambda: len(posts(slack_api, thread=False)) == 1)
    await until("the ledger to record it", lambda: root_stored(kube, slack_api))
    assert not await second.leading()

    assert await first.stop(signal.SIGTERM) == 0
    await until("the standby to lead", second.leading, timeout=10.0)
    await kube.crash(pod, 1)
    await until("the repeat in the alert's thread", lambda: len(posts(slack_api, thread=True)) == 1)

    assert len(posts(slack_api, thread=False)) == 1
    assert "released Lease" in first.stderr and "Traceback" not in first.stderr
    assert await second.stop(signal.SIGTERM) == 0


# --- alerts-only (issue 12) ---------------------------------------------------------------------------


async def test_alerts_only_runs_without_slack_or_stdin_and_pages_each_crash_once(
    kube: StandaloneKube, start_bot: Callable[..., Awaitable[BotProcess]]
) -> None:
    """No Slack app at all, PagerDuty and the webhook configured: a Deployment's process that reads no
    stdin (end of input does not stop it), pages each crash once, logs none of its secrets, exits 0."""
    from tests.fakes.pagerduty import ROUTING_KEY, FakePagerDuty
    from tests.fakes.webhook_receiver import WebhookReceiver

    secret = "whsec-process-test-0123456789"
    async with FakePagerDuty() as pagerduty:
        receiver = await WebhookReceiver(secret).start()
        receiver_url = receiver.url
        try:
            pod = (await kube.apply(web_pod()))[0]
            env = cluster_env(
                kube,
                PAGERDUTY_ROUTING_KEY=ROUTING_KEY,
                PAGERDUTY_EVENTS_URL=pagerduty.events_url,
                WEBHOOK_URL=receiver.url,
                WEBHOOK_SECRET=secret,
            )
            bot = await start_bot(**env)
            assert bot.process.stdin is not None
            bot.process.stdin.close()  # no stdin: console mode would end here; alerts-only does not
            await bot.ready()
            await until("the watcher to lead", bot.leading)

            await kube.crash(pod, 137, reason="OOMKilled")
            await until(
                "the page and the event",
                lambda: len(pagerduty.alerts) == 1 and len(receiver.events) == 1,
            )
            assert "OOMKilled" in str(pagerduty.alerts[0].first["payload"]["summary"])
            assert receiver.events[0]["event"] == "crash"
            code = await bot.stop(signal.SIGTERM)
        finally:
            await receiver.close()
    assert code == 0
    assert "alerts-only" in bot.stderr
    for secret_text in (ROUTING_KEY, secret, receiver_url):
        assert secret_text not in bot.stderr and secret_text not in bot.stdout


async def test_a_webhook_without_its_secret_stops_startup_with_one_line_and_exit_2(
    kube: StandaloneKube, start_bot: Callable[..., Awaitable[BotProcess]]
) -> None:
    bot = await start_bot(**cluster_env(kube, WEBHOOK_URL="https://receiver.example.com/hook"))
    assert await bot.exited() == 2
    assert "WEBHOOK_SECRET" in bot.stderr and "Traceback" not in bot.stderr
    assert "receiver.example.com" not in bot.stderr
