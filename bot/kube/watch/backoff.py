"""The retry delay while the apiserver is down: a policy of its own so it can be tuned and tested alone."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog): many replicas reconnecting after an
    apiserver outage spread out instead of arriving together."""

    base_seconds: float = 0.5
    cap_seconds: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `attempt` (0 = the first retry)."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** min(attempt, 32))
        return rng.uniform(0.0, ceiling)
