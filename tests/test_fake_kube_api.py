"""The fake Kubernetes API is faithful on the wire: proven with the official client itself.

If these pass, code that works against the fake uses the client the way it must against a cluster:
real paths, JSON shapes, Status errors, selectors, optimistic concurrency, and watch semantics
(replay, bookmarks, 410 Expired, dropped connections, apiserver restarts).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client import ApiException
from kubernetes.config import new_client_from_config

from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_fixtures import fake_kube_thread_fixture  # noqa: F401

JsonDict = dict[str, Any]
REPO_ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = REPO_ROOT / "tests" / "fixtures" / "scenarios"
FORBIDDEN_USER = "system:serviceaccount:exitcode-bot:exitcode-bot"


def make_pod(
    name: str,
    namespace: str = "shop",
    *,
    labels: dict[str, str] | None = None,
    node: str = "node-1",
    phase: str = "Running",
    containers: tuple[str, ...] = ("app",),
    crashed: tuple[str, ...] = (),
) -> JsonDict:
    """A pod as the apiserver stores it; `crashed` containers have a previous (terminated) instance."""
    statuses = []
    for container in containers:
        entry: JsonDict = {
            "name": container,
            "image": "registry.example/app:1",
            "imageID": "",
            "ready": True,
            "restartCount": 1 if container in crashed else 0,
            "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}},
            "lastState": {},
        }
        if container in crashed:
            entry["lastState"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
        statuses.append(entry)
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "nodeName": node,
            "containers": [{"name": c, "image": "registry.example/app:1"} for c in containers],
        },
        "status": {"phase": phase, "containerStatuses": statuses},
    }


def make_event(name: str, involved: JsonDict, reason: str, event_type: str = "Warning") -> JsonDict:
    metadata = involved["metadata"]
    return {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": metadata.get("namespace", "default")},
        "involvedObject": {
            "kind": involved["kind"],
            "namespace": metadata.get("namespace", "default"),
            "name": metadata["name"],
            "uid": metadata["uid"],
            "apiVersion": involved.get("apiVersion", "v1"),
        },
        "reason": reason,
        "message": f"{reason} happened",
        "type": event_type,
        "source": {"component": "kubelet"},
        "count": 1,
    }


def make_owner(kind: str, name: str, namespace: str = "shop") -> JsonDict:
    """A workload with the smallest spec the API's schema accepts for its kind."""
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": "img"}]},
    }
    specs: dict[str, JsonDict] = {
        "Job": {"template": template},
        "CronJob": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}},
    }
    spec = specs.get(kind, {"selector": {"matchLabels": {"app": name}}, "template": template})
    return {"kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def raw_json(response: Any) -> JsonDict:
    body: JsonDict = json.loads(response.data)
    return body


def status_of(error: ApiException) -> JsonDict:
    body: JsonDict = json.loads(error.body or "")
    return body


def names(items: list[JsonDict]) -> list[str]:
    return sorted(item["metadata"]["name"] for item in items)


def once_watching(fake: FakeKubeApi, action: Callable[[], object], *, watches: int = 1) -> threading.Thread:
    """Run `action` on another thread as soon as `watches` more watches have been opened on the fake."""
    wanted = fake.cluster.watches_started + watches

    def run() -> None:
        deadline = time.monotonic() + 10
        while fake.cluster.watches_started < wanted and time.monotonic() < deadline:
            time.sleep(0.005)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def watch_stream(list_call: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[JsonDict]:
    """`kubernetes.watch_stream(...)`, the official client's watch loop (untyped upstream)."""
    watcher: Any = watch.Watch()  # type: ignore[no-untyped-call]
    events: Iterator[JsonDict] = watcher.stream(list_call, *args, **kwargs)
    return events


def take(stream: Iterator[JsonDict], count: int) -> list[JsonDict]:
    events = []
    for event in stream:
        events.append(event)
        if len(events) == count:
            break
    return events


@pytest.fixture
def core(fake_kube_thread: FakeKubeApi) -> Any:
    """CoreV1Api, typed loosely: the tests read optional model fields the fake is known to fill."""
    return client.CoreV1Api(fake_kube_thread.api_client())


@pytest.fixture
def three_pods(fake_kube_thread: FakeKubeApi) -> FakeKubeApi:
    fake_kube_thread.cluster.load(
        [
            make_pod("a", labels={"app": "web", "tier": "front"}, node="n1", phase="Running"),
            make_pod("b", labels={"app": "web", "tier": "back"}, node="n2", phase="Failed"),
            make_pod("c", "other", labels={"app": "db"}, node="n1", phase="Running"),
        ]
    )
    return fake_kube_thread


# --- reads: paths, shapes, selectors --------------------------------------------------------------


def test_kubeconfig_file_reaches_the_fake_through_the_official_loader(
    fake_kube_thread: FakeKubeApi,
    tmp_path: Path,
) -> None:
    fake_kube_thread.cluster.create(make_pod("web-1"))
    kubeconfig = str(fake_kube_thread.write_kubeconfig(tmp_path / "kc"))
    api_client = new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    pod: Any = client.CoreV1Api(api_client).read_namespaced_pod("web-1", "shop")
    assert pod.metadata.name == "web-1"
    assert pod.status.container_statuses[0].name == "app"


def test_get_returns_the_object_with_server_set_metadata(core: Any, three_pods: FakeKubeApi) -> None:
    pod = raw_json(core.read_namespaced_pod("a", "shop", _preload_content=False))
    assert (pod["kind"], pod["apiVersion"]) == ("Pod", "v1")
    assert pod["metadata"]["uid"] and pod["metadata"]["creationTimestamp"]
    assert int(pod["metadata"]["resourceVersion"]) <= three_pods.cluster.resource_version


def test_list_has_the_list_envelope_and_the_current_resource_version(
    core: Any, three_pods: FakeKubeApi
) -> None:
    body = raw_json(core.list_namespaced_pod("shop", _preload_content=False))
    assert (body["kind"], body["apiVersion"]) == ("PodList", "v1")
    assert body["metadata"]["resourceVersion"] == str(three_pods.cluster.resource_version)
    assert names(body["items"]) == ["a", "b"]
    assert all("kind" not in item for item in body["items"])  # as the apiserver: kind only on the list


def test_list_across_namespaces(core: Any, three_pods: FakeKubeApi) -> None:
    pods = core.list_pod_for_all_namespaces().items
    assert sorted((p.metadata.namespace, p.metadata.name) for p in pods) == [
        ("other", "c"),
        ("shop", "a"),
        ("shop", "b"),
    ]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["a", "b"]),
        ("app==web", ["a", "b"]),
        ("app!=web", ["c"]),
        ("tier in (front, back)", ["a", "b"]),
        ("tier notin (front)", ["b", "c"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c"]),
        ("app=web,tier=back", ["b"]),
        ("", ["a", "b", "c"]),
    ],
)
def test_label_selectors(core: Any, three_pods: FakeKubeApi, selector: str, expected: list[str]) -> None:
    pods = core.list_pod_for_all_namespaces(label_selector=selector).items
    assert sorted(p.metadata.name for p in pods) == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("metadata.name=a", ["a"]),
        ("spec.nodeName=n1", ["a", "c"]),
        ("status.phase!=Running", ["b"]),
        ("metadata.namespace=other", ["c"]),
        ("spec.nodeName==n1,status.phase=Running", ["a", "c"]),
        ("metadata.name!=a,metadata.namespace=shop", ["b"]),
    ],
)
def test_field_selectors(core: Any, three_pods: FakeKubeApi, selector: str, expected: list[str]) -> None:
    pods = core.list_pod_for_all_namespaces(field_selector=selector).items
    assert sorted(p.metadata.name for p in pods) == expected


