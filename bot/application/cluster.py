"""The cluster the bot reads, connected once at startup, or the sentence saying why there is none.

The bot runs without a cluster (explanations need none), so "no cluster" is a state, not an error.
The Kubernetes client library is imported only when `connect_cluster` runs: `exitcode-bot explain` and
console mode without a cluster never pay for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.diagnosis.ports import ClusterNotConfigured, ClusterReader

if TYPE_CHECKING:
    from kubernetes.client import ApiClient


@dataclass
class ClusterConnection:
    """The `ApiClient` (shared by the diagnose use case and the alert side) and its reader; or why not."""

    api_client: ApiClient | None
    reader: ClusterReader | None
    problem: str | None
    """Why there is no cluster (not configured, or a kubeconfig that cannot be used); None when there is."""
    name: str | None = None
    """The cluster's name with CLUSTERS (its kubeconfig context, or CLUSTER_NAME for the in-cluster one)."""

    @property
    def configured(self) -> bool:
        return self.reader is not None

    def close(self) -> None:
        """Release the client's connection pool (at shutdown); safe to call twice."""
        client, self.api_client, self.reader = self.api_client, None, None
        if client is not None:
            client.close()  # type: ignore[no-untyped-call]


def connect_cluster(
    timeout_seconds: float,
    *,
    environ: Mapping[str, str] | None = None,
    context: str | None = None,
    in_cluster: bool = False,
    name: str | None = None,
) -> ClusterConnection:
    """The cluster kubectl would use (`KUBECONFIG`, `~/.kube/config`, in-cluster), or the kubeconfig's
    `context`, or the pod's service account (`in_cluster`); never raises for a missing or broken
    configuration: the connection then carries the reason instead of a client."""
    from bot.kube.client import build_api_client  # the official client: heavy, needed only here
    from bot.kube.reader import KubeClusterReader

    try:
        api_client = build_api_client(environ=environ, context=context, in_cluster=in_cluster)
    except ClusterNotConfigured as error:
        return ClusterConnection(api_client=None, reader=None, problem=error.user_message, name=name)
    return ClusterConnection(
        api_client=api_client, reader=KubeClusterReader(api_client, timeout_seconds), problem=None, name=name
    )
