"""Console mode (`python -m bot` without Slack tokens): `/exitcode pod …` and `/exitcode ns …` read the
cluster of the current kubeconfig, next to the explanations; without a cluster they say so, and the bot
runs on."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BOT_COMMAND, bot_env
from tests.fakes.kube_api import FakeKubeApi
from tests.fixtures.scenarios import load_scenario

OOM = load_scenario("oom_killed_container_limit")
JOB = load_scenario("job_backoff_limit_exceeded")


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with FakeKubeApi().serving_in_thread() as fake:
        for scenario in (OOM, JOB, load_scenario("image_pull_backoff"), load_scenario("healthy_running")):
            fake.cluster.load_scenario(scenario.raw)
        yield fake.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig")


def console(lines: str, cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    env = bot_env(**environment)
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return subprocess.run(
        BOT_COMMAND, input=lines, capture_output=True, text=True, cwd=cwd, env=env, timeout=60
    )


def test_console_diagnoses_pods_and_triages_namespaces(kubeconfig: Path, tmp_path: Path) -> None:
    lines = "\n".join(
        [
            f"/exitcode pod {OOM.namespace}/{OOM.pod_name}",
            f"pod {JOB.namespace}/nightly-invoices share",
            "ns shop",
            "pod Shop/api",
            f"pod {OOM.namespace}/ghost",
            "pod",
            "137",
        ]
    )

    done = console(lines + "\n", tmp_path, KUBECONFIG=str(kubeconfig))

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    replies = done.stdout.split(f"Pod {OOM.namespace}/{OOM.pod_name}\n", 1)[1]
    assert "Cause: oom_killed" in replies
    assert f"Pod {JOB.namespace}/{JOB.pod_name}" in replies and "Cause: job_backoff_limit" in replies
    assert "only pod of CronJob/nightly-invoices" in replies
    assert "troubled pods in shop" in replies and OOM.pod_name in replies.split("troubled pods in shop")[1]
    assert "did you mean “shop”?" in replies
    assert 'Pod "ghost" was not found in namespace "shop"' in replies
    assert "Use /exitcode pod NAMESPACE/POD" in replies
    assert "137 = 128 + 9" in replies, "explanations still work next to the cluster commands"


def test_console_without_a_cluster_says_so_and_still_explains(tmp_path: Path) -> None:
    done = console(
        f"pod {OOM.namespace}/{OOM.pod_name}\nns shop\n143\n",
        tmp_path,
        KUBECONFIG=str(tmp_path / "absent"),
        HOME=str(tmp_path),
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("No Kubernetes cluster is configured") == 2
    assert "SIGTERM" in done.stdout
    assert "Traceback" not in done.stderr
