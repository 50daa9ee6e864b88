"""Ruling a regex out before running it: the literal words every match must contain, tested with `in`.

Most log tails and termination messages match none of the patterns the rules look for, and CPython's
`re` is slow on exactly the ones used here: `IGNORECASE`, and `^` under `MULTILINE`, turn off its
literal-prefix scan, so one search of a 500-character log costs 2–14 µs; the diagnosis benchmark
(`bench/diagnosis_core.py`) measured the searches at about a third of a crashed pod's diagnosis. A
substring test for the words a match cannot do without (`in`, a memchr-speed scan) costs a fraction of
that and settles the common "no match" case; when a word is present, the regex itself still decides.

Exact, not a heuristic: a pattern's words are a necessary condition (each branch of the pattern contains
one of them literally), so `may_match` is False only when the pattern cannot match. For an `IGNORECASE`
pattern the words are lower-case ASCII and are looked up in the text's lower-cased form, which is
equivalent only for ASCII text (`re` also folds `ſ` to `s` and `K` (Kelvin) to `k`), so non-ASCII text
always goes to the regex. `tests/test_diagnosis_textscan.py` checks every registered pattern against
strings generated from the pattern itself.
"""

from __future__ import annotations

import re

_WORDS: dict[int, tuple[bool, tuple[str, ...]]] = {}
"""(IGNORECASE?, words) by `id` of the (module-level, never freed) pattern: a `re.Pattern` hashes its
whole compiled program on every lookup, and `flags & re.IGNORECASE` goes through `enum` (about 1 µs),
both more than the word tests themselves."""
_OTHER_LINE_BREAKS_ASCII = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
_OTHER_LINE_BREAKS = re.compile("[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def needing(pattern: re.Pattern[str], *words: str) -> re.Pattern[str]:
    """Register the words any match of `pattern` contains (lower-case ASCII for IGNORECASE); returns it."""
    ignore_case = bool(pattern.flags & re.IGNORECASE)
    if ignore_case and any(not word.isascii() or word != word.lower() for word in words):
        raise ValueError(f"words of an IGNORECASE pattern must be lower-case ASCII: {words}")
    if not words or not all(words):
        raise ValueError("a pattern needs at least one non-empty word")
    _WORDS[id(pattern)] = (ignore_case, words)
    return pattern


def fold(text: str) -> str | None:
    """The text lower-cased for word tests against IGNORECASE patterns; None when it is not ASCII."""
    return text.lower() if text.isascii() else None


def may_match(pattern: re.Pattern[str], text: str, folded: str | None) -> bool:
    """False only when `pattern` cannot match `text` (`folded` is `fold(text)`)."""
    known = _WORDS.get(id(pattern))
    if known is None:
        return True
    ignore_case, words = known
    if ignore_case:
        if folded is None:
            return True
        text = folded
    for word in words:  # noqa: SIM110 - a loop, not any(<generator>): this runs per rule per pod
        if word in text:
            return True
    return False


def newlines_only(text: str) -> bool:
    """True when `text` has no line break but `\\n` (so `str.splitlines` and MULTILINE `^` agree)."""
    if text.isascii():
        for mark in _OTHER_LINE_BREAKS_ASCII:  # noqa: SIM110 - as above
            if mark in text:
                return False
        return True
    return _OTHER_LINE_BREAKS.search(text) is None
