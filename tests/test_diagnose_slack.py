"""`/exitcode pod` and `/exitcode ns` through the real Slack path, against the fake Kubernetes API.

Each test sends a correctly signed slash command into the real bot (`SlackBot` over HTTP, as production
assembles it), whose Kubernetes client reaches the fake API server through a kubeconfig; the answer is
read where Slack would receive it, at the command's `response_url` on the fake Slack (which rejects any
message Slack would reject). One fake cluster holding every recorded scenario serves the whole module.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.access import BotConfig
from bot.application.cluster import connect_cluster
from bot.application.diagnose import DiagnoseService, utc_now
from bot.diagnosis.answers import PodAnswer, PodLine, WorkloadMatch
from bot.diagnosis.engine import diagnose
from bot.diagnosis.triage import triage_namespace
from bot.knowledge import KnowledgeBase
from bot.kube.client import NOT_CONFIGURED, USER_AGENT
from bot.render.answer_blocks import answer_message
from bot.render.limits import MAX_BLOCKS, MAX_MESSAGE_TEXT, TRUNCATED_NOTICE, text_length
from bot.render.mrkdwn import escape
from bot.settings import Settings
from bot.wiring import SlackBot
from tests.conftest import SIGNING_SECRET, HttpBot, free_port
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kubeconfig import write_kubeconfig
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi, ResponseUrlPost, validate_blocks
from tests.fakes.slack_signing import CHANNEL_ID, CHANNEL_NAME, USER_ID
from tests.fixtures.scenarios import all_scenarios, load_scenario, scenario_names

pytestmark = pytest.mark.asyncio(loop_scope="module")

JsonDict = dict[str, Any]
DEFAULT_NAMESPACE = "shop"
OOM = load_scenario("oom_killed_container_limit")
OOM_POD = f"{OOM.namespace}/{OOM.pod_name}"
PLATFORM_CHANNEL = "C0PLATFORM"


# --- extra cluster objects: a workload with several pods, and a pod whose texts try to ping a channel ----

WORKER_HASH = "5d9f8b7c6d"


def worker_pod(suffix: str, *, restarts: int, last: JsonDict | None, finished: str | None = None) -> JsonDict:
    """A pod of Deployment `worker` in namespace `queue`, running now, with `last` as its last termination."""
    termination = dict(last or {})
    if termination:
        termination.setdefault("startedAt", "2025-06-12T07:00:00Z")
        termination["finishedAt"] = finished
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"worker-{WORKER_HASH}-{suffix}",
            "namespace": "queue",
            "creationTimestamp": "2025-06-12T06:00:00Z",
            "labels": {"app": "worker", "pod-template-hash": WORKER_HASH},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"worker-{WORKER_HASH}",
                    "uid": "0d6f4c8e-8a1b-4d7e-9c1a-3f2b5e6d7a80",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "nodeName": "worker-node-1",
            "containers": [
                {
                    "name": "worker",
                    "image": "registry.example.com/queue/worker:1.4.0",
                    "resources": {"limits": {"memory": "128Mi"}, "requests": {"memory": "128Mi"}},
                }
            ],
        },
        "status": {
            "phase": "Running",
            "qosClass": "Burstable",
            "containerStatuses": [
                {
                    "name": "worker",
                    "image": "registry.example.com/queue/worker:1.4.0",
                    "imageID": "registry.example.com/queue/worker@sha256:" + "ab" * 32,
                    "ready": True,
                    "started": True,
                    "restartCount": restarts,
                    "state": {"running": {"startedAt": "2025-06-12T10:30:00Z"}},
                    "lastState": {"terminated": termination} if termination else {},
                }
            ],
        },
    }


WORKER_PODS = [
    worker_pod("older", restarts=3, last={"exitCode": 1, "reason": "Error"}, finished="2025-06-12T09:00:00Z"),
    worker_pod(
        "latest", restarts=5, last={"exitCode": 137, "reason": "OOMKilled"}, finished="2025-06-12T10:00:00Z"
    ),
    worker_pod("calm", restarts=0, last=None),
]
LATEST_WORKER = "worker-5d9f8b7c6d-latest"
# Named like the workload but owned by nothing: never one of its pods, though it crashed last.
WORKER_TOOLS = worker_pod("x", restarts=9, last={"exitCode": 2}, finished="2025-06-12T10:20:00Z")
WORKER_TOOLS["metadata"].update(name="worker-tools-0", ownerReferences=[], labels={"app": "worker-tools"})

PING = "<!channel> deploy failed & <@U0BOSS> look <https://evil.example/|here>"


def injection_pod() -> JsonDict:
    pod = copy.deepcopy(OOM.pod)
    pod["metadata"].update(name="loud-0", namespace="lab", ownerReferences=[], uid="7e1c2a4b-loud")
    status = pod["status"]["containerStatuses"][0]
    status["lastState"]["terminated"].update(exitCode=1, reason="Error", message=PING)
    return pod


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def kube() -> AsyncIterator[FakeKubeApi]:
    async with FakeKubeApi() as fake:
        for scenario in all_scenarios():
            fake.cluster.load_scenario(scenario.raw)
        fake.cluster.load([*WORKER_PODS, WORKER_TOOLS, injection_pod()])
        container = OOM.pod["spec"]["containers"][0]["name"]
        fake.cluster.set_log("lab", "loud-0", container, f"starting\n{PING}\n", previous=True)
        yield fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as api:
        yield api


@pytest.fixture(scope="module")
def kubeconfig(kube: FakeKubeApi, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kube.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig")


@dataclass
class DiagnoseBot:
    """A started bot and how to ask it something: returns the acknowledgement and the response_url post."""

    bot: SlackBot
    http: HttpBot
    slack: FakeSlackApi

    @property
    def service(self) -> DiagnoseService:
        assert self.bot.diagnose_service is not None
        return self.bot.diagnose_service

    async def ask(
        self, text: str, *, channel_id: str = CHANNEL_ID, channel_name: str = CHANNEL_NAME
    ) -> tuple[JsonDict, ResponseUrlPost]:
        url = self.slack.response_url()
        ack = await self.http.command_json(
            text, response_url=url, channel_id=channel_id, channel_name=channel_name
        )
        await self.slack.wait_until(lambda: any(post.url == url for post in self.slack.response_posts))
        post = next(post for post in self.slack.response_posts if post.url == url)
        assert post.status == 200, f"Slack would reject this message: {post.body}"
        return ack, post


class Bots:
    """Bots with different settings, sharing the module's fakes; all closed at the end of the module."""

    def __init__(self, slack: FakeSlackApi, knowledge: KnowledgeBase) -> None:
        self.slack = slack
        self.knowledge = knowledge
        self.started: list[tuple[SlackBot, TestClient[Any, Any], Any]] = []

    async def make(
        self, environ: dict[str, str], *, config: BotConfig | None = None, **settings: Any
    ) -> DiagnoseBot:
        values: dict[str, Any] = {
            "slack_bot_token": DEFAULT_BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": self.slack.base_url,
            "default_namespace": DEFAULT_NAMESPACE,
            "allowed_namespaces": ["*"],
            "kube_timeout_seconds": 5.0,
            "log_lines": 20,
            **settings,
        }
        bot_settings = Settings(_env_file=None, **values)
        cluster = connect_cluster(bot_settings.kube_timeout_seconds, environ=environ)
        bot = SlackBot(bot_settings, self.knowledge, cluster=cluster, config=config)
        client: TestClient[Any, Any] = TestClient(TestServer(bot.web_app))
        await client.start_server()
        await bot.start()
        self.started.append((bot, client, cluster))
        return DiagnoseBot(bot, HttpBot(bot, client, self.slack), self.slack)

    async def close(self) -> None:
        for bot, client, cluster in self.started:
            await bot.close()
            await client.close()
            cluster.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bots(slack: FakeSlackApi, knowledge_base: KnowledgeBase) -> AsyncIterator[Bots]:
    made = Bots(slack, knowledge_base)
    yield made
    await made.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(bots: Bots, kubeconfig: Path) -> DiagnoseBot:
    return await bots.make({"KUBECONFIG": str(kubeconfig)})


