"""One Slack app, many clusters (issue 13): commands reach the cluster they name.

Three fake API servers behind one kubeconfig (contexts `prod-eu`, the current one and so the home
cluster, `prod-us`, and `gone`, whose server has stopped), the production `SlackBot` in HTTP mode built
with CLUSTERS=*, and signed slash commands through the real Bolt app: what the on-call engineer reads is
what is asserted.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.access import BotConfig, ChannelClusters
from bot.application.clusters import ClusterRegistry, ClusterSelectionError, connect_clusters, select_clusters
from bot.command import ClustersCommand, DiagnoseCommand, parse_command, split_cluster
from bot.knowledge import KnowledgeBase
from bot.render.alert_blocks import REDIAGNOSE_ACTION_ID, AlertTarget
from bot.settings import Settings
from bot.wiring import SlackBot
from tests.conftest import SIGNING_SECRET, HttpBot
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_fixtures import TEST_BOOKMARK_INTERVAL
from tests.fakes.kubeconfig import write_multi_kubeconfig
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi, ResponseUrlPost
from tests.fakes.slack_signing import block_actions_payload, signed_headers, slash_command_body
from tests.test_alert_service import BOT_NAMESPACE, now_offset, web_pod
from tests.test_alerting_pods import exited

CHANNEL_ID = "C0CLUSTERS"


@dataclass
class Fleet:
    """The fake clusters by name, and the kubeconfig naming them."""

    servers: dict[str, FakeKubeApi]
    kubeconfig: Path

    def connect(self, wanted: list[str], timeout: float = 3.0) -> ClusterRegistry:
        return connect_clusters(
            wanted, cluster_name=None, timeout_seconds=timeout, environ={"KUBECONFIG": str(self.kubeconfig)}
        )


@asynccontextmanager
async def fleet(
    tmp_path: Path, names: tuple[str, ...] = ("prod-eu", "prod-us", "gone")
) -> AsyncIterator[Fleet]:
    async with AsyncExitStack() as stack:
        servers = {
            name: await stack.enter_async_context(FakeKubeApi(bookmark_interval=TEST_BOOKMARK_INTERVAL))
            for name in names
        }
        kubeconfig = write_multi_kubeconfig(
            tmp_path / "kubeconfig", {name: server.url for name, server in servers.items()}
        )
        if "gone" in servers:
            await servers["gone"].stop()  # a cluster that is down: connection refused
        yield Fleet(servers, kubeconfig)


class ClustersBot:
    def __init__(self, bot: SlackBot, client: TestClient[Any, Any], slack: FakeSlackApi) -> None:
        self.client = client
        self.slack = slack
        self.http = HttpBot(bot, client, slack)

    async def click_rediagnose(self, target: AlertTarget, *, channel_id: str = CHANNEL_ID) -> None:
        """Click Re-diagnose on an alert for `target` (the button on its message, as Slack sends it)."""
        value = target.to_value()
        payload = block_actions_payload(
            REDIAGNOSE_ACTION_ID,
            value,
            response_url=self.slack.response_url("actions"),
            channel_id=channel_id,
        )
        payload["message"]["blocks"] = [
            {
                "type": "actions",
                "elements": [{"type": "button", "action_id": REDIAGNOSE_ACTION_ID, "value": value}],
            }
        ]
        assert (await self.http.click(payload)).status == 200

    async def ask(self, text: str, *, channel_name: str = "oncall") -> tuple[str, ResponseUrlPost]:
        """A command answered through its response_url: the acknowledgement's text and the answer."""
        url = self.slack.response_url()
        body = slash_command_body(
            text, command="/exitcode", response_url=url, channel_id=CHANNEL_ID, channel_name=channel_name
        )
        response = await self.client.post(
            "/slack/events", data=body, headers=signed_headers(SIGNING_SECRET, body)
        )
        assert response.status == 200
        ack = json.loads(await response.text())["text"]
        await self.slack.wait_until(lambda: any(post.url == url for post in self.slack.response_posts))
        return ack, next(post for post in self.slack.response_posts if post.url == url)


@asynccontextmanager
async def clusters_bot(
    slack: FakeSlackApi,
    knowledge: KnowledgeBase,
    registry: ClusterRegistry,
    config: BotConfig | None = None,
    *,
    watch: bool = False,
) -> AsyncIterator[ClustersBot]:
    settings = Settings(
        _env_file=None,
        slack_bot_token=DEFAULT_BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.base_url,
        watch_enabled=watch,
        pod_namespace=BOT_NAMESPACE,
        clusters=["*"],
        log_lines=3,
    )
    bot = SlackBot(settings, knowledge, cluster=registry.home_connection, config=config, clusters=registry)
    client: TestClient[Any, Any] = TestClient(TestServer(bot.web_app))
    await client.start_server()
    await bot.start()
    try:
        yield ClustersBot(bot, client, slack)
    finally:
        await bot.close()
        await client.close()
        registry.close()


