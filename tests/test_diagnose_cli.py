"""`exitcode-bot pod NS/NAME [--json]` and `exitcode-bot ns NAMESPACE [--json]` with the current kubeconfig.

The fake Kubernetes API runs on a background thread (the CLI blocks while it reads), holding every recorded
scenario; `KUBECONFIG` points at it, as it would point at a real cluster. Exit codes: 0 with an answer, 1
when the cluster said no, 2 for bad input or a namespace the bot may not look at.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.application.diagnose import utc_now
from bot.cli import main
from bot.diagnosis.model import CONFIDENCE_RANK
from bot.diagnosis.triage import triage_namespace
from bot.knowledge import KnowledgeBase
from bot.kube.client import NOT_CONFIGURED, USER_AGENT
from tests.conftest import BOT_COMMAND, bot_env, free_port
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kubeconfig import write_kubeconfig
from tests.fixtures.scenarios import all_scenarios, load_scenario, scenario_names

OOM = load_scenario("oom_killed_container_limit")
OOM_POD = f"{OOM.namespace}/{OOM.pod_name}"


@pytest.fixture(scope="module")
def kube() -> Iterator[FakeKubeApi]:
    with FakeKubeApi().serving_in_thread() as fake:
        for scenario in all_scenarios():
            fake.cluster.load_scenario(scenario.raw)
        yield fake


@pytest.fixture(scope="module")
def kubeconfig(kube: FakeKubeApi, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kube.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig")


@pytest.fixture(autouse=True)
def current_kubeconfig(
    kube: FakeKubeApi, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    """The fake is the current cluster; no `.env` and no bot settings from the developer's shell."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    for name in (
        "ALLOWED_NAMESPACES",
        "DEFAULT_NAMESPACE",
        "LOG_LINES",
        "KUBE_TIMEOUT_SECONDS",
        "KNOWLEDGE_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    kube.faults.clear()
    kube.requests.clear()
    yield
    kube.faults.clear()


