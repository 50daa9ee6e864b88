"""Alert buttons across clusters (CLUSTERS, issue 13): a click goes to the handlers of its alert's cluster.

Every alert button carries the cluster its alert came from (`AlertTarget.cluster`). Before anything else,
the click's cluster must be one this bot serves and one the channel may query (`ClusterAccess`, the
policy `/exitcode pod CLUSTER/…` uses); then that cluster's `AlertActions` runs its usual gate (the value
bound to its message, the namespace policy, duplicates) and its work, with that cluster's reader and
snooze store. One `RecentClicks` is shared, so a duplicate is a duplicate whichever cluster it names.
A value without a cluster (alerts posted before CLUSTERS was set) means the home cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import ClusterAccess, SlackChannel
from bot.render.alert_blocks import RUNBOOK_LINK_ACTION_ID
from bot.render.mrkdwn import escape
from bot.slack.alert_actions import ALERT_BUTTONS, AlertActions
from bot.slack.click_guard import cluster_of
from bot.slack.responder import Responder

log = logging.getLogger(__name__)

_Listener = Callable[[AlertActions, AsyncAck, dict[str, Any], AsyncWebClient], Awaitable[None]]


class ClusterAlertActions:
    """Routes each alert button to the `AlertActions` of the cluster its value names."""

    def __init__(self, by_cluster: Mapping[str, AlertActions], *, home: str, access: ClusterAccess) -> None:
        self.by_cluster = dict(by_cluster)
        self.home = home
        self.access = access

    def refusal(self, cluster: str | None, body: dict[str, Any]) -> str | None:
        """Why this click may not reach `cluster`'s handlers; None when it may."""
        name = cluster if cluster is not None else self.home
        if name not in self.by_cluster:
            known = ", ".join(self.by_cluster)
            return (
                f"This alert is from cluster “{name[:80]}”, which this bot does not serve (its clusters: "
                f"{known}), so nothing was done."
            )
        channel = _mapping(body.get("channel"))
        container = _mapping(body.get("container"))
        channel_id = str(container.get("channel_id") or channel.get("id") or "")
        name_of = channel.get("name")
        return self.access.denial(
            name, SlackChannel(channel_id, name_of if isinstance(name_of, str) else None)
        )

    async def _route(
        self, listener: _Listener, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        actions = body.get("actions") if isinstance(body.get("actions"), list) else []
        value = str(actions[0].get("value") or "") if actions and isinstance(actions[0], dict) else ""
        cluster = cluster_of(value)
        refused = self.refusal(cluster, body)
        if refused is None:
            handlers = self.by_cluster[cluster if cluster is not None else self.home]
            await listener(handlers, ack, body, client)
            return
        await ack()
        log.info("refused an alert button for cluster %r: %s", cluster, refused)
        url = body.get("response_url")
        await Responder(url if isinstance(url, str) else None).send(
            f":no_entry: {escape(refused)}", replace_original=False
        )

    def listener(self, name: str) -> Callable[[AsyncAck, dict[str, Any], AsyncWebClient], Awaitable[None]]:
        """A Bolt listener that routes the click to `AlertActions.<name>` of the alert's cluster."""
        method: _Listener = getattr(AlertActions, name)

        async def route(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
            await self._route(method, ack, body, client)

        return route


def register_cluster_alert_actions(app: AsyncApp, handlers: ClusterAlertActions) -> None:
    """Listen for the alert buttons on `app`, routed by cluster (instead of `register_alert_actions`)."""
    for action_id, listener in ALERT_BUTTONS:
        app.action(action_id)(handlers.listener(listener))
    home = handlers.by_cluster.get(handlers.home)
    if home is not None:
        app.action(RUNBOOK_LINK_ACTION_ID)(home.on_runbook_link)


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
