"""The bot's Kubernetes reads, through the official client, against the fake API server.

What a user relies on: the diagnosis gets the pod, its events, its owner chain and the crashed container's
log as the API returns them; and every way the cluster can fail becomes one clear sentence (which verb
the RBAC lacks, cluster unreachable, timed out, not configured), never a traceback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes.client import Configuration

from bot.diagnosis.ports import (
    ClusterError,
    ClusterNotConfigured,
    ClusterReader,
    ClusterTimeout,
    ClusterUnreachable,
    CurrentLogReader,
    Forbidden,
    NotFound,
)
from bot.kube import reader as reader_module
from bot.kube.client import USER_AGENT, build_api_client
from bot.kube.errors import ApiCall, json_object, translate_error
from bot.kube.reader import OWNER_KINDS, KubeClusterReader
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.fakes.kubeconfig import write_kubeconfig

JsonDict = dict[str, Any]
SCENARIOS = Path(__file__).resolve().parent / "fixtures" / "scenarios"
TIMEOUT = 2.0

# mypy (run by `make test`) proves the adapter implements the port the diagnosis core is written against.
READER_IMPLEMENTS_THE_PORT: type[ClusterReader] = KubeClusterReader
READER_READS_CURRENT_LOGS: type[CurrentLogReader] = KubeClusterReader


def scenario(name: str) -> JsonDict:
    loaded: JsonDict = json.loads((SCENARIOS / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def kubeconfig(fake_kube: FakeKubeApi, tmp_path: Path) -> Path:
    return fake_kube.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
async def reader(kubeconfig: Path) -> AsyncIterator[KubeClusterReader]:
    api_client = build_api_client(config_file=kubeconfig)
    yield KubeClusterReader(api_client, timeout_seconds=TIMEOUT)
    api_client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def oom(fake_kube: FakeKubeApi) -> JsonDict:
    """The OOMKilled scenario loaded; returns the scenario (pod, events, owners, logs)."""
    loaded = scenario("oom_killed_container_limit")
    fake_kube.cluster.load_scenario(loaded)
    return loaded


def pod_ref(loaded: JsonDict) -> tuple[str, str]:
    metadata = loaded["pod"]["metadata"]
    return metadata["namespace"], metadata["name"]


# --- reads ----------------------------------------------------------------------------------------------


async def test_get_pod_returns_the_apis_json(reader: KubeClusterReader, oom: JsonDict) -> None:
    namespace, name = pod_ref(oom)
    pod = await reader.get_pod(namespace, name)
    assert pod["spec"]["containers"] == oom["pod"]["spec"]["containers"]
    assert pod["status"]["containerStatuses"] == oom["pod"]["status"]["containerStatuses"]
    assert pod["metadata"]["uid"] == oom["pod"]["metadata"]["uid"]


async def test_list_pods_by_namespace_selector_and_cluster_wide(
    reader: KubeClusterReader,
    fake_kube: FakeKubeApi,
) -> None:
    for name in ("oom_killed_container_limit", "segfault_139", "healthy_running"):
        fake_kube.cluster.load_scenario(scenario(name))
    everything = await reader.list_pods(None)
    namespaces = {pod["metadata"]["namespace"] for pod in everything}
    assert len(everything) == 3 and all(pod["kind"] == "Pod" for pod in everything)

    one_namespace = sorted(namespaces)[0]
    in_namespace = await reader.list_pods(one_namespace)
    assert in_namespace and {p["metadata"]["namespace"] for p in in_namespace} == {one_namespace}

    target = everything[0]
    app = next(iter(target["metadata"]["labels"].items()))
    by_label = await reader.list_pods(target["metadata"]["namespace"], label_selector=f"{app[0]}={app[1]}")
    assert target["metadata"]["name"] in [p["metadata"]["name"] for p in by_label]
    by_field = await reader.list_pods(None, field_selector=f"metadata.name={target['metadata']['name']}")
    assert [p["metadata"]["uid"] for p in by_field] == [target["metadata"]["uid"]]


async def test_list_pods_follows_continue_tokens(
    reader: KubeClusterReader,
    fake_kube: FakeKubeApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reader_module, "LIST_PAGE_SIZE", 2)
    fake_kube.cluster.load(
        {"kind": "Pod", "metadata": {"name": f"web-{i}", "namespace": "shop"}, "spec": {}} for i in range(5)
    )
    pods = await reader.list_pods("shop")
    assert [p["metadata"]["name"] for p in pods] == [f"web-{i}" for i in range(5)]
    assert fake_kube.requests.count("list", "pods") == 3


async def test_list_events_about_one_pod(
    reader: KubeClusterReader, oom: JsonDict, fake_kube: FakeKubeApi
) -> None:
    namespace, name = pod_ref(oom)
    fake_kube.cluster.load_scenario(scenario("liveness_probe_sigkill"))  # other events in the cluster
    events = await reader.list_events(namespace, involved_name=name)
    expected = [e["metadata"]["name"] for e in oom["events"] if e["involvedObject"]["name"] == name]
    assert expected and sorted(e["metadata"]["name"] for e in events) == sorted(expected)
    assert all(e["kind"] == "Event" and e["involvedObject"]["name"] == name for e in events)
    assert len(await reader.list_events(namespace)) >= len(events)


async def test_previous_log_tail(reader: KubeClusterReader, oom: JsonDict) -> None:
    namespace, name = pod_ref(oom)
    container, text = next(iter(oom["logs"].items()))
    tail = await reader.read_previous_log(namespace, name, container, tail_lines=2)
    assert tail is not None
    assert tail.splitlines() == text.splitlines()[-2:]


async def test_no_previous_container_means_no_log(reader: KubeClusterReader, fake_kube: FakeKubeApi) -> None:
    healthy = scenario("healthy_running")
    fake_kube.cluster.load_scenario(healthy)
    namespace, name = pod_ref(healthy)
    container = healthy["pod"]["spec"]["containers"][0]["name"]
    assert await reader.read_previous_log(namespace, name, container, tail_lines=20) is None


async def test_current_log_of_a_container_that_ended_without_restart(
    reader: KubeClusterReader,
    fake_kube: FakeKubeApi,
) -> None:
    job_pod = {
        "kind": "Pod",
        "metadata": {"name": "reindex-x7k2p", "namespace": "search"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "reindex", "image": "img"}]},
        "status": {
            "phase": "Failed",
            "containerStatuses": [
                {"name": "reindex", "restartCount": 0, "state": {"terminated": {"exitCode": 1}}}
            ],
        },
    }
    pending_pod = {
        "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "search"},
        "spec": {"containers": [{"name": "web", "image": "img"}]},
        "status": {
            "containerStatuses": [{"name": "web", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]
        },
    }
    fake_kube.cluster.load([job_pod, pending_pod])
    fake_kube.cluster.set_log(
        "search", "reindex-x7k2p", "reindex", "indexing\nerror: index locked\n", previous=False
    )

    assert (
        await reader.read_current_log("search", "reindex-x7k2p", "reindex", tail_lines=1)
        == "error: index locked\n"
    )
    assert await reader.read_previous_log("search", "reindex-x7k2p", "reindex", tail_lines=1) is None
    assert await reader.read_current_log("search", "web-0", "web", tail_lines=5) is None


@pytest.mark.parametrize(
    "name",
    [
        "oom_killed_container_limit",
        "exit0_statefulset_restarting",
        "exit0_daemonset_restarting",
        "job_backoff_limit_exceeded",
    ],
)
async def test_owner_chain_is_readable_for_every_owner_kind(
    reader: KubeClusterReader,
    fake_kube: FakeKubeApi,
    name: str,
) -> None:
    loaded = scenario(name)
    fake_kube.cluster.load_scenario(loaded)
    namespace = loaded["pod"]["metadata"]["namespace"]
    chain = []
    references = loaded["pod"]["metadata"].get("ownerReferences", [])
    while references and references[0]["kind"] in OWNER_KINDS:
        owner = await reader.get_owner(namespace, references[0]["kind"], references[0]["name"])
        assert owner is not None
        chain.append(owner["kind"])
        references = owner["metadata"].get("ownerReferences", [])
    fetched = [owner["kind"] for owner in loaded["owners"] if owner["kind"] in OWNER_KINDS]
    assert chain == fetched


async def test_owner_kinds_the_bot_does_not_fetch_are_not_read(
    reader: KubeClusterReader, fake_kube: FakeKubeApi, oom: JsonDict
) -> None:
    """Deployments and CronJobs are named from ownerReferences, never read: the bot's RBAC does not grant
    `get` on them."""
    namespace, _ = pod_ref(oom)
    before = len(fake_kube.requests.entries)
    for kind in ("Deployment", "CronJob"):
        assert await reader.get_owner(namespace, kind, "web") is None
    assert len(fake_kube.requests.entries) == before


@pytest.mark.parametrize(("kind", "resource"), [("StatefulSet", "statefulsets"), ("DaemonSet", "daemonsets")])
async def test_stateful_and_daemon_sets_are_read_raw_for_the_incident_lifecycle(
    reader: KubeClusterReader, fake_kube: FakeKubeApi, kind: str, resource: str
) -> None:
    """Once an incident's pods are all gone, their StatefulSet or DaemonSet says why (scaled to zero,
    deleted, unscheduled, another revision): a `get`, the API's JSON as is; 404 is None."""
    workload = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "db", "namespace": "shop", "uid": f"uid-{resource}-db", "generation": 2},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "db"}}},
        "status": {"observedGeneration": 2, "updateRevision": "db-5d8f7c9b6", "desiredNumberScheduled": 0},
    }
    fake_kube.cluster.apply(workload)
    read = await reader.get_owner("shop", kind, "db")
    assert read is not None and read["kind"] == kind
    assert read["spec"]["replicas"] == 0 and read["status"]["updateRevision"] == "db-5d8f7c9b6"
    assert await reader.get_owner("shop", kind, "gone") is None
    assert ("get", "apps", resource) in fake_kube.requests.permissions(USER_AGENT)


