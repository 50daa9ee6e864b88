"""Gathering evidence through the `ClusterReader` protocol: what is read, concurrently, and how a
failed read becomes a sentence in the diagnosis instead of an error.

`ScenarioReader` is a small in-test reader serving one recorded scenario the way the API would
(events by involved object name, owners by kind and name, previous logs only for restarted
containers), which lets a test fail or hold any single call. The last test runs every scenario end to
end through the real adapter (the official client) against the fake Kubernetes API server.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.diagnosis.engine import diagnose
from bot.diagnosis.evidence import EVENTS, NODE_EVENTS, OWNERS, PartialError, log_source
from bot.diagnosis.gather import gather_evidence
from bot.diagnosis.ports import ClusterError, Forbidden, InvalidName, JsonDict, NotFound
from bot.knowledge import KnowledgeBase
from bot.kube.client import build_api_client
from bot.kube.reader import KubeClusterReader
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.fixtures.scenarios import Scenario, all_scenarios, load_scenario

FORBIDDEN_EVENTS = Forbidden("list", "events", "shop", 'The bot may not "list" "events" in namespace "shop".')


class ScenarioReader:
    """Serves one scenario; records every call; can fail chosen calls or hold them until released."""

    def __init__(self, scenario: Scenario, *, failures: dict[str, Exception] | None = None) -> None:
        self.scenario = scenario
        self.calls: list[tuple[Any, ...]] = []
        self.failures = failures or {}
        self.in_flight = 0
        self.release = asyncio.Event()
        self.release.set()

    async def _call(self, *call: Any, hold: bool = True) -> None:
        self.calls.append(call)
        self.in_flight += 1
        try:
            if hold:
                await self.release.wait()
        finally:
            self.in_flight -= 1
        failure = self.failures.get(call[0])
        if failure is not None:
            raise failure

    async def get_pod(self, namespace: str, name: str) -> JsonDict:
        await self._call("get_pod", namespace, name, hold=False)
        pod = self.scenario.pod
        if (namespace, name) != (self.scenario.namespace, self.scenario.pod_name):
            raise NotFound("Pod", namespace, name, f"Pod {namespace}/{name} was not found.")
        return copy.deepcopy(pod)

    async def list_pods(
        self, namespace: str | None, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> list[JsonDict]:
        await self._call("list_pods", namespace)
        return [copy.deepcopy(self.scenario.pod)]

    async def list_events(self, namespace: str, *, involved_name: str | None = None) -> list[JsonDict]:
        await self._call("list_events", namespace, involved_name)
        return [
            copy.deepcopy(event)
            for event in self.scenario.events
            if event["metadata"]["namespace"] == namespace
            and event["involvedObject"]["name"] == involved_name
        ]

    async def read_previous_log(
        self, namespace: str, pod: str, container: str, *, tail_lines: int
    ) -> str | None:
        await self._call("read_previous_log", container, tail_lines)
        text = self.scenario.logs.get(container)
        return None if text is None else "\n".join(text.splitlines()[-tail_lines:])

    async def get_owner(self, namespace: str, kind: str, name: str) -> JsonDict | None:
        await self._call("get_owner", kind, name)
        for owner in self.scenario.owners:
            if owner["kind"] == kind and owner["metadata"]["name"] == name:
                return copy.deepcopy(owner)
        return None


class CurrentLogScenarioReader(ScenarioReader):
    """A reader that can also read the log of a container's current, ended instance."""

    async def read_current_log(
        self, namespace: str, pod: str, container: str, *, tail_lines: int
    ) -> str | None:
        await self._call("read_current_log", container, tail_lines)
        return self.scenario.current_logs.get(container)


def calls(reader: ScenarioReader, name: str) -> list[tuple[Any, ...]]:
    return [call for call in reader.calls if call[0] == name]


async def test_gathers_the_pod_its_events_owners_and_previous_logs() -> None:
    scenario = load_scenario("oom_killed_container_limit")
    reader = ScenarioReader(scenario)
    evidence = await gather_evidence(reader, scenario.namespace, scenario.pod_name, log_lines=20)
    assert evidence.pod == scenario.pod
    assert [e["metadata"]["name"] for e in evidence.events] == [
        e["metadata"]["name"] for e in scenario.events
    ]
    assert [o["kind"] for o in evidence.owners] == ["ReplicaSet"]
    assert dict(evidence.log_tails) == scenario.logs
    assert calls(reader, "read_previous_log") == [("read_previous_log", "api", 20)]
    assert evidence.partial_errors == ()


