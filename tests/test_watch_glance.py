"""The watcher's glance at a pod event answers as the whole pod would, and odd events still get a reply.

The crash watcher decides from a partial decode (`glance_at`: uid, namespace, container statuses)
whether an event changes anything (`SeenPods.unchanged`), and decodes the rest only when it does. These
properties feed arbitrary histories of pod versions, serialized as the apiserver sends them (with the
fields the glance skips: image, ids, readiness, conditions, spec), both ways: whole pods into
`SeenPods.update`, and events through the glance first. Both must find the same terminations and end
with the same cache. Then the odd lines: what the glance cannot read is decoded whole, and what nothing
can read is reported, never a crash.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerting.seen_pods import SeenPods
from bot.alerting.termination import Termination
from bot.kube.watch import PodEvent
from bot.kube.watch.events import EventType
from bot.kube.watch.glance import glance_at, pod_event_from_line
from tests.test_alerting_detect_paths import container_statuses

STAMPS = ("2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z")

# What the glance must skip: fields a real container status carries besides the four detection reads.
noise = st.fixed_dictionaries(
    {},
    optional={
        "image": st.sampled_from(("registry.example.com/app:1.0", "app:2")),
        "imageID": st.text(max_size=12),
        "containerID": st.sampled_from(("containerd://abc", "")),
        "ready": st.booleans(),
        "started": st.booleans(),
        "resources": st.just({"limits": {"memory": "512Mi"}}),
    },
)
noisy_statuses = st.builds(lambda status, extra: {**extra, **status}, container_statuses, noise)
pod_statuses = st.fixed_dictionaries(
    {},
    optional={
        "phase": st.sampled_from(("Running", "Pending", "Failed")),
        "conditions": st.lists(
            st.fixed_dictionaries({"type": st.just("Ready"), "status": st.sampled_from(("True", "False"))}),
            max_size=2,
        ),
        "containerStatuses": st.lists(noisy_statuses, max_size=3),
        "initContainerStatuses": st.lists(noisy_statuses, max_size=2),
    },
)
versions = st.tuples(
    st.sampled_from(("uid-1", "uid-2")),
    st.sampled_from(("ADDED", "MODIFIED", "MODIFIED", "MODIFIED", "DELETED")),
    st.one_of(pod_statuses, st.none()),
    st.sampled_from(STAMPS),
)


def event_line(kind: str, uid: str, status: dict[str, Any] | None, stamp: str) -> bytes:
    """A watch event as the apiserver writes it: type first, then the whole pod."""
    pod: dict[str, Any] = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": f"api-{uid}",
            "namespace": "shop",
            "uid": uid,
            "resourceVersion": stamp,
            "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}],
        },
        "spec": {"containers": [{"name": "app"}, {"name": "worker"}], "nodeName": "node-1"},
    }
    if status is not None:
        pod["status"] = status
    return orjson.dumps({"type": kind, "object": pod})


def through_glance(pods: SeenPods, event: PodEvent) -> list[Termination]:
    """The watcher's way (`LeadershipTerm._watch`): skip what the glance shows unchanged."""
    glance = event.glance
    if (
        glance is not None
        and event.type == "MODIFIED"
        and pods.unchanged(glance.uid, glance.init_container_statuses, glance.container_statuses)
    ):
        return []
    return pods.update(event.type, event.pod)


def cache_of(pods: SeenPods, uids: tuple[str, ...] = ("uid-1", "uid-2")) -> dict[str, bool]:
    return {uid: uid in pods for uid in uids}


@settings(max_examples=300, deadline=None)
@given(history=st.lists(versions, min_size=1, max_size=12))
def test_the_glance_finds_every_termination_the_whole_pod_finds(
    history: list[tuple[str, EventType, dict[str, Any] | None, str]],
) -> None:
    whole, glanced = SeenPods(), SeenPods()
    for uid, kind, status, stamp in history:
        line = event_line(kind, uid, status, stamp)
        expected = whole.update(kind, orjson.loads(line)["object"])

        event = pod_event_from_line(kind, line)

        assert event.glance is not None
        assert through_glance(glanced, event) == expected
        assert cache_of(glanced) == cache_of(whole)
        init, main = (status or {}).get("initContainerStatuses"), (status or {}).get("containerStatuses")
        for known in ("uid-1", "uid-2"):  # the same records cached: a next version is judged alike
            assert glanced.unchanged(known, init, main) == whole.unchanged(known, init, main)


