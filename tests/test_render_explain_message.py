"""`ExplainMessages` answers exactly what the reference renderer answers, only without rendering per request.

A speed-up that changes an answer is a bug, so the fast path is compared byte for byte with
`json.dumps(explain_message(...))` over every exit code, reason and signal, in every query form
(wrapped numbers, sums, signal numbers, names, `share`), with hostile and oversized queries, and
for any text at all (hypothesis).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bot.render.explain_message as explain_message_module
from bot.knowledge import KnowledgeBase, RunbookLinks, load_knowledge
from bot.render.explain_message import ExplainMessages, explain_message

COMMANDS = ("/exitcode", "/exitcode-prod-eu")


def queries(kb: KnowledgeBase) -> list[str]:
    found = [str(code) for code in range(-300, 600)]
    found += [f"{n}+{m}" for n in (0, 1, 128, 255, 999) for m in (1, 9, 15, 200)]
    found += [f"signal {n}" for n in range(0, 70)] + [f"sig{n}" for n in (9, 15, 99)]
    found += [key for key in kb.runbook_keys()]
    found += ["sigkill", "SIGSEGV", "KILL", "SIGRTMIN+2", "oomkilled", "CrashLoopBackOff", "Evicted"]
    found += ["help", "", "?", "foo", "pod x", "ns", "exit code 137", "/exitcode 137", "0137", "\u22121"]
    found += [f"{q} share" for q in ("137", "-1", "OOMKilled", "signal 9", "128+9", "help")]
    hostile = ["137 <!channel>", "137 & <@U123>", "137 `rm -rf`", "1" * 99, "1" * 100, "1" * 101]
    found += [*hostile, "7" * 3000, "-" + "9" * 9000, "137 " + "x" * 5000, "137\n143", "137\t"]
    return found


@pytest.fixture(scope="module")
def kbs() -> list[KnowledgeBase]:
    """The bundled knowledge, and one whose runbook links are not linkable (a footer note instead)."""
    return [load_knowledge(), load_knowledge(links=RunbookLinks(template="wiki/exit {code}"))]


@pytest.mark.parametrize("slash_command", COMMANDS)
def test_the_fast_path_answers_byte_for_byte_what_the_reference_renders(
    kbs: list[KnowledgeBase], slash_command: str
) -> None:
    for kb in kbs:
        messages = ExplainMessages(slash_command)
        for query in queries(kb) * 2:  # the second time from the layouts made the first time
            reply = kb.answer(query)
            expected = json.dumps(explain_message(reply, slash_command=slash_command))
            assert messages.json(reply) == expected, query[:80]


def test_never_seen_numbers_are_answered_from_layouts_without_rendering(
    kbs: list[KnowledgeBase], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point of it: a never-seen number reuses its code's layout instead of rendering again."""

    def no_rendering(*args: object, **kwargs: object) -> None:
        raise AssertionError("rendered on the request path")

    monkeypatch.setattr(explain_message_module, "explain_message", no_rendering)
    messages = ExplainMessages("/exitcode")
    for n in range(-1_000_000, -1_000_000 + 2_000):
        assert '"blocks"' in messages.json(kbs[0].answer(str(n)))

    assert 0 < messages.layouts() <= 256


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gets_the_reference_answer(text: str) -> None:
    kb = _KB
    reply = kb.answer(text)
    expected = json.dumps(explain_message(reply, slash_command="/exitcode"))
    assert _MESSAGES.json(reply) == expected


_KB = load_knowledge()
_MESSAGES = ExplainMessages("/exitcode")
