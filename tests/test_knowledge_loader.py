"""Loading the knowledge files: the operator's file overrides field by field, and every broken file
stops the bot with a message naming the file, the entry and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.knowledge import DEFAULT_KNOWLEDGE_FILE, KnowledgeBase, KnowledgeError, load_knowledge
from bot.knowledge.explanation import Explanation


@pytest.fixture(scope="module")
def default_kb() -> KnowledgeBase:
    return load_knowledge()


def operator_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "our-codes.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(path)
    return str(caught.value)


# -- override and extension ----------------------------------------------------------------------------


def test_operator_overrides_only_the_fields_they_set(tmp_path: Path, default_kb: KnowledgeBase) -> None:
    path = operator_file(
        tmp_path,
        """
codes:
  - code: 3
    title: "3 → config invalid (our services)"
    summary: Our services exit 3 when their config fails validation.
    runbook_url: https://wiki.example.com/runbooks/config-invalid
""",
    )
    kb = load_knowledge(path)
    ours, default = kb.explain_code(3), default_kb.explain_code(3)
    assert ours.title == "3 → config invalid (our services)"
    assert ours.summary == "Our services exit 3 when their config fails validation."
    assert ours.runbook_url == "https://wiki.example.com/runbooks/config-invalid"
    assert ours.kubernetes == default.kubernetes and ours.runbook_steps == default.runbook_steps
    assert ours.runtime_hints == default.runtime_hints
    reply = kb.answer("3")
    assert isinstance(reply, Explanation) and reply.title == ours.title
    assert kb.explain_code(4) == default_kb.explain_code(4)


def test_operator_adds_a_new_code_over_the_generated_text(tmp_path: Path, default_kb: KnowledgeBase) -> None:
    path = operator_file(
        tmp_path,
        """
codes:
  - code: 42
    title: "42 → lost the leader lease"
    summary: The scheduler service exits 42 when another replica holds the lease.
    causes: [Two replicas started with the same lease name.]
    runtime_hints: [{runtime: scheduler, text: "Set LEASE_NAME per replica."}]
  - code: 43
    runbook_url: https://wiki.example.com/43
""",
    )
    kb = load_knowledge(path)
    e = kb.explain_code(42)
    assert e.title == "42 → lost the leader lease"
    assert e.causes == ("Two replicas started with the same lease name.",)
    assert e.runtime_hints[0].runtime == "scheduler"
    assert e.runbook_steps == default_kb.explain_code(42).runbook_steps
    only_link = kb.explain_code(43)
    assert only_link.title == default_kb.explain_code(43).title
    assert only_link.runbook_url == "https://wiki.example.com/43"


def test_operator_adds_and_overrides_reasons_case_insensitively(tmp_path: Path) -> None:
    path = operator_file(
        tmp_path,
        """