async def test_owner_that_is_gone_or_not_a_workload_is_none(reader: KubeClusterReader, oom: JsonDict) -> None:
    namespace, _ = pod_ref(oom)
    assert await reader.get_owner(namespace, "ReplicaSet", "deleted-long-ago") is None
    assert await reader.get_owner(namespace, "Node", "ip-10-0-0-1") is None


async def test_every_scenario_reads_back_through_the_reader(
    reader: KubeClusterReader,
    fake_kube: FakeKubeApi,
) -> None:
    for path in sorted(SCENARIOS.glob("*.json")):
        loaded = json.loads(path.read_text(encoding="utf-8"))
        fake_kube.cluster.load_scenario(loaded)
        namespace, name = pod_ref(loaded)
        pod, events = await asyncio.gather(
            reader.get_pod(namespace, name), reader.list_events(namespace, involved_name=name)
        )
        assert pod["metadata"]["uid"] == loaded["pod"]["metadata"]["uid"], path.name
        assert len(events) == sum(e["involvedObject"]["name"] == name for e in loaded["events"]), path.name
        for container, text in loaded["logs"].items():
            tail = await reader.read_previous_log(namespace, name, container, tail_lines=1000)
            assert tail == text, path.name


async def test_calls_are_made_off_the_event_loop_and_named_for_rbac(
    reader: KubeClusterReader,
    oom: JsonDict,
    fake_kube: FakeKubeApi,
) -> None:
    namespace, name = pod_ref(oom)
    fake_kube.requests.clear()
    fake_kube.faults.delay(0.2, verb="get", resource="pods")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    await reader.get_pod(namespace, name)
    ticking.cancel()
    assert ticks > 1  # the loop kept running while the call waited on the server

    container = next(iter(oom["logs"]))
    await reader.read_previous_log(namespace, name, container, tail_lines=5)
    await reader.list_events(namespace, involved_name=name)
    await reader.get_owner(namespace, "ReplicaSet", oom["owners"][0]["metadata"]["name"])
    assert fake_kube.requests.permissions(USER_AGENT) == {
        ("get", "", "pods"),
        ("get", "", "pods/log"),
        ("list", "", "events"),
        ("get", "apps", "replicasets"),
    }