def answer_text(post: ResponseUrlPost) -> str:
    return json.dumps(post.body.get("blocks") or []) + str(post.body.get("text", ""))


def crashed_pod(name: str, code: int) -> dict[str, Any]:
    return exited(web_pod(name), "app", code, now_offset(-60), reason="OOMKilled" if code == 137 else None)


# --- the grammar -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "argument", "expected"),
    [
        ("pod", "shop/api", (None, "shop/api")),
        ("pod", "api", (None, "api")),
        ("pod", "prod-us/shop/api", ("prod-us", "shop/api")),
        ("ns", "shop", (None, "shop")),
        ("ns", "prod-us/shop", ("prod-us", "shop")),
        ("ns", "a/b/c", ("a", "b/c")),  # still one cluster part; the rest is refused as a namespace
    ],
)
def test_the_cluster_is_the_part_before_the_usual_argument(
    kind: Any, argument: str, expected: tuple[str | None, str]
) -> None:
    assert split_cluster(kind, argument) == expected


def test_clusters_is_its_own_command_and_a_pod_named_clusters_is_not() -> None:
    assert parse_command("clusters") == ClustersCommand()
    assert parse_command("clusters share") == ClustersCommand(share=True)
    assert parse_command("pod clusters") == DiagnoseCommand("pod", "clusters")
    assert not isinstance(parse_command("clusters of pods"), ClustersCommand)


# --- which clusters --------------------------------------------------------------------------------


def test_clusters_names_contexts_in_order_and_refuses_what_the_kubeconfig_lacks() -> None:
    contexts = ["prod-eu", "prod-us", "kind-dev"]
    assert select_clusters(["prod-us", "prod-eu"], contexts, in_cluster_name=None) == [
        ("prod-us", "prod-us"),
        ("prod-eu", "prod-eu"),
    ]
    assert [name for name, _ in select_clusters(["*"], contexts, in_cluster_name="home")] == [
        "home",
        *contexts,
    ]
    with pytest.raises(ClusterSelectionError, match=r"'prod-ap'.*contexts: prod-eu, prod-us, kind-dev"):
        select_clusters(["prod-ap"], contexts, in_cluster_name=None)
    with pytest.raises(ClusterSelectionError, match="CLUSTER/NAMESPACE"):
        select_clusters(["*"], ["arn:aws:eks:eu-west-1:1:cluster/prod"], in_cluster_name=None)
    with pytest.raises(ClusterSelectionError, match="share Lease"):
        select_clusters(["*"], ["Prod", "prod"], in_cluster_name=None)


async def test_the_home_cluster_is_the_current_context_and_a_dead_one_is_still_listed(tmp_path: Path) -> None:
    async with fleet(tmp_path) as clusters:
        registry = clusters.connect(["prod-us", "gone", "prod-eu"])
        try:
            assert registry.home == "prod-eu"  # the kubeconfig's current context
            assert registry.names == ["prod-eu", "prod-us", "gone"]
            assert all(connection.reader is not None for connection in registry)
        finally:
            registry.close()


# --- commands to each cluster ----------------------------------------------------------------------


