"""The Linux signal table as lookups: number → SignalInfo, and any spelling → number.

Standard signals 1–31 come from the knowledge file. Real-time signals 32–64 have no fixed meaning, so
they are generated: glibc keeps 32 and 33 for itself and its SIGRTMIN is 34, which is why `SIGRTMIN+2`
is signal 36 (exit 164) in a glibc program.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.knowledge.explanation import SignalInfo
from bot.knowledge.keys import signal_key

FIRST_REALTIME = 32
LAST_REALTIME = 64
GLIBC_SIGRTMIN = 34
SIGNAL_EXIT_OFFSET = 128

# `RTMIN`, `RTMIN+3`, `RTMAX`, `RTMAX-2` (after signal_key removed any `SIG`); spaces around +/- allowed.
_REALTIME_NAME = re.compile(r"^RT(MIN|MAX)(?:\s*([+-])\s*(\d{1,2}))?$")

ACTION_TEXT: Mapping[str, str] = {
    "terminate": "terminate the process",
    "core": "terminate the process and dump core",
    "ignore": "ignore the signal",
    "stop": "pause the process",
    "continue": "resume a stopped process",
}


@dataclass(frozen=True, slots=True)
class SignalMatch:
    """A signal named in a query, with the spelling the user used (for `SIGIOT (= SIGABRT)`)."""

    info: SignalInfo
    spelled: str


class SignalTable:
    """Signals 1–64 by number and by every accepted spelling."""

    def __init__(
        self, standard: Mapping[int, tuple[SignalInfo, tuple[str, ...]]], realtime: Mapping[int, SignalInfo]
    ) -> None:
        self._by_number: dict[int, SignalInfo] = {n: info for n, (info, _) in standard.items()}
        self._by_number.update(realtime)
        self._by_key: dict[str, tuple[int, str]] = {}
        for number, (info, aliases) in standard.items():
            self._by_key[signal_key(info.name)] = (number, info.name)
            for alias in aliases:
                self._by_key[signal_key(alias)] = (number, alias)
        self._aliases = {n: aliases for n, (_, aliases) in standard.items()}

    def by_number(self, number: int) -> SignalInfo | None:
        return self._by_number.get(number)

    def aliases(self, number: int) -> tuple[str, ...]:
        return self._aliases.get(number, ())

    def spellings(self) -> list[str]:
        """Every canonical name and alias, for "did you mean" suggestions."""
        return [spelled for _, spelled in self._by_key.values()]

    def lookup(self, word: str) -> SignalMatch | None:
        """A signal by name (any case, with or without `SIG`, aliases, `SIGRTMIN+n`), or None."""
        key = signal_key(word)
        found = self._by_key.get(key)
        if found is not None:
            return SignalMatch(self._by_number[found[0]], found[1])
        rt = _REALTIME_NAME.match(key)
        if rt is None:
            return None
        base, sign, offset_text = rt.groups()
        offset = int(offset_text) if offset_text else 0
        if base == "MIN" and sign != "-":
            number = GLIBC_SIGRTMIN + offset
        elif base == "MAX" and sign != "+":
            number = LAST_REALTIME - offset
        else:
            return None
        info = self._by_number.get(number)
        if info is None or number < GLIBC_SIGRTMIN:
            return None
        spelled = f"SIGRT{base}" + (f"{sign}{offset}" if offset else "")
        return SignalMatch(info, spelled)


def realtime_name(number: int) -> str:
    """`SIGRTMIN+k` as bash's `kill -l` prints it for the lower half, SIGRTMAX-k for the upper half."""
    if number < GLIBC_SIGRTMIN:
        return f"signal {number}"
    if number == GLIBC_SIGRTMIN:
        return "SIGRTMIN"
    if number == LAST_REALTIME:
        return "SIGRTMAX"
    middle = (GLIBC_SIGRTMIN + LAST_REALTIME) // 2
    if number <= middle:
        return f"SIGRTMIN+{number - GLIBC_SIGRTMIN}"
    return f"SIGRTMAX-{LAST_REALTIME - number}"