@settings(max_examples=200, deadline=None)
@given(status=pod_statuses)
def test_the_glance_holds_what_the_whole_pod_holds(status: dict[str, Any]) -> None:
    line = event_line("MODIFIED", "uid-1", status, STAMPS[0])

    glance = glance_at(line)

    assert glance is not None
    assert (glance.uid, glance.namespace) == ("uid-1", "shop")
    for field, seen in (
        ("containerStatuses", glance.container_statuses),
        ("initContainerStatuses", glance.init_container_statuses),
    ):
        whole = status.get(field)
        if whole is None:
            assert seen is None
            continue
        read = ("name", "restartCount", "state", "lastState")
        assert seen == [{key: item[key] for key in read if key in item} for item in whole]


def test_a_pod_decoded_whole_only_when_read() -> None:
    line = event_line("MODIFIED", "uid-1", {"containerStatuses": [{"name": "app"}]}, STAMPS[0])

    event = pod_event_from_line("MODIFIED", line)

    assert event.glance is not None and event.glance.uid == "uid-1"
    assert event.pod == orjson.loads(line)["object"]
    assert event.pod is event.pod  # decoded once


@pytest.mark.parametrize(
    "line",
    [
        b'{"type":"MODIFIED","object":{"metadata":{"name":"x"}}}',  # no uid
        b'{"type":"MODIFIED","object":{"metadata":{"uid":""}}}',
        b'{"type":"MODIFIED","object":{"metadata":{"uid":7}}}',
        b'{"type":"MODIFIED","object":{"metadata":["uid"]}}',
        b'{"type":"MODIFIED","object":{"metadata":{"uid":"u"},"status":{"containerStatuses":"app"}}}',
        b'{"type":"MODIFIED","object":{"metadata":{"uid":"u"},"status":{"containerStatuses":[1]}}}',
        b'{"type":"MODIFIED","object":{"metadata":{"uid":"u"},"status":[]}}',
    ],
)
def test_a_pod_event_the_glance_cannot_read_is_decoded_whole(line: bytes) -> None:
    assert glance_at(line) is None

    event = pod_event_from_line("MODIFIED", line)

    assert event.glance is None
    assert event.pod == orjson.loads(line)["object"]


@pytest.mark.parametrize("line", [b'{"type":"MODIFIED","object":', b"not json", b'{"type":"MODIFIED"}'])
def test_a_line_nothing_can_read_raises_what_the_stream_reports(line: bytes) -> None:
    with pytest.raises((ValueError, LookupError, TypeError)):
        pod_event_from_line("MODIFIED", line)


def test_bytes_only_the_full_decode_refuses_are_refused_when_the_pod_is_read() -> None:
    # Invalid UTF-8 in a field the glance skips: the apiserver never sends it (Go writes U+FFFD).
    line = b'{"type":"MODIFIED","object":{"metadata":{"uid":"u","name":"\xff"},"status":{}}}'

    event = pod_event_from_line("MODIFIED", line)

    assert event.glance is not None
    with pytest.raises(ValueError):
        _ = event.pod


def test_an_unreadable_status_is_never_unchanged_and_update_raises() -> None:
    pods = SeenPods()
    pods.update("ADDED", {"metadata": {"uid": "u"}, "status": {"containerStatuses": [{"name": "app"}]}})

    assert pods.unchanged("u", None, [{"name": "app"}])
    assert not pods.unchanged("u", None, ["app"])  # a status that is not one: decoded whole instead
    assert not pods.unchanged("other", None, [{"name": "app"}])
    with pytest.raises(AttributeError):
        pods.update("MODIFIED", {"metadata": {"uid": "u"}, "status": {"containerStatuses": ["app"]}})
    assert pods.unchanged("u", None, [{"name": "app"}])  # what failed changed nothing
