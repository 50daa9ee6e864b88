"""`PodStream`: the crash watcher's stream, pods of the whole cluster or of a list of namespaces.

The only piece that knows the pod list calls of the official client; everything else is `ResourceStream`.
Give it its own `ApiClient` (`build_api_client()` again): each scope holds one connection open for
minutes, which should not take slots of the connection pool the slash commands' reads use.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from kubernetes.client import ApiClient, CoreV1Api

from .events import PodEvent, WatchHooks
from .glance import pod_event_from_line
from .reader import ListCall
from .settings import WatchSettings
from .stream import ResourceStream


class PodStream(ResourceStream[PodEvent]):
    """Pods of all namespaces (`namespaces` empty) or of each listed namespace, as `PodEvent`/`Synced`.

    `label_selector` (kubectl syntax) filters on the apiserver: a pod whose labels stop matching arrives
    as DELETED, one that starts matching as ADDED.
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        namespaces: Sequence[str] = (),
        label_selector: str | None = None,
        hooks: WatchHooks | None = None,
        settings: WatchSettings | None = None,
    ) -> None:
        core = CoreV1Api(api_client)
        calls: dict[str | None, ListCall]
        if namespaces:
            calls = {namespace: partial(core.list_namespaced_pod, namespace) for namespace in namespaces}
        else:
            calls = {None: core.list_pod_for_all_namespaces}
        super().__init__(
            resource="pods",
            list_calls=calls,
            make_event=PodEvent,
            make_line_event=pod_event_from_line,
            label_selector=label_selector or None,
            hooks=hooks,
            settings=settings,
        )
