"""The last version of every watched pod, as detection needs it, and what a new version brings.

A watcher of a busy cluster gets thousands of pod events a minute, and nearly all of them change nothing
a crash is made of (readiness flips, condition timestamps, resourceVersion churn). `SeenPods` keeps each
pod's container records (`compact_previous`) by uid, and answers two questions:

- `unchanged(uid, init_statuses, statuses)`: would this new version of a known pod find nothing and
  leave the cache as it is? It reads only the pod's two container status lists, so a watcher may ask it
  of an event it decoded only in part (`bot.kube.watch.PodGlance`) and skip decoding the rest.
- `update(kind, pod)`: the terminations the new version shows (`detect_terminations` against the cached
  version), the cache updated.

One class for the alert service and the benchmark (`bench/watch_detect.py`), so what is measured is what
runs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from bot.alerting.detect import compact_previous, detect_terminations, same_records
from bot.alerting.termination import Termination

__all__ = ["SeenPods"]

_NAMESPACE = "namespace"
"""Kept next to the records: a relist of one namespace forgets only that namespace's vanished pods."""


class SeenPods:
    """Each watched pod's container records as last seen, by uid."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, uid: object) -> bool:
        return uid in self._seen

    def unchanged(self, uid: str, init_statuses: Any, statuses: Any) -> bool:
        """Whether a MODIFIED version of the known pod `uid` whose status has these
        `initContainerStatuses` and `containerStatuses` shows the very container records the cache
        holds: `update` would find no termination and store what is stored already.

        Nothing else of the pod is read (what detection compares first), so a watcher may ask before
        decoding the rest of the event. A pod not seen yet, or statuses not in the API's shape, are never
        unchanged (`update` then reads the whole pod, and reports what is wrong with it).
        """
        seen = self._seen.get(uid)
        if seen is None:
            return False
        try:
            return same_records(seen, init_statuses, statuses)
        except (AttributeError, TypeError, ValueError):  # not in the API's shape: `update` says so
            return False

    def update(self, kind: str, pod: Mapping[str, Any]) -> list[Termination]:
        """The terminations `pod` shows that its cached version did not; the cache then holds `pod`'s
        records (or forgets the pod, `kind` DELETED). A pod that is not in the API's shape raises as
        `detect_terminations` does (`AttributeError`, `TypeError`, `ValueError`) and changes nothing.
        """
        metadata = pod.get("metadata") or {}
        uid = str(metadata.get("uid") or "")
        terminations = detect_terminations(self._seen.get(uid), pod)
        if kind == "DELETED":
            self._seen.pop(uid, None)
        elif uid:
            compact = compact_previous(pod)
            compact[_NAMESPACE] = metadata.get("namespace")
            self._seen[uid] = compact
        return terminations

    def forget_missing(self, present: Collection[str], covers: Callable[[str | None], bool]) -> None:
        """After a complete list: forget the pods in its scope (`covers(namespace)`) it did not contain
        (deleted while nobody watched: no DELETED event will come)."""
        vanished = [
            uid for uid, seen in self._seen.items() if covers(seen.get(_NAMESPACE)) and uid not in present
        ]
        for uid in vanished:
            del self._seen[uid]
