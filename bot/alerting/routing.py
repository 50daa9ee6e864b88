"""Which channel a namespace's alerts go to under `namespace_channels`: the one routing rule.

The rule, as the README has always promised: **the first glob that matches, in the file's order,
wins.** An exact namespace name is simply a glob without wildcards, so it wins only when it comes
first: write specific entries above general ones (`payments-eu` above `payments-*` above `*`), the way
firewall rules and `.gitignore`-style lists are read. Issue 8 found a second implementation in which an
exact name won wherever it stood; there is now only this one, used by alert routing
(`policy.route_channel`) and by the config file's `BotConfig.alert_channel_for`.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase

__all__ = ["channel_for_namespace", "namespace_map_for_cluster"]

CLUSTER_SEPARATOR = "/"
"""A key `CLUSTER_GLOB/NAMESPACE_GLOB` matches one cluster's namespaces (issue 13); a key without it
matches that namespace glob in every cluster."""


def _matches(glob: str, namespace: str, cluster: str | None) -> bool:
    cluster_glob, separator, namespace_glob = glob.rpartition(CLUSTER_SEPARATOR)
    if not separator:
        return fnmatchcase(namespace, glob)
    return (
        cluster is not None and fnmatchcase(cluster, cluster_glob) and fnmatchcase(namespace, namespace_glob)
    )


def channel_for_namespace(
    namespace: str, namespace_channels: Mapping[str, str] | None, cluster: str | None = None
) -> str | None:
    """The channel of the first glob in `namespace_channels` (in its order) matching `namespace` (and,
    for a `CLUSTER_GLOB/NAMESPACE_GLOB` key, `cluster`); None when none matches (the caller then falls
    back to `ALERT_CHANNEL`). Entries with no channel are skipped; a cluster key never matches when
    the cluster is unnamed (one cluster, no CLUSTERS)."""
    for glob, channel in (namespace_channels or {}).items():
        if channel and _matches(glob, namespace, cluster):
            return channel
    return None


def namespace_map_for_cluster(namespace_channels: Mapping[str, str] | None, cluster: str) -> dict[str, str]:
    """The namespace-only map one cluster's watcher routes with: the same rule, with `cluster` fixed.

    Entries for other clusters are dropped, `cluster`'s own become namespace globs, order is kept, and a
    glob seen again later is dropped too (the first occurrence always matched first). So
    `channel_for_namespace(ns, namespace_map_for_cluster(m, c)) == channel_for_namespace(ns, m, c)`."""
    result: dict[str, str] = {}
    for glob, channel in (namespace_channels or {}).items():
        cluster_glob, separator, namespace_glob = glob.rpartition(CLUSTER_SEPARATOR)
        if separator and not fnmatchcase(cluster, cluster_glob):
            continue
        key = namespace_glob if separator else glob
        if key not in result:
            result[key] = channel
    return result
