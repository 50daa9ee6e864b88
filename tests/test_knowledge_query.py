"""What `/exitcode <text>` answers: every string gets a reply, numbers wrap like a real exit status."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.knowledge import KnowledgeBase, load_knowledge
from bot.knowledge.explanation import Explanation, Usage


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge()


def explanation(kb: KnowledgeBase, text: str) -> Explanation:
    reply = kb.answer(text)
    assert isinstance(reply, Explanation), f"{text!r} gave {reply!r}"
    return reply


def usage(kb: KnowledgeBase, text: str) -> Usage:
    reply = kb.answer(text)
    assert isinstance(reply, Usage), f"{text!r} gave {reply!r}"
    return reply


# -- any text ------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_any_text_gets_a_reply_and_never_raises(kb: KnowledgeBase, text: str) -> None:
    reply = kb.answer(text)
    assert isinstance(reply, Explanation | Usage)
    if isinstance(reply, Usage):
        assert reply.message
    else:
        assert reply.title and reply.summary and reply.runbook_steps


@settings(max_examples=100, deadline=None)
@given(
    words=st.lists(
        st.sampled_from(
            ["signal", "sig", "exit", "code", "share", "pod", "+", "128", "-", "SIG", "help", "9"]
        )
        | st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
        max_size=5,
    )
)
def test_near_miss_shapes_never_raise(kb: KnowledgeBase, words: list[str]) -> None:
    assert isinstance(kb.answer(" ".join(words)), Explanation | Usage)


@pytest.mark.parametrize(
    "text",
    [
        "x" * 50_000,
        "9" * 20_000,
        "\x00\x1b[31m",
        "\u202e137",
        "ﬀ" * 5000,
        "１２８＋９",
        "sig" + "9" * 50,
        "🙂",
    ],
)
def test_odd_and_huge_text_gets_a_reply(kb: KnowledgeBase, text: str) -> None:
    reply = kb.answer(text)
    assert isinstance(reply, Explanation | Usage)
    assert len(reply.query) <= 100
    assert "\x1b" not in reply.query and "\u202e" not in reply.query


# -- integers and the wait-status arithmetic -----------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(n=st.integers(min_value=-(10**6), max_value=10**6))
def test_every_integer_normalizes_to_the_low_8_bits(kb: KnowledgeBase, n: int) -> None:
    reply = explanation(kb, str(n))
    assert reply.code == n
    assert reply.normalized_code == n % 256
    assert reply.subject == "exit_code"
    if 0 <= n <= 255:
        assert reply.arithmetic is None
    else:
        assert reply.arithmetic == f"{n} → {n % 256} ({n} mod 256)"
    assert reply.title == kb.explain_code(n % 256).title


@settings(max_examples=100, deadline=None)
@given(n=st.integers(min_value=-(10**40), max_value=10**40))
def test_explain_code_accepts_any_int(kb: KnowledgeBase, n: int) -> None:
    reply = kb.explain_code(n)
    assert reply.normalized_code == n % 256
    assert reply.runbook_key == str(n % 256)
    assert (reply.arithmetic is None) == (0 <= n <= 255)


@pytest.mark.parametrize(
    ("text", "status"), [("-1", 255), ("256", 0), ("1000", 232), ("-2", 254), ("384", 128)]
)
def test_documented_wraparounds(kb: KnowledgeBase, text: str, status: int) -> None:
    reply = explanation(kb, text)
    assert reply.normalized_code == status
    assert reply.arithmetic == f"{text} → {status} ({text} mod 256)"


def test_a_number_too_long_for_python_still_wraps(kb: KnowledgeBase) -> None:
    digits = "7" * 4990 + "00000300"  # ends in ...00000300 → 300 mod 256 = 44 (10**8 is a multiple of 256)
    reply = explanation(kb, digits)
    assert reply.normalized_code == 44
    assert reply.arithmetic is not None and "→ 44" in reply.arithmetic and "4998 digits" in reply.arithmetic
    negative = explanation(kb, "-" + digits)
    assert negative.normalized_code == (-44) % 256


def test_wide_digits_and_unicode_minus_are_read(kb: KnowledgeBase) -> None:
    assert explanation(kb, "１３７").normalized_code == 137
    assert explanation(kb, "\u22121").normalized_code == 255


def test_leading_words_and_zeros_are_tolerated(kb: KnowledgeBase) -> None:
    assert explanation(kb, "exit code 143").normalized_code == 143
    assert explanation(kb, "/exitcode 0137").normalized_code == 137


def test_fractions_are_not_exit_codes(kb: KnowledgeBase) -> None:
    reply = usage(kb, "1.5")
    assert "137" in reply.examples and not reply.is_help


# -- 128+n and signals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 65))
def test_128_plus_n_decodes_every_signal(kb: KnowledgeBase, n: int) -> None:
    reply = explanation(kb, f"128+{n}")
    signal = kb.signal(n)
    assert signal is not None
    assert reply.normalized_code == 128 + n
    assert reply.signal == signal
    assert reply.title.startswith(f"{128 + n} = 128 + {n} → {signal.name}")
    assert reply.arithmetic == f"128 + {n} = {128 + n}"


def test_a_sum_past_255_wraps(kb: KnowledgeBase) -> None:
    reply = explanation(kb, "128 + 200")
    assert reply.normalized_code == 72
    assert reply.arithmetic == "128 + 200 = 328 → 72 (328 mod 256)"


@pytest.mark.parametrize(
    "spelling", ["SIGTERM", "sigterm", "TERM", "term", "SigTerm", "signal TERM", "sig sigterm"]
)
def test_signal_names_in_any_case_with_or_without_sig(kb: KnowledgeBase, spelling: str) -> None:
    reply = explanation(kb, spelling)
    assert reply.normalized_code == 143
    assert reply.signal is not None and reply.signal.name == "SIGTERM"
    assert reply.arithmetic == "SIGTERM is signal 15 → exit code 128 + 15 = 143"


@pytest.mark.parametrize("number", range(1, 32))
def test_every_standard_signal_name_and_alias_resolves(kb: KnowledgeBase, number: int) -> None:
    signal = kb.signal(number)
    assert signal is not None
    for spelled in (signal.name, signal.name.lower(), signal.name[3:], *kb.signal_aliases(number)):
        reply = explanation(kb, spelled)
        assert reply.normalized_code == 128 + number, spelled
        assert reply.signal == signal


@pytest.mark.parametrize(
    ("alias", "name", "number"), [("SIGIOT", "SIGABRT", 6), ("poll", "SIGIO", 29), ("SIGCLD", "SIGCHLD", 17)]
)
def test_aliases_name_the_canonical_signal(kb: KnowledgeBase, alias: str, name: str, number: int) -> None:
    reply = explanation(kb, alias)
    assert reply.signal is not None and reply.signal.name == name
    assert reply.arithmetic is not None and f"(= {name})" in reply.arithmetic
    assert reply.normalized_code == 128 + number


@pytest.mark.parametrize(
    ("text", "number"), [("SIGRTMIN", 34), ("sigrtmin+2", 36), ("RTMAX", 64), ("SIGRTMAX-3", 61)]
)
def test_realtime_signal_names(kb: KnowledgeBase, text: str, number: int) -> None:
    reply = explanation(kb, text)
    assert reply.normalized_code == 128 + number
    assert reply.signal is not None and reply.signal.number == number


@pytest.mark.parametrize("text", ["signal 9", "sig 9", "SIGNAL 9", "sig9"])
def test_signal_number_means_the_signal_not_exit_code_9(kb: KnowledgeBase, text: str) -> None:
    reply = explanation(kb, text)
    assert reply.normalized_code == 137
    assert reply.arithmetic is not None
    assert "128 + 9 = 137" in reply.arithmetic and "exit code 9 itself" in reply.arithmetic
    assert explanation(kb, "9").normalized_code == 9


@pytest.mark.parametrize("text", ["signal 0", "signal 65", "sig -3"])
def test_signals_outside_linux_range_get_usage(kb: KnowledgeBase, text: str) -> None:
    assert "1–31" in usage(kb, text).message


# -- reasons, help, share, usage -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["OOMKilled", "oomkilled", "OOMKILLED", "oom-killed"])
def test_reasons_are_case_insensitive(kb: KnowledgeBase, text: str) -> None:
    reply = explanation(kb, text)
    assert reply.subject == "reason" and reply.reason == "OOMKilled"
    assert reply.query == text


def test_init_prefixed_states_are_understood(kb: KnowledgeBase) -> None:
    assert explanation(kb, "Init:CrashLoopBackOff").reason == "CrashLoopBackOff"


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "?", "--help"])
def test_help_lists_what_can_be_asked(kb: KnowledgeBase, text: str) -> None:
    reply = usage(kb, text)
    assert reply.is_help
    for must in ("pod NAMESPACE/POD", "ns NAMESPACE", "share", "SIGSEGV", "OOMKilled", "128+9"):
        assert must in reply.message
    assert "pod NAMESPACE/POD" in reply.examples


@pytest.mark.parametrize("text", ["137 share", "SIGKILL share", "oomkilled SHARE", "-1 share"])
def test_trailing_share_marks_the_answer_for_the_channel(kb: KnowledgeBase, text: str) -> None:
    assert explanation(kb, text).share is True
    assert explanation(kb, text.rsplit(" ", 1)[0]).share is False


def test_share_alone_is_help(kb: KnowledgeBase) -> None:
    assert usage(kb, "share").is_help


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("OOMKiled", "OOMKilled"),
        ("sigtrm", "SIGTERM"),
        ("crashloop", "CrashLoopBackOff"),
        ("Evicetd", "Evicted"),
    ],
)
def test_near_misses_get_did_you_mean(kb: KnowledgeBase, typo: str, suggestion: str) -> None:
    reply = usage(kb, typo)
    assert "Did you mean" in reply.message and suggestion in reply.message
    assert typo in reply.message
    assert not reply.is_help and reply.examples


def test_unrelated_words_get_examples_without_suggestions(kb: KnowledgeBase) -> None:
    reply = usage(kb, "what happened to my pod yesterday")
    assert "Did you mean" not in reply.message
    assert "137" in reply.examples


@pytest.mark.parametrize("text", ["pod prod/api-7d9f", "ns payments"])
def test_cluster_commands_are_pointed_elsewhere(kb: KnowledgeBase, text: str) -> None:
    reply = usage(kb, text)
    assert "pod NAMESPACE/POD" in reply.message and not reply.is_help


# -- fast paths give the general path's answers ---------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    text=st.from_regex(r"\A[ \t\n\r\x0b\x0c\x1c]{0,3}[+\-]?[0-9]{1,101}[ \t\n\r\x0b\x0c]{0,3}( share)?\Z")
    | st.text(alphabet="0123456789+- \t\n\x0b\x1csharepod", max_size=12)
)
def test_a_plain_number_is_read_as_the_general_parser_reads_it(text: str) -> None:
    from bot.knowledge.query import _classify, _shorten, parse_query

    parsed = parse_query(text)
    words = text.split()
    share = bool(words) and words[-1].casefold() == "share"
    if share:
        words.pop()
    assert parsed.share == share
    assert parsed.shown == _shorten(" ".join(words))
    assert parsed.query == _classify(words)


@pytest.mark.parametrize(
    "text", ["137", "-1 share", "OOMKilled", "128+9", "signal 9", "sigkill", "Init:Error"]
)
def test_an_answer_is_the_stored_explanation_with_the_query_fields_replaced(
    kb: KnowledgeBase, text: str
) -> None:
    from dataclasses import replace

    reply = explanation(kb, text)
    stored = kb.runbook(reply.runbook_key)
    assert stored is not None
    assert reply == replace(
        stored, query=reply.query, code=reply.code, arithmetic=reply.arithmetic, share=reply.share
    )
    assert stored.answering(reply.query, reply.code, reply.arithmetic, reply.share) == reply
