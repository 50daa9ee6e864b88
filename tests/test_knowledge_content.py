"""What the bundled knowledge base says: complete coverage of 0–255, signals, reasons, and the facts
that popular blog posts get wrong (137 is not always OOM, 128 is StartError, Go panics are 2, …)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import bot
from bot.knowledge import DEFAULT_KNOWLEDGE_FILE, KnowledgeBase, load_knowledge
from bot.knowledge.explanation import PLACEHOLDER, Explanation

REQUIRED_REASONS = {
    "OOMKilled": "terminated",
    "Error": "terminated",
    "Completed": "terminated",
    "ContainerCannotRun": "terminated",
    "StartError": "terminated",
    "DeadlineExceeded": "pod",
    "BackoffLimitExceeded": "job",
    "Evicted": "pod",
    "ContainerStatusUnknown": "terminated",
    "Unknown": "terminated",
    "Preempting": "pod",
    "CrashLoopBackOff": "waiting",
    "ImagePullBackOff": "waiting",
    "ErrImagePull": "waiting",
    "CreateContainerConfigError": "waiting",
    "CreateContainerError": "waiting",
    "RunContainerError": "waiting",
}
RICH_SIGNAL_CODES = (129, 130, 131, 132, 134, 135, 136, 137, 139, 141, 143, 152, 159)
BRACES = re.compile(r"\{([a-z_]+)\}")


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge()


def text_of(e: Explanation) -> str:
    """Everything an engineer reads in an explanation, as one string."""
    parts = [e.title, e.summary, *e.kubernetes, *e.causes]
    parts += [s.text for s in e.runbook_steps] + [h.text for h in e.runtime_hints]
    return "\n".join(parts)


def hints(e: Explanation) -> dict[str, str]:
    return {h.runtime: h.text for h in e.runtime_hints}


def test_the_default_file_is_found_next_to_the_package() -> None:
    assert DEFAULT_KNOWLEDGE_FILE.is_file()
    assert DEFAULT_KNOWLEDGE_FILE.is_relative_to(Path(bot.__file__).parent), "it must ship inside the package"


@pytest.mark.parametrize("code", range(256))
def test_every_status_has_a_complete_explanation(kb: KnowledgeBase, code: int) -> None:
    e = kb.explain_code(code)
    assert e.code == code and e.normalized_code == code and e.runbook_key == str(code)
    assert e.title.strip() and e.summary.strip() and "\n" not in e.summary
    assert len(e.title) <= 150
    assert e.runbook_steps and all(step.text for step in e.runbook_steps)
    assert not BRACES.search(e.title + e.summary), "unfilled template variable"
    for step in e.runbook_steps:
        names = set(BRACES.findall(step.command or "")) - {"end"}  # `{end}` closes a kubectl jsonpath range
        unknown = {name for name in names if not PLACEHOLDER.fullmatch(f"{{{name}}}")}
        assert not unknown, f"{code}: unknown placeholder {unknown}"
    assert e.runbook_url is None, "no link may be invented when none is configured"


@pytest.mark.parametrize("code", range(129, 160))
def test_signal_codes_name_their_signal_and_default_action(kb: KnowledgeBase, code: int) -> None:
    e = kb.explain_code(code)
    signal = kb.signal(code - 128)
    assert signal is not None and e.signal == signal
    assert e.title.startswith(f"{code} = 128 + {code - 128} → {signal.name}")
    if not signal.kills_by_default:
        assert e.application_defined
        assert "almost surely" in e.summary and "app" in e.summary


def test_137_title_reads_as_the_arithmetic(kb: KnowledgeBase) -> None:
    assert kb.explain_code(137).title == "137 = 128 + 9 → SIGKILL"


def test_common_signal_codes_have_their_own_entries() -> None:
    """The codes on-call engineers actually see get hand-written notes, not the generic signal template."""
    data = yaml.safe_load(DEFAULT_KNOWLEDGE_FILE.read_text(encoding="utf-8"))
    entries = {entry["code"]: entry for entry in data["codes"]}
    for code in RICH_SIGNAL_CODES:
        assert {"summary", "kubernetes", "causes", "runbook"} <= set(entries.get(code, {})), code


@pytest.mark.parametrize("code", range(160, 193))
def test_realtime_codes(kb: KnowledgeBase, code: int) -> None:
    e = kb.explain_code(code)
    assert e.signal is not None and e.signal.number == code - 128
    assert e.signal.default_action == "terminate"
    assert "real-time" in e.summary


def test_glibc_sigrtmin_is_34(kb: KnowledgeBase) -> None:
    signal = kb.signal(34)
    assert signal is not None and signal.name == "SIGRTMIN"
    assert kb.explain_code(162).title == "162 = 128 + 34 → SIGRTMIN"


@pytest.mark.parametrize("code", [*range(15, 64), *range(79, 120), *range(121, 125), *range(193, 255)])
def test_unassigned_codes_are_application_defined_with_how_to_find_out(kb: KnowledgeBase, code: int) -> None:
    e = kb.explain_code(code)
    assert e.application_defined and e.signal is None
    body = text_of(e) + "\n".join(s.command or "" for s in e.runbook_steps)
    assert "--previous" in body
    assert "FallbackToLogsOnError" in body and "exit(" in body


def test_signal_table_1_to_31_with_default_actions(kb: KnowledgeBase) -> None:
    actions = {n: kb.signal(n).default_action for n in range(1, 32)}  # type: ignore[union-attr]
    assert actions[9] == "terminate" and actions[15] == "terminate"
    assert actions[6] == "core" and actions[11] == "core" and actions[31] == "core"
    assert actions[17] == "ignore" and actions[28] == "ignore"
    assert actions[18] == "continue" and actions[19] == "stop"
    assert kb.signal(0) is None and kb.signal(65) is None
    assert "SIGIOT" in kb.signal_aliases(6) and "SIGPOLL" in kb.signal_aliases(29)
    assert "SIGCLD" in kb.signal_aliases(17)


# -- facts that matter at 3 a.m. -----------------------------------------------------------------------


def test_137_is_not_always_oom(kb: KnowledgeBase) -> None:
    notes = "\n".join(kb.explain_code(137).kubernetes)
    for case in ("OOMKilled", "liveness", "grace period", "ContainerStatusUnknown", "SystemOOM"):
        assert case in notes, case
    assert "not always OOM" in kb.explain_code(137).summary
    commands = "\n".join(s.command or "" for s in kb.explain_code(137).runbook_steps)
    for command in (
        "lastState.terminated.reason",
        "get events",
        "top pod",
        "/proc/1/cmdline",
        "describe node",
    ):
        assert command in commands, command


def test_pid1_trap_is_explained_where_it_bites(kb: KnowledgeBase) -> None:
    assert "shell-form ENTRYPOINT" in text_of(kb.explain_code(137))
    assert "tini" in text_of(kb.explain_code(137)) and "exec" in text_of(kb.explain_code(137))
    assert "PID 1" in text_of(kb.explain_code(139)) and "abort()" in text_of(kb.explain_code(139))
    assert "PID-1" in text_of(kb.explain_code(2)) and "SIGTERM" in text_of(kb.explain_code(2))


def test_128_is_start_error_not_invalid_exit_argument(kb: KnowledgeBase) -> None:
    e = kb.explain_code(128)
    assert "StartError" in e.title and "StartError" in e.summary
    assert "folklore" in text_of(e)
    assert e.signal is None


def test_126_and_127_point_at_shell_wrappers_and_docker_era(kb: KnowledgeBase) -> None:
    for code in (126, 127):
        body = text_of(kb.explain_code(code))
        assert "StartError" in body and "ContainerCannotRun" in body and "shell" in body


def test_2_mentions_go_panic(kb: KnowledgeBase) -> None:
    e = kb.explain_code(2)
    assert "Go panic" in e.title + e.summary
    assert "Go" in hints(e) and "Python" in hints(e)


def test_134_mentions_js_heap_oom_and_dotnet(kb: KnowledgeBase) -> None:
    e = kb.explain_code(134)
    assert "JS heap OOM" in e.summary
    assert "heap out of memory" in hints(e)["Node.js"]
    assert ".NET" in hints(e) and "unhandled exception" in hints(e)[".NET"]


def test_0_under_a_deployment_should_be_a_job(kb: KnowledgeBase) -> None:
    body = text_of(kb.explain_code(0))
    assert "Job" in body and "CronJob" in body and "CrashLoopBackOff" in body and "Deployment" in body


def test_runtime_hints_for_known_runtime_codes(kb: KnowledgeBase) -> None:
    assert "ExitOnOutOfMemoryError" in hints(kb.explain_code(3))["JVM"]
    assert "Python" in hints(kb.explain_code(120)) and "Python" in hints(kb.explain_code(130))
    assert "Node.js" in hints(kb.explain_code(1)) and "Python" in hints(kb.explain_code(1))
    assert "by design" in hints(kb.explain_code(143))["JVM"]
    for code in range(3, 15):
        assert "Node.js" in text_of(kb.explain_code(code)), code
    for code in (4, 5, 8, 11):
        assert "unused" in kb.explain_code(code).title, code


@pytest.mark.parametrize(
    ("code", "name"), [(64, "EX_USAGE"), (69, "EX_UNAVAILABLE"), (75, "EX_TEMPFAIL"), (78, "EX_CONFIG")]
)
def test_sysexits(kb: KnowledgeBase, code: int, name: str) -> None:
    assert name in kb.explain_code(code).title
    assert all("sysexits" in kb.explain_code(c).title for c in range(64, 79))


def test_255_covers_exit_minus_one_and_unknown(kb: KnowledgeBase) -> None:
    body = text_of(kb.explain_code(255))
    assert "exit(-1)" in body and "Unknown" in body and "exec format error" in body


# -- reasons -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), REQUIRED_REASONS.items())
def test_reasons(kb: KnowledgeBase, name: str, kind: str) -> None:
    e = kb.explain_reason(name.lower())
    assert e is not None
    assert e.subject == "reason" and e.reason == name and e.runbook_key == name
    assert e.reason_kind == kind
    assert e.title and e.summary and e.runbook_steps
    assert kb.runbook(name) == e


@pytest.mark.parametrize("name", ["CrashLoopBackOff", "ImagePullBackOff"])
def test_back_off_states_are_waiting_states_not_exit_codes(kb: KnowledgeBase, name: str) -> None:
    e = kb.explain_reason(name)
    assert e is not None and "not an exit code" in e.summary
    assert e.typical_codes == ()


def test_crash_loop_back_off_timing(kb: KnowledgeBase) -> None:
    e = kb.explain_reason("CrashLoopBackOff")
    assert e is not None
    notes = "\n".join(e.kubernetes)
    assert "10 s" in notes and "5 minutes" in notes and "10 minutes" in notes
    assert "lastState.terminated" in notes


def test_reason_typical_codes(kb: KnowledgeBase) -> None:
    assert 137 in kb.explain_reason("OOMKilled").typical_codes  # type: ignore[union-attr]
    assert kb.explain_reason("StartError").typical_codes == (128,)  # type: ignore[union-attr]
    assert kb.explain_reason("ContainerStatusUnknown").typical_codes == (137,)  # type: ignore[union-attr]
    assert kb.explain_reason("Unknown").typical_codes == (255,)  # type: ignore[union-attr]
    assert kb.explain_reason("NoSuchReason") is None


# -- runbook pages -------------------------------------------------------------------------------------


def test_runbook_keys_cover_every_code_and_reason(kb: KnowledgeBase) -> None:
    keys = kb.runbook_keys()
    assert keys[:256] == [str(c) for c in range(256)]
    assert set(REQUIRED_REASONS) <= set(keys[256:])
    for key in keys:
        page = kb.runbook(key)
        assert page is not None and page.runbook_key == key


@pytest.mark.parametrize("key", ["256", "-1", "", "nope", "1" * 50])
def test_unknown_runbook_keys(kb: KnowledgeBase, key: str) -> None:
    assert kb.runbook(key) is None


def test_placeholders_are_filled_for_a_real_pod(kb: KnowledgeBase) -> None:
    e = kb.explain_code(137).with_placeholders({"namespace": "prod", "pod": "api-1", "container": "app"})
    commands = "\n".join(s.command for s in e.runbook_steps if s.command)
    assert "kubectl -n prod get pod api-1 " in commands
    assert "kubectl describe node <node>" in commands  # unknown values become visible hints
    assert "{pod}" not in commands and "{namespace}" not in commands


# --- what Kubernetes 1.33–1.35 changed (issue 9) ----------------------------------------------------------


def test_a_signal_code_says_it_may_be_the_custom_stop_signal_asked_for(kb: KnowledgeBase) -> None:
    notes = "\n".join(kb.explain_code(130).kubernetes)
    assert "lifecycle.stopSignal" in notes and "SIGINT" in notes and "not a crash" in notes


def test_143_explains_that_a_custom_stop_signal_changes_the_clean_stop_code(kb: KnowledgeBase) -> None:
    notes = "\n".join(kb.explain_code(143).kubernetes)
    assert "lifecycle.stopSignal" in notes and "138" in notes
    assert "successPolicy" in notes


def test_137_and_oomkilled_name_the_limit_in_force_and_the_pod_level_oom(kb: KnowledgeBase) -> None:
    for explanation in (kb.explain_code(137), kb.explain_reason("OOMKilled")):
        assert explanation is not None
        notes = "\n".join(explanation.kubernetes)
        assert "containerStatuses[].resources" in notes and "spec.resources" in notes
        assert "not a node OOM" in notes or "not the node's" in notes
        assert any("pod-level" in cause for cause in explanation.causes)
    commands = [step.command or "" for step in kb.explain_code(137).runbook_steps]
    assert any(".status.containerStatuses" in c and ".spec.resources" in c for c in commands)


def test_oomkilled_explains_a_contradicting_exit_code(kb: KnowledgeBase) -> None:
    e = kb.explain_reason("OOMKilled")
    assert e is not None
    assert any("OOMKilled with 143" in note for note in e.kubernetes)


def test_crash_loop_back_off_curve_is_not_a_given(kb: KnowledgeBase) -> None:
    e = kb.explain_reason("CrashLoopBackOff")
    assert e is not None
    notes = "\n".join(e.kubernetes)
    assert "KEP-5593" in notes and "back-off 40s restarting failed container" in notes
    assert "restartPolicyRules" in notes


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("PodFailurePolicy", "FailJob"),
        ("FailedIndexes", "backoffLimitPerIndex"),
        ("AllContainersRestarting", "RestartAllContainers"),
    ],
)
def test_job_policies_and_restart_all_have_their_own_entries(
    kb: KnowledgeBase, name: str, words: str
) -> None:
    e = kb.explain_reason(name)
    assert e is not None and "not an exit code" in e.summary and e.runbook_steps
    assert words in e.summary + "\n".join(e.kubernetes)
    assert kb.answer(name) == e