# --- errors ---------------------------------------------------------------------------------------------


async def test_missing_pod_is_not_found_with_a_sentence(reader: KubeClusterReader, oom: JsonDict) -> None:
    namespace, _ = pod_ref(oom)
    with pytest.raises(NotFound) as missing:
        await reader.get_pod(namespace, "ghost-7c9f")
    assert (missing.value.kind, missing.value.namespace, missing.value.name) == (
        "Pod",
        namespace,
        "ghost-7c9f",
    )
    assert missing.value.user_message == f'Pod "ghost-7c9f" was not found in namespace "{namespace}".'


@pytest.mark.parametrize(
    ("verb", "resource", "call"),
    [
        ("get", "pods", "get_pod"),
        ("list", "pods", "list_pods"),
        ("list", "events", "list_events"),
        ("get", "pods/log", "read_previous_log"),
        ("get", "replicasets", "get_owner"),
    ],
)
async def test_rbac_denial_names_the_missing_verb_and_resource(
    reader: KubeClusterReader,
    oom: JsonDict,
    fake_kube: FakeKubeApi,
    verb: str,
    resource: str,
    call: str,
) -> None:
    namespace, name = pod_ref(oom)
    fake_kube.faults.forbid(verb, resource)
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "get_pod": lambda: reader.get_pod(namespace, name),
        "list_pods": lambda: reader.list_pods(namespace),
        "list_events": lambda: reader.list_events(namespace, involved_name=name),
        "read_previous_log": lambda: reader.read_previous_log(namespace, name, "api", tail_lines=5),
        "get_owner": lambda: reader.get_owner(namespace, "ReplicaSet", oom["owners"][0]["metadata"]["name"]),
    }
    with pytest.raises(Forbidden) as denied:
        await calls[call]()
    assert (denied.value.verb, denied.value.resource, denied.value.namespace) == (verb, resource, namespace)
    assert f'lacks the "{verb}" verb on "{resource}"' in denied.value.user_message
    assert f'in namespace "{namespace}"' in denied.value.user_message


