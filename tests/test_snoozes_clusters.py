"""`/exitcode snoozes` with CLUSTERS: the snoozes in force in every cluster, each line naming its cluster.

Two fake API servers behind one kubeconfig (`prod-eu`, the home cluster holding every cluster's Lease and
ledger, and `prod-us`), the production `SlackBot` in HTTP mode with CLUSTERS=* and crash alerts on (one
watcher and one ledger per cluster), and a signed `/exitcode snoozes` through the real Bolt app. Snoozes
are set through each cluster's own store, as its Snooze button does. What is asserted is the private
answer Slack receives.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from bot.access import BotConfig, ChannelClusters, ClusterAccess, NamespaceAccess, SlackChannel
from bot.alerting import Workload
from bot.alerting.ledger_state import Snooze
from bot.application.cluster_snoozes import ClusterSnoozeListing
from bot.application.clusters import ledger_name_for
from bot.knowledge import KnowledgeBase
from bot.render.snooze_list import ClusterSnoozes, cluster_snooze_list_blocks
from bot.settings import Settings
from bot.wiring import ClusterAlertRunners
from tests.fakes.slack_api import FakeSlackApi, ResponseUrlPost, validate_blocks
from tests.test_alert_service import BOT_NAMESPACE
from tests.test_diagnose_clusters import ClustersBot, Fleet, clusters_bot, fleet

HOUR = 3600.0
LEDGER_US = ledger_name_for(Settings.model_fields["ledger_configmap"].default, "prod-us")


@asynccontextmanager
async def snoozing_bot(
    tmp_path: Path, slack: FakeSlackApi, knowledge: KnowledgeBase, config: BotConfig | None = None
) -> AsyncIterator[tuple[ClustersBot, Fleet]]:
    """The bot with a watcher per cluster, and a few snoozes in each cluster's ledger:
    prod-eu: shop/Deployment/api (1 h, by U0EU), payments/Deployment/ledger (2 h);
    prod-us: shop/Deployment/checkout (3 h, by U0US)."""
    async with fleet(tmp_path, ("prod-eu", "prod-us")) as clusters:
        clusters.servers["prod-eu"].cluster.ensure_namespace(BOT_NAMESPACE)
        async with clusters_bot(slack, knowledge, clusters.connect(["*"]), config, watch=True) as bot:
            runners = bot.http.bot.alerts
            assert isinstance(runners, ClusterAlertRunners)
            eu = runners.runners["prod-eu"].service.snoozes
            us = runners.runners["prod-us"].service.snoozes
            now = time.time()
            await eu.snooze("shop", Workload("Deployment", "api"), now + HOUR, by="U0EU", at=now)
            await eu.snooze("payments", Workload("Deployment", "ledger"), now + 2 * HOUR, by=None, at=now)
            await us.snooze("shop", Workload("Deployment", "checkout"), now + 3 * HOUR, by="U0US", at=now)
            yield bot, clusters


def listing(post: ResponseUrlPost) -> str:
    return json.dumps(post.body.get("blocks") or [])


async def test_snoozes_lists_every_clusters_snoozes_each_naming_its_cluster(
    tmp_path: Path, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    async with snoozing_bot(tmp_path, slack_api, knowledge_base) as (bot, _):
        ack, answer = await bot.ask("snoozes")

    shown = listing(answer)
    assert "snoozes" in ack
    assert answer.response_type == "ephemeral"
    assert "3 snoozes in force" in shown
    assert "*prod-eu* `shop/Deployment/api` until" in shown and "<@U0EU>" in shown
    assert "*prod-eu* `payments/Deployment/ledger` until" in shown
    assert "*prod-us* `shop/Deployment/checkout` until" in shown and "<@U0US>" in shown
    assert shown.index("shop/Deployment/api") < shown.index("shop/Deployment/checkout"), "soonest end first"
    assert "prod-us: shop/Deployment/checkout" in str(answer.body["text"])
    assert "Couldn't read" not in shown


async def test_a_cluster_whose_ledger_cannot_be_read_is_named_and_the_others_still_listed(
    tmp_path: Path, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    async with snoozing_bot(tmp_path, slack_api, knowledge_base) as (bot, clusters):
        # The Role lacks prod-us's ledger among its resourceNames: every read of it is forbidden.
        clusters.servers["prod-eu"].faults.fail("get", "configmaps", 403, name=LEDGER_US)
        _, answer = await bot.ask("snoozes")

    shown = listing(answer)
    assert "Couldn't read the snoozes of cluster *prod-us*" in shown
    assert "forbidden" in shown.lower() or "lacks" in shown
    assert "`shop/Deployment/api`" in shown and "`payments/Deployment/ledger`" in shown
    assert "2 snoozes in force" in shown and "checkout" not in shown
    assert "Couldn't read the snoozes of cluster prod-us" in str(answer.body["text"])
    assert "Traceback" not in json.dumps(answer.body) and "went wrong" not in json.dumps(answer.body)


async def test_the_channel_sees_only_the_clusters_and_namespaces_it_may_query(
    tmp_path: Path, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase
) -> None:
    config = BotConfig(
        channel_clusters={
            "#oncall": ChannelClusters(allowed=("prod-eu",)),
            "#locked": ChannelClusters(allowed=()),
        },
        channel_namespaces={"#oncall": ("shop",), "*": ("*",)},
    )
    async with snoozing_bot(tmp_path, slack_api, knowledge_base, config) as (bot, clusters):
        clusters.servers["prod-eu"].faults.fail("get", "configmaps", 403, name=LEDGER_US)
        _, oncall = await bot.ask("snoozes", channel_name="oncall")
        _, elsewhere = await bot.ask("snoozes", channel_name="platform")
        _, locked = await bot.ask("snoozes", channel_name="locked")

    shown = listing(oncall) + str(oncall.body["text"])
    assert "`shop/Deployment/api`" in shown and "1 snooze in force" in shown
    assert "payments" not in shown, "a namespace the channel may not query is not even hinted"
    assert "prod-us" not in shown and "checkout" not in shown, "nor a cluster it may not query"
    assert "Couldn't read the snoozes of cluster *prod-us*" in listing(elsewhere)
    assert "`payments/Deployment/ledger`" in listing(elsewhere)
    assert "No cluster may be queried from this channel" in str(locked.body["text"])
    assert "shop" not in json.dumps(locked.body) and locked.response_type == "ephemeral"


def test_an_unread_cluster_never_reads_as_every_alert_on_and_its_reason_is_escaped() -> None:
    unread = cluster_snooze_list_blocks(
        [ClusterSnoozes("prod-eu"), ClusterSnoozes("prod-us", problem="The API server <timed out>.")],
        name_clusters=True,
    )
    assert validate_blocks(unread) == []
    text = json.dumps(unread)
    assert "every alert is on" not in text and "in the clusters that could be read" in text
    assert "The API server &lt;timed out&gt;." in text


class Broken:
    async def snoozes(self) -> Mapping[str, Snooze]:
        raise RuntimeError("a bug in one cluster's store")


class Stored:
    def __init__(self, snoozes: Mapping[str, Snooze]) -> None:
        self.stored = snoozes

    async def snoozes(self) -> Mapping[str, Snooze]:
        return self.stored


async def test_a_bug_reading_one_cluster_is_that_clusters_line_not_the_whole_answer() -> None:
    now = time.time()
    listing_ = ClusterSnoozeListing(
        {
            "prod-eu": Stored({"shop/Deployment/api": Snooze(until=now + HOUR, set_by=None, set_at=now)}),
            "prod-us": Broken(),
            "gone": "this replica does not watch it (no credentials)",
        },
        access=NamespaceAccess(),
        clusters=ClusterAccess(),
    )

    parts = await listing_.parts(SlackChannel("C0SNOOZE", "oncall"))
    shown = json.dumps(cluster_snooze_list_blocks(parts, name_clusters=True))

    assert "*prod-eu* `shop/Deployment/api` until" in shown
    assert "Couldn't read the snoozes of cluster *prod-us*: an unexpected error" in shown
    assert "Couldn't read the snoozes of cluster *gone*: this replica does not watch it" in shown
    assert "RuntimeError" not in shown and "Traceback" not in shown
