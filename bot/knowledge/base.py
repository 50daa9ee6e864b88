"""The loaded knowledge base: every explanation precomputed, every query a lookup.

Built by `bot.knowledge.loader.load_knowledge`; plain Python, no pydantic or YAML here, so answering is
cheap (tens of thousands of lookups per second) and the object is safe to share between tasks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from bot.knowledge.explanation import Explanation, Reply, SignalInfo
from bot.knowledge.keys import reason_key, signal_key
from bot.knowledge.query import (
    DiagnoseQuery,
    HelpQuery,
    IntegerQuery,
    NameQuery,
    SignalNumberQuery,
    SumQuery,
    TooLongQuery,
    parse_query,
)
from bot.knowledge.signals import FIRST_REALTIME, SIGNAL_EXIT_OFFSET, SignalMatch, SignalTable
from bot.knowledge.status import STATUS_MODULUS, wrap_int
from bot.knowledge.suggest import suggest
from bot.knowledge.usage import (
    diagnose_usage,
    help_usage,
    signal_range_usage,
    too_long_usage,
    unreadable_usage,
)

_LAST_SIGNAL = 64
_REMEMBERED_REASONS = 1024


class KnowledgeBase:
    """Answers `/exitcode` queries from precomputed explanations for codes 0–255 and every reason."""

    def __init__(
        self, codes: Sequence[Explanation], reasons: Mapping[str, Explanation], signals: SignalTable
    ) -> None:
        if len(codes) != STATUS_MODULUS:
            raise ValueError(f"expected explanations for all {STATUS_MODULUS} exit codes, got {len(codes)}")
        self._codes = tuple(codes)
        self._reasons = {reason_key(e.reason or e.runbook_key): e for e in reasons.values()}
        self._signals = signals
        self._reason_names = [e.runbook_key for e in self._reasons.values()]
        self._signal_candidates = _signal_candidates(signals)
        self._candidates = {reason_key(name): name for name in self._reason_names}
        self._candidates.update(self._signal_candidates)
        self._candidates["help"] = "help"
        self._reason_lookups: dict[str, Explanation | None] = {}

    # -- lookups ---------------------------------------------------------------------------------------

    def explain_code(self, code: int) -> Explanation:
        """Any integer: its own explanation for 0–255, else the wrapped status's, with the arithmetic."""
        if 0 <= code < STATUS_MODULUS:  # the common case (every exit code a container reports)
            return self._codes[code]
        status = wrap_int(code)
        base = self._codes[status.normalized]
        if not status.wrapped:
            return base
        return replace(base, query=status.shown, code=code, arithmetic=status.arithmetic)

    def explain_reason(self, name: str) -> Explanation | None:
        """A Kubernetes reason, case- and punctuation-insensitively (`oomkilled`, `Init:Error`).

        Remembered by the name as written (a diagnosis asks for the same few reasons, `OOMKilled`,
        `Evicted`, …, for pod after pod, and normalizing the name costs several times the lookup); at most
        `_REMEMBERED_REASONS` names, since reasons come from cluster data."""
        try:
            return self._reason_lookups[name]
        except KeyError:
            found = self._reasons.get(reason_key(name))
            if len(self._reason_lookups) < _REMEMBERED_REASONS:
                self._reason_lookups[name] = found
            return found

    def runbook(self, key: str) -> Explanation | None:
        """The explanation behind a runbook page: key is a code `0`–`255` or a reason name."""
        key = key.strip()
        if key.isascii() and key.isdigit() and len(key) <= 3:
            code = int(key)
            return self._codes[code] if code < STATUS_MODULUS else None
        return self.explain_reason(key)

    def runbook_keys(self) -> list[str]:
        """Every runbook page: the codes 0–255, then the reasons in the knowledge file's order."""
        return [str(code) for code in range(STATUS_MODULUS)] + list(self._reason_names)

    def signal(self, number: int) -> SignalInfo | None:
        """Signal 1–64 (x86_64/arm64 numbering), or None."""
        return self._signals.by_number(number)

    def signal_aliases(self, number: int) -> tuple[str, ...]:
        """Other names of a standard signal (`SIGIOT` for 6), for renderers that show them."""
        return self._signals.aliases(number)

    def signal_named(self, name: str) -> SignalInfo | None:
        """A signal by any accepted spelling (`sigterm`, `KILL`, `SIGIOT`, `SIGRTMIN+2`)."""
        match = self._signals.lookup(name)
        return match.info if match else None

    # -- queries ---------------------------------------------------------------------------------------

    def answer(self, text: str) -> Reply:
        """The reply to whatever was typed after `/exitcode`; never raises."""
        parsed = parse_query(text)
        query = parsed.query
        shown = parsed.shown
        share = parsed.share
        if isinstance(query, IntegerQuery):  # the common case first
            status = query.status
            return self._codes[status.normalized].answering(shown, status.value, status.arithmetic, share)
        if isinstance(query, HelpQuery):
            return help_usage(shown)
        if isinstance(query, TooLongQuery):
            return too_long_usage(shown, query.length)
        if isinstance(query, DiagnoseQuery):
            return diagnose_usage(shown)
        if isinstance(query, SumQuery):
            return self._sum(query, shown, share)
        if isinstance(query, SignalNumberQuery):
            return self._signal_number(query.number, shown, share)
        return self._name(query, shown, share)

    def _sum(self, query: SumQuery, shown: str, share: bool) -> Explanation:
        total = query.left + query.right
        status = wrap_int(total)
        arithmetic = f"{query.left} + {query.right} = {total}"
        if status.wrapped:
            arithmetic += f" → {status.normalized} ({total} mod {STATUS_MODULUS})"
        return self._codes[status.normalized].answering(shown, total, arithmetic, share)

    def _signal_number(self, number: int, shown: str, share: bool) -> Reply:
        info = self._signals.by_number(number) if 0 < number <= _LAST_SIGNAL else None
        if info is None:
            return signal_range_usage(shown, number)
        code = SIGNAL_EXIT_OFFSET + number
        arithmetic = (
            f"signal {number} ({info.name}) → exit code {SIGNAL_EXIT_OFFSET} + {number} = {code};"
            f" exit code {number} itself means something else (ask for `{number}`)"
        )
        return self._codes[code].answering(shown, code, arithmetic, share)

    def _signal_match(self, match: SignalMatch, shown: str, share: bool) -> Explanation:
        info = match.info
        code = SIGNAL_EXIT_OFFSET + info.number
        named = match.spelled if match.spelled == info.name else f"{match.spelled} (= {info.name})"
        arithmetic = (
            f"{named} is signal {info.number} → exit code {SIGNAL_EXIT_OFFSET} + {info.number} = {code}"
        )
        return self._codes[code].answering(shown, code, arithmetic, share)

    def _name(self, query: NameQuery, shown: str, share: bool) -> Reply:
        if not query.signal_only:
            reason = self._reasons.get(reason_key(query.word))
            if reason is not None:
                return reason.answering(shown, reason.code, reason.arithmetic, share or reason.share)
        match = self._signals.lookup(query.word)
        if match is not None:
            return self._signal_match(match, shown, share)
        if query.signal_only:
            found = suggest(_signal_candidate_key(query.word), self._signal_candidates)
            return unreadable_usage(shown, found, what="a signal")
        return unreadable_usage(shown, suggest(reason_key(query.word), self._candidates))


def _signal_candidates(signals: SignalTable) -> dict[str, str]:
    """Normalized key → display name for the standard signals, with and without `SIG`."""
    candidates: dict[str, str] = {}
    for spelled in signals.spellings():
        match = signals.lookup(spelled)
        if match is None or match.info.number >= FIRST_REALTIME:
            continue
        key = signal_key(spelled).lower()
        candidates[key] = spelled
        candidates["sig" + key] = spelled
    return candidates


def _signal_candidate_key(word: str) -> str:
    return reason_key(signal_key(word))