async def test_cluster_wide_denial_says_across_all_namespaces(
    reader: KubeClusterReader,
    fake_kube: FakeKubeApi,
) -> None:
    fake_kube.faults.forbid("list", "pods")
    with pytest.raises(Forbidden) as denied:
        await reader.list_pods(None)
    assert denied.value.namespace is None
    assert "list pods across all namespaces" in denied.value.user_message


async def test_server_error_is_a_cluster_error_quoting_the_apiserver(
    reader: KubeClusterReader,
    oom: JsonDict,
    fake_kube: FakeKubeApi,
) -> None:
    namespace, name = pod_ref(oom)
    fake_kube.faults.fail("get", "pods", 500, message="etcdserver: leader changed")
    with pytest.raises(ClusterError) as failed:
        await reader.get_pod(namespace, name)
    assert type(failed.value) is ClusterError
    assert failed.value.user_message == (
        "The Kubernetes API answered get pods with HTTP 500: etcdserver: leader changed."
    )


async def test_slow_cluster_times_out_with_a_clear_reply(
    kubeconfig: Path,
    oom: JsonDict,
    fake_kube: FakeKubeApi,
) -> None:
    namespace, name = pod_ref(oom)
    fake_kube.faults.latency = 2.0
    impatient = KubeClusterReader(build_api_client(config_file=kubeconfig), timeout_seconds=0.2)
    with pytest.raises(ClusterTimeout) as slow:
        await impatient.get_pod(namespace, name)
    assert "within 0.2 s" in slow.value.user_message


async def test_stopped_apiserver_is_unreachable(
    reader: KubeClusterReader,
    oom: JsonDict,
    fake_kube: FakeKubeApi,
) -> None:
    namespace, name = pod_ref(oom)
    await fake_kube.stop()
    with pytest.raises(ClusterUnreachable) as down:
        await reader.get_pod(namespace, name)
    assert "connection refused" in down.value.user_message
    await fake_kube.start()
    assert (await reader.get_pod(namespace, name))["metadata"]["name"] == name


