"""What the diagnosis core needs from a cluster, and what can go wrong, as a user would be told.

The core never imports the Kubernetes client: `bot.kube.reader.KubeClusterReader` implements this protocol
with the official client, and the tests' fake API server is reached through that same adapter. Objects are
the API's JSON as plain dicts (camelCase keys, exactly as `kubectl get -o json` prints them).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

JsonDict = dict[str, Any]


class ClusterError(Exception):
    """A cluster problem with a sentence fit to show an on-call engineer."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class ClusterNotConfigured(ClusterError):
    """No kubeconfig and not in a cluster."""


class ClusterUnreachable(ClusterError):
    """The API server did not answer (connection refused, DNS, TLS)."""


class ClusterTimeout(ClusterError):
    """A call took longer than KUBE_TIMEOUT_SECONDS."""


class Forbidden(ClusterError):
    """The bot's RBAC lacks `verb` on `resource` (in `namespace`, when namespaced)."""

    def __init__(self, verb: str, resource: str, namespace: str | None, user_message: str) -> None:
        super().__init__(user_message)
        self.verb = verb
        self.resource = resource
        self.namespace = namespace


class NotFound(ClusterError):
    """The named object does not exist."""

    def __init__(self, kind: str, namespace: str | None, name: str, user_message: str) -> None:
        super().__init__(user_message)
        self.kind = kind
        self.namespace = namespace
        self.name = name


class InvalidName(ClusterError):
    """A namespace or pod name that is not a valid DNS-1123 name; rejected before any API call."""


class ClusterReader(Protocol):
    """Read-only access to the objects a diagnosis cites."""

    async def get_pod(self, namespace: str, name: str) -> JsonDict: ...

    async def list_pods(
        self,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[JsonDict]: ...

    async def list_events(self, namespace: str, *, involved_name: str | None = None) -> list[JsonDict]: ...

    async def read_previous_log(
        self, namespace: str, pod: str, container: str, *, tail_lines: int
    ) -> str | None: ...

    async def get_owner(self, namespace: str, kind: str, name: str) -> JsonDict | None: ...


@runtime_checkable
class CurrentLogReader(Protocol):
    """Optional extra for a `ClusterReader`: the log of a container's *current* instance.

    A container that ended and was never restarted (a Job pod with `restartPolicy: Never`, a pod being
    deleted) has no previous instance, so `read_previous_log` has nothing to return; its last words are
    in the current log. Readers that implement this are asked for it; others are not.
    """

    async def read_current_log(
        self, namespace: str, pod: str, container: str, *, tail_lines: int
    ) -> str | None: ...