def test_bad_selectors_get_400_with_the_apiserver_message(core: Any, three_pods: FakeKubeApi) -> None:
    with pytest.raises(ApiException) as unsupported:
        core.list_namespaced_pod("shop", field_selector="spec.image=nginx")
    assert unsupported.value.status == 400
    assert status_of(unsupported.value)["message"] == "field label not supported: spec.image"
    with pytest.raises(ApiException) as unparsable:
        core.list_namespaced_pod("shop", label_selector="app in web")
    assert unparsable.value.status == 400
    assert status_of(unparsable.value)["reason"] == "BadRequest"


def test_event_field_selectors_on_involved_object(core: Any, fake_kube_thread: FakeKubeApi) -> None:
    cluster = fake_kube_thread.cluster
    pod_a, pod_b = cluster.create(make_pod("a")), cluster.create(make_pod("b"))
    replica_set = cluster.create(make_owner("ReplicaSet", "a-rs"))
    cluster.load(
        [
            make_event("a.1", pod_a, "BackOff"),
            make_event("a.2", pod_a, "Killing", "Normal"),
            make_event("b.1", pod_b, "OOMKilling"),
            make_event("rs.1", replica_set, "SuccessfulCreate", "Normal"),
        ]
    )

    def listed(selector: str) -> list[str]:
        return sorted(
            e.metadata.name for e in core.list_namespaced_event("shop", field_selector=selector).items
        )

    assert listed("involvedObject.name=a") == ["a.1", "a.2"]
    assert listed("involvedObject.kind=ReplicaSet") == ["rs.1"]
    assert listed(f"involvedObject.uid={pod_b['metadata']['uid']}") == ["b.1"]
    assert listed("involvedObject.name=a,type=Warning") == ["a.1"]
    assert listed("reason=Killing") == ["a.2"]
    assert listed("involvedObject.namespace=shop,type!=Warning") == ["a.2", "rs.1"]
    everywhere = core.list_event_for_all_namespaces(field_selector="involvedObject.name=b").items
    assert [e.metadata.name for e in everywhere] == ["b.1"]