async def test_tls_failure_is_unreachable(
    fake_kube: FakeKubeApi,
    tmp_path: Path,
) -> None:
    https_to_plain_http = fake_kube.url.replace("http://", "https://")
    path = write_kubeconfig(tmp_path / "kubeconfig", https_to_plain_http, insecure_skip_tls_verify=True)
    reader = KubeClusterReader(build_api_client(config_file=path), timeout_seconds=TIMEOUT)
    with pytest.raises(ClusterUnreachable) as tls:
        await reader.get_pod("default", "anything")
    assert "TLS handshake failed" in tls.value.user_message


def test_dns_failure_is_unreachable() -> None:
    unresolvable = urllib3.exceptions.MaxRetryError(
        None,  # type: ignore[arg-type]
        "/api/v1/pods",
        urllib3.exceptions.NameResolutionError("kube.invalid", None, OSError("Name or service not known")),  # type: ignore[arg-type]
    )
    error = translate_error(unresolvable, ApiCall("list", "pods", None), 10.0)
    assert isinstance(error, ClusterUnreachable)
    assert "host name does not resolve" in error.user_message


# --- configuration ------------------------------------------------------------------------------------


def test_no_kubeconfig_and_not_in_a_cluster_is_not_configured(tmp_path: Path) -> None:
    with pytest.raises(ClusterNotConfigured) as missing:
        build_api_client(environ={"HOME": str(tmp_path)})
    assert missing.value.user_message == (
        "No Kubernetes cluster is configured: set KUBECONFIG (or create ~/.kube/config), "
        "or run the bot in a pod with a service account."
    )


def test_kubeconfig_env_may_list_several_files(
    fake_kube: FakeKubeApi,
    tmp_path: Path,
) -> None:
    real = fake_kube.write_kubeconfig(tmp_path / "real")
    listed = f"{tmp_path / 'absent'}:{real}"
    api_client = build_api_client(environ={"KUBECONFIG": listed})
    assert api_client.configuration.host == fake_kube.url
    assert api_client.user_agent == USER_AGENT


def test_broken_kubeconfig_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text("apiVersion: v1\nkind: Config\nclusters: [\n", encoding="utf-8")
    with pytest.raises(ClusterNotConfigured) as unusable:
        build_api_client(environ={"KUBECONFIG": str(broken)})
    assert str(broken) in unusable.value.user_message
    with pytest.raises(ClusterNotConfigured) as absent:
        build_api_client(config_file=tmp_path / "nope")
    assert absent.value.user_message == f"The kubeconfig file {tmp_path / 'nope'} does not exist."


def test_in_cluster_without_a_service_account_token_is_not_configured(tmp_path: Path) -> None:
    environ = {
        "HOME": str(tmp_path),
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
    }
    with pytest.raises(ClusterNotConfigured) as incomplete:
        build_api_client(environ=environ)
    assert "in-cluster service account" in incomplete.value.user_message


def test_building_a_client_leaves_the_libraries_default_configuration_alone(
    fake_kube: FakeKubeApi,
    tmp_path: Path,
) -> None:
    before = Configuration.get_default_copy().host
    build_api_client(config_file=fake_kube.write_kubeconfig(tmp_path / "kubeconfig"))
    assert Configuration.get_default_copy().host == before


def test_an_answer_that_is_not_a_json_object_is_a_sentence_not_a_traceback() -> None:
    """A proxy's HTML error page or a truncated body in place of the API's JSON."""
    call = ApiCall("get", "configmaps", "exitcode-bot", "exitcode-bot-ledger", kind="ConfigMap")
    for raw in (b"<html><body>502 Bad Gateway</body></html>", b'{"kind": "Pod", "meta', b"[]"):
        with pytest.raises(ClusterError) as raised:
            json_object(raw, call)
        assert "get configmaps exitcode-bot-ledger" in raised.value.user_message
    assert json_object(b'{"kind": "ConfigMap"}', call) == {"kind": "ConfigMap"}
