"""CrashLoopBackOff timing, as the kubelet states it: how long it waits before the next restart.

The wait used to be a given (10 s, doubling per crash, capped at 5 min), but the cap is configurable now
(KEP-5593) and the curve itself may change (KEP-4603), so the bot never derives it from the restart
count. The kubelet's waiting message states the current wait (`back-off 2m40s restarting failed
container=api pod=…`); when the message does not, the delay is reported as unknown. The restart is due
that long after the last instance finished.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache

from bot.diagnosis.frozen import positional
from bot.diagnosis.model import BackOff

_KUBELET_MESSAGE = re.compile(r"back-off\s+((?:\d+(?:\.\d+)?(?:h|ms|m|s))+)")
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_NO_WAIT = timedelta(0)


@lru_cache(maxsize=256)
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


def back_off(waiting_message: str | None, last_finished_at: datetime | None, now: datetime) -> BackOff:
    """The current back-off of a crash-looping container and its next restart relative to `now`."""
    delay = kubelet_delay(waiting_message)
    next_at = last_finished_at + delay if last_finished_at is not None and delay is not None else None
    next_in = max(next_at - now, _NO_WAIT) if next_at is not None else None
    return _BACK_OFF(delay, delay is not None, next_at, next_in)  # delay, from_kubelet, next restart at, in


_BACK_OFF = positional(BackOff, "delay", "from_kubelet", "next_restart_at", "next_restart_in")
"""`BackOff`, built positionally in this module (see `frozen.positional`)."""
