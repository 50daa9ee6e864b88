"""The explain core alone: `KnowledgeBase.answer` over a realistic query mix, against a dict lookup.

The dict baseline (the same queries mapped to precomputed replies) is the fastest an answer could
possibly be, so the ratio shows what parsing, normalising and matching cost on top. Also measured:
the whole Slack reply (answer + Block Kit + fallback text), which is what each `/exitcode` ack computes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.figures import figure
from bot.knowledge import load_knowledge
from bot.render.blocks import reply_blocks, reply_fallback_text

QUERIES = [
    "137",
    "143",
    "1",
    "0",
    "255",
    "-1",
    "1000",
    "139",
    "sigterm",
    "SIGKILL",
    "segv",
    "OOMKilled",
    "CrashLoopBackOff",
    "Error",
    "128+9",
    "signal 15",
    "137 share",
    "help",
    "frobnicate",
    "ImagePullBackOff",
]
ROUNDS = 5
LOOKUPS_PER_ROUND = 100_000


def best_rate(work: Callable[[str], object], lookups: int) -> float:
    """Lookups per second, best of `ROUNDS` (the least disturbed by other processes)."""
    queries = (QUERIES * (lookups // len(QUERIES) + 1))[:lookups]
    best = 0.0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for query in queries:
            work(query)
        best = max(best, lookups / (time.perf_counter() - started))
    return best


def main() -> None:
    kb = load_knowledge()
    precomputed = {query: kb.answer(query) for query in QUERIES}
    baseline = best_rate(precomputed.__getitem__, LOOKUPS_PER_ROUND)
    answers = best_rate(kb.answer, LOOKUPS_PER_ROUND)

    def slack_reply(query: str) -> object:
        reply = kb.answer(query)
        return reply_blocks(reply), reply_fallback_text(reply)

    replies = best_rate(slack_reply, LOOKUPS_PER_ROUND // 20)
    figure("kb.answer", answers, "lookups/s", target=">= 20,000", met=answers >= 20_000)
    figure("dict lookup baseline", baseline, "lookups/s")
    figure("kb.answer / dict lookup", answers / baseline, "ratio")
    figure("answer + Block Kit + fallback text", replies, "replies/s")


if __name__ == "__main__":
    main()