reasons:
  - name: oomkilled
    summary: Ours are memory-capped at 512Mi; see the capacity doc.
  - name: ConfigDrift
    kind: terminated
    typical_codes: [3]
    title: ConfigDrift → our operator killed a pod with stale config
    summary: The config-operator restarts pods whose config hash is stale.
    runbook: [{text: Check the config-operator's log.}]
""",
    )
    kb = load_knowledge(path)
    oom = kb.explain_reason("OOMKilled")
    assert oom is not None and oom.reason == "OOMKilled"
    assert oom.summary == "Ours are memory-capped at 512Mi; see the capacity doc."
    assert oom.typical_codes == (137,)
    drift = kb.answer("configdrift")
    assert isinstance(drift, Explanation) and drift.reason == "ConfigDrift"
    assert "ConfigDrift" in kb.runbook_keys()


def test_operator_can_retitle_a_signal(tmp_path: Path) -> None:
    path = operator_file(
        tmp_path, "signals:\n  - {number: 10, description: Our workers reopen logs on SIGUSR1.}\n"
    )
    kb = load_knowledge(path)
    signal = kb.signal(10)
    assert signal is not None and signal.name == "SIGUSR1"
    assert signal.description == "Our workers reopen logs on SIGUSR1."
    assert kb.explain_code(138).signal == signal


def test_an_empty_operator_file_changes_nothing(tmp_path: Path, default_kb: KnowledgeBase) -> None:
    kb = load_knowledge(operator_file(tmp_path, "# nothing yet\n"))
    assert kb.explain_code(137) == default_kb.explain_code(137)


# -- broken files --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "entry", "field"),
    [
        ("codes:\n  - {code: 3, title: 5}\n", "codes[0] (code 3)", "title"),
        (
            "codes:\n  - {code: 1, title: ok}\n  - {code: 137, sumary: typo}\n",
            "codes[1] (code 137)",
            "sumary",
        ),
        ("codes:\n  - {code: 300, title: big}\n", "codes[0] (code 300)", "code"),
        ("codes:\n  - {title: no code}\n", "codes[0]", "code"),
        ("codes:\n  - {code: 3, runbook_url: 'javascript:alert(1)'}\n", "codes[0] (code 3)", "runbook_url"),
        ("codes:\n  - {code: 3, runbook: [{command: ls}]}\n", "codes[0] (code 3)", "runbook[0].text"),
        ("codes:\n  - {code: 3, runbook: []}\n", "codes[0] (code 3)", "runbook"),
        ("codes:\n  - {code: 3, title: '   '}\n", "codes[0] (code 3)", "title"),
        ("codes:\n  - {code: 3}\n  - {code: 3}\n", "codes[1] (code 3)", "code"),
        ("reasons:\n  - {name: Mine, title: t, summary: s}\n", "reasons[0] (reason Mine)", "kind"),
        ("reasons:\n  - {name: Mine, kind: exploded}\n", "reasons[0] (reason Mine)", "kind"),
        (
            "reasons:\n  - {name: Error, typical_codes: [1, 999]}\n",
            "reasons[0] (reason Error)",
            "typical_codes[1]",
        ),
        ("signals:\n  - {number: 9, default_action: explode}\n", "signals[0] (signal 9)", "default_action"),
        ("signals:\n  - {number: 10, name: SIGTERM}\n", "signals[0] (signal 10)", "name"),
        ("templates:\n  signal_code: {titel: x}\n", "templates", "signal_code.titel"),
    ],
)
def test_errors_name_file_entry_and_field(tmp_path: Path, text: str, entry: str, field: str) -> None:
    path = operator_file(tmp_path, text)
    message = load_error(path)
    assert str(path) in message
    assert entry in message
    assert f"field '{field}'" in message


def test_yaml_syntax_errors_give_the_line(tmp_path: Path) -> None:
    path = operator_file(tmp_path, "codes:\n  - code: 3\n    title: [unclosed\n  - code: 4\n")
    message = load_error(path)
    assert str(path) in message and "YAML syntax error" in message and "line " in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    message = load_error(path)
    assert str(path) in message and "not found" in message


@pytest.mark.parametrize("text", ["- just\n- a list\n", "42\n", "version: 2\n"])
def test_wrong_top_level_shape(tmp_path: Path, text: str) -> None:
    path = operator_file(tmp_path, text)
    assert str(path) in load_error(path)


def test_knowledge_error_exposes_its_parts(tmp_path: Path) -> None:
    path = operator_file(tmp_path, "codes:\n  - {code: 3, title: 5}\n")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(path)
    assert caught.value.path == path
    assert caught.value.entry == "codes[0] (code 3)" and caught.value.field == "title"


def test_the_default_file_is_valid() -> None:
    from bot.knowledge.loader import read_knowledge_file

    data = read_knowledge_file(DEFAULT_KNOWLEDGE_FILE)
    assert len(data.signals) == 31
    assert len({c.code for c in data.codes}) == len(data.codes)


def test_reason_lookups_remembered_by_name_answer_as_the_first_lookup_and_stay_bounded() -> None:
    """`explain_reason` remembers names as written (a diagnosis asks for the same few per pod); a flood
    of different names from cluster data must not grow that memory without bound."""
    kb = load_knowledge()
    first = kb.explain_reason("Init:OOMKilled")
    assert first is not None and first.reason == "OOMKilled"
    assert kb.explain_reason("Init:OOMKilled") is first
    for index in range(3_000):
        assert kb.explain_reason(f"NoSuchReason{index}") is None
    assert len(kb._reason_lookups) <= 1024
    assert kb.explain_reason("oom-killed") is first
    assert kb.explain_reason("NoSuchReason2999") is None
