""" "I'm on it" reaches the pager: a Slack owner acknowledges the same incident on PagerDuty.

The button names the Slack alert (`<channel id>:<ts>`, the incident's ledger key). The same crash group
was planned once per destination (issue 12), so the ledger also holds the group's twin on every
PagerDuty destination, whose root reference *is* that PagerDuty alert's `dedup_key`. The hook finds the
open twins and sends an `acknowledge` for each: PagerDuty stops escalating while someone works on it.

It runs after the owner is stored (`LedgerSnoozes.claim`), on whichever replica got the click, bounded in
time: PagerDuty being down costs the acknowledgement (logged), never the owner or the button's answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol, runtime_checkable

from bot.alerting import LedgerState
from bot.alerting.actions import GroupKey
from bot.alerting.destinations import RouteError, parse_destination
from bot.alerting.ledger_state import Owner

__all__ = ["Acknowledging", "PagerAcknowledge"]

log = logging.getLogger(__package__)

ACKNOWLEDGE_SECONDS = 15.0
"""How long a click may wait for the pager (it retries 429s and outages meanwhile)."""


@runtime_checkable
class Acknowledging(Protocol):
    """A surface whose incidents can be acknowledged (PagerDuty)."""

    name: str

    async def acknowledge(self, target: str, incident_key: str) -> None: ...


class PagerAcknowledge:
    """The `OwnerHook` that acknowledges an owned Slack incident's twins on `surface`."""

    def __init__(self, state: Callable[[], Awaitable[LedgerState]], surface: Acknowledging) -> None:
        self._state = state
        self._surface = surface

    async def owner_set(self, incident: str, owner: Owner) -> None:
        try:
            state = await self._state()
            twins = list(_twins(state, incident, self._surface.name))
            async with asyncio.timeout(ACKNOWLEDGE_SECONDS):
                for target, dedup_key in twins:
                    await self._surface.acknowledge(target, dedup_key)
        except Exception as error:  # the owner is stored; only the page's acknowledgement is lost
            log.warning(
                "event=acknowledge_failed surface=%s error=%s (the owner is recorded; acknowledge in %s)",
                self._surface.name,
                type(error).__name__,
                self._surface.name,
            )
            return
        if twins:
            log.info(
                "event=acknowledged surface=%s alerts=%d by=%s", self._surface.name, len(twins), owner.user
            )


def _twins(state: LedgerState, incident: str, surface: str) -> Iterator[tuple[str, str]]:
    """(target, dedup key) of every open group on `surface` for the same failure as the Slack root
    `incident` (same namespace, workload, container, exit code and kind)."""
    owned = next((key for key, group in state.groups.items() if group.root_ts == incident), None)
    if owned is None:
        return
    same = _failure(GroupKey.from_id(owned))
    for gid, group in state.groups.items():
        key = GroupKey.from_id(gid)
        if key.channel is None or group.root_ts is None or _failure(key) != same:
            continue
        try:
            destination = parse_destination(key.channel)
        except RouteError:
            continue
        incident_state = state.incident_of(gid)
        if destination.surface == surface and incident_state is not None and incident_state.open:
            yield destination.target, group.root_ts


def _failure(key: GroupKey) -> tuple[str, str, str, int | None, str]:
    return (key.namespace, key.workload.ref, key.container, key.exit_code, key.kind.value)
