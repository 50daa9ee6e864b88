"""How names are compared: one definition shared by the loader (duplicate and override detection) and
the query parser (lookups), so `oomkilled`, `OOMKilled` and `OOM-Killed` can never mean different things
in the two places.
"""

from __future__ import annotations

import re

_NOT_ALNUM = re.compile(r"[^0-9a-z]")
_INIT_PREFIX = "init:"


def reason_key(name: str) -> str:
    """Case- and punctuation-insensitive key; kubectl's `Init:` prefix (`Init:Error`) is dropped."""
    folded = name.strip().casefold()
    if folded.startswith(_INIT_PREFIX):
        folded = folded[len(_INIT_PREFIX) :]
    return _NOT_ALNUM.sub("", folded)


def signal_key(name: str) -> str:
    """Upper case, without the optional `SIG` prefix: `sigterm`, `TERM` and `SIGTERM` all give `TERM`."""
    upper = name.strip().upper()
    return upper[3:] if upper.startswith("SIG") and len(upper) > 3 else upper
