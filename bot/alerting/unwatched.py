"""Counting the crashes nobody watched: a container's restart count says how many deaths there were.

The API keeps one termination record per container (`lastState`), so a container that crashed three
times while the bot was down, or while the replicas waited for the Lease, shows only its last crash: the
first two are overwritten. Its `restartCount` still counts them. The ledger remembers, per container,
the *ordinal* of the last death the bot saw (`LedgerState.deaths`); the next termination's ordinal minus
that, minus one, is how many deaths went unseen, and the alert says so ("2 more restarts while the bot
was not watching, last exit 1") instead of nothing.

The ordinal of a death, from the container status it is read in (see `detect` for the kubelet's steps):
a record in `state.terminated` is death `restartCount + 1` (not restarted yet); a record in `lastState`
is death `restartCount` once the next instance runs (or has ended too), `restartCount + 1` while the
kubelet is still backing off; a rise of the counter with no record is death `restartCount`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from bot.alerting.ledger_state import LedgerState, key_digest
from bot.alerting.termination import RecordSource, Termination

__all__ = ["death_ordinal", "note_unwatched"]


def death_ordinal(termination: Termination, pod: Mapping[str, Any]) -> int | None:
    """Which death of its container `termination` is (1 = the first); None when it cannot be told."""
    restarts = termination.restart_count
    if termination.source is RecordSource.RESTART_COUNT:
        return restarts
    if termination.source is RecordSource.STATE:
        return restarts + 1
    status = _container_status(pod, termination.container)
    if status is None:
        return None
    state = status.get("state") or {}
    moved_on = state.get("running") is not None or state.get("terminated") is not None
    return restarts if moved_on else restarts + 1


def note_unwatched(
    terminations: Iterable[Termination], pod: Mapping[str, Any], state: LedgerState, now: float
) -> list[Termination]:
    """`terminations` with `unwatched_restarts` set where deaths were missed; remembers each one's
    ordinal in `state.deaths`. A termination already alerted is left as it is (a relist shows it again)."""
    noted: list[Termination] = []
    for termination in terminations:
        ordinal = death_ordinal(termination, pod)
        if ordinal is None:
            noted.append(termination)
            continue
        container = key_digest(f"{termination.uid}/{termination.container}")
        known = state.deaths.get(container)
        if known is not None and not state.knows(key_digest(termination.key)):
            missed = ordinal - int(known[0]) - 1
            if missed > 0:
                termination = replace(termination, unwatched_restarts=missed)
        if known is None or ordinal > known[0]:
            state.deaths[container] = [float(ordinal), float(int(now))]
        noted.append(termination)
    return noted


def _container_status(pod: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    status = pod.get("status") or {}
    for field in ("containerStatuses", "initContainerStatuses"):
        for item in status.get(field) or ():
            if item.get("name") == name:
                return item  # type: ignore[no-any-return]
    return None
