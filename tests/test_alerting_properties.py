"""Properties over arbitrary pod histories: each termination is handled exactly once, and none is lost.

Hypothesis drives a pod through crashes, back-offs, restarts, churn, watch replays, relists, bot restarts
(ledger saved and restored) and deletion, in any order. The script knows every termination it caused
(ground truth), so the checks are exact: every one of them ends up in exactly one non-duplicate outcome
(a message, a digest, or a suppression counter), no key is ever posted twice, and the accounting balances.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from hypothesis import event, given, settings, target
from hypothesis import strategies as st

from bot.alerting import (
    AlertPlanner,
    Disposition,
    LedgerState,
    PlannerConfig,
    PostRoot,
    PostThreadReply,
    compact_previous,
    detect_terminations,
)
from tests.test_alerting_pods import (
    T0,
    Pod,
    backoff,
    churn,
    container_status,
    deleting,
    deployment_pod,
    exited,
    restarted,
)
from tests.test_alerting_scenarios import MiniWatcher

CONTAINERS = ("app", "worker")
Op = tuple[str, int, int]

operations = st.lists(
    st.tuples(
        st.sampled_from(
            ["crash"] * 4
            + ["backoff", "backoff", "restart", "churn", "replay", "relist", "bot_restart", "delete"]
        ),
        st.integers(min_value=0, max_value=len(CONTAINERS) - 1),
        st.sampled_from([0, 1, 2, 137, 139, 143]),
    ),
    min_size=1,
    max_size=60,
)


def play(ops: list[Op], storm_threshold: int) -> tuple[MiniWatcher, set[str], list[Pod]]:
    """Run `ops` against a fresh watcher; returns it, the keys of every termination caused, the events."""
    watcher = MiniWatcher(planner=AlertPlanner(PlannerConfig(storm_threshold=storm_threshold)))
    pod = deployment_pod(containers=CONTAINERS)
    events: list[Pod] = [pod]
    caused: set[str] = set()
    clock = 0.0
    relist_next = False
    watcher.see(pod, T0)
    for op, index, code in ops:
        clock += 7
        container = CONTAINERS[index]
        state = container_status(pod, container)["state"]
        if op == "crash" and "running" not in state and not pod["metadata"].get("deletionTimestamp"):
            pod = restarted(
                pod, container, clock - 3
            )  # the kubelet restarts it first; that event is sent too
            events.append(pod)
            watcher.see(pod, T0 + clock - 3, relist=relist_next)
            relist_next = False
            state = container_status(pod, container)["state"]
        if op == "crash" and "running" in state:
            pod = exited(pod, container, code, clock)
            caused.add(f"{pod['metadata']['uid']}/{container}/{state_finished(pod, container)}")
        elif op == "backoff" and "terminated" in state and not pod["metadata"].get("deletionTimestamp"):
            pod = backoff(pod, container)
        elif op == "restart" and "running" not in state and not pod["metadata"].get("deletionTimestamp"):
            pod = restarted(pod, container, clock)
        elif op == "churn":
            pod = churn(pod, clock)
        elif op == "replay":
            watcher.see(events[code % len(events)], T0 + clock)
            continue
        elif op == "relist":
            relist_next = True
        elif op == "bot_restart":
            stored = watcher.planner.state.to_json()
            config = watcher.planner.config
            watcher.planner = AlertPlanner(config, LedgerState.from_json(stored))
            watcher.previous.clear()
            relist_next = True
            continue
        elif op == "delete" and not pod["metadata"].get("deletionTimestamp"):
            pod = deleting(pod, clock)
        else:
            continue
        events.append(pod)
        watcher.see(pod, T0 + clock, relist=relist_next)
        relist_next = False
    return watcher, caused, events


def state_finished(pod: Pod, container: str) -> Any:
    return container_status(pod, container)["state"]["terminated"]["finishedAt"]


@settings(max_examples=150, deadline=None)
@given(ops=operations, storm_threshold=st.sampled_from([2, 10]))
def test_every_termination_is_handled_exactly_once_and_none_is_lost(
    ops: list[Op], storm_threshold: int
) -> None:
    watcher, caused, _ = play(ops, storm_threshold)
    target(float(len(caused)), label="terminations caused")
    event(f"caused {min(len(caused), 10)}+ terminations" if len(caused) >= 10 else f"caused {len(caused)}")

    handled = [o.termination.key for o in watcher.outcomes if o.disposition is not Disposition.DUPLICATE]
    assert Counter(handled) == Counter(caused)  # each exactly once, none missing, none invented
    posted = [
        action.termination.key for action in watcher.actions if isinstance(action, PostRoot | PostThreadReply)
    ]
    assert len(posted) == len(set(posted))
    assert watcher.planner.accounting.balanced()
    assert not any(o.disposition is Disposition.STALE for o in watcher.outcomes)


@settings(max_examples=100, deadline=None)
@given(ops=operations)
def test_a_compact_previous_detects_exactly_what_the_full_pod_does(ops: list[Op]) -> None:
    _, _, events = play(ops, 10)
    for previous, pod in itertools.pairwise(events):
        assert detect_terminations(compact_previous(previous), pod) == detect_terminations(previous, pod)
