"""Timeouts and sizes of a watch in one frozen value, so the alert service tunes them in one place."""

from __future__ import annotations

from dataclasses import dataclass

from .backoff import Backoff


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """Timeouts and sizes; the defaults suit a real cluster, tests shorten them."""

    request_timeout_seconds: float = 10.0
    """Connect timeout of every call, and read timeout of list pages (KUBE_TIMEOUT_SECONDS)."""
    watch_timeout_seconds: int = 290
    """`timeoutSeconds` of each watch: the apiserver ends it cleanly after this and the stream resumes."""
    page_size: int = 500
    """`limit` of each list page (kubectl's chunk size)."""
    max_pending_batches: int = 4
    """Batches (a list page, or what one network read brought) waiting for the consumer per stream."""
    backoff: Backoff = Backoff()  # noqa: RUF009 - frozen, so one shared default is safe
    join_timeout_seconds: float = 5.0
    """How long `aclose()` waits for each reader thread."""

    @property
    def watch_read_timeout(self) -> float:
        """Silence after which a watch connection counts as dead. The apiserver sends a bookmark about
        once a minute and ends the watch at `timeoutSeconds`, so only a dead connection stays silent
        longer than that plus a margin."""
        return self.watch_timeout_seconds + max(30.0, self.request_timeout_seconds)
