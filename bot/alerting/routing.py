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

__all__ = ["channel_for_namespace"]


def channel_for_namespace(namespace: str, namespace_channels: Mapping[str, str] | None) -> str | None:
    """The channel of the first glob in `namespace_channels` (in its order) matching `namespace`; None
    when none matches (the caller then falls back to `ALERT_CHANNEL`). Entries with no channel are
    skipped."""
    for glob, channel in (namespace_channels or {}).items():
        if channel and fnmatchcase(namespace, glob):
            return channel
    return None
