"""Folding a backlog of unsent alerts into one summary per channel, instead of ever dropping one.

The outbox lives in the ledger ConfigMap, and a ConfigMap is bounded (1 MiB). While Slack is down, or
with a high STORM_THRESHOLD, crashes keep being planned and nothing is sent: the outbox grows without
limit. Dropping entries to make room would lose crashes (a restarted bot re-lists the pods, finds the
keys in `alerted` or behind the horizon, and says nothing), so the only sound way to make room is to
*summarise*: the queued roots and thread replies of a channel become the rows of one digest message
(namespace × workload × exit code × count, the storm digest's shape), whose total is exactly the number
of crashes folded into it. A reader loses the per-crash detail and keeps every crash counted.

A fold record lists the ids it replaced (`folded`), so `LedgerState.merge` with an older copy that still
holds them drops them again: the digest and the entries it summarises never both get sent. Root count
updates of folded roots are dropped with them (there is no root to edit). Entries being sent right now
are never folded, and neither are storm digests, which have their own updates.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from bot.alerting.actions import DigestRef, DigestRow, PostDigest, PostRoot, PostThreadReply, UpdateRoot
from bot.alerting.ledger_state import LedgerState
from bot.alerting.policy import AlertKind
from bot.alerting.termination import Workload

__all__ = ["FOLDED_FIELD", "FoldResult", "fold_backlog", "folded_ids"]

FOLDED_FIELD = "folded"
"""The record field listing the outbox ids a backlog digest replaced."""
MAX_FOLDED_IDS = 5_000
"""Ids remembered per fold record (a merge with a copy older than that many folds is not a real case)."""

_RowKey = tuple[str, str, int | None, str | None]


@dataclass(slots=True)
class FoldResult:
    """What a fold did: crashes moved into summaries, and the summaries' outbox ids."""

    crashes: int = 0
    digests: list[str] = field(default_factory=list)


def folded_ids(record: dict[str, Any]) -> list[str]:
    """The ids a fold record replaced (empty for any other record, or a malformed list)."""
    ids = record.get(FOLDED_FIELD)
    return [str(item) for item in ids] if isinstance(ids, list) else []


def fold_backlog(
    state: LedgerState,
    now: float,
    *,
    busy: Collection[str] = (),
    max_rows: int = 40,
    order: Iterator[int] | None = None,
    channels: Collection[str | None] | None = None,
) -> FoldResult:
    """Fold every queued root and reply of `state.outbox` (not in `busy`) into one digest per channel
    (of `channels` only, when given: the outbox folds its biggest backlogs, not every channel's).

    A queued fold digest of the same channel (not busy) is folded in too, so repeated folds keep one
    summary per channel. Pure: works on the live state as on a copy being written.
    """
    # Imported here: `outbox` imports this module to fold when it grows past its bound.
    from bot.alerting.outbox import action_from_record, action_to_record, entry_identity

    counter = order or itertools.count()
    per_channel: dict[str | None, list[tuple[str, Any]]] = {}
    for key, record in state.outbox.items():
        if key in busy:
            continue
        try:
            action = action_from_record(record)
        except (TypeError, ValueError, KeyError):
            continue
        if channels is not None and action.channel not in channels:
            continue
        if isinstance(action, PostRoot | PostThreadReply) or (
            isinstance(action, PostDigest) and folded_ids(record)
        ):
            per_channel.setdefault(action.channel, []).append((key, action))
    result = FoldResult()
    for channel, items in sorted(per_channel.items(), key=lambda item: item[0] or ""):
        if not any(isinstance(action, PostRoot | PostThreadReply) for _, action in items):
            continue  # only an earlier fold: nothing new to summarise
        rows: dict[_RowKey, list[float]] = {}
        replaced: list[str] = []
        folded_groups: set[str] = set()
        first = now
        for key, action in items:
            record = state.outbox[key]
            first = min(first, _float(record.get("at"), now))
            if isinstance(action, PostDigest):
                replaced.extend(folded_ids(record))
                for row in action.rows:
                    _add(rows, _row_key(row), row.count, row.last_seen, max_rows)
            else:
                termination = action.termination
                kind = action.group.key.kind.value
                row_key: _RowKey = (
                    termination.namespace,
                    termination.workload.ref,
                    termination.exit_code,
                    kind,
                )
                seen = termination.finished_epoch or termination.started_epoch or now
                _add(rows, row_key, 1, seen, max_rows)
                result.crashes += 1
                if isinstance(action, PostRoot):
                    folded_groups.add(action.group.id)
            replaced.append(key)
            del state.outbox[key]
        for key in [key for key, record in state.outbox.items() if key not in busy]:
            try:
                action = action_from_record(state.outbox[key])
            except (TypeError, ValueError, KeyError):
                continue
            if isinstance(action, UpdateRoot) and action.group.id in folded_groups:
                del state.outbox[key]
        digest_rows = tuple(_digest_row(row_key, counts) for row_key, counts in rows.items())
        digest = PostDigest(
            DigestRef(channel, round(first, 3)), digest_rows, sum(row.count for row in digest_rows)
        )
        entry_id, slot = entry_identity(digest)
        state.outbox[entry_id] = {
            "slot": slot,
            "at": first,
            "n": next(counter),
            **action_to_record(digest),
            FOLDED_FIELD: sorted(set(replaced))[-MAX_FOLDED_IDS:],
        }
        result.digests.append(entry_id)
    return result


def _add(rows: dict[_RowKey, list[float]], key: _RowKey, count: int, seen: float, max_rows: int) -> None:
    if key not in rows and len(rows) >= max_rows:
        key = ("", "", None, None)  # the overflow row: totals stay exact
    counts = rows.setdefault(key, [0, seen])
    counts[0] += count
    counts[1] = max(counts[1], seen)


def _row_key(row: DigestRow) -> _RowKey:
    if row.kind is None:
        return ("", "", None, None)
    return (row.namespace, row.workload.ref, row.exit_code, row.kind.value)


def _digest_row(key: _RowKey, counts: list[float]) -> DigestRow:
    namespace, workload, exit_code, kind = key
    if kind is None:
        return DigestRow("", Workload("", ""), None, None, int(counts[0]), counts[1])
    return DigestRow(
        namespace, Workload.parse(workload), exit_code, AlertKind(kind), int(counts[0]), counts[1]
    )


def _float(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
