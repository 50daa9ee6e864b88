"""The alert service's timings, in one frozen value: production defaults here, shortened by the tests and
the benchmark. A module of its own because every other part of the service reads it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.kube.watch import WatchSettings

__all__ = ["AlertTuning"]


@dataclass(frozen=True, slots=True)
class AlertTuning:
    """Timings of the service; production defaults, tests shorten them."""

    tick_seconds: float = 0.5
    """How often storms are checked for calm and throttled digest edits flushed."""
    save_debounce_seconds: float = 0.2
    """Ledger writes are batched over this long (a crash storm is one write, not a thousand)."""
    refresh_seconds: float = 5.0
    """How often the leader re-reads the ledger for snoozes set through another replica."""
    unsaved_grace_seconds: float = 10.0
    """How long an alert waits for a ledger write that keeps failing before it is sent anyway."""
    evidence_timeout_seconds: float = 3.0
    """Time allowed to read events and the log tail for an alert's diagnosis (it is sent without)."""
    first_start_lookback_seconds: float = 3600.0
    """With a brand-new ledger, crashes older than this are not alerted (they are not news)."""
    digest_update_seconds: float = 10.0
    """A storm digest is edited at most this often (Slack's edit limits, and readability)."""
    retry_cap_seconds: float = 30.0
    """Longest wait between attempts to read or write the ledger while the cluster is unreachable."""
    final_save_seconds: float = 5.0
    lease_renew_seconds: float | None = None
    """Lease renew interval (default: a third of LEASE_DURATION_SECONDS)."""
    lease_retry_seconds: float | None = None
    watch: WatchSettings | None = None
