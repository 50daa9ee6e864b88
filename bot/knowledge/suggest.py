""" "Did you mean …?" for near-miss reason and signal names (`OOMKiled`, `SIGTRM`, `crashloop`)."""

from __future__ import annotations

from collections.abc import Mapping

MAX_SUGGESTIONS = 3
_MAX_WORD_CHARS = 40  # difflib is quadratic; nobody mistypes a 40-character reason name
_MIN_PREFIX_CHARS = 3
_CUTOFF = 0.75


def suggest(word_key: str, candidates: Mapping[str, str]) -> tuple[str, ...]:
    """Display names whose key starts with or closely resembles `word_key` (already normalized)."""
    if not word_key or len(word_key) > _MAX_WORD_CHARS:
        return ()
    import difflib  # only for a query the bot could not read (not on `explain 137`'s cold start)

    found: list[str] = []
    if len(word_key) >= _MIN_PREFIX_CHARS:
        found.extend(shown for key, shown in candidates.items() if key.startswith(word_key))
    found.extend(
        candidates[key] for key in difflib.get_close_matches(word_key, candidates, n=5, cutoff=_CUTOFF)
    )
    return tuple(dict.fromkeys(found))[:MAX_SUGGESTIONS]