async def test_each_command_reads_the_cluster_it_names_and_says_which(
    tmp_path: Path, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    async with fleet(tmp_path) as clusters:
        clusters.servers["prod-eu"].cluster.apply(crashed_pod("api-eu-1", 1))
        clusters.servers["prod-us"].cluster.apply(crashed_pod("api-us-1", 137))
        async with clusters_bot(slack_api, knowledge_base, clusters.connect(["*"])) as bot:
            _, us = await bot.ask("pod prod-us/shop/api-us-1")
            _, eu = await bot.ask("pod shop/api-eu-1")  # no cluster: the home cluster
            _, eu_by_name = await bot.ask("pod prod-eu/shop/api-eu-1")
            _, triage = await bot.ask("ns prod-us/shop")
            _, wrong_cluster = await bot.ask("pod shop/api-us-1")

    assert "OOMKilled" in answer_text(us) and "prod-us" in answer_text(us)
    assert "api-eu-1" in answer_text(eu) and "prod-eu" in answer_text(eu)
    assert "api-eu-1" in answer_text(eu_by_name)
    assert "api-us-1" in answer_text(triage) and "prod-us" in answer_text(triage)
    assert "/exitcode pod prod-us/shop/api-us-1" in answer_text(triage)  # the footer reads the same cluster
    assert "api-eu-1" not in answer_text(triage)
    assert "not found" in answer_text(wrong_cluster).lower()


async def test_an_unknown_cluster_gets_one_sentence_and_the_known_ones(
    tmp_path: Path, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    async with (
        fleet(tmp_path) as clusters,
        clusters_bot(slack_api, knowledge_base, clusters.connect(["*"])) as bot,
    ):
        _, pod = await bot.ask("pod prod-ap/shop/api")
        _, ns = await bot.ask("ns prod-ap/shop")

    for post in (pod, ns):
        text = str(post.body["text"])
        assert "This bot knows no cluster “prod-ap”; its clusters are: prod-eu, prod-us, gone." in text
        assert post.response_type == "ephemeral"


async def test_a_cluster_that_is_down_is_named_with_the_others_and_delays_nobody(
    tmp_path: Path, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    async with fleet(tmp_path) as clusters:
        clusters.servers["prod-us"].cluster.apply(crashed_pod("api-us-1", 1))
        async with clusters_bot(slack_api, knowledge_base, clusters.connect(["*"])) as bot:
            _, down = await bot.ask("ns gone/shop")
            _, up = await bot.ask("pod prod-us/shop/api-us-1")

    text = str(down.body["text"])
    assert "Cluster “gone”" in text and "cannot be reached" in text
    assert "The other clusters: prod-eu, prod-us." in text
    assert "api-us-1" in answer_text(up)


async def test_a_slow_cluster_answers_after_a_fast_one_asked_later(
    tmp_path: Path, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    """Commands to different clusters run side by side: the fast one is answered while the slow one
    is still waiting for its apiserver."""
    async with fleet(tmp_path, ("prod-eu", "prod-us")) as clusters:
        clusters.servers["prod-us"].cluster.apply(crashed_pod("api-us-1", 1))
        clusters.servers["prod-eu"].cluster.apply(crashed_pod("api-eu-1", 1))
        clusters.servers["prod-us"].faults.latency = 2.0
        async with clusters_bot(slack_api, knowledge_base, clusters.connect(["*"], timeout=30)) as bot:
            slow_url = slack_api.response_url()
            body = slash_command_body(
                "ns prod-us/shop", command="/exitcode", response_url=slow_url, channel_id=CHANNEL_ID
            )
            await bot.client.post("/slack/events", data=body, headers=signed_headers(SIGNING_SECRET, body))
            _, fast = await bot.ask("ns prod-eu/shop")
            slow_answered_first = any(post.url == slow_url for post in slack_api.response_posts)
            await slack_api.wait_until(lambda: any(post.url == slow_url for post in slack_api.response_posts))

    assert "api-eu-1" in answer_text(fast)
    assert not slow_answered_first


async def test_a_channel_has_a_default_cluster_and_may_query_only_its_allowed_ones(
    tmp_path: Path, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    config = BotConfig(
        channel_clusters={"#payments": ChannelClusters(default="prod-us", allowed=("prod-*",))},
        channel_namespaces={"#payments": ("shop",), "*": ("*",)},
    )
    async with fleet(tmp_path) as clusters:
        clusters.servers["prod-us"].cluster.apply(crashed_pod("api-us-1", 1))
        async with clusters_bot(slack_api, knowledge_base, clusters.connect(["*"]), config) as bot:
            _, by_default = await bot.ask("pod shop/api-us-1", channel_name="payments")
            _, other_cluster = await bot.ask("ns gone/shop", channel_name="payments")
            _, other_namespace = await bot.ask("ns prod-us/kube-system", channel_name="payments")
            _, elsewhere = await bot.ask("ns gone/shop", channel_name="oncall")

    assert "api-us-1" in answer_text(by_default) and "prod-us" in answer_text(by_default)
    assert "Cluster “gone” cannot be queried from this channel" in str(other_cluster.body["text"])
    assert "kube-system" in str(other_namespace.body["text"])
    assert "cannot be queried from this channel" in str(other_namespace.body["text"])
    assert "cannot be reached" in str(elsewhere.body["text"])  # another channel may ask, and learns why not


async def test_clusters_lists_name_reachability_version_and_watcher(
    tmp_path: Path, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    async with (
        fleet(tmp_path) as clusters,
        clusters_bot(slack_api, knowledge_base, clusters.connect(["*"])) as bot,
    ):
        ack, listing = await bot.ask("clusters")

    text = answer_text(listing)
    assert "Asking every cluster" in ack
    assert "3 clusters, 2 reachable" in text
    assert "prod-eu (home: Leases and ledgers): reachable, v1." in text
    assert "prod-us: reachable, v1." in text
    assert "gone: unreachable: The Kubernetes API server cannot be reached" in text
    assert "not watched (WATCH_ENABLED=false)" in text


async def test_without_clusters_the_clusters_command_says_there_is_one(
    slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    from tests.test_slash_command_setting import command_bot

    async with command_bot(slack_api, knowledge_base) as bot:
        status, body = await bot.send("/exitcode", "clusters")

    assert status == 200
    assert "serves one cluster (CLUSTERS is not set)" in json.loads(body)["text"]


async def test_the_many_cluster_bot_with_alerts_on_starts_and_lists_snoozes(
    tmp_path: Path, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    """`python -m bot` with CLUSTERS and crash alerts on (the default): the buttons, the alert runners
    and `/exitcode snoozes` are wired for every cluster (a NameError here once stopped it at startup)."""
    async with fleet(tmp_path, ("prod-eu", "prod-us")) as clusters:
        clusters.servers["prod-eu"].cluster.ensure_namespace(BOT_NAMESPACE)
        async with clusters_bot(slack_api, knowledge_base, clusters.connect(["*"]), watch=True) as bot:
            ack, answer = await bot.ask("snoozes")

    assert "snoozes" in ack
    assert "Traceback" not in json.dumps(answer.body) and "went wrong" not in json.dumps(answer.body)


# --- alert buttons ------------------------------------------------------------------------------------------


async def test_a_button_acts_on_the_cluster_its_alert_came_from(
    tmp_path: Path, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    async with fleet(tmp_path) as clusters:
        clusters.servers["prod-us"].cluster.apply(crashed_pod("api-us-1", 137))
        async with clusters_bot(slack_api, knowledge_base, clusters.connect(["*"])) as bot:
            clusters.servers["prod-eu"].requests.clear()
            await bot.click_rediagnose(
                AlertTarget("shop", "api-us-1", "app", "Deployment/api", 137, cluster="prod-us")
            )
            await slack_api.wait_until(
                lambda: any(call.args.get("thread_ts") for call in slack_api.calls_to("chat.postMessage"))
            )

    (reply,) = [call.args for call in slack_api.calls_to("chat.postMessage") if call.args.get("thread_ts")]
    assert "api-us-1" in json.dumps(reply) and "OOMKilled" in json.dumps(reply)
    assert [r for r in clusters.servers["prod-eu"].requests.entries if r.namespace == "shop"] == []


async def test_a_button_for_a_cluster_the_bot_or_the_channel_may_not_use_does_nothing(
    tmp_path: Path, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    config = BotConfig(channel_clusters={CHANNEL_ID: ChannelClusters(allowed=("prod-eu",))})
    async with fleet(tmp_path) as clusters:
        clusters.servers["prod-us"].cluster.apply(crashed_pod("api-us-1", 1))
        async with clusters_bot(slack_api, knowledge_base, clusters.connect(["*"]), config) as bot:
            clusters.servers["prod-us"].requests.clear()
            await bot.click_rediagnose(
                AlertTarget("shop", "api-us-1", "app", "Deployment/api", 1, cluster="prod-ap")
            )
            await bot.click_rediagnose(
                AlertTarget("shop", "api-us-1", "app", "Deployment/api", 1, cluster="prod-us")
            )
            await slack_api.wait_until(lambda: len(slack_api.response_posts) == 2)

    texts = sorted(str(post.body["text"]) for post in slack_api.response_posts)
    assert "Cluster “prod-us” cannot be queried from this channel" in texts[0]
    assert (
        "cluster “prod-ap”, which this bot does not serve (its clusters: prod-eu, prod-us, gone)" in texts[1]
    )
    assert clusters.servers["prod-us"].requests.entries == []
    assert not [call for call in slack_api.calls_to("chat.postMessage") if call.args.get("thread_ts")]


# --- console mode ---------------------------------------------------------------------------------------


async def test_console_lines_name_their_cluster_and_clusters_lists_them(
    tmp_path: Path, knowledge_base: KnowledgeBase
) -> None:
    from bot.wiring import console_cluster_replies

    async with fleet(tmp_path) as clusters:
        clusters.servers["prod-us"].cluster.apply(crashed_pod("api-us-1", 137))
        registry = clusters.connect(["*"])
        try:
            replies = console_cluster_replies(Settings(_env_file=None), knowledge_base, registry, BotConfig())
            pod = await replies("pod prod-us/shop/api-us-1")
            unknown = await replies("ns prod-ap/shop")
            listing = await replies("clusters")
            explained = await replies("137")
        finally:
            registry.close()

    assert pod.startswith("Cluster: prod-us\n") and "OOMKilled" in pod
    assert "This bot knows no cluster “prod-ap”; its clusters are: prod-eu, prod-us, gone." in unknown
    assert "prod-eu (home: Leases and ledgers): reachable" in listing and "gone: unreachable" in listing
    assert "SIGKILL" in explained
