"""The diagnosis and the triage on every surface: Block Kit that Slack accepts, text, JSON; nothing
from the pod can ping a channel, and no env value, secret reference or annotation is ever shown.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from bot.diagnosis.engine import diagnose
from bot.diagnosis.evidence import PodEvidence
from bot.diagnosis.model import Diagnosis
from bot.diagnosis.triage import triage_namespace
from bot.knowledge import KnowledgeBase
from bot.render import limits
from bot.render.diagnosis_blocks import (
    diagnosis_blocks,
    diagnosis_fallback_text,
    triage_blocks,
    triage_fallback_text,
)
from bot.render.diagnosis_json import diagnosis_json, triage_json
from bot.render.diagnosis_text import diagnosis_text, triage_text
from bot.render.mrkdwn import unescape
from tests.fixtures.scenarios import Scenario, all_scenarios, load_scenario, scenario_names
from tests.test_render_fixtures import (
    INJECTION,
    SLACK_CONTROL_SEQUENCES,
    all_text_objects,
    assert_slack_accepts,
)


def run(scenario: Scenario, kb: KnowledgeBase, evidence: PodEvidence | None = None) -> Diagnosis:
    return diagnose(evidence or scenario.evidence(), kb, scenario.captured_at)


def every_rendering(diagnosis: Diagnosis) -> str:
    """All three surfaces, as one string to search (Slack text unescaped, as a reader would see it)."""
    blocks = diagnosis_blocks(diagnosis)
    slack = "\n".join(unescape(obj["text"]) for obj in all_text_objects(blocks))
    return "\n".join(
        [
            slack,
            unescape(diagnosis_fallback_text(diagnosis)),
            diagnosis_text(diagnosis),
            json.dumps(diagnosis_json(diagnosis), ensure_ascii=False),
        ]
    )


@pytest.mark.parametrize("name", scenario_names())
def test_every_scenario_renders_on_every_surface(name: str, knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario(name)
    diagnosis = run(scenario, knowledge_base)
    blocks = diagnosis_blocks(diagnosis)
    assert_slack_accepts(blocks)
    header = blocks[0]["text"]["text"]
    assert unescape(header).startswith(scenario.pod_name[:100])
    text = " ".join(diagnosis_text(diagnosis).split())
    assert scenario.pod_name in text and " ".join(diagnosis.verdict.headline.split()) in text
    data = json.loads(json.dumps(diagnosis_json(diagnosis)))
    assert data["verdict"]["cause"] == scenario.expected_cause
    assert data["pod"] == scenario.pod_name


def test_blocks_show_verdict_evidence_containers_events_logs_and_steps(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("liveness_probe_sigkill")
    diagnosis = run(scenario, knowledge_base)
    shown = "\n".join(unescape(obj["text"]) for obj in all_text_objects(diagnosis_blocks(diagnosis)))
    assert "High confidence" in shown
    for fact in diagnosis.verdict.evidence:
        assert fact in shown
    assert "Recent events" in shown and "Liveness probe failed" in shown
    assert scenario.logs["gateway"].splitlines()[-1] in shown
    assert "Next steps" in shown
    assert f"kubectl -n {scenario.namespace} logs {scenario.pod_name} -c gateway --previous" in shown


def test_runbook_button_only_with_a_linkable_url(knowledge_base: KnowledgeBase) -> None:
    diagnosis = run(load_scenario("oom_killed_container_limit"), knowledge_base)
    linked = replace(
        diagnosis, verdict=replace(diagnosis.verdict, runbook_url="https://wiki.example.com/oom")
    )
    buttons = [b for b in diagnosis_blocks(linked) if b["type"] == "actions"]
    assert buttons and buttons[0]["elements"][0]["url"] == "https://wiki.example.com/oom"
    assert not [b for b in diagnosis_blocks(diagnosis) if b["type"] == "actions"]
    assert "Runbook: https://wiki.example.com/oom" in diagnosis_text(linked)


# ------------------------------------------------------------------------------------ no secrets


def _sensitive_values(pod: dict[str, Any]) -> list[str]:
    """Env values, secret/config references and annotation values found anywhere in the pod spec."""
    values: list[str] = list(pod["metadata"].get("annotations", {}).values())
    for container in pod["spec"].get("containers", []) + pod["spec"].get("initContainers", []):
        for variable in container.get("env", []):
            if "value" in variable:
                values.append(variable["value"])
            for ref in ("secretKeyRef", "configMapKeyRef"):
                if ref in variable.get("valueFrom", {}):
                    values.extend(variable["valueFrom"][ref].values())
        for source in container.get("envFrom", []):
            for ref in ("secretRef", "configMapRef"):
                if ref in source:
                    values.append(source[ref]["name"])
    return [value for value in values if isinstance(value, str) and len(value) >= 6]


def test_env_values_secret_references_and_annotations_are_never_shown(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("secret_env_annotations")
    secrets = _sensitive_values(scenario.pod)
    assert len(secrets) >= 5, "the scenario must carry env values, secret refs and annotations"
    rendered = every_rendering(run(scenario, knowledge_base))
    for value in secrets:
        assert value not in rendered, value
    for variable in ("DATABASE_URL", "STRIPE_SIGNING_KEY"):
        assert variable not in rendered


def test_probe_headers_and_exec_arguments_are_not_shown(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("liveness_probe_sigterm_143")
    pod = copy.deepcopy(scenario.pod)
    container = pod["spec"]["containers"][0]
    container["livenessProbe"]["exec"]["command"] = ["redis-cli", "-a", "hunter2-probe-password", "ping"]
    container["readinessProbe"] = {
        "httpGet": {
            "path": "/ready",
            "port": 8080,
            "httpHeaders": [{"name": "Authorization", "value": "Bearer tok-xyz123"}],
        }
    }
    diagnosis = run(scenario, knowledge_base, PodEvidence(pod=pod, events=scenario.events))
    rendered = every_rendering(diagnosis)
    assert "redis-cli" in rendered
    assert "hunter2-probe-password" not in rendered and "tok-xyz123" not in rendered


# ------------------------------------------------------------------------------------- injection


def _injected(kb: KnowledgeBase) -> Diagnosis:
    """A crash whose pod name, termination message, event message and log all try to ping a channel."""
    scenario = load_scenario("app_error_exit1_python")
    pod = copy.deepcopy(scenario.pod)
    pod["metadata"]["name"] = f"api-{INJECTION}"
    record = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    record["message"] = f"config error {INJECTION}"
    events = copy.deepcopy(list(scenario.events))
    events[0]["message"] = f"Back-off {INJECTION}"
    logs = {"api": f"ERROR {INJECTION}\n```\nbreak out of the code block <!here>\n"}
    return diagnose(PodEvidence(pod=pod, events=tuple(events), log_tails=logs), kb, scenario.captured_at)


def test_cluster_text_cannot_ping_or_link_in_slack(knowledge_base: KnowledgeBase) -> None:
    diagnosis = _injected(knowledge_base)
    blocks = diagnosis_blocks(diagnosis)
    assert_slack_accepts(blocks, fences_balanced=False)
    raw = json.dumps(blocks)
    for sequence in (*SLACK_CONTROL_SEQUENCES, "<!here>"):
        assert sequence not in raw
    shown = "\n".join(unescape(obj["text"]) for obj in all_text_objects(blocks))
    assert INJECTION in shown, "the text is shown, inert, not dropped"
    assert "<!channel>" not in diagnosis_fallback_text(diagnosis)


def test_log_tail_cannot_close_its_code_block(knowledge_base: KnowledgeBase) -> None:
    blocks = diagnosis_blocks(_injected(knowledge_base))
    log_section = next(b for b in blocks if b["type"] == "section" and "Log tail" in b["text"]["text"])
    assert log_section["text"]["text"].count("```") == 2


def test_terminal_output_neutralises_escape_sequences(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("app_error_exit1_python")
    logs = {"api": "ok\n\x1b]0;pwned\x07\x1b[2Jerror: boom\n"}
    diagnosis = run(scenario, knowledge_base, PodEvidence(pod=scenario.pod, log_tails=logs))
    text = diagnosis_text(diagnosis)
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b" in text


# ---------------------------------------------------------------------------------------- limits


def _huge(kb: KnowledgeBase) -> Diagnosis:
    scenario = load_scenario("oom_killed_container_limit")
    pod = copy.deepcopy(scenario.pod)
    template = pod["spec"]["containers"][0]
    status = pod["status"]["containerStatuses"][0]
    for index in range(42):
        pod["spec"]["containers"].append({**copy.deepcopy(template), "name": f"worker-{index}"})
        pod["status"]["containerStatuses"].append({**copy.deepcopy(status), "name": f"worker-{index}"})
    status["lastState"]["terminated"]["message"] = "x" * 4096
    events = []
    for index in range(200):
        event = copy.deepcopy(scenario.events[0])
        event["reason"] = f"Custom{index}"
        event["type"] = "Warning"
        event["message"] = f"{index} " + "y" * 1000
        events.append(event)
    log = "\n".join(f"line {n} " + "z" * 400 for n in range(5000))
    evidence = PodEvidence(pod=pod, events=tuple(events), log_tails={"api": log})
    return diagnose(evidence, kb, scenario.captured_at)


def test_a_huge_pod_still_renders_within_slack_limits(knowledge_base: KnowledgeBase) -> None:
    diagnosis = _huge(knowledge_base)
    blocks = diagnosis_blocks(diagnosis)
    assert_slack_accepts(blocks)
    assert len(blocks) <= limits.MAX_BLOCKS
    assert blocks[0]["type"] == "header"
    verdict = "\n".join(obj["text"] for obj in all_text_objects(blocks[:3]))
    assert "Verdict" in verdict, "the verdict survives truncation: it comes first"
    shown = "\n".join(obj["text"] for obj in all_text_objects(blocks))
    for part in ("Recent events", "Log tail", "Next steps", "30 more containers not shown"):
        assert part in shown, part


def test_a_huge_log_keeps_its_last_lines(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("oom_killed_container_limit")
    log = "\n".join(f"line {n} " + "z" * 100 for n in range(5000))
    diagnosis = run(scenario, knowledge_base, PodEvidence(pod=scenario.pod, log_tails={"api": log}))
    blocks = diagnosis_blocks(diagnosis)
    assert_slack_accepts(blocks)
    log_section = next(b for b in blocks if b["type"] == "section" and "Log tail" in b["text"]["text"])
    assert "line 4999 " in log_section["text"]["text"]
    assert "earlier lines not shown" in log_section["text"]["text"]
    assert len(diagnosis.log_tails[0].lines) == 200, "the diagnosis itself keeps a bounded tail"


# ----------------------------------------------------------------------------------------- JSON


def test_json_carries_the_verdict_and_container_facts(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("oom_killed_container_limit")
    data = diagnosis_json(run(scenario, knowledge_base))
    record = scenario.pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    container = data["containers"][0]
    assert container["last_termination"]["exit_code"] == record["exitCode"]
    assert container["last_termination"]["finished_at"] == record["finishedAt"]
    assert container["last_termination"]["signal"] == {"number": 9, "name": "SIGKILL"}
    assert container["resources"]["memory_limit"] == "256Mi"
    assert container["back_off"]["delay_seconds"] == 300
    assert data["verdict"]["confidence"] == "high"
    assert data["owners"] == [
        {"kind": "ReplicaSet", "name": scenario.owners[0]["metadata"]["name"]},
        {"kind": "Deployment", "name": "checkout-api"},
    ]
    assert all("{pod}" not in (step["command"] or "") for step in data["verdict"]["next_steps"])


# --------------------------------------------------------------------------------------- triage


def test_triage_renders_one_line_per_pod_on_every_surface(knowledge_base: KnowledgeBase) -> None:
    scenarios = all_scenarios()[:40]  # one screen: more rows are summarised as "N more not shown"
    now = max(s.captured_at for s in scenarios) + timedelta(minutes=1)
    rows = triage_namespace([s.pod for s in scenarios], now, kb=knowledge_base)
    blocks = triage_blocks(rows, namespace="mixed", pods_checked=len(scenarios))
    assert_slack_accepts(blocks)
    shown = "\n".join(unescape(obj["text"]) for obj in all_text_objects(blocks))
    text = triage_text(rows, namespace="mixed", pods_checked=len(scenarios))
    for row in rows:
        assert row.pod in shown and row.pod in text
    assert text.index(rows[0].pod) < text.index(rows[-1].pod)
    data = triage_json(rows, namespace="mixed", pods_checked=len(scenarios))
    assert [pod["pod"] for pod in data["pods"]] == [row.pod for row in rows]
    assert "mixed" in unescape(triage_fallback_text(rows, namespace="mixed"))


def test_an_empty_triage_says_all_is_well() -> None:
    blocks = triage_blocks([], namespace="quiet", pods_checked=12)
    assert_slack_accepts(blocks)
    assert "No pod in" in json.dumps(blocks)
    assert "No pod in quiet" in triage_text([], namespace="quiet", pods_checked=12)
    assert triage_json([], namespace="quiet")["pods"] == []


def test_triage_escapes_pod_names(knowledge_base: KnowledgeBase) -> None:
    pod = copy.deepcopy(load_scenario("go_panic_exit2").pod)
    pod["metadata"]["name"] = f"x-{INJECTION}"
    rows = triage_namespace([pod], load_scenario("go_panic_exit2").captured_at, kb=knowledge_base)
    blocks = triage_blocks(rows, namespace=INJECTION)
    assert_slack_accepts(blocks, fences_balanced=False)
    assert all(sequence not in json.dumps(blocks) for sequence in SLACK_CONTROL_SEQUENCES)


def test_many_troubled_pods_are_capped_and_counted(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("app_error_exit1_python")
    pods = []
    for index in range(300):
        pod = copy.deepcopy(scenario.pod)
        pod["metadata"]["name"] = f"batch-{index:03d}"
        pods.append(pod)
    rows = triage_namespace(pods, scenario.captured_at, kb=knowledge_base)
    blocks = triage_blocks(rows, namespace="batch")
    assert_slack_accepts(blocks)
    assert "more not shown" in json.dumps(blocks)