def test_owner_kinds_are_served_by_their_api_groups(fake_kube_thread: FakeKubeApi) -> None:
    owners = [
        ("ReplicaSet", "apps/v1"),
        ("Deployment", "apps/v1"),
        ("StatefulSet", "apps/v1"),
        ("DaemonSet", "apps/v1"),
        ("Job", "batch/v1"),
        ("CronJob", "batch/v1"),
    ]
    for kind, _ in owners:
        fake_kube_thread.cluster.create(make_owner(kind, f"x-{kind.lower()}"))
    api_client = fake_kube_thread.api_client()
    apps: Any = client.AppsV1Api(api_client)
    batch: Any = client.BatchV1Api(api_client)
    read = {
        "ReplicaSet": apps.read_namespaced_replica_set,
        "Deployment": apps.read_namespaced_deployment,
        "StatefulSet": apps.read_namespaced_stateful_set,
        "DaemonSet": apps.read_namespaced_daemon_set,
        "Job": batch.read_namespaced_job,
        "CronJob": batch.read_namespaced_cron_job,
    }
    for kind, api_version in owners:
        obj = raw_json(read[kind](f"x-{kind.lower()}", "shop", _preload_content=False))
        assert (obj["kind"], obj["apiVersion"]) == (kind, api_version)
    assert [d.metadata.name for d in apps.list_namespaced_deployment("shop").items] == ["x-deployment"]
    assert [j.metadata.name for j in batch.list_job_for_all_namespaces().items] == ["x-job"]


def test_not_found_is_a_status_body(core: Any, fake_kube_thread: FakeKubeApi) -> None:
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("ghost", "shop")
    assert missing.value.status == 404
    assert status_of(missing.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "ghost" not found',
        "reason": "NotFound",
        "details": {"name": "ghost", "kind": "pods"},
        "code": 404,
    }
    with pytest.raises(ApiException) as missing_rs:
        apps: Any = client.AppsV1Api(fake_kube_thread.api_client())
        apps.read_namespaced_replica_set("ghost", "shop")
    assert status_of(missing_rs.value)["message"] == 'replicasets.apps "ghost" not found'


def test_namespaces_get_and_list(core: Any, fake_kube_thread: FakeKubeApi) -> None:
    fake_kube_thread.cluster.ensure_namespace("payments", annotations={"exitcode-bot/channel": "#payments"})
    namespace = core.read_namespace("payments")
    assert namespace.metadata.annotations == {"exitcode-bot/channel": "#payments"}
    assert {"default", "kube-system", "payments"} <= {n.metadata.name for n in core.list_namespace().items}


# --- pod logs ---------------------------------------------------------------------------------------


@pytest.fixture
def crashed_pod(fake_kube_thread: FakeKubeApi) -> FakeKubeApi:
    fake_kube_thread.cluster.create(make_pod("api-1", containers=("app", "sidecar"), crashed=("app",)))
    fake_kube_thread.cluster.set_log("shop", "api-1", "app", "starting\nloading model\nkilled\n")
    fake_kube_thread.cluster.set_log("shop", "api-1", "sidecar", "shipping logs\n", previous=False)
    return fake_kube_thread


def test_previous_log_with_tail_lines(core: Any, crashed_pod: FakeKubeApi) -> None:
    text = core.read_namespaced_pod_log("api-1", "shop", container="app", previous=True, tail_lines=2)
    assert text == "loading model\nkilled\n"
    assert core.read_namespaced_pod_log("api-1", "shop", container="sidecar") == "shipping logs\n"


def test_log_errors_are_the_kubelets_400s(core: Any, crashed_pod: FakeKubeApi) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"container": "sidecar", "previous": True},
            'previous terminated container "sidecar" in pod "api-1" not found',
        ),
        ({}, "a container name must be specified for pod api-1, choose one of: [app sidecar]"),
        ({"container": "nope"}, "container nope is not valid for pod api-1"),
    ]
    for arguments, message in cases:
        with pytest.raises(ApiException) as refused:
            core.read_namespaced_pod_log("api-1", "shop", **arguments)
        assert refused.value.status == 400
        assert status_of(refused.value)["message"] == message


# --- writes: ConfigMap ledger and Lease, optimistic concurrency -----------------------------------------


