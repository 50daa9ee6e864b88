"""`textscan.may_match` never rules out a text its pattern matches (it only saves the regex search).

Every pattern the diagnosis registered words for is checked against strings Hypothesis generates from
the pattern itself (so each contains a match), padded and re-cased, ASCII and not.
"""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.diagnosis import crashes, textscan
from bot.diagnosis.crashes import HEAP_SIGNATURES, NATIVE_CRASHES
from bot.diagnosis.facts import _ERROR_LINE, _EXCEPTION_LINE, last_error_line
from bot.diagnosis.textscan import fold, may_match, needing, newlines_only

PATTERNS = [
    crashes._EXEC_FORMAT,
    crashes._NOT_FOUND,
    crashes._PERMISSION,
    crashes._SHARED_LIBRARY,
    crashes._COMMAND_NOT_FOUND,
    crashes._GO_PANIC,
    crashes._USAGE,
    *(signature.pattern for signature in HEAP_SIGNATURES),
    *(crash.corroboration for crash in NATIVE_CRASHES.values()),
    _EXCEPTION_LINE,
    _ERROR_LINE,
]
padding = st.text(alphabet=string.printable + "éſKİ\u2028\x85", max_size=40)


def test_every_pattern_of_the_rules_has_its_words_registered() -> None:
    assert all(id(pattern) in textscan._WORDS for pattern in PATTERNS)


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda pattern: pattern.pattern[:40])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_text_the_pattern_matches_is_never_ruled_out(pattern: re.Pattern[str], data: st.DataObject) -> None:
    core = data.draw(st.from_regex(pattern))
    text = data.draw(padding) + core + data.draw(padding)
    if data.draw(st.booleans()):
        text = text.swapcase() if pattern.flags & re.IGNORECASE else text
    if pattern.search(text) is not None:
        assert may_match(pattern, text, fold(text)), text


@given(text=st.text(alphabet=string.printable + "ſK\u2028\x85\x1c", max_size=60))
def test_ruling_out_agrees_with_the_regex_on_any_text(text: str) -> None:
    for pattern in PATTERNS:
        if not may_match(pattern, text, fold(text)):
            assert pattern.search(text) is None


def test_non_ascii_text_is_left_to_the_regex_for_ignorecase_patterns() -> None:
    """`re` folds the long s to `s` under IGNORECASE; `str.lower` does not, so no word test decides."""
    text = "ſegmentation fault"
    pattern = NATIVE_CRASHES[139].corroboration
    assert pattern.search(text) is not None
    assert fold(text) is None
    assert may_match(pattern, text, fold(text))


def test_words_of_an_ignorecase_pattern_must_be_lower_case_ascii() -> None:
    with pytest.raises(ValueError, match="lower-case ASCII"):
        needing(re.compile("Boom", re.IGNORECASE), "Boom")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a\nb", True), ("a\r\nb", False), ("a\x0bb", False), ("a\u2028b", False), ("é\nb", True), ("", True)],
)
def test_newlines_only_matches_what_splitlines_splits_at(text: str, expected: bool) -> None:
    assert newlines_only(text) is expected


@given(lines=st.lists(st.text(alphabet=string.printable + "ſK", max_size=30), max_size=8))
def test_last_error_line_is_the_line_by_line_search(lines: list[str]) -> None:
    """The word tests change nothing: the same line as searching every stripped line with each pattern."""
    log = "\n".join(lines)
    stripped = [line.strip() for line in log.splitlines() if line.strip()]
    expected = next(
        (
            line
            for pattern in (_EXCEPTION_LINE, _ERROR_LINE)
            for line in reversed(stripped)
            if pattern.search(line)
        ),
        stripped[-1] if stripped else None,
    )
    assert last_error_line(log) == expected
