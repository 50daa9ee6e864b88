"""Many clusters behind one bot (issue 13): the registry of `ClusterConnection`s, built once from CLUSTERS.

A cluster's name is its kubeconfig context name; the pod's own service account is one more cluster,
named CLUSTER_NAME (or `in-cluster`). The **home** cluster keeps the bot's own state, the watch Leases
and the ledgers: the in-cluster one when the bot runs in a pod, else the kubeconfig's current context.
Without CLUSTERS none of this exists and the bot reads the one cluster kubectl would use, as before.

Each cluster's watch has its own Lease and ledger in the home cluster, named by one scheme that the
RBAC manifests (and the chart) spell out: `<LEASE_NAME>-<suffix>` and `<LEDGER_CONFIGMAP>-<suffix>`,
where the suffix is the cluster's name lower-cased, each run of characters outside `[a-z0-9-]` replaced
by one `-`, cut at 40 characters and without a trailing `-` (`state_suffix`). RBAC `resourceNames`
take no wildcards, so the names must be computable before the bot runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from bot.application.cluster import ClusterConnection
from bot.command import is_cluster_name

IN_CLUSTER_DEFAULT_NAME = "in-cluster"
"""The in-cluster cluster's name when CLUSTER_NAME is not set."""
ALL_CLUSTERS = "*"
_SUFFIX_MAX = 40
_UNSAFE = re.compile(r"[^a-z0-9-]+")
_OBJECT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class ClusterSelectionError(ValueError):
    """CLUSTERS cannot be served as written; the message says what to change."""


def state_suffix(cluster: str) -> str:
    """The part of a Lease or ledger name that identifies `cluster` (see the module docstring)."""
    return _UNSAFE.sub("-", cluster.lower())[:_SUFFIX_MAX].removesuffix("-")


def lease_name_for(lease_name: str, cluster: str) -> str:
    """The Lease that elects `cluster`'s watcher: `exitcode-bot-leader-prod-eu`."""
    return f"{lease_name}-{state_suffix(cluster)}"


def ledger_name_for(ledger_configmap: str, cluster: str) -> str:
    """The ConfigMap that records what was alerted for `cluster`: `exitcode-bot-ledger-prod-eu`."""
    return f"{ledger_configmap}-{state_suffix(cluster)}"


@dataclass
class ClusterRegistry:
    """The clusters this bot serves, by name, in CLUSTERS order (the home cluster first)."""

    connections: dict[str, ClusterConnection]
    home: str

    @property
    def names(self) -> list[str]:
        return list(self.connections)

    @property
    def home_connection(self) -> ClusterConnection:
        return self.connections[self.home]

    def find(self, name: str) -> str | None:
        """The registered name `name` means: exact, else the one equal ignoring case; None if unknown."""
        if name in self.connections:
            return name
        folded = [known for known in self.connections if known.casefold() == name.casefold()]
        return folded[0] if len(folded) == 1 else None

    def __iter__(self) -> Iterator[ClusterConnection]:
        return iter(self.connections.values())

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()


def select_clusters(
    wanted: Sequence[str], contexts: Sequence[str], *, in_cluster_name: str | None
) -> list[tuple[str, str | None]]:
    """(cluster name, kubeconfig context or None for in-cluster) for CLUSTERS, in order, home first.

    Raises `ClusterSelectionError` for a context the kubeconfig lacks, a name that cannot be typed in a
    command (`/` or spaces), or two names that would share a Lease."""
    chosen: list[tuple[str, str | None]] = []
    if in_cluster_name is not None:
        chosen.append((in_cluster_name, None))
    names = list(contexts) if ALL_CLUSTERS in wanted else list(wanted)
    for name in names:
        if name not in contexts:
            known = ", ".join(contexts) or "none"
            raise ClusterSelectionError(
                f"CLUSTERS names context {name!r}, which the kubeconfig does not have (contexts: {known})"
            )
        if in_cluster_name is None or name != in_cluster_name:
            chosen.append((name, name))
    seen: dict[str, str] = {}
    for name, _ in chosen:
        if not is_cluster_name(name):
            raise ClusterSelectionError(
                f"cluster name {name!r} cannot be typed as CLUSTER/NAMESPACE: rename the context "
                "(kubectl config rename-context) or set CLUSTER_NAME without spaces or / < > & * `"
            )
        suffix = state_suffix(name)
        if not suffix or not _OBJECT_NAME.match(suffix):
            raise ClusterSelectionError(f"cluster name {name!r} gives no usable Lease name; rename it")
        if suffix in seen:
            raise ClusterSelectionError(
                f"clusters {seen[suffix]!r} and {name!r} would share Lease and ledger names "
                f"(…-{suffix}); rename one context"
            )
        seen[suffix] = name
    if not chosen:
        raise ClusterSelectionError("CLUSTERS selects no cluster: the kubeconfig has no contexts")
    return chosen


def connect_clusters(
    wanted: Sequence[str],
    *,
    cluster_name: str | None,
    timeout_seconds: float,
    environ: Mapping[str, str] | None = None,
) -> ClusterRegistry:
    """One `ClusterConnection` per selected cluster. A context whose credentials cannot be used is kept
    as an unreachable cluster (it says why when asked), not a reason to stop serving the others.
    Raises `ClusterSelectionError` (see `select_clusters`)."""
    from bot.application.cluster import connect_cluster
    from bot.diagnosis.ports import ClusterNotConfigured
    from bot.kube.client import in_cluster_available, kubeconfig_contexts

    try:
        contexts, current = kubeconfig_contexts(environ)
    except ClusterNotConfigured as error:
        raise ClusterSelectionError(error.user_message) from None
    in_cluster = (cluster_name or IN_CLUSTER_DEFAULT_NAME) if in_cluster_available(environ) else None
    chosen = select_clusters(wanted, contexts, in_cluster_name=in_cluster)
    if in_cluster is None:
        home = current if current in {name for name, _ in chosen} else chosen[0][0]
        chosen.sort(key=lambda item: item[0] != home)
    connections = {
        name: connect_cluster(
            timeout_seconds, environ=environ, context=context, in_cluster=context is None, name=name
        )
        for name, context in chosen
    }
    return ClusterRegistry(connections, home=chosen[0][0])
