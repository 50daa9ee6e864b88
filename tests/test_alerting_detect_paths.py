"""Detection's shortcut never hides a termination, and a compact cache answers as the full pod does.

`detect_terminations` returns at once when the container records of a pod equal those of its previous
version (one tuple comparison: the common watch event), and otherwise compares container by container.
These properties run both paths over arbitrary pairs of pod versions, odd ones included (records without
`finishedAt`, duplicate or missing containers, a counter that is absent or None, running and terminated
at once), so the shortcut is checked against the full comparison rather than against itself.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerting import compact_previous, detect_terminations
from bot.alerting.detect import _changes, _known, _records
from bot.alerting.termination import Termination

Pod = dict[str, Any]

STAMPS = ("2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z", "2026-01-01T00:00:03Z")

records = st.fixed_dictionaries(
    {},
    optional={
        "finishedAt": st.sampled_from((*STAMPS, "", None)),
        "exitCode": st.sampled_from((0, 1, 137, 143, None)),
        "reason": st.sampled_from(("Error", "OOMKilled", "Completed")),
    },
)
states = st.one_of(
    st.sampled_from((None, {}, {"running": {}}, {"waiting": {"reason": "CrashLoopBackOff"}})),
    st.builds(lambda record: {"terminated": record}, records),
    st.builds(lambda record: {"running": {"startedAt": STAMPS[0]}, "terminated": record}, records),
)
container_statuses = st.builds(
    lambda name, fields: {"name": name, **fields},
    st.sampled_from(("app", "worker", "app")),
    st.fixed_dictionaries(
        {},
        optional={
            "restartCount": st.sampled_from((0, 1, 2, 3, None)),
            "state": states,
            "lastState": states,
        },
    ),
)
statuses = st.fixed_dictionaries(
    {},
    optional={
        "containerStatuses": st.lists(container_statuses, max_size=3),
        "initContainerStatuses": st.lists(container_statuses, max_size=2),
    },
)


def pod_with(status: dict[str, Any]) -> Pod:
    return {
        "metadata": {"name": "api-1", "namespace": "shop", "uid": "uid-1"},
        "spec": {
            "containers": [{"name": "app"}, {"name": "worker"}],
            "initContainers": [{"name": "app", "restartPolicy": "Always"}],
        },
        "status": status,
    }


def full_comparison(previous: Pod | None, pod: Pod) -> list[Termination]:
    """Detection without the shortcut: every container compared with its previous record."""
    status = pod.get("status")
    if not status:
        return []
    init = _records(status.get("initContainerStatuses"))
    main = _records(status.get("containerStatuses"))
    return _changes(pod, status, init, main, None if previous is None else _known(previous))


@settings(max_examples=400, deadline=None)
@given(before=statuses, after=statuses)
def test_the_shortcut_finds_what_comparing_every_container_finds(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    previous, pod = pod_with(before), pod_with(after)

    expected = full_comparison(previous, pod)

    assert detect_terminations(previous, pod) == expected
    assert detect_terminations(compact_previous(previous), pod) == expected
    assert detect_terminations(None, pod) == full_comparison(None, pod)


@settings(max_examples=200, deadline=None)
@given(status=statuses)
def test_a_pod_seen_again_unchanged_brings_nothing(status: dict[str, Any]) -> None:
    pod = pod_with(status)

    assert detect_terminations(pod, pod) == []
    assert detect_terminations(compact_previous(pod), pod) == []
    assert full_comparison(pod, pod) == []
