"""`/exitcode clusters` (issue 13): one line per cluster, for Slack and for a terminal.

Plain data in, text out: whether the cluster answers, its server version, and which replica holds its
watch Lease. Cluster names come from the operator's kubeconfig and replica names from the Lease, so both
are escaped like anything else read from outside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.render.limits import MAX_FALLBACK_TEXT, Block, context, fit_blocks, header, sections
from bot.render.mrkdwn import escape, truncate


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """One cluster as `/exitcode clusters` shows it."""

    name: str
    home: bool
    version: str | None
    """The apiserver's gitVersion; None when it did not answer (`problem` says why)."""
    problem: str | None
    watcher: str | None
    """The replica holding this cluster's watch Lease; None when nobody does (`watcher_problem`)."""
    watcher_problem: str | None = None

    @property
    def reachable(self) -> bool:
        return self.version is not None


def cluster_line(status: ClusterStatus) -> str:
    """`prod-eu: reachable, v1.34.1, watched by exitcode-bot-7d9f_1 (home)`, raw text."""
    state = f"reachable, {status.version}" if status.reachable else f"unreachable: {status.problem}"
    if status.watcher is not None:
        watch = f"watched by {status.watcher}"
    else:
        watch = status.watcher_problem or "no replica watches it right now"
    home = " (home: Leases and ledgers)" if status.home else ""
    return f"{status.name}{home}: {state}; {watch}"


def cluster_list_text(statuses: Sequence[ClusterStatus]) -> str:
    """The terminal's lines."""
    return "".join(f"{cluster_line(status)}\n" for status in statuses) or "No cluster is configured.\n"


def cluster_list_message(statuses: Sequence[ClusterStatus], *, slash_command: str) -> tuple[str, list[Block]]:
    """Slack fallback text (escaped) and blocks."""
    up = sum(1 for status in statuses if status.reachable)
    title = f"{len(statuses)} clusters, {up} reachable"
    lines = []
    for status in statuses:
        icon = ":large_green_circle:" if status.reachable else ":red_circle:"
        lines.append(f"{icon} {escape(cluster_line(status))}")
    usage = escape(
        f"Ask one with {slash_command} pod CLUSTER/NAMESPACE/POD or {slash_command} ns CLUSTER/NAMESPACE."
    )
    blocks = [header(title), *sections("\n".join(lines) or "No cluster is configured."), context([usage])]
    return truncate(escape(title), MAX_FALLBACK_TEXT), fit_blocks(blocks)
