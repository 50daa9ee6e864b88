"""Watching many clusters (issue 13): one watcher per cluster, each led through its own Lease.

Fake API servers for `prod-eu` (the home cluster: Leases and ledgers), `prod-us` and `gone` (down),
replicas built by the production `build_cluster_alert_runners`, alerts posted to the fake Slack Web API.
What is asserted is what Slack receives and what the home cluster stores.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import BotConfig
from bot.alerting.routing import channel_for_namespace, namespace_map_for_cluster
from bot.application.clusters import ClusterRegistry, connect_clusters, lease_name_for, ledger_name_for
from bot.knowledge import KnowledgeBase
from bot.metrics import AlertMetrics
from bot.render.alert_blocks import AlertTarget
from bot.slack.poster import SlackAlertSink
from bot.wiring import ClusterAlertRunners, build_cluster_alert_runners
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_fixtures import TEST_BOOKMARK_INTERVAL
from tests.fakes.kubeconfig import write_multi_kubeconfig
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi, JsonDict
from tests.test_alert_service import (
    BOT_NAMESPACE,
    FAST,
    FAST_POSTER,
    Harness,
    all_text,
    now_offset,
    until,
    web_pod,
)
from tests.test_alerting_pods import backoff, exited, restarted


@dataclass
class Clusters:
    """Fake clusters behind one kubeconfig, and replicas (each with its own registry of clients)."""

    servers: dict[str, FakeKubeApi]
    kubeconfig: Path
    slack: FakeSlackApi
    knowledge: KnowledgeBase
    harness: Harness
    replicas: list[ClusterAlertRunners] = field(default_factory=list)
    registries: list[ClusterRegistry] = field(default_factory=list)
    clock: float = field(default_factory=lambda: now_offset(-300))
    """Pod time of the next crash: each a few seconds after the previous one, in the recent past."""

    def start(
        self, identity: str, *, config: BotConfig | None = None, metrics: AlertMetrics | None = None
    ) -> ClusterAlertRunners:
        """A replica watching every cluster; `metrics`: the alert metrics on its `/metrics` registry."""
        registry = connect_clusters(
            ["*"], cluster_name=None, timeout_seconds=3.0, environ={"KUBECONFIG": str(self.kubeconfig)}
        )
        self.registries.append(registry)
        metrics = metrics or AlertMetrics(CollectorRegistry())
        web = AsyncWebClient(token=DEFAULT_BOT_TOKEN, base_url=self.slack.base_url)
        runners = build_cluster_alert_runners(
            self.harness.settings(clusters=["*"]),
            self.knowledge,
            registry,
            config or BotConfig(),
            sink=SlackAlertSink(web, FAST_POSTER, on_error=metrics.slack_error),
            metrics=metrics,
            identity=identity,
            tuning=FAST,
        )
        assert runners is not None
        runners.start()
        self.replicas.append(runners)
        return runners

    def crash(self, cluster: str, name: str, code: int) -> None:
        fake = self.servers[cluster].cluster
        self.clock += 3
        at = self.clock
        pod = (
            fake.apply(web_pod(name))
            if fake.get("Pod", "shop", name) is None
            else fake.get("Pod", "shop", name)
        )
        assert pod is not None
        pod = fake.apply(exited(pod, "app", code, at))
        pod = fake.apply(backoff(pod, "app"))
        fake.apply(restarted(pod, "app", at + 1))

    def posts(self) -> list[JsonDict]:
        return [call.args for call in self.slack.calls_to("chat.postMessage") if call.ok]

    def roots(self) -> list[JsonDict]:
        return [post for post in self.posts() if not post.get("thread_ts")]

    def lease_holder(self, cluster: str) -> str | None:
        lease = self.servers["prod-eu"].cluster.get(
            "Lease", BOT_NAMESPACE, lease_name_for("exitcode-bot-leader", cluster)
        )
        return None if lease is None else lease["spec"].get("holderIdentity")


@pytest.fixture(name="clusters")
async def clusters_fixture(
    tmp_path: Path, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> AsyncIterator[Clusters]:
    async with AsyncExitStack() as stack:
        servers = {
            name: await stack.enter_async_context(FakeKubeApi(bookmark_interval=TEST_BOOKMARK_INTERVAL))
            for name in ("prod-eu", "prod-us", "gone")
        }
        kubeconfig = write_multi_kubeconfig(
            tmp_path / "kubeconfig", {name: server.url for name, server in servers.items()}, current="prod-eu"
        )
        await servers["gone"].stop()
        servers["prod-eu"].cluster.ensure_namespace(BOT_NAMESPACE)
        harness = Harness(servers["prod-eu"], slack_api, knowledge_base, tmp_path)
        made = Clusters(servers, kubeconfig, slack_api, knowledge_base, harness)
        yield made
        await asyncio.gather(*(replica.stop(3.0) for replica in made.replicas))
        for registry in made.registries:
            registry.close()


def leading(replica: ClusterAlertRunners, cluster: str) -> bool:
    return replica.runners[cluster].service.leading


def watching(replica: ClusterAlertRunners, cluster: str) -> bool:
    return replica.runners[cluster].service.watching


def blocks_text(message: JsonDict) -> str:
    blocks = message.get("blocks") or []
    return json.dumps(json.loads(blocks) if isinstance(blocks, str) else blocks)


async def test_each_cluster_alerts_under_its_own_name_while_a_dead_one_waits_alone(
    clusters: Clusters,
) -> None:
    replica = clusters.start("bot-a")
    await until(
        "prod-eu and prod-us watched", lambda: watching(replica, "prod-eu") and watching(replica, "prod-us")
    )

    clusters.crash("prod-eu", "api-eu-1", 1)
    clusters.crash("prod-us", "api-us-1", 137)
    await until("both alerts", lambda: len(clusters.roots()) == 2, timeout=10)

    by_pod = {("api-eu-1" if "api-eu-1" in all_text(root) else "api-us-1"): root for root in clusters.roots()}
    assert str(by_pod["api-eu-1"]["text"]).startswith("[prod-eu] ")
    assert str(by_pod["api-us-1"]["text"]).startswith("[prod-us] ")
    assert "prod-us" in blocks_text(by_pod["api-us-1"])
    values = {
        element["value"]
        for block in json.loads(blocks_text(by_pod["api-us-1"]))
        if block["type"] == "actions"
        for element in block["elements"]
        if "value" in element
    }
    assert {AlertTarget.from_value(value).cluster for value in values} == {"prod-us"}  # buttons carry it
    assert not watching(replica, "gone")  # its watch backs off on its own
    home = clusters.servers["prod-eu"].cluster
    await until(
        "each cluster's ledger in the home cluster",
        lambda: all(
            home.get("ConfigMap", BOT_NAMESPACE, ledger_name_for("exitcode-bot-ledger", name)) is not None
            for name in ("prod-eu", "prod-us")
        ),
    )
    assert {clusters.lease_holder(name) for name in ("prod-eu", "prod-us", "gone")} == {"bot-a"}
    assert (
        clusters.servers["prod-us"].cluster.get("Lease", BOT_NAMESPACE, "exitcode-bot-leader-prod-us") is None
    )


async def test_one_clusters_watch_fails_over_while_the_others_keep_posting(clusters: Clusters) -> None:
    a = clusters.start("bot-a")
    await until(
        "bot-a leads every cluster", lambda: all(leading(a, name) for name in ("prod-eu", "prod-us", "gone"))
    )
    b = clusters.start("bot-b")
    await until("bot-a watches", lambda: watching(a, "prod-eu") and watching(a, "prod-us"))
    clusters.crash("prod-us", "api-us-1", 1)
    await until("the first alert", lambda: len(clusters.roots()) == 1, timeout=10)
    await until(
        "the ledger stored it",
        lambda: (
            a.runners["prod-us"].service.planner is not None
            and not a.runners["prod-us"].service.planner.state.outbox
        ),
    )

    task = a.runners["prod-us"].task
    assert task is not None
    task.cancel()  # kill -9 of bot-a's prod-us watcher: no release, bot-b takes over when the Lease expires
    await until("bot-b takes prod-us over", lambda: watching(b, "prod-us"), timeout=15)

    clusters.crash("prod-eu", "api-eu-1", 1)
    clusters.crash("prod-us", "api-us-2", 1)
    # api-us-2 is another pod of the same Deployment: its alert is a reply in api-us-1's thread, which
    # bot-b found in the ledger bot-a left.
    await until("both new alerts", lambda: len(clusters.posts()) == 3, timeout=10)

    assert clusters.lease_holder("prod-us") == "bot-b"
    assert clusters.lease_holder("prod-eu") == "bot-a"
    assert leading(a, "prod-eu") and not leading(b, "prod-eu")
    texts = [str(post["text"]) for post in clusters.posts()]
    assert sum("api-us-1" in text for text in texts) == 1  # the standby did not repeat the first one
    assert sum("[prod-eu]" in text for text in texts) == 1
    assert len(clusters.roots()) == 2


def test_routing_matches_cluster_and_namespace_globs_first_match_wins() -> None:
    routes = {"prod-*/payments-*": "#payments-prod", "payments-*": "#payments", "staging/*": "#staging"}

    assert channel_for_namespace("payments-eu", routes, "prod-us") == "#payments-prod"
    assert channel_for_namespace("payments-eu", routes, "staging") == "#payments"
    assert channel_for_namespace("shop", routes, "staging") == "#staging"
    assert channel_for_namespace("payments-eu", routes) == "#payments"  # one unnamed cluster
    for cluster in ("prod-us", "staging", "dev"):
        for namespace in ("payments-eu", "shop"):
            assert channel_for_namespace(namespace, namespace_map_for_cluster(routes, cluster)) == (
                channel_for_namespace(namespace, routes, cluster)
            )


async def test_cluster_routes_from_the_config_file_send_each_clusters_alerts_to_its_channel(
    clusters: Clusters,
) -> None:
    config = BotConfig.model_validate({"namespace_channels": {"prod-us/shop": "#us-shop", "shop": "#shop"}})
    replica = clusters.start("bot-a", config=config)
    await until("watching", lambda: watching(replica, "prod-eu") and watching(replica, "prod-us"))

    clusters.crash("prod-eu", "api-eu-1", 1)
    clusters.crash("prod-us", "api-us-1", 1)
    await until("both alerts", lambda: len(clusters.roots()) == 2, timeout=10)

    channels = {
        ("us" if "api-us-1" in all_text(root) else "eu"): root["channel"] for root in clusters.roots()
    }
    assert channels == {"us": "#us-shop", "eu": "#shop"}
