"""`/exitcode snoozes` with CLUSTERS: the snoozes in force in every cluster the asking channel may query.

Each cluster's snoozes live in its own ledger ConfigMap (`<LEDGER_CONFIGMAP>-<cluster>` in the home
cluster), kept by that cluster's `LedgerSnoozes`. The ledgers are read all at once, so one that cannot be
read costs the answer one KUBE_TIMEOUT_SECONDS, not one per cluster; it is named in the answer with the
reason, and the other clusters' snoozes are listed all the same: one cluster never hides the rest.

What a channel sees is decided by the policy every other command uses: `ClusterAccess` first (a cluster
the channel may not query is left out, not even named), then `NamespaceAccess` for each snooze. The
answer is private, like the single-cluster `bot.slack.snooze_list.SnoozeListing`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from bot.access import ClusterAccess, NamespaceAccess, SlackChannel
from bot.alerting.decisions import visible_snoozes
from bot.diagnosis.ports import ClusterError
from bot.render.mrkdwn import escape
from bot.render.snooze_list import ClusterSnoozes, cluster_snooze_list_blocks, cluster_snooze_list_text

if TYPE_CHECKING:
    from bot.slack import Responder
    from bot.slack.snooze_list import SnoozeSource

__all__ = ["ClusterSnoozeListing"]

log = logging.getLogger(__name__)


class ClusterSnoozeListing:
    """The `SnoozesHandler` of `bot.slack.app.build_app` when the bot serves CLUSTERS."""

    def __init__(
        self,
        sources: Mapping[str, SnoozeSource | str],
        *,
        access: NamespaceAccess,
        clusters: ClusterAccess,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`sources`: every cluster the bot serves, in CLUSTERS order, with the store of its snoozes, or
        the sentence saying why this replica has none (a cluster it does not watch)."""
        self.sources = dict(sources)
        self.access = access
        self.clusters = clusters
        self.clock = clock

    async def parts(self, channel: SlackChannel) -> list[ClusterSnoozes]:
        """Each cluster `channel` may query: the snoozes in force there that it may see, or why not."""
        asked = [name for name in self.sources if self.clusters.denial(name, channel) is None]
        return list(await asyncio.gather(*(self._part(name, channel) for name in asked)))

    async def _part(self, cluster: str, channel: SlackChannel) -> ClusterSnoozes:
        source = self.sources[cluster]
        if isinstance(source, str):
            return ClusterSnoozes(cluster, problem=source)
        try:
            stored = await source.snoozes()
        except ClusterError as error:
            return ClusterSnoozes(cluster, problem=error.user_message)
        except Exception:  # one cluster's failure must not cost the others' listing
            log.exception("the snoozes of cluster %s could not be read", cluster)
            return ClusterSnoozes(cluster, problem="an unexpected error (logged by the bot)")
        shown = visible_snoozes(
            stored.items(), self.clock(), lambda namespace: self.access.denial(namespace, channel) is None
        )
        return ClusterSnoozes(cluster, shown)

    async def __call__(self, channel_id: str, channel_name: str | None, responder: Responder) -> None:
        channel = SlackChannel(channel_id, channel_name)
        parts = await self.parts(channel)
        if not parts:  # the channel may query no cluster: say so as the other commands do
            denial = self.clusters.denial(next(iter(self.sources), ""), channel) or ""
            await responder.send(escape(denial))
            return
        name_clusters = len(self.sources) > 1
        await responder.send(
            cluster_snooze_list_text(parts, name_clusters=name_clusters),
            cluster_snooze_list_blocks(parts, name_clusters=name_clusters),
        )
