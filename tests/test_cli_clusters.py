"""`exitcode-bot pod CLUSTER/NS/POD` and `ns CLUSTER/NS`: the CLI serves every cluster in CLUSTERS.

Two fake API servers on background threads (the CLI blocks while it reads) behind one kubeconfig, as an
operator's kubeconfig for several clusters looks: `prod-eu` (the current context, so the home cluster)
and `prod-us`, plus `gone`, a context whose server is not listening. CLUSTERS=* as for the bot. What is
asserted is what the shell user sees: stdout, the one line on stderr, the exit code, and which fake
was asked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import cli
from bot.cli import main
from bot.knowledge import KnowledgeBase
from bot.kube.client import USER_AGENT
from tests.conftest import free_port
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kubeconfig import write_multi_kubeconfig
from tests.fixtures.scenarios import load_scenario

OOM = load_scenario("oom_killed_container_limit")  # only in prod-us
PANIC = load_scenario("go_panic_exit2")  # only in prod-eu, the home cluster


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeKubeApi]]:
    with FakeKubeApi().serving_in_thread() as eu, FakeKubeApi().serving_in_thread() as us:
        eu.cluster.load_scenario(PANIC.raw)
        us.cluster.load_scenario(OOM.raw)
        yield {"prod-eu": eu, "prod-us": us}


@pytest.fixture(scope="module")
def kubeconfig(servers: dict[str, FakeKubeApi], tmp_path_factory: pytest.TempPathFactory) -> Path:
    urls = {name: server.url for name, server in servers.items()}
    urls["gone"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    return write_multi_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig", urls, current="prod-eu")


@pytest.fixture(autouse=True)
def many_clusters(
    servers: dict[str, FakeKubeApi],
    kubeconfig: Path,
    knowledge_base: KnowledgeBase,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[None]:
    """CLUSTERS=* over the fleet's kubeconfig; no `.env` and no other bot settings from the shell."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("CLUSTERS", "*")
    monkeypatch.setenv("KUBE_TIMEOUT_SECONDS", "3")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    for name in ("ALLOWED_NAMESPACES", "DEFAULT_NAMESPACE", "LOG_LINES", "KNOWLEDGE_FILE", "CLUSTER_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli, "load_knowledge_base", lambda settings: knowledge_base)
    for server in servers.values():
        server.requests.clear()
        server.faults.clear()
    yield


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def asked(server: FakeKubeApi) -> list[str]:
    """The namespaces the bot's own calls went to on `server`."""
    return [entry.namespace or "" for entry in server.requests.made_by(USER_AGENT)]


# --- a pod or namespace in another cluster -------------------------------------------------------------


def test_a_pod_in_a_named_cluster_is_read_from_that_cluster(
    servers: dict[str, FakeKubeApi], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "pod", f"prod-us/{OOM.namespace}/{OOM.pod_name}")

    assert (code, err) == (0, "")
    assert out.splitlines()[:2] == ["Cluster: prod-us", f"Pod {OOM.namespace}/{OOM.pod_name}"]
    assert "Cause: oom_killed (" in out
    assert asked(servers["prod-us"]) and asked(servers["prod-eu"]) == []


def test_a_namespace_in_a_named_cluster_as_json_names_the_cluster(
    servers: dict[str, FakeKubeApi], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "ns", f"prod-us/{OOM.namespace}", "--json")

    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["cluster"] == "prod-us" and document["namespace"] == OOM.namespace
    assert OOM.pod_name in out and PANIC.pod_name not in out
    assert asked(servers["prod-eu"]) == []


def test_the_namespace_alias_and_a_cluster_name_in_another_case_work_as_in_slack(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "namespace", f"PROD-US/{OOM.namespace}")

    assert code == 0 and out.startswith("Cluster: prod-us\n") and OOM.pod_name in out


def test_the_plain_form_reads_the_home_cluster(
    servers: dict[str, FakeKubeApi], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "pod", f"{PANIC.namespace}/{PANIC.pod_name}")
    missing, _, not_here = run(capsys, "pod", f"{OOM.namespace}/{OOM.pod_name}")

    assert (code, err) == (0, "")
    assert out.startswith("Cluster: prod-eu\n") and f"Cause: {PANIC.expected_cause} (" in out
    assert missing == 1 and "was not found" in not_here, "the home cluster has no such pod"
    assert asked(servers["prod-us"]) == []


# --- clusters the bot does not serve, or cannot reach --------------------------------------------------


@pytest.mark.parametrize("argv", [("pod", "prod-ap/shop/api"), ("ns", "prod-ap/shop", "--json")])
def test_an_unknown_cluster_exits_2_with_one_line_naming_the_clusters(
    servers: dict[str, FakeKubeApi], capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    code, out, err = run(capsys, *argv)

    assert (code, out) == (2, "")
    assert err == (
        "exitcode-bot: This bot knows no cluster “prod-ap”; its clusters are: prod-eu, prod-us, gone.\n"
    )
    assert all(asked(server) == [] for server in servers.values())


def test_an_unreachable_cluster_exits_1_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "ns", "gone/shop")

    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (
        err.startswith("exitcode-bot: Cluster “gone”: ") and "cannot be reached (connection refused)" in err
    )
    assert "The other clusters: prod-eu, prod-us." in err


def test_clusters_naming_a_context_the_kubeconfig_lacks_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLUSTERS", "prod-eu,prod-ap")

    code, out, err = run(capsys, "pod", "prod-eu/shop/api")

    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "'prod-ap'" in err and "contexts: prod-eu, prod-us, gone" in err


# --- without CLUSTERS: one cluster, as before ----------------------------------------------------------


def test_without_clusters_the_plain_form_reads_the_current_context_and_names_no_cluster(
    servers: dict[str, FakeKubeApi], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CLUSTERS")

    code, out, err = run(capsys, "pod", f"{PANIC.namespace}/{PANIC.pod_name}", "--json")
    text_code, text, _ = run(capsys, "pod", f"{PANIC.namespace}/{PANIC.pod_name}")

    assert (code, err, text_code) == (0, "", 0)
    assert "cluster" not in json.loads(out) and json.loads(out)["pod"] == PANIC.pod_name
    assert text.startswith(f"Pod {PANIC.namespace}/{PANIC.pod_name}\n")
    assert asked(servers["prod-us"]) == []


def test_the_help_shows_the_cluster_form(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("pod", "ns"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "CLUSTER/" in capsys.readouterr().out
