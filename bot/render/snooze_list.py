"""`/exitcode snoozes` as Block Kit: the snoozes in force that this channel may see, who set each, until when.

The caller has already filtered the list through the access policy (a channel never learns of a snooze
in a namespace it may not query) and kept only snoozes in force, soonest end first. Workload names come
from the ledger, written from checked button values, and are escaped here anyway; user ids were
validated when they were stored, so the mentions are safe. Times use Slack's `<!date>` syntax.

With CLUSTERS (`cluster_snooze_list_blocks`) the snoozes of every cluster the channel may ask are one list,
each line naming its cluster, and a cluster whose ledger could not be read is named with the reason, so
"no snoozes" is never said of a cluster nobody could look at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.alerting.ledger_state import Snooze
from bot.render.alert_blocks import slack_date
from bot.render.limits import Block, context, fit_blocks, section
from bot.render.mrkdwn import bullet_list, escape, inline_code, truncate

__all__ = [
    "MAX_LISTED",
    "ClusterSnoozes",
    "cluster_snooze_list_blocks",
    "cluster_snooze_list_text",
    "snooze_list_blocks",
    "snooze_list_text",
]

MAX_LISTED = 40
"""Snoozes listed in full; beyond that the reply says how many more there are (a channel reads 40)."""


@dataclass(frozen=True, slots=True)
class ClusterSnoozes:
    """One cluster's part of the CLUSTERS listing: the snoozes this channel may see there (already
    filtered, in force), or why the cluster's ledger could not be read (`problem`, raw text)."""

    cluster: str
    snoozes: Sequence[tuple[str, Snooze]] = ()
    problem: str | None = None


def _line(key: str, snooze: Snooze, cluster: str | None = None) -> str:
    where = f"*{truncate(escape(cluster), 80)}* " if cluster is not None else ""
    who = f" by <@{snooze.set_by}>" if snooze.set_by else ""
    since = f", set {slack_date(snooze.set_at, '{ago}')}" if snooze.set_at > 0 else ""
    return f"{where}{inline_code(truncate(key, 300))} until {slack_date(snooze.until)}{who}{since}"


def snooze_list_blocks(snoozes: Sequence[tuple[str, Snooze]]) -> list[Block]:
    """The reply: one line per snooze, or a sentence saying there is none. Snoozes this channel may not
    see are not even counted: their number would say that such namespaces have crashing workloads."""
    return _blocks([_line(key, snooze) for key, snooze in snoozes[:MAX_LISTED]], len(snoozes), ())


def _merged(parts: Sequence[ClusterSnoozes]) -> list[tuple[str, str, Snooze]]:
    """Every cluster's snoozes as one list, soonest end first (as each cluster's own list is)."""
    merged = [(part.cluster, key, snooze) for part in parts for key, snooze in part.snoozes]
    return sorted(merged, key=lambda item: (item[2].until, item[0], item[1]))


def cluster_snooze_list_blocks(parts: Sequence[ClusterSnoozes], *, name_clusters: bool) -> list[Block]:
    """The CLUSTERS reply: every readable cluster's snoozes in one list, each line led by its cluster's
    name when the bot serves more than one (`name_clusters`), then one line per cluster that could not
    be read. A cluster left out of `parts` (the channel may not ask it) is not even named."""
    merged = _merged(parts)
    lines = [
        _line(key, snooze, cluster if name_clusters else None) for cluster, key, snooze in merged[:MAX_LISTED]
    ]
    problems = [
        f":warning: Couldn't read the snoozes of cluster *{truncate(escape(part.cluster), 80)}*: "
        f"{escape(part.problem)}"
        for part in parts
        if part.problem is not None
    ]
    return _blocks(lines, len(merged), problems)


def _blocks(lines: Sequence[str], total: int, problems: Sequence[str]) -> list[Block]:
    if not lines:
        if problems:
            none = ":zzz: No snoozes in force that this channel can see in the clusters that could be read."
        else:
            none = ":zzz: No snoozes in force that this channel can see: every alert is on."
        blocks = [section(none)]
    else:
        title = f":zzz: *{total} snooze{'s' if total != 1 else ''} in force*"
        blocks = [section(f"{title}\n{bullet_list(lines)}")]
    blocks.extend(section(problem) for problem in problems[:10])
    if lines:
        if total > len(lines):
            blocks.append(context([f"…and {total - len(lines)} more, ending later."]))
        blocks.append(context(["Lift one with the *Unsnooze* button on its alert."]))
    return fit_blocks(blocks)


def snooze_list_text(snoozes: Sequence[tuple[str, Snooze]]) -> str:
    """The reply's fallback text (notifications, screen readers)."""
    if not snoozes:
        return "No snoozes in force."
    return truncate(
        escape(f"{len(snoozes)} snoozes in force: " + ", ".join(key for key, _ in snoozes[:10])), 3000
    )


def cluster_snooze_list_text(parts: Sequence[ClusterSnoozes], *, name_clusters: bool) -> str:
    """The CLUSTERS reply's fallback text, naming each cluster that could not be read."""
    merged = _merged(parts)
    unread = [part.cluster for part in parts if part.problem is not None]
    keys = [f"{cluster}: {key}" if name_clusters else key for cluster, key, _ in merged[:10]]
    count = f"{len(merged)} snooze{'s' if len(merged) != 1 else ''} in force"
    listed = f"{count}: " + ", ".join(keys) if merged else "No snoozes in force"
    unreadable = f". Couldn't read the snoozes of cluster {', '.join(unread)}" if unread else ""
    return truncate(escape(listed + unreadable + ("." if unread or not merged else "")), 3000)