def test_configmap_create_update_patch_with_optimistic_concurrency(
    core: Any,
    fake_kube_thread: FakeKubeApi,
) -> None:
    fake_kube_thread.cluster.ensure_namespace("exitcode-bot")
    created = core.create_namespaced_config_map(
        "exitcode-bot", {"metadata": {"name": "ledger"}, "data": {"alerts": "[]"}}
    )
    first_rv = created.metadata.resource_version

    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map("exitcode-bot", {"metadata": {"name": "ledger"}})
    assert (exists.value.status, status_of(exists.value)["reason"]) == (409, "AlreadyExists")

    updated = core.replace_namespaced_config_map(
        "ledger",
        "exitcode-bot",
        {"metadata": {"name": "ledger", "resourceVersion": first_rv}, "data": {"alerts": "[1]"}},
    )
    assert updated.data == {"alerts": "[1]"}
    assert int(updated.metadata.resource_version) > int(first_rv)
    assert updated.metadata.uid == created.metadata.uid

    with pytest.raises(ApiException) as stale:
        core.replace_namespaced_config_map(
            "ledger",
            "exitcode-bot",
            {"metadata": {"name": "ledger", "resourceVersion": first_rv}, "data": {}},
        )
    assert stale.value.status == 409
    assert status_of(stale.value)["reason"] == "Conflict"
    assert status_of(stale.value)["message"].startswith(
        'Operation cannot be fulfilled on configmaps "ledger"'
    )

    with pytest.raises(ApiException) as stale_patch:
        core.patch_namespaced_config_map(
            "ledger", "exitcode-bot", {"metadata": {"resourceVersion": first_rv}, "data": {"x": "1"}}
        )
    assert stale_patch.value.status == 409

    patched = core.patch_namespaced_config_map("ledger", "exitcode-bot", {"data": {"threads": "{}"}})
    assert patched.data == {"alerts": "[1]", "threads": "{}"}
    removed = core.patch_namespaced_config_map(
        "ledger", "exitcode-bot", [{"op": "remove", "path": "/data/alerts"}]
    )
    assert removed.data == {"threads": "{}"}


def test_configmap_over_one_mebibyte_is_invalid(core: Any, fake_kube_thread: FakeKubeApi) -> None:
    with pytest.raises(ApiException) as too_big:
        core.create_namespaced_config_map(
            "default", {"metadata": {"name": "big"}, "data": {"k": "x" * (1 << 20)}}
        )
    assert (too_big.value.status, status_of(too_big.value)["reason"]) == (422, "Invalid")


def test_create_in_a_missing_namespace_is_not_found(core: Any, fake_kube_thread: FakeKubeApi) -> None:
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_config_map("nowhere", {"metadata": {"name": "ledger"}})
    assert status_of(missing.value)["message"] == 'namespaces "nowhere" not found'


def test_lease_race_has_exactly_one_winner(fake_kube_thread: FakeKubeApi) -> None:
    coordination: Any = client.CoordinationV1Api(fake_kube_thread.api_client())
    fake_kube_thread.cluster.ensure_namespace("exitcode-bot")
    coordination.create_namespaced_lease(
        "exitcode-bot",
        {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "", "leaseDurationSeconds": 15}},
    )
    seen_by_a = coordination.read_namespaced_lease("leader", "exitcode-bot")
    seen_by_b = coordination.read_namespaced_lease("leader", "exitcode-bot")

    seen_by_a.spec.holder_identity = "bot-a"
    won = coordination.replace_namespaced_lease("leader", "exitcode-bot", seen_by_a)
    seen_by_b.spec.holder_identity = "bot-b"
    with pytest.raises(ApiException) as lost:
        coordination.replace_namespaced_lease("leader", "exitcode-bot", seen_by_b)

    assert won.spec.holder_identity == "bot-a"
    assert lost.value.status == 409
    assert status_of(lost.value)["details"] == {
        "name": "leader",
        "group": "coordination.k8s.io",
        "kind": "leases",
    }
    assert coordination.read_namespaced_lease("leader", "exitcode-bot").spec.holder_identity == "bot-a"


# --- watch ----------------------------------------------------------------------------------------