@pytest.fixture(autouse=True)
def fresh_cluster_state(kube: FakeKubeApi, bot: DiagnoseBot) -> Iterator[None]:
    """Faults, the request log and the bot's clock are per test; the cluster's objects are shared."""
    kube.faults.clear()
    kube.requests.clear()
    bot.service.clock = utc_now
    yield
    kube.faults.clear()


def block_text(blocks: list[JsonDict]) -> str:
    """Every text a user sees in the blocks, one per line (still escaped, as Slack receives it)."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(found)


def message_text(post: ResponseUrlPost) -> str:
    return f"{post.body.get('text', '')}\n{block_text(post.body.get('blocks') or [])}"


def bot_requests(kube: FakeKubeApi) -> list[Any]:
    return kube.requests.made_by(USER_AGENT)


# --- every scenario -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", scenario_names())
async def test_every_scenario_is_diagnosed_through_slack(
    name: str, bot: DiagnoseBot, knowledge_base: KnowledgeBase
) -> None:
    scenario = load_scenario(name)
    bot.service.clock = lambda: scenario.captured_at
    expected = diagnose(scenario.evidence(), knowledge_base, scenario.captured_at).verdict
    assert expected.cause == scenario.expected_cause

    ack, post = await bot.ask(f"pod {scenario.namespace}/{scenario.pod_name}")

    assert ack["response_type"] == "ephemeral" and scenario.pod_name in ack["text"]
    assert post.response_type == "ephemeral"
    blocks = post.body["blocks"]
    assert blocks[0]["type"] == "header" and scenario.pod_name in blocks[0]["text"]["text"]
    assert post.body["text"].startswith(escape(f"{scenario.namespace}/{scenario.pod_name}: "))
    shown = block_text(blocks)
    assert f"`{scenario.expected_cause}`" in shown
    assert escape(expected.headline) in shown
    for fact in expected.evidence:
        assert escape(fact) in shown, fact


async def test_pod_without_namespace_is_looked_up_in_the_default_namespace(
    bot: DiagnoseBot, kube: FakeKubeApi
) -> None:
    _, post = await bot.ask(f"pod {OOM.pod_name}")

    assert "`oom_killed`" in block_text(post.body["blocks"])
    assert ("get", "pods", DEFAULT_NAMESPACE, OOM.pod_name) in {
        (r.verb, r.rbac_resource, r.namespace, r.name) for r in bot_requests(kube)
    }


async def test_share_posts_the_diagnosis_in_the_channel_saying_who_shared_it(bot: DiagnoseBot) -> None:
    _, post = await bot.ask(f"pod {OOM_POD} share")

    assert post.response_type == "in_channel"
    assert f"Shared by <@{USER_ID}>" in block_text(post.body["blocks"])
    assert "`oom_killed`" in block_text(post.body["blocks"])


# --- workloads and prefixes ---------------------------------------------------------------------------


async def test_a_deployment_name_diagnoses_its_latest_crash_and_lists_the_others(bot: DiagnoseBot) -> None:
    _, post = await bot.ask("pod queue/worker")

    blocks = post.body["blocks"]
    shown = block_text(blocks)
    assert LATEST_WORKER in blocks[0]["text"]["text"], "the most recently crashed pod is diagnosed"
    assert "`oom_killed`" in shown
    assert "most recently crashed of the 3 pods of Deployment/worker" in shown
    others = next(b["text"]["text"] for b in blocks if "Other pods of Deployment/worker" in str(b))
    assert "`worker-5d9f8b7c6d-older` · restarts 3 · last exit 1 Error" in others
    assert "`worker-5d9f8b7c6d-calm` · restarts 0 · no crash on record (Running)" in others
    assert others.index("older") < others.index("calm"), "crashed pods first"
    assert "worker-tools-0" not in shown, "a pod of another workload is not one of its pods"


async def test_a_cronjob_name_diagnoses_its_jobs_pod(bot: DiagnoseBot) -> None:
    job = load_scenario("job_backoff_limit_exceeded")

    _, post = await bot.ask(f"pod {job.namespace}/nightly-invoices")

    shown = block_text(post.body["blocks"])
    assert job.pod_name in post.body["blocks"][0]["text"]["text"]
    assert "the only pod of CronJob/nightly-invoices" in shown
    assert "`job_backoff_limit`" in shown


async def test_a_pod_name_prefix_diagnoses_the_latest_matching_crash(bot: DiagnoseBot) -> None:
    _, post = await bot.ask("pod queue/worker-5d9f")

    shown = block_text(post.body["blocks"])
    assert LATEST_WORKER in post.body["blocks"][0]["text"]["text"]
    assert "pods whose name starts with “worker-5d9f”" in shown
    assert "Other matching pods" in shown


# --- namespace triage ---------------------------------------------------------------------------------


async def test_ns_lists_the_troubled_pods_newest_failure_first(bot: DiagnoseBot, kube: FakeKubeApi) -> None:
    pods = kube.cluster.list_objects("Pod", "shop")
    expected = triage_namespace(pods, utc_now())
    healthy = [p["metadata"]["name"] for p in pods if p["metadata"]["name"] not in {r.pod for r in expected}]
    assert expected and healthy

    ack, post = await bot.ask("ns shop")

    assert "shop" in ack["text"]
    shown = block_text(post.body["blocks"])
    assert f"{len(expected)} troubled pods in *shop* ({len(pods)} pods checked)" in shown
    positions = [shown.index(f"*{row.pod}*") for row in expected]
    assert positions == sorted(positions), "newest failure first"
    for name in healthy:
        assert name not in shown.split("Diagnose one")[0]
    requests = [(r.verb, r.rbac_resource, r.namespace, r.name) for r in bot_requests(kube)]
    assert [request[:3] for request in requests if request[1] != "configmaps"] == [("list", "pods", "shop")]
    # and, on a replica that does not lead, the open incidents from the alert ledger (already granted)
    ledger = ("get", "configmaps", "default", "exitcode-bot-ledger")
    assert all(request == ledger for request in requests if request[1] == "configmaps")


async def test_ns_of_a_quiet_namespace_says_nothing_is_wrong(bot: DiagnoseBot) -> None:
    _, post = await bot.ask("ns empty-ns")

    assert "No pod in *empty-ns* has a non-zero last exit" in block_text(post.body["blocks"])


# --- access control -----------------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def guarded(bots: Bots, kubeconfig: Path) -> DiagnoseBot:
    config = BotConfig.model_validate({"channel_namespaces": {CHANNEL_ID: ["shop"], PLATFORM_CHANNEL: ["*"]}})
    return await bots.make(
        {"KUBECONFIG": str(kubeconfig)}, config=config, allowed_namespaces=["shop", "web", "queue"]
    )


@pytest.mark.parametrize(
    ("text", "channel", "says"),
    [
        ("pod web/frontend-gdcm95bb8d-lrql4", CHANNEL_ID, "this channel may query shop"),
        ("ns payments share", PLATFORM_CHANNEL, "ALLOWED_NAMESPACES"),
        ("pod payments/x", CHANNEL_ID, "ALLOWED_NAMESPACES"),
        (f"pod {OOM_POD}", "C0ELSEWHERE", "does not list it"),
    ],
)
async def test_denied_requests_get_a_clear_private_reply_and_nothing_is_fetched(
    guarded: DiagnoseBot, kube: FakeKubeApi, text: str, channel: str, says: str
) -> None:
    _, post = await guarded.ask(text, channel_id=channel)

    assert says in message_text(post)
    assert post.response_type == "ephemeral"
    assert bot_requests(kube) == []


@pytest.mark.parametrize("channel", [CHANNEL_ID, PLATFORM_CHANNEL])
async def test_allowed_channels_get_their_diagnosis(
    guarded: DiagnoseBot, kube: FakeKubeApi, channel: str
) -> None:
    _, post = await guarded.ask(f"pod {OOM_POD}", channel_id=channel)

    assert "`oom_killed`" in block_text(post.body["blocks"])
    assert bot_requests(kube), "the denied cases above are only meaningful if allowed ones do fetch"


async def test_channels_may_be_named_in_the_config_file(
    bots: Bots, kubeconfig: Path, kube: FakeKubeApi
) -> None:
    config = BotConfig.model_validate({"channel_namespaces": {f"#{CHANNEL_NAME}": ["shop"]}})
    by_name = await bots.make({"KUBECONFIG": str(kubeconfig)}, config=config)

    _, allowed = await by_name.ask(f"pod {OOM_POD}")
    fetched = bot_requests(kube)
    kube.requests.clear()
    _, renamed = await by_name.ask(f"pod {OOM_POD}", channel_name="war-room")

    assert "`oom_killed`" in block_text(allowed.body["blocks"]) and fetched
    assert "does not list it" in message_text(renamed)
    assert bot_requests(kube) == []


# --- errors are answers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("pod Shop/api", "did you mean “shop”?"),
        ("pod shop/api_1", "not a valid pod name"),
        ("pod a/b/c", "more than one '/'"),
        ("pod shop/<!channel>", "not a valid pod name"),
        ("ns Shop", "not a valid namespace name"),
        ("ns <!here> share", "not a valid namespace name"),
        ("ns shop/api", "/exitcode ns NAMESPACE"),
    ],
)
async def test_invalid_names_are_rejected_before_any_api_call(
    bot: DiagnoseBot, kube: FakeKubeApi, text: str, says: str
) -> None:
    ack, post = await bot.ask(text)

    shown = message_text(post)
    assert escape(says) in shown
    assert post.response_type == "ephemeral", "a typo is never broadcast, even with `share`"
    assert "<!channel>" not in shown and "<!here>" not in shown and "<!" not in ack["text"]
    assert bot_requests(kube) == []


async def test_missing_pod_suggests_close_names_in_its_namespace(bot: DiagnoseBot) -> None:
    typo = OOM.pod_name[:-1] + "z"

    _, post = await bot.ask(f"pod shop/{typo}")

    shown = message_text(post)
    assert f'Pod "{typo}" was not found in namespace "shop".' in shown
    assert f"`/exitcode pod shop/{OOM.pod_name}`" in shown


async def test_missing_pod_without_list_permission_is_simply_not_found(
    bot: DiagnoseBot, kube: FakeKubeApi
) -> None:
    kube.faults.forbid("list", "pods")

    _, post = await bot.ask("pod shop/ghost")

    shown = message_text(post)
    assert 'Pod "ghost" was not found in namespace "shop".' in shown
    assert "Did you mean" not in shown and "RBAC" not in shown


@pytest.mark.parametrize(
    ("text", "verb", "resource"), [(f"pod {OOM_POD}", "get", "pods"), ("ns shop", "list", "pods")]
)
async def test_rbac_denial_names_the_verb_and_resource_the_bot_lacks(
    bot: DiagnoseBot, kube: FakeKubeApi, text: str, verb: str, resource: str
) -> None:
    kube.faults.forbid(verb, resource)

    _, post = await bot.ask(text)

    assert f'lacks the "{verb}" verb on "{resource}"' in message_text(post)
    assert 'in namespace "shop"' in message_text(post)


async def test_events_the_bot_may_not_read_cost_only_the_events(bot: DiagnoseBot, kube: FakeKubeApi) -> None:
    kube.faults.forbid("list", "events")

    _, post = await bot.ask(f"pod {OOM_POD}")

    shown = block_text(post.body["blocks"])
    assert "`oom_killed`" in shown
    assert "Events could not be read" in shown and 'lacks the "list" verb on "events"' in shown


async def test_server_error_is_one_sentence_quoting_the_apiserver(
    bot: DiagnoseBot, kube: FakeKubeApi
) -> None:
    kube.faults.fail("get", "pods", 500, message="etcdserver: leader changed")

    _, post = await bot.ask(f"pod {OOM_POD}")

    assert "HTTP 500: etcdserver: leader changed" in message_text(post)


async def test_a_slow_cluster_times_out_with_a_clear_reply(
    bots: Bots, kubeconfig: Path, kube: FakeKubeApi
) -> None:
    impatient = await bots.make({"KUBECONFIG": str(kubeconfig)}, kube_timeout_seconds=0.2)
    kube.faults.delay(1.0, verb="get", resource="pods")

    _, post = await impatient.ask(f"pod {OOM_POD}")

    assert "did not answer get pods within 0.2 s (KUBE_TIMEOUT_SECONDS)" in message_text(post)


async def test_an_unreachable_cluster_is_one_sentence(bots: Bots, tmp_path: Path) -> None:
    nowhere = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{free_port()}")
    unreachable = await bots.make({"KUBECONFIG": str(nowhere)})

    _, post = await unreachable.ask(f"pod {OOM_POD}")

    shown = message_text(post)
    assert "The Kubernetes API server cannot be reached (connection refused)" in shown
    assert "Traceback" not in shown


async def test_without_a_cluster_pod_and_ns_say_so_and_explain_still_works(
    bots: Bots, tmp_path: Path
) -> None:
    no_cluster = await bots.make({"HOME": str(tmp_path)})

    _, pod = await no_cluster.ask(f"pod {OOM_POD}")
    _, ns = await no_cluster.ask("ns shop")
    explained = await no_cluster.http.command_json("137")

    assert pod.body["text"] == escape(NOT_CONFIGURED)
    assert ns.body["text"] == escape(NOT_CONFIGURED)
    assert "SIGKILL" in explained["text"]


# --- nothing from the cluster can ping a channel or leak a secret ------------------------------------


async def test_termination_messages_and_logs_cannot_ping_or_link(bot: DiagnoseBot) -> None:
    _, post = await bot.ask("pod lab/loud-0 share")

    sent = message_text(post)
    assert escape("<!channel> deploy failed & <@U0BOSS>") in sent
    for raw in ("<!channel>", "<@U0BOSS>", "<https://evil.example/"):
        assert raw not in sent


async def test_env_values_secret_references_and_annotations_never_reach_slack(bot: DiagnoseBot) -> None:
    scenario = load_scenario("secret_env_annotations")
    pod = scenario.pod
    secrets = list(pod["metadata"]["annotations"].values())
    for container in pod["spec"]["containers"]:
        for variable in container.get("env", []):
            secrets.extend(
                [variable.get("value", "")]
                + [str(v) for ref in variable.get("valueFrom", {}).values() for v in ref.values()]
            )
        secrets.extend(source.get("secretRef", {}).get("name", "") for source in container.get("envFrom", []))
    secrets = [value for value in secrets if len(value) >= 6]
    assert len(secrets) >= 5

    _, post = await bot.ask(f"pod {scenario.namespace}/{scenario.pod_name}")

    sent = str(post.body)
    assert "`app_error`" in sent
    for value in secrets:
        assert value not in sent, value


async def test_metrics_count_diagnoses_by_outcome(bot: DiagnoseBot) -> None:
    await bot.ask(f"pod {OOM_POD}")
    await bot.ask("pod Shop/x")

    metrics = await (await bot.http.client.get("/metrics")).text()

    assert 'exitcode_bot_diagnoses_total{kind="pod",outcome="diagnosis"}' in metrics
    assert 'exitcode_bot_diagnoses_total{kind="pod",outcome="invalid"}' in metrics
    assert 'exitcode_bot_diagnose_seconds_count{kind="pod"}' in metrics


async def test_a_huge_diagnosis_is_cut_but_keeps_the_workload_list_and_the_runbook(
    knowledge_base: KnowledgeBase,
) -> None:
    diagnosis = diagnose(OOM.evidence(), knowledge_base, OOM.captured_at)
    long_verdict = replace(
        diagnosis.verdict,
        evidence=tuple(f"fact {n}: " + "x" * 400 for n in range(80)),
        runbook_url="https://wiki.example.com/runbooks/oom",
    )
    selection = WorkloadMatch(
        query="checkout-api",
        workload="Deployment/checkout-api",
        crashed=True,
        others=tuple(
            PodLine(f"checkout-api-6fjg24j5gm-{n:05d}", "Running", n, 137, "OOMKilled", None, None)
            for n in range(30)
        ),
    )

    answer = PodAnswer(replace(diagnosis, verdict=long_verdict), selection)
    text, blocks = answer_message(answer, slash_command="/exitcode")

    assert text.startswith(f"{OOM_POD}: ")
    assert validate_blocks(blocks) == [] and len(blocks) <= MAX_BLOCKS
    assert text_length(blocks) <= MAX_MESSAGE_TEXT
    shown = block_text(blocks)
    assert TRUNCATED_NOTICE in shown
    assert "most recently crashed of the 31 pods of Deployment/checkout-api" in shown
    assert "Other pods of Deployment/checkout-api" in shown and "15 more not shown" in shown
    assert blocks[-1]["type"] == "actions", "the runbook button survives the cut"