@pytest.fixture
def loaded_knowledge(knowledge_base: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled knowledge base, parsed once for the module instead of once per command (the loading
    itself is exercised by the subprocess test below and by tests/test_cli.py)."""
    monkeypatch.setattr(cli, "load_knowledge_base", lambda settings: knowledge_base)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def words(text: str) -> str:
    return " ".join(text.split())


# --- every scenario, as JSON and as text --------------------------------------------------------------


@pytest.mark.usefixtures("loaded_knowledge")
@pytest.mark.parametrize("name", scenario_names())
def test_every_scenario_as_json(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = load_scenario(name)

    code, out, err = run(capsys, "pod", f"{scenario.namespace}/{scenario.pod_name}", "--json")

    assert (code, err) == (0, "")
    document = json.loads(out)
    assert (document["kind"], document["namespace"], document["pod"]) == (
        "diagnosis",
        scenario.namespace,
        scenario.pod_name,
    )
    verdict = document["verdict"]
    assert verdict["cause"] == scenario.expected_cause
    assert CONFIDENCE_RANK[verdict["confidence"]] >= CONFIDENCE_RANK[scenario.min_confidence]
    if verdict["is_failure"]:
        assert verdict["evidence"] and verdict["next_steps"]
    assert document["notes"] == [], "every read of a scenario succeeds against the fake"


@pytest.mark.usefixtures("loaded_knowledge")
@pytest.mark.parametrize("name", scenario_names())
def test_every_scenario_as_text_says_the_same(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = load_scenario(name)
    target = f"{scenario.namespace}/{scenario.pod_name}"
    code, json_out, _ = run(capsys, "pod", target, "--json")
    verdict = json.loads(json_out)["verdict"]

    code, out, err = run(capsys, "pod", target)

    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"Pod {target}"
    assert f"Cause: {scenario.expected_cause} (" in out
    assert words(f"Verdict: {verdict['headline']}") in words(out)
    for fact in verdict["evidence"]:
        assert words(fact) in words(out)


def test_env_values_secret_references_and_annotations_are_never_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario = load_scenario("secret_env_annotations")
    pod = scenario.pod
    secrets = [*pod["metadata"]["annotations"].values()]
    for variable in pod["spec"]["containers"][0]["env"]:
        secrets.append(variable.get("value", ""))
        secrets.extend(str(v) for ref in variable.get("valueFrom", {}).values() for v in ref.values())
    secrets = [value for value in secrets if len(value) >= 6]
    assert len(secrets) >= 4
    target = f"{scenario.namespace}/{scenario.pod_name}"

    printed = run(capsys, "pod", target)[1] + run(capsys, "pod", target, "--json")[1]

    for value in secrets:
        assert value not in printed, value


# --- workloads and namespaces -------------------------------------------------------------------------


def test_a_workload_name_picks_its_latest_crash_and_lists_the_others(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "pod", "shop/checkout-api", "--json")

    assert code == 0
    document = json.loads(out)
    assert document["pod"] == OOM.pod_name
    selected = document["selected"]
    assert (selected["query"], selected["workload"], selected["crashed"]) == (
        "checkout-api",
        "Deployment/checkout-api",
        True,
    )
    assert [(p["pod"], p["state"]) for p in selected["other_pods"]] == [
        ("checkout-api-69f5c2m4d2-8xwr4", "ImagePullBackOff")
    ]

    code, text, _ = run(capsys, "pod", "shop/checkout-api")
    assert "most recently crashed of the 2 pods of Deployment/checkout-api" in text
    others = text.split("Other pods of Deployment/checkout-api:\n")[1]
    assert others.startswith("  checkout-api-69f5c2m4d2-8xwr4: restarts 0 · ImagePullBackOff")


def test_ns_triage_as_json_and_text(kube: FakeKubeApi, capsys: pytest.CaptureFixture[str]) -> None:
    pods = kube.cluster.list_objects("Pod", "shop")
    expected = [row.pod for row in triage_namespace(pods, utc_now())]

    code, out, _ = run(capsys, "ns", "shop", "--json")
    document = json.loads(out)

    assert code == 0
    assert (document["kind"], document["namespace"], document["pods_checked"]) == (
        "triage",
        "shop",
        len(pods),
    )
    assert [row["pod"] for row in document["pods"]] == expected

    code, text, _ = run(capsys, "ns", "shop")
    assert code == 0
    assert text.startswith(f"{len(expected)} troubled pods in shop ({len(pods)} pods checked)")
    assert [line.split("/")[0].strip() for line in text.splitlines()[1:-1]] == expected


def test_pod_without_namespace_uses_default_namespace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEFAULT_NAMESPACE", OOM.namespace)

    code, out, _ = run(capsys, "pod", OOM.pod_name, "--json")

    assert code == 0 and json.loads(out)["verdict"]["cause"] == "oom_killed"


# --- errors: one line on stderr, never a traceback ----------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("pod", "Shop/api"), "did you mean “shop”?"),
        (("pod", "shop/api_1", "--json"), "not a valid pod name"),
        (("ns", "shop/api"), "exitcode-bot ns NAMESPACE"),
    ],
)
def test_bad_input_exits_2_before_any_api_call(
    kube: FakeKubeApi, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], says: str
) -> None:
    code, out, err = run(capsys, *argv)

    assert (code, out) == (2, "")
    assert err.startswith("exitcode-bot: ") and says in err and "/exitcode" not in err
    assert kube.requests.made_by(USER_AGENT) == []


def test_a_namespace_outside_allowed_namespaces_exits_2_and_fetches_nothing(
    kube: FakeKubeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALLOWED_NAMESPACES", "web,queue")

    code, out, err = run(capsys, "pod", OOM_POD)

    assert (code, out) == (2, "")
    assert "ALLOWED_NAMESPACES" in err and "web, queue" in err
    assert kube.requests.made_by(USER_AGENT) == []


def test_missing_pod_exits_1_with_close_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "pod", f"shop/{OOM.pod_name[:-1]}z")

    assert (code, out) == (1, "")
    assert 'was not found in namespace "shop"' in err
    assert f"Did you mean: shop/{OOM.pod_name}" in err


@pytest.mark.parametrize(("argv", "verb"), [(("pod", OOM_POD), "get"), (("ns", "shop", "--json"), "list")])
def test_rbac_denial_exits_1_naming_the_verb(
    kube: FakeKubeApi, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], verb: str
) -> None:
    kube.faults.forbid(verb, "pods")

    code, out, err = run(capsys, *argv)

    assert (code, out) == (1, "")
    assert f'lacks the "{verb}" verb on "pods"' in err


def test_a_slow_cluster_times_out(
    kube: FakeKubeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBE_TIMEOUT_SECONDS", "0.2")
    kube.faults.delay(1.0, verb="list", resource="pods")

    code, _, err = run(capsys, "ns", "shop")

    assert code == 1
    assert "did not answer list pods within 0.2 s" in err


def test_an_unreachable_cluster_exits_1_with_one_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = write_kubeconfig(tmp_path / "nowhere", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("KUBECONFIG", str(nowhere))

    code, out, err = run(capsys, "pod", OOM_POD)

    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "cannot be reached (connection refused)" in err


def test_no_cluster_configured_exits_1_with_the_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setenv("HOME", str(tmp_path))

    code, out, err = run(capsys, "ns", "shop")

    assert (code, out) == (1, "")
    assert err == f"exitcode-bot: {NOT_CONFIGURED}\n"


def test_the_installed_command_answers_without_a_traceback(kubeconfig: Path, tmp_path: Path) -> None:
    environment: dict[str, Any] = bot_env(KUBECONFIG=str(kubeconfig))
    environment.pop("KUBERNETES_SERVICE_HOST", None)

    found = subprocess.run(
        [*BOT_COMMAND, "pod", OOM_POD],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=60,
    )
    missing = subprocess.run(
        [*BOT_COMMAND, "pod", "shop/ghost"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=60,
    )

    assert found.returncode == 0 and "Cause: oom_killed" in found.stdout
    assert missing.returncode == 1 and 'Pod "ghost" was not found' in missing.stderr
    assert "Traceback" not in found.stderr + missing.stderr