async def test_reads_run_concurrently_after_the_pod() -> None:
    """Events, owners and logs are all requested before any of them has answered."""
    scenario = load_scenario("liveness_probe_sigkill")
    reader = ScenarioReader(scenario)
    reader.release.clear()
    task = asyncio.create_task(gather_evidence(reader, scenario.namespace, scenario.pod_name, log_lines=20))
    expected = {"list_events", "get_owner", "read_previous_log"}
    for _ in range(100):
        if expected <= {call[0] for call in reader.calls}:
            break
        await asyncio.sleep(0)
    held = {call[0] for call in reader.calls[1:]}
    in_flight = reader.in_flight
    reader.release.set()
    await task
    assert reader.calls[0][0] == "get_pod"
    assert expected <= held
    assert in_flight == len(reader.calls) - 1, "every read after the pod was waiting at the same time"


async def test_owner_chain_reads_the_replicaset_and_names_the_deployment(
    knowledge_base: KnowledgeBase,
) -> None:
    scenario = load_scenario("exit0_deployment_restarting")
    reader = ScenarioReader(scenario)
    evidence = await gather_evidence(reader, scenario.namespace, scenario.pod_name, log_lines=20)
    assert [call[1] for call in calls(reader, "get_owner")] == ["ReplicaSet"]
    diagnosis = diagnose(evidence, knowledge_base, scenario.captured_at)
    assert [o.kind for o in diagnosis.owners] == ["ReplicaSet", "Deployment"]