def test_watch_sees_added_modified_deleted_live(core: Any, fake_kube_thread: FakeKubeApi) -> None:
    cluster = fake_kube_thread.cluster
    rv = core.list_namespaced_pod("shop").metadata.resource_version

    def crash_then_delete() -> None:
        cluster.create(make_pod("web-1"))
        cluster.modify("Pod", "shop", "web-1", lambda pod: pod["status"].update(phase="Failed"))
        cluster.delete("Pod", "shop", "web-1")

    once_watching(fake_kube_thread, crash_then_delete)
    events = take(watch_stream(core.list_namespaced_pod, "shop", resource_version=rv, timeout_seconds=10), 3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[1]["object"].status.phase == "Failed"
    versions = [int(e["raw_object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and versions[-1] == cluster.resource_version


def test_watch_from_empty_resource_version_starts_with_the_current_state(
    core: Any, three_pods: FakeKubeApi
) -> None:
    events = take(watch_stream(core.list_pod_for_all_namespaces, timeout_seconds=10), 3)
    assert {e["type"] for e in events} == {"ADDED"}
    assert sorted(e["object"].metadata.name for e in events) == ["a", "b", "c"]


def test_raw_watch_stream_is_chunked_newline_delimited_json(three_pods: FakeKubeApi) -> None:
    three_pods.options.max_watch_seconds = 0.2
    url = f"{three_pods.url}/api/v1/namespaces/shop/pods?watch=1&resourceVersion=0"
    with urllib.request.urlopen(url) as response:
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert response.headers["Content-Type"].startswith("application/json")
        lines = response.read().decode().splitlines()
    events = [json.loads(line) for line in lines]
    assert sorted((e["type"], e["object"]["metadata"]["name"]) for e in events) == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]
    assert all(
        e["object"]["kind"] == "Pod" for e in events
    )  # watch objects carry their kind, unlike list items


def test_resume_replays_exactly_the_changes_after_the_resource_version(
    core: Any, three_pods: FakeKubeApi
) -> None:
    cluster = three_pods.cluster
    cluster.modify("Pod", "shop", "a", lambda pod: pod["metadata"]["labels"].update(seen="1"))
    resume_from = str(cluster.resource_version)
    cluster.modify("Pod", "shop", "b", lambda pod: pod["metadata"]["labels"].update(seen="2"))
    cluster.delete("Pod", "other", "c")
    cluster.create({"kind": "ConfigMap", "metadata": {"name": "unrelated", "namespace": "shop"}})

    stream = watch_stream(core.list_pod_for_all_namespaces, resource_version=resume_from, timeout_seconds=10)
    events = take(stream, 2)
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("MODIFIED", "b"), ("DELETED", "c")]


def test_bookmarks_carry_the_current_resource_version(core: Any, three_pods: FakeKubeApi) -> None:
    rv = core.list_namespaced_pod("shop").metadata.resource_version
    three_pods.cluster.create({"kind": "ConfigMap", "metadata": {"name": "elsewhere", "namespace": "shop"}})
    stream = watch_stream(
        core.list_namespaced_pod, "shop", resource_version=rv, allow_watch_bookmarks=True, timeout_seconds=10
    )
    bookmark = take(stream, 1)[0]
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["raw_object"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": str(three_pods.cluster.resource_version)},
    }


def test_no_bookmarks_unless_asked_and_timeout_ends_the_stream(core: Any, three_pods: FakeKubeApi) -> None:
    three_pods.options.max_watch_seconds = 0.5  # several bookmark intervals
    rv = core.list_namespaced_pod("shop").metadata.resource_version
    events = list(watch_stream(core.list_namespaced_pod, "shop", resource_version=rv, timeout_seconds=5))
    assert events == []


def test_compacted_resource_version_gets_410_from_watch(core: Any, three_pods: FakeKubeApi) -> None:
    old_rv = core.list_namespaced_pod("shop").metadata.resource_version
    three_pods.cluster.compact()
    with pytest.raises(ApiException) as gone:
        take(
            watch_stream(core.list_namespaced_pod, "shop", resource_version=old_rv, timeout_seconds=5),
            1,
        )
    assert gone.value.status == 410
    assert "too old resource version" in str(gone.value.reason)

    fresh_rv = core.list_namespaced_pod("shop").metadata.resource_version
    once_watching(three_pods, lambda: three_pods.cluster.delete("Pod", "shop", "a"))
    stream = watch_stream(core.list_namespaced_pod, "shop", resource_version=fresh_rv, timeout_seconds=10)
    assert [e["type"] for e in take(stream, 1)] == ["DELETED"]


def test_history_window_is_bounded() -> None:
    small = FakeKubeApi(history_limit=3)
    with small.serving_in_thread():
        core: Any = client.CoreV1Api(small.api_client())
        rv = core.list_namespaced_pod("default").metadata.resource_version
        for index in range(4):
            small.cluster.create(make_pod(f"p{index}", "default"))
        with pytest.raises(ApiException) as gone:
            take(
                watch_stream(core.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=5),
                1,
            )
        assert gone.value.status == 410


def test_dropped_connection_ends_the_stream(core: Any, three_pods: FakeKubeApi) -> None:
    rv = core.list_namespaced_pod("shop").metadata.resource_version
    once_watching(three_pods, lambda: three_pods.cluster.drop_watches(abort=False))
    assert list(watch_stream(core.list_namespaced_pod, "shop", resource_version=rv, timeout_seconds=30)) == []

    once_watching(three_pods, lambda: three_pods.cluster.drop_watches(abort=True))
    with pytest.raises(urllib3.exceptions.ProtocolError):
        list(watch_stream(core.list_namespaced_pod, "shop", resource_version=rv, timeout_seconds=30))


def test_selectors_apply_to_watches_entering_and_leaving(core: Any, three_pods: FakeKubeApi) -> None:
    cluster = three_pods.cluster
    rv = core.list_pod_for_all_namespaces().metadata.resource_version

    def relabel() -> None:
        cluster.modify("Pod", "shop", "b", lambda pod: pod["metadata"]["labels"].update(app="api"))
        cluster.modify("Pod", "other", "c", lambda pod: pod["metadata"]["labels"].update(app="web"))
        cluster.modify("Pod", "shop", "a", lambda pod: pod["status"].update(phase="Failed"))

    once_watching(three_pods, relabel)
    stream = watch_stream(
        core.list_pod_for_all_namespaces, label_selector="app=web", resource_version=rv, timeout_seconds=10
    )
    events = [(e["type"], e["object"].metadata.name) for e in take(stream, 3)]
    assert events == [("DELETED", "b"), ("ADDED", "c"), ("MODIFIED", "a")]

    rv = core.list_pod_for_all_namespaces().metadata.resource_version
    once_watching(
        three_pods,
        lambda: cluster.modify("Pod", "shop", "a", lambda pod: pod["status"].update(phase="Running")),
    )
    stream = watch_stream(
        core.list_pod_for_all_namespaces,
        field_selector="status.phase=Failed",
        resource_version=rv,
        timeout_seconds=10,
    )
    assert [(e["type"], e["object"].metadata.name) for e in take(stream, 1)] == [("DELETED", "a")]


def test_events_and_configmaps_can_be_watched(core: Any, three_pods: FakeKubeApi) -> None:
    cluster = three_pods.cluster
    pod = cluster.get("Pod", "shop", "a")
    assert pod is not None
    rv = str(cluster.resource_version)
    cluster.create(make_event("a.1", pod, "BackOff"))
    cluster.create({"kind": "ConfigMap", "metadata": {"name": "ledger", "namespace": "shop"}, "data": {}})
    events = take(
        watch_stream(core.list_event_for_all_namespaces, resource_version=rv, timeout_seconds=10), 1
    )
    assert events[0]["object"].reason == "BackOff"
    config_maps = take(
        watch_stream(core.list_namespaced_config_map, "shop", resource_version=rv, timeout_seconds=10),
        1,
    )
    assert config_maps[0]["object"].metadata.name == "ledger"


def test_restart_keeps_state_and_resume_replays_what_changed_while_down(
    core: Any, three_pods: FakeKubeApi
) -> None:
    port = three_pods.port
    rv = core.list_namespaced_pod("shop").metadata.resource_version
    restarter = once_watching(three_pods, three_pods.restart_in_thread)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        list(watch_stream(core.list_namespaced_pod, "shop", resource_version=rv, timeout_seconds=30))
    restarter.join()

    three_pods.pause_in_thread()
    three_pods.cluster.modify("Pod", "shop", "a", lambda pod: pod["status"].update(phase="Failed"))
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.list_namespaced_pod("shop")
    three_pods.start_in_thread()

    assert three_pods.port == port
    stream = watch_stream(core.list_namespaced_pod, "shop", resource_version=rv, timeout_seconds=10)
    assert [(e["type"], e["object"].status.phase) for e in take(stream, 1)] == [("MODIFIED", "Failed")]

    three_pods.restart_in_thread(forget_history=True)
    with pytest.raises(ApiException) as gone:
        take(watch_stream(core.list_namespaced_pod, "shop", resource_version=rv, timeout_seconds=5), 1)
    assert gone.value.status == 410


# --- paging, faults, request log ------------------------------------------------------------------------


def test_list_pages_share_one_snapshot(core: Any, fake_kube_thread: FakeKubeApi) -> None:
    fake_kube_thread.cluster.load(make_pod(f"p{index}") for index in range(5))
    first = core.list_namespaced_pod("shop", limit=2)
    fake_kube_thread.cluster.create(make_pod("p9"))  # not in the snapshot the pages come from
    seen, token = [p.metadata.name for p in first.items], first.metadata._continue
    assert first.metadata.remaining_item_count == 3
    while token:
        page = core.list_namespaced_pod("shop", limit=2, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        seen += [p.metadata.name for p in page.items]
        token = page.metadata._continue
    assert seen == ["p0", "p1", "p2", "p3", "p4"]

    again = core.list_namespaced_pod("shop", limit=2)
    fake_kube_thread.cluster.compact()
    with pytest.raises(ApiException) as expired:
        core.list_namespaced_pod("shop", limit=2, _continue=again.metadata._continue)
    assert (expired.value.status, status_of(expired.value)["reason"]) == (410, "Expired")


def all_pages(core: Any, namespace: str | None = None, **options: Any) -> list[Any]:
    """Every page of one paged list, as a client (kubectl, an informer) walks them."""
    call = core.list_namespaced_pod if namespace else core.list_pod_for_all_namespaces
    args = (namespace,) if namespace else ()
    pages = [call(*args, **options)]
    while pages[-1].metadata._continue:
        pages.append(call(*args, **options, _continue=pages[-1].metadata._continue))
    return pages


def test_continue_tokens_encode_the_resource_version_and_the_key_to_start_after(
    core: Any, fake_kube_thread: FakeKubeApi
) -> None:
    fake_kube_thread.cluster.load(make_pod(f"p{index}") for index in range(3))
    first = core.list_namespaced_pod("shop", limit=2)
    token = json.loads(base64.urlsafe_b64decode(first.metadata._continue))
    assert token == {
        "v": "meta.k8s.io/v1",
        "rv": int(first.metadata.resource_version),
        "start": "shop/p1\x00",
    }
    last = core.list_namespaced_pod("shop", limit=2, _continue=first.metadata._continue)
    assert [p.metadata.name for p in last.items] == ["p2"]
    assert last.metadata._continue is None and last.metadata.remaining_item_count is None  # the end


def test_pages_count_down_and_stay_inside_the_namespace(core: Any, fake_kube_thread: FakeKubeApi) -> None:
    fake_kube_thread.cluster.load(make_pod(f"p{index}") for index in range(7))
    fake_kube_thread.cluster.load(make_pod(f"o{index}", "other") for index in range(4))
    pages = all_pages(core, "shop", limit=3)
    assert [len(page.items) for page in pages] == [3, 3, 1]
    assert [page.metadata.remaining_item_count for page in pages] == [4, 1, None]
    assert {p.metadata.namespace for page in pages for p in page.items} == {"shop"}
    everywhere = all_pages(core, limit=4)
    assert [page.metadata.remaining_item_count for page in everywhere] == [7, 3, None]
    assert sum(len(page.items) for page in everywhere) == 11


def test_a_selector_fills_pages_but_leaves_the_remaining_count_out(
    core: Any, fake_kube_thread: FakeKubeApi
) -> None:
    """The apiserver cannot count what a selector would keep without reading it all, so it does not."""
    fake_kube_thread.cluster.load(
        make_pod(f"p{index}", labels={"app": "web" if index % 2 else "db"}) for index in range(9)
    )
    pages = all_pages(core, "shop", limit=2, label_selector="app=web")
    assert [[p.metadata.name for p in page.items] for page in pages] == [["p1", "p3"], ["p5", "p7"]]
    assert all(page.metadata.remaining_item_count is None for page in pages)


def test_an_expired_continue_token_is_410_with_the_apiservers_sentence() -> None:
    small = FakeKubeApi(history_limit=3)
    with small.serving_in_thread():
        core: Any = client.CoreV1Api(small.api_client())
        small.cluster.load(make_pod(f"p{index}") for index in range(4))
        first = core.list_namespaced_pod("shop", limit=2)
        for index in range(4):  # writes elsewhere push the list's resourceVersion out of the window
            small.cluster.create({"kind": "ConfigMap", "metadata": {"name": f"cm-{index}"}})
        with pytest.raises(ApiException) as expired:
            core.list_namespaced_pod("shop", limit=2, _continue=first.metadata._continue)
        body = status_of(expired.value)
        assert (expired.value.status, body["reason"], body["code"]) == (410, "Expired", 410)
        assert body["message"] == (
            "The provided continue parameter is too old to display a consistent list result. "
            "You can start a new list without the continue parameter."
        )
        fresh = all_pages(core, "shop", limit=2)  # what the client does next: a new list
        assert sum(len(page.items) for page in fresh) == 4


def test_a_malformed_continue_token_is_a_400(core: Any, fake_kube_thread: FakeKubeApi) -> None:
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod("shop", limit=2, _continue="not-a-token")
    assert bad.value.status == 400 and "continue key is not valid" in status_of(bad.value)["message"]


def test_a_continue_token_with_a_resource_version_is_a_400(core: Any, fake_kube_thread: FakeKubeApi) -> None:
    fake_kube_thread.cluster.load(make_pod(f"p{index}") for index in range(3))
    first = core.list_namespaced_pod("shop", limit=2)
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod(
            "shop",
            limit=2,
            _continue=first.metadata._continue,
            resource_version=first.metadata.resource_version,
        )
    assert status_of(bad.value)["message"] == "specifying resource version is not allowed when using continue"


def test_a_watch_from_a_paged_lists_version_misses_no_write_made_while_paging(
    core: Any, fake_kube_thread: FakeKubeApi
) -> None:
    cluster = fake_kube_thread.cluster
    cluster.load(make_pod(f"p{index}") for index in range(4))
    first = core.list_namespaced_pod("shop", limit=2)
    cluster.create(make_pod("late"))  # after the snapshot: not in the pages, but in the watch
    cluster.delete("Pod", "shop", "p3")
    rest = core.list_namespaced_pod("shop", limit=2, _continue=first.metadata._continue)
    listed = [p.metadata.name for p in first.items + rest.items]
    assert (
        listed == ["p0", "p1", "p2", "p3"]
        and rest.metadata.resource_version == first.metadata.resource_version
    )
    events = take(
        watch_stream(
            core.list_namespaced_pod,
            "shop",
            resource_version=first.metadata.resource_version,
            timeout_seconds=5,
        ),
        2,
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "late"), ("DELETED", "p3")]


def test_forbidden_has_rbacs_wording_per_verb_resource_and_namespace(
    core: Any, crashed_pod: FakeKubeApi
) -> None:
    crashed_pod.faults.forbid("list", "pods", namespace="shop")
    crashed_pod.faults.forbid("get", "pods/log")
    with pytest.raises(ApiException) as listing:
        core.list_namespaced_pod("shop")
    assert status_of(listing.value)["message"] == (
        f'pods is forbidden: User "{FORBIDDEN_USER}" cannot list resource "pods" in API group "" '
        'in the namespace "shop"'
    )
    assert core.list_namespaced_pod("other").items == []  # only the denied namespace
    assert core.read_namespaced_pod("api-1", "shop").metadata.name == "api-1"  # only the denied verb
    with pytest.raises(ApiException) as logs:
        core.read_namespaced_pod_log("api-1", "shop", container="app", previous=True)
    assert logs.value.status == 403
    assert status_of(logs.value)["message"] == (
        f'pods "api-1" is forbidden: User "{FORBIDDEN_USER}" cannot get resource "pods/log" in API group "" '
        'in the namespace "shop"'
    )


def test_injected_failures_can_be_limited_in_number(core: Any, crashed_pod: FakeKubeApi) -> None:
    crashed_pod.faults.fail("get", "pods", 500, times=1)
    crashed_pod.faults.fail("list", "events", 404)
    with pytest.raises(ApiException) as broken:
        core.read_namespaced_pod("api-1", "shop")
    assert (broken.value.status, status_of(broken.value)["reason"]) == (500, "InternalError")
    assert core.read_namespaced_pod("api-1", "shop").metadata.name == "api-1"
    with pytest.raises(ApiException) as missing:
        core.list_namespaced_event("shop")
    assert missing.value.status == 404
    crashed_pod.faults.clear()
    assert core.list_namespaced_event("shop").items == []


def test_request_log_names_calls_as_rbac_does(core: Any, crashed_pod: FakeKubeApi) -> None:
    crashed_pod.requests.clear()
    crashed_pod.faults.forbid("list", "events")
    core.read_namespaced_pod("api-1", "shop")
    core.list_pod_for_all_namespaces()
    core.read_namespaced_pod_log("api-1", "shop", container="app", previous=True)
    with pytest.raises(ApiException):
        core.list_namespaced_event("shop")
    core.create_namespaced_config_map("shop", {"metadata": {"name": "ledger"}})
    core.patch_namespaced_config_map("ledger", "shop", {"data": {"a": "1"}})
    take(watch_stream(core.list_namespaced_pod, "shop", timeout_seconds=5), 1)

    logged = [(e.verb, e.group, e.rbac_resource, e.namespace, e.name) for e in crashed_pod.requests.entries]
    assert logged == [
        ("get", "", "pods", "shop", "api-1"),
        ("list", "", "pods", None, None),
        ("get", "", "pods/log", "shop", "api-1"),
        ("list", "", "events", "shop", None),
        ("create", "", "configmaps", "shop", None),
        ("patch", "", "configmaps", "shop", "ledger"),
        ("watch", "", "pods", "shop", None),
    ]
    assert {e.user_agent for e in crashed_pod.requests.entries} == {"exitcode-bot-tests/fake-client"}


# --- scenarios and standalone mode --------------------------------------------------------------------


def test_every_scenario_fixture_loads_with_its_owner_chain_and_logs(fake_kube_thread: FakeKubeApi) -> None:
    cluster = fake_kube_thread.cluster
    for path in sorted(SCENARIOS.glob("*.json")):
        scenario = json.loads(path.read_text(encoding="utf-8"))
        pod = cluster.load_scenario(scenario)
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        for reference in pod["metadata"].get("ownerReferences", []):
            owner = cluster.get(reference["kind"], namespace, reference["name"])
            assert owner is not None, f"{path.name}: owner {reference['kind']}/{reference['name']} missing"
        for container, text in (scenario.get("logs") or {}).items():
            assert cluster.api_log(namespace, name, container, previous=True, tail_lines=None) == text, (
                path.name
            )


def test_standalone_server_with_http_controls(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    scenario = SCENARIOS / "oom_killed_container_limit.json"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.kube_api",
            "--port",
            "0",
            "--kubeconfig",
            str(kubeconfig),
            "--scenario",
            str(scenario),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
            pod = json.loads(scenario.read_text(encoding="utf-8"))["pod"]["metadata"]
            api_client = new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
            core: Any = client.CoreV1Api(api_client)
            assert core.read_namespaced_pod(pod["name"], pod["namespace"]).metadata.uid == pod["uid"]

            request = urllib.request.Request(
                f"{url}/_fake/faults",
                method="POST",
                data=json.dumps({"verb": "get", "resource": "pods", "status": 403}).encode(),
            )
            urllib.request.urlopen(request).close()
            with pytest.raises(ApiException) as denied:
                core.read_namespaced_pod(pod["name"], pod["namespace"])
            assert denied.value.status == 403
            with urllib.request.urlopen(f"{url}/_fake/requests") as response:
                verbs = [entry["verb"] for entry in json.load(response)]
            assert verbs == ["get", "get"]
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0
