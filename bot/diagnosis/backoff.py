"""CrashLoopBackOff timing: how long the kubelet waits before the next restart, and roughly when it comes.

The kubelet waits 10 s after the first crash and doubles the wait on each further crash, up to 5 min
(the wait resets once a container has run for 10 min). Its waiting message states the current wait
(`back-off 2m40s restarting failed container=api pod=…`); when that message is missing the wait is
estimated from the restart count. The restart is due that long after the last instance finished.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from bot.diagnosis.model import BackOff

INITIAL_BACKOFF = timedelta(seconds=10)
MAX_BACKOFF = timedelta(seconds=300)

_KUBELET_MESSAGE = re.compile(r"back-off\s+((?:\d+(?:\.\d+)?(?:h|ms|m|s))+)")
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_go_duration(value: str) -> timedelta | None:
    """A Go `time.Duration` string as printed by the kubelet (`5m0s`, `40s`, `1h0m0s`), or None."""
    parts = _GO_DURATION_PART.findall(value)
    if not parts or "".join(number + unit for number, unit in parts) != value:
        return None
    return timedelta(seconds=sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts))


def kubelet_delay(waiting_message: str | None) -> timedelta | None:
    """The back-off the kubelet announced in `state.waiting.message`, if it did."""
    if not waiting_message:
        return None
    match = _KUBELET_MESSAGE.search(waiting_message)
    return parse_go_duration(match.group(1)) if match else None


def estimated_delay(restart_count: int) -> timedelta:
    """The kubelet's wait after `restart_count` restarts: 10 s, 20 s, 40 s … capped at 5 min."""
    doublings = max(0, restart_count - 1)
    if doublings >= 5:  # 10 s × 2^5 = 320 s is already past the cap
        return MAX_BACKOFF
    delay: timedelta = INITIAL_BACKOFF * (1 << doublings)
    return min(delay, MAX_BACKOFF)


def back_off(
    waiting_message: str | None, restart_count: int, last_finished_at: datetime | None, now: datetime
) -> BackOff:
    """The current back-off of a crash-looping container and its next restart relative to `now`."""
    announced = kubelet_delay(waiting_message)
    delay = announced if announced is not None else estimated_delay(restart_count)
    next_at = last_finished_at + delay if last_finished_at is not None else None
    next_in = max(next_at - now, timedelta(0)) if next_at is not None else None
    return BackOff(
        delay=delay, from_kubelet=announced is not None, next_restart_at=next_at, next_restart_in=next_in
    )