async def test_a_job_pod_gets_its_job_and_the_cronjob_named(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("job_backoff_limit_exceeded")
    reader = CurrentLogScenarioReader(scenario)
    evidence = await gather_evidence(reader, scenario.namespace, scenario.pod_name, log_lines=20)
    diagnosis = diagnose(evidence, knowledge_base, scenario.captured_at)
    assert diagnosis.verdict.cause == "job_backoff_limit"
    assert [o.kind for o in diagnosis.owners] == ["Job", "CronJob"]
    assert calls(reader, "read_current_log") == [("read_current_log", "invoices", 20)]
    assert calls(reader, "read_previous_log") == []


async def test_a_reader_without_current_logs_is_not_asked_for_them() -> None:
    scenario = load_scenario("job_backoff_limit_exceeded")
    reader = ScenarioReader(scenario)
    evidence = await gather_evidence(reader, scenario.namespace, scenario.pod_name, log_lines=20)
    assert dict(evidence.log_tails) == {}
    assert calls(reader, "read_previous_log") == []


async def test_log_lines_zero_reads_no_logs() -> None:
    scenario = load_scenario("oom_killed_container_limit")
    reader = ScenarioReader(scenario)
    evidence = await gather_evidence(reader, scenario.namespace, scenario.pod_name, log_lines=0)
    assert dict(evidence.log_tails) == {}
    assert calls(reader, "read_previous_log") == []


async def test_healthy_containers_have_no_logs_read() -> None:
    scenario = load_scenario("healthy_running")
    reader = ScenarioReader(scenario)
    await gather_evidence(reader, scenario.namespace, scenario.pod_name, log_lines=20)
    assert calls(reader, "read_previous_log") == []


async def test_node_events_are_read_for_a_sigkill(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("oom_node_system_oom")
    reader = ScenarioReader(scenario)
    evidence = await gather_evidence(reader, scenario.namespace, scenario.pod_name, log_lines=20)
    node = scenario.pod["spec"]["nodeName"]
    assert ("list_events", "default", node) in reader.calls
    assert any(e["reason"] == "SystemOOM" for e in evidence.events)
    assert diagnose(evidence, knowledge_base, scenario.captured_at).verdict.cause == "node_oom"


async def test_node_events_are_not_read_when_nothing_was_killed() -> None:
    scenario = load_scenario("app_error_exit1_python")
    reader = ScenarioReader(scenario)
    await gather_evidence(reader, scenario.namespace, scenario.pod_name, log_lines=20)
    assert [call for call in calls(reader, "list_events") if call[1] == "default"] == []


async def test_events_of_an_earlier_pod_with_the_same_name_are_ignored() -> None:
    """StatefulSet pods keep their name across re-creation; only this pod's uid counts."""
    scenario = load_scenario("exit0_statefulset_restarting")
    reader = ScenarioReader(scenario)
    stale = copy.deepcopy(scenario.events[0])
    stale["involvedObject"]["uid"] = "00000000-0000-0000-0000-000000000000"
    stale["metadata"]["name"] += "-stale"
    reader.scenario = Scenario(**{**scenario.__dict__, "events": (*scenario.events, stale)})
    evidence = await gather_evidence(reader, scenario.namespace, scenario.pod_name, log_lines=20)
    names = [e["metadata"]["name"] for e in evidence.events]
    assert stale["metadata"]["name"] not in names and names


async def test_forbidden_events_become_a_note_not_an_error(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("oom_killed_container_limit")
    reader = ScenarioReader(scenario, failures={"list_events": FORBIDDEN_EVENTS})
    evidence = await gather_evidence(reader, scenario.namespace, scenario.pod_name, log_lines=20)
    assert PartialError(EVENTS, FORBIDDEN_EVENTS.user_message) in evidence.partial_errors
    diagnosis = diagnose(evidence, knowledge_base, scenario.captured_at)
    assert diagnosis.verdict.cause == "oom_killed"
    assert any(FORBIDDEN_EVENTS.user_message in note for note in diagnosis.notes)


@pytest.mark.parametrize(
    ("call", "source"),
    [("get_owner", OWNERS), ("read_previous_log", log_source("api")), ("list_events", EVENTS)],
)
async def test_each_failed_read_costs_only_its_own_evidence(call: str, source: str) -> None:
    scenario = load_scenario("app_error_exit1_python")
    failure = ClusterError("The cluster did not answer within 10 seconds.")
    reader = ScenarioReader(scenario, failures={call: failure})
    evidence = await gather_evidence(reader, scenario.namespace, scenario.pod_name, log_lines=20)
    assert [error.source for error in evidence.partial_errors] == [source]
    assert evidence.pod == scenario.pod


async def test_an_unexpected_reader_failure_is_contained() -> None:
    scenario = load_scenario("oom_node_system_oom")
    reader = ScenarioReader(scenario, failures={"list_events": RuntimeError("boom")})
    evidence = await gather_evidence(reader, scenario.namespace, scenario.pod_name, log_lines=20)
    assert {error.source for error in evidence.partial_errors} == {EVENTS, NODE_EVENTS}
    assert all("RuntimeError" in error.message for error in evidence.partial_errors)


async def test_a_missing_pod_is_raised() -> None:
    scenario = load_scenario("healthy_running")
    reader = ScenarioReader(scenario)
    with pytest.raises(NotFound) as raised:
        await gather_evidence(reader, scenario.namespace, "no-such-pod", log_lines=20)
    assert "no-such-pod" in raised.value.user_message


@pytest.mark.parametrize(("namespace", "name"), [("Shop", "api"), ("shop", "api_1"), ("", "api")])
async def test_invalid_names_are_rejected_before_any_call(namespace: str, name: str) -> None:
    reader = ScenarioReader(load_scenario("healthy_running"))
    with pytest.raises(InvalidName):
        await gather_evidence(reader, namespace, name, log_lines=20)
    assert reader.calls == []


# ------------------------------------------------------------- through the real adapter and fake API


@pytest.fixture
async def kube_reader(fake_kube: FakeKubeApi, tmp_path: Path) -> AsyncIterator[KubeClusterReader]:
    api_client = build_api_client(config_file=fake_kube.write_kubeconfig(tmp_path / "kubeconfig"))
    yield KubeClusterReader(api_client, timeout_seconds=5.0)
    api_client.close()  # type: ignore[no-untyped-call]


async def test_every_scenario_gets_its_verdict_through_the_kubernetes_client(
    kube_reader: KubeClusterReader, fake_kube: FakeKubeApi, knowledge_base: KnowledgeBase
) -> None:
    """Real REST paths and JSON shapes end to end: fake API server → official client → gather → diagnose."""
    for scenario in all_scenarios():
        fake_kube.cluster.load_scenario(scenario.raw)
        evidence = await gather_evidence(kube_reader, scenario.namespace, scenario.pod_name, log_lines=20)
        diagnosis = diagnose(evidence, knowledge_base, scenario.captured_at)
        assert diagnosis.verdict.cause == scenario.expected_cause, scenario.name
        assert diagnosis.notes == (), scenario.name
        expected_logs = {
            name for name, text in {**scenario.logs, **scenario.current_logs}.items() if text.strip()
        }
        assert {tail.container for tail in diagnosis.log_tails} == expected_logs, scenario.name


async def test_the_fields_of_kubernetes_1_35_reach_the_diagnosis_through_the_client(
    kube_reader: KubeClusterReader, fake_kube: FakeKubeApi, knowledge_base: KnowledgeBase
) -> None:
    """The newer fields survive the official client's raw reads: the limit in force from the status after
    a resize, a pod-level limit, a stop signal, restart rules and the Job's podFailurePolicy."""
    expectations = {
        "oom_resized_in_place": "192Mi in force after an in-place resize",
        "oom_pod_level_limit": "OOMKilled by the pod's own memory limit (512Mi, spec.resources)",
        "stop_signal_requested_stop": "the stop signal it asked for, SIGINT (130 = 128 + 2)",
        "restart_rule_exit_code": "Restarted in place as the spec asks",
        "restart_all_containers": "restarted every container of the pod",
        "job_pod_failure_policy_failjob": "podFailurePolicy rule 1 (FailJob) matched exit code 42",
    }
    for name, words in expectations.items():
        scenario = load_scenario(name)
        fake_kube.cluster.load_scenario(scenario.raw)
        evidence = await gather_evidence(kube_reader, scenario.namespace, scenario.pod_name, log_lines=20)
        assert words in diagnose(evidence, knowledge_base, scenario.captured_at).verdict.headline, name
