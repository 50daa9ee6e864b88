"""Reading what someone typed after `/exitcode` into a query, without knowing any names yet.

The parser only recognises the *shape* of a query (a number, `128+9`, `signal 9`, a word, `help`);
`KnowledgeBase` then resolves words against its signal and reason tables. Keeping the parser free of
knowledge makes it trivially total: every string maps to exactly one query type and nothing raises.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.knowledge.status import WrappedStatus, wrap_digits

MAX_QUERY_CHARS = 10_000
MAX_SHOWN_QUERY_CHARS = 100
_MAX_ADDEND_DIGITS = 9

_HELP_WORDS = frozenset({"help", "?", "-h", "--help", "usage"})
_DIAGNOSE_WORDS = frozenset({"pod", "ns", "namespace"})
_FILLER_WORDS = frozenset({"exit", "code", "exitcode", "exit-code", "status", "explain", "what", "is"})
_SHARE_WORD = "share"
_COMMAND_PREFIX = "/exitcode"

_INTEGER = re.compile(r"([+-]?)([0-9]+)", re.ASCII)
# `137`, ` -1 `: one number short enough to echo uncut, and nothing else but whitespace `str.split()`
# also skips; read without splitting words (tests/test_knowledge_query.py compares both readings).
_PLAIN_INTEGER = re.compile(
    rf"[ \t\n\r\f\v]*(([+-]?)([0-9]{{1,{MAX_SHOWN_QUERY_CHARS - 1}}}))[ \t\n\r\f\v]*", re.ASCII
)
_SUM = re.compile(r"([0-9]{1,9})\s*\+\s*([0-9]{1,9})", re.ASCII)
_SIGNAL_NUMBER = re.compile(r"sig(?:nal)?\s*([+-]?[0-9]{1,9})", re.ASCII | re.IGNORECASE)
_SIGNAL_WORD = re.compile(r"sig(?:nal)?\s+(\S.*)", re.IGNORECASE)
# Minus-like characters people paste from documents and chat clients.
_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\ufe63": "-"})


@dataclass(frozen=True, slots=True)
class HelpQuery:
    """`help`, `?` or nothing at all."""


@dataclass(frozen=True, slots=True)
class IntegerQuery:
    """A whole number, possibly negative or far outside 0–255."""

    status: WrappedStatus


@dataclass(frozen=True, slots=True)
class SumQuery:
    """`128+9`: someone decoding a signal exit by hand."""

    left: int
    right: int


@dataclass(frozen=True, slots=True)
class SignalNumberQuery:
    """`signal 9` / `sig 9`: the signal number, not exit code 9."""

    number: int


@dataclass(frozen=True, slots=True)
class NameQuery:
    """A word to resolve as a reason or a signal name; `signal_only` after `signal …`."""

    word: str
    signal_only: bool = False


@dataclass(frozen=True, slots=True)
class DiagnoseQuery:
    """`pod NS/NAME` or `ns NAMESPACE`: needs a cluster, answered elsewhere."""

    command: str


@dataclass(frozen=True, slots=True)
class TooLongQuery:
    """More text than any query could need."""

    length: int


Query = HelpQuery | IntegerQuery | SumQuery | SignalNumberQuery | NameQuery | DiagnoseQuery | TooLongQuery


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """The query, whether `share` was asked for, and the text to echo back (cleaned and shortened)."""

    query: Query
    share: bool
    shown: str


def parse_query(text: str) -> ParsedQuery:
    """Classify any string; never raises."""
    if len(text) > MAX_QUERY_CHARS:
        return ParsedQuery(TooLongQuery(len(text)), False, _shorten(text.strip()))
    if plain := _PLAIN_INTEGER.fullmatch(text):  # the most common query, the same result faster
        number, sign, digits = plain.groups()
        return ParsedQuery(IntegerQuery(wrap_digits(sign == "-", digits)), False, number)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_MINUS_SIGNS)
    words = text.split()
    share = bool(words) and words[-1].casefold() == _SHARE_WORD
    if share:
        words.pop()
    if words and words[0].casefold() == _COMMAND_PREFIX:
        words.pop(0)
    shown = _shorten(" ".join(words))
    return ParsedQuery(_classify(words), share, shown)


def _classify(words: list[str]) -> Query:
    if not words or (len(words) == 1 and words[0].casefold() in _HELP_WORDS):
        return HelpQuery()
    if words[0].casefold() in _DIAGNOSE_WORDS:
        return DiagnoseQuery(words[0].casefold())
    while len(words) > 1 and words[0].casefold() in _FILLER_WORDS:
        words = words[1:]
    joined = " ".join(words)
    if match := _INTEGER.fullmatch(joined):
        return IntegerQuery(wrap_digits(match.group(1) == "-", match.group(2)))
    if match := _SUM.fullmatch(joined):
        return SumQuery(int(match.group(1)), int(match.group(2)))
    if match := _SIGNAL_NUMBER.fullmatch(joined):
        return SignalNumberQuery(int(match.group(1)))
    if match := _SIGNAL_WORD.fullmatch(joined):
        return NameQuery(match.group(1), signal_only=True)
    return NameQuery(joined)


def _shorten(text: str) -> str:
    """The query as echoed back: at most 100 characters, control and bidi-override characters replaced.

    Echoed text goes to Slack and to terminals; a raw ESC or U+202E could restyle or reorder what the
    reader sees. (Slack mrkdwn escaping of `&`, `<`, `>` stays the renderer's job.)
    """
    if len(text) > MAX_SHOWN_QUERY_CHARS:
        text = text[: MAX_SHOWN_QUERY_CHARS - 1] + "…"
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() or ch == " " else "\ufffd" for ch in text)
    return text
