"""`/exitcode snoozes` as Block Kit: the snoozes in force that this channel may see, who set each, until when.

The caller has already filtered the list through the access policy (a channel never learns of a snooze
in a namespace it may not query) and kept only snoozes in force, soonest end first. Workload names come
from the ledger, written from checked button values, and are escaped here anyway; user ids were
validated when they were stored, so the mentions are safe. Times use Slack's `<!date>` syntax.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.alerting.ledger_state import Snooze
from bot.render.alert_blocks import slack_date
from bot.render.limits import Block, context, fit_blocks, section
from bot.render.mrkdwn import bullet_list, escape, inline_code, truncate

__all__ = ["MAX_LISTED", "snooze_list_blocks", "snooze_list_text"]

MAX_LISTED = 40
"""Snoozes listed in full; beyond that the reply says how many more there are (a channel reads 40)."""


def _line(key: str, snooze: Snooze) -> str:
    who = f" by <@{snooze.set_by}>" if snooze.set_by else ""
    since = f", set {slack_date(snooze.set_at, '{ago}')}" if snooze.set_at > 0 else ""
    return f"{inline_code(truncate(key, 300))} until {slack_date(snooze.until)}{who}{since}"


def snooze_list_blocks(snoozes: Sequence[tuple[str, Snooze]]) -> list[Block]:
    """The reply: one line per snooze, or a sentence saying there is none. Snoozes this channel may not
    see are not even counted: their number would say that such namespaces have crashing workloads."""
    if not snoozes:
        blocks = [section(":zzz: No snoozes in force that this channel can see: every alert is on.")]
    else:
        shown = [_line(key, snooze) for key, snooze in snoozes[:MAX_LISTED]]
        more = len(snoozes) - len(shown)
        title = f":zzz: *{len(snoozes)} snooze{'s' if len(snoozes) != 1 else ''} in force*"
        blocks = [section(f"{title}\n{bullet_list(shown)}")]
        if more:
            blocks.append(context([f"…and {more} more, ending later."]))
        blocks.append(context(["Lift one with the *Unsnooze* button on its alert."]))
    return fit_blocks(blocks)


def snooze_list_text(snoozes: Sequence[tuple[str, Snooze]]) -> str:
    """The reply's fallback text (notifications, screen readers)."""
    if not snoozes:
        return "No snoozes in force."
    return truncate(
        escape(f"{len(snoozes)} snoozes in force: " + ", ".join(key for key, _ in snoozes[:10])), 3000
    )
