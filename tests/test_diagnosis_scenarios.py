"""Every recorded scenario gets the verdict an experienced on-call engineer would reach, with the facts
quoted from the pod itself. The scenarios are realistic apiserver JSON (checked against the Kubernetes
schema below), so these tests exercise the engine on what a cluster really returns.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import kubernetes_validate
import pytest

from bot.diagnosis.engine import diagnose
from bot.diagnosis.evidence import EVENTS, PartialError, PodEvidence
from bot.diagnosis.model import CONFIDENCE_RANK, Diagnosis
from bot.knowledge import KnowledgeBase
from tests.fixtures.scenarios import Scenario, all_scenarios, load_scenario, scenario_names

SCENARIOS = scenario_names()
POD_LEVEL_CAUSES = {"evicted", "image_pull_failed", "config_error", "unschedulable", "healthy", "completed"}
EXIT_SCENARIOS = [s.name for s in all_scenarios() if s.expected_cause not in POD_LEVEL_CAUSES]


def run(scenario: Scenario, kb: KnowledgeBase) -> Diagnosis:
    return diagnose(scenario.evidence(), kb, scenario.captured_at)


def test_every_case_of_the_issue_has_a_scenario() -> None:
    causes = {scenario.expected_cause for scenario in all_scenarios()}
    required = {
        "oom_killed",
        "node_oom",
        "liveness_probe_kill",
        "grace_period_overrun",
        "container_status_unknown",
        "evicted",
        "normal_shutdown",
        "sigterm_restart_loop",
        "completed_under_controller",
        "job_backoff_limit",
        "job_deadline_exceeded",
        "app_error",
        "go_panic",
        "entrypoint_not_found",
        "entrypoint_permission_denied",
        "command_not_found",
        "exec_format_error",
        "segfault",
        "abort",
        "bus_error",
        "illegal_instruction",
        "arithmetic_error",
        "init_container_failed",
        "sidecar_crash",
        "image_pull_failed",
        "config_error",
        "healthy",
    }
    assert required <= causes, required - causes


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_gets_its_expected_cause_and_confidence(name: str, knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario(name)
    verdict = run(scenario, knowledge_base).verdict
    assert verdict.cause == scenario.expected_cause, verdict.headline
    assert CONFIDENCE_RANK[verdict.confidence] >= CONFIDENCE_RANK[scenario.min_confidence]
    assert verdict.headline
    if verdict.is_failure:
        assert verdict.evidence, "a failure verdict must rest on quoted evidence"
        assert verdict.next_steps, "a failure verdict must say what to do next"


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_objects_are_valid_kubernetes_json(name: str) -> None:
    """The fixtures are what an apiserver returns: strict schema validation, no invented fields, at the
    version the scenario was recorded for (restart rules need 1.34, restart-all and GA resize 1.35)."""
    scenario = load_scenario(name)
    for obj in (scenario.pod, *scenario.events, *scenario.owners):
        kubernetes_validate.validate(obj, scenario.kubernetes_version, strict=True)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_says_what_its_rule_expects(name: str, knowledge_base: KnowledgeBase) -> None:
    """The headline and evidence each new rule promises (limit source, stop signal, rule, Job policy)."""
    scenario = load_scenario(name)
    verdict = run(scenario, knowledge_base).verdict
    expect = scenario.expect
    if "container" in expect:
        assert verdict.container == expect["container"]
    if "is_failure" in expect:
        assert verdict.is_failure is expect["is_failure"], verdict.headline
    for words in expect.get("headline_contains", ()):
        assert words in verdict.headline
    for line in expect.get("evidence_contains", ()):
        assert line in verdict.evidence, verdict.evidence
    for prefix in expect.get("evidence_contains_prefix", ()):
        assert any(fact.startswith(prefix) for fact in verdict.evidence), verdict.evidence


def _last_terminated(scenario: Scenario, container: str) -> dict[str, Any]:
    status = scenario.pod["status"]
    for entry in status.get("containerStatuses", []) + status.get("initContainerStatuses", []):
        if entry["name"] == container:
            record = entry["state"].get("terminated") or entry["lastState"].get("terminated")
            assert record is not None
            return dict(record)
    raise AssertionError(f"no status for {container}")


@pytest.mark.parametrize("name", EXIT_SCENARIOS)
def test_evidence_quotes_the_exit_code_and_reason_from_the_pod(
    name: str, knowledge_base: KnowledgeBase
) -> None:
    scenario = load_scenario(name)
    verdict = run(scenario, knowledge_base).verdict
    assert verdict.container is not None and verdict.exit_code is not None
    record = _last_terminated(scenario, verdict.container)
    assert verdict.exit_code == record["exitCode"]
    assert any(f"exitCode = {record['exitCode']}" in line for line in verdict.evidence)
    if record.get("reason"):
        assert any(f"reason = {record['reason']}" in line for line in verdict.evidence)


def test_oom_verdict_shows_the_memory_limit_from_the_spec(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("oom_killed_container_limit")
    limit = scenario.pod["spec"]["containers"][0]["resources"]["limits"]["memory"]
    verdict = run(scenario, knowledge_base).verdict
    assert f"limits.memory = {limit}" in verdict.evidence
    assert limit in verdict.headline


def test_liveness_verdict_quotes_the_probe_events_and_the_probe(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("liveness_probe_sigkill")
    diagnosis = run(scenario, knowledge_base)
    liveness = next(e for e in scenario.events if e["message"].startswith("Liveness probe failed"))
    killing = next(e for e in scenario.events if e["reason"] == "Killing")
    evidence = "\n".join(diagnosis.verdict.evidence)
    assert f"event Unhealthy ×{liveness['count']}: {liveness['message']}" in evidence
    assert f"event Killing ×{killing['count']}: {killing['message']}" in evidence
    probe = scenario.pod["spec"]["containers"][0]["livenessProbe"]
    assert f"HTTP GET :{probe['httpGet']['port']}{probe['httpGet']['path']}" in evidence
    assert "OOM" not in diagnosis.verdict.headline


def test_grace_period_overrun_names_the_shell_as_pid_1(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("grace_period_overrun_shell_form")
    verdict = run(scenario, knowledge_base).verdict
    shell = scenario.pod["spec"]["containers"][0]["command"][0]
    grace = scenario.pod["spec"]["terminationGracePeriodSeconds"]
    assert any(f"PID 1 is a shell (`{shell} -c …`)" in line for line in verdict.evidence)
    assert f"{grace}s grace period" in verdict.headline
    script = scenario.pod["spec"]["containers"][0]["command"][2]
    assert all(script not in line for line in verdict.evidence), "command arguments are never quoted"


def test_eviction_quotes_the_kubelet_message(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("evicted_memory_pressure")
    verdict = run(scenario, knowledge_base).verdict
    message = " ".join(scenario.pod["status"]["message"].split())
    assert f"status.message = “{message}”" in verdict.evidence
    assert "memory" in verdict.headline


def test_job_failure_suggests_a_pod_failure_policy_for_the_observed_code(
    knowledge_base: KnowledgeBase,
) -> None:
    scenario = load_scenario("job_backoff_limit_exceeded")
    verdict = run(scenario, knowledge_base).verdict
    code = _last_terminated(scenario, "invoices")["exitCode"]
    policy = [step for step in verdict.next_steps if "onExitCodes" in step.text]
    assert policy and f"values: [{code}]" in policy[0].text
    assert verdict.underlying == "app_error"
    job = scenario.owners[0]
    assert any(f"Job spec.backoffLimit = {job['spec']['backoffLimit']}" == line for line in verdict.evidence)


def test_app_error_points_at_the_last_error_in_the_log(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("app_error_exit1_python")
    verdict = run(scenario, knowledge_base).verdict
    error_line = next(line for line in scenario.logs["api"].splitlines() if "OperationalError" in line)
    assert any(error_line in line for line in verdict.evidence)


def test_next_steps_name_this_pod(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("oom_killed_container_limit")
    verdict = run(scenario, knowledge_base).verdict
    commands = [step.command for step in verdict.next_steps if step.command]
    assert commands
    assert all("{pod}" not in command and "{namespace}" not in command for command in commands)
    assert any(f"-n {scenario.namespace}" in c and scenario.pod_name in c for c in commands)


# ----------------------------------------------------------------------------- 137 is not "OOM"


def _without_oom_evidence(scenario: Scenario) -> PodEvidence:
    pod = copy.deepcopy(scenario.pod)
    for entry in pod["status"].get("containerStatuses", []):
        for field in ("state", "lastState"):
            record = entry[field].get("terminated")
            if record and record.get("reason") == "OOMKilled":
                record["reason"] = "Error"
    events = tuple(e for e in scenario.events if e["reason"] not in ("SystemOOM", "OOMKilling"))
    return PodEvidence(pod=pod, events=events, owners=scenario.owners, log_tails=scenario.logs)


@pytest.mark.parametrize(
    "name", ["oom_killed_container_limit", "oom_node_besteffort_oomkilling", "oom_node_system_oom"]
)
def test_137_without_oom_evidence_is_never_called_oom(name: str, knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario(name)
    verdict = diagnose(_without_oom_evidence(scenario), knowledge_base, scenario.captured_at).verdict
    assert verdict.exit_code == 137
    assert verdict.cause not in ("oom_killed", "node_oom")
    assert "OOMKilled" not in verdict.headline and "out of memory" not in verdict.headline
    assert verdict.confidence == "low"


def test_every_oom_verdict_rests_on_oom_evidence(knowledge_base: KnowledgeBase) -> None:
    for scenario in all_scenarios():
        verdict = run(scenario, knowledge_base).verdict
        if verdict.cause in ("oom_killed", "node_oom"):
            raw = json.dumps([scenario.pod["status"], scenario.events])
            assert "OOMKilled" in raw or "SystemOOM" in raw or "OOMKilling" in raw, scenario.name


# ---------------------------------------------------------------------------- partial evidence


def test_forbidden_events_are_said_and_lower_the_confidence(knowledge_base: KnowledgeBase) -> None:
    """Without events the liveness kill cannot be proven: the verdict says so instead of guessing."""
    scenario = load_scenario("liveness_probe_sigkill")
    message = 'The bot may not "list" "events" in namespace "payments".'
    evidence = PodEvidence(
        pod=scenario.pod,
        owners=scenario.owners,
        log_tails=scenario.logs,
        partial_errors=(PartialError(EVENTS, message),),
    )
    diagnosis = diagnose(evidence, knowledge_base, scenario.captured_at)
    assert diagnosis.verdict.cause == "sigkill_unexplained"
    assert diagnosis.verdict.confidence == "low"
    assert any("could not be read" in line for line in diagnosis.verdict.evidence)
    assert f"Events could not be read: {message}" in diagnosis.notes
    assert diagnosis.events == ()


def test_without_owners_the_chain_stops_at_the_direct_owner(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("exit0_deployment_restarting")
    evidence = PodEvidence(pod=scenario.pod, events=scenario.events)
    diagnosis = diagnose(evidence, knowledge_base, scenario.captured_at)
    reference = scenario.pod["metadata"]["ownerReferences"][0]
    assert [(o.kind, o.name) for o in diagnosis.owners] == [(reference["kind"], reference["name"])]
    assert diagnosis.verdict.cause == "completed_under_controller"


def test_owner_chain_reaches_the_deployment_and_the_cronjob(knowledge_base: KnowledgeBase) -> None:
    deployment = run(load_scenario("oom_killed_container_limit"), knowledge_base)
    assert [o.kind for o in deployment.owners] == ["ReplicaSet", "Deployment"]
    cron = run(load_scenario("job_backoff_limit_exceeded"), knowledge_base)
    assert [o.kind for o in cron.owners] == ["Job", "CronJob"]
    assert cron.workload is not None and cron.workload.name == "nightly-invoices"
