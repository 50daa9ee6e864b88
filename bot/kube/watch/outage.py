"""How a reader thread tells failures apart and talks about them while the apiserver is away.

The iterator never raises for a cluster problem, so this is where an outage becomes visible: each
failure is classified into a `RestartReason` (the metric label, and whether to relist or resume), and
logged once as a warning per outage, then quietly, then "works again" when the apiserver answers.
"""

from __future__ import annotations

import logging

from kubernetes.client.exceptions import ApiException

from bot.diagnosis.ports import Forbidden
from bot.kube.errors import ApiCall, translate_error

from .events import RestartReason

# The package's logger (bot.kube.watch), so operators' and tests' filters match every part of the watch.
log = logging.getLogger(__name__.rpartition(".")[0])


class Expired(Exception):
    """The resume point (or a continue token) is older than the apiserver's window: 410 Gone."""


class StreamError(Exception):
    """An ERROR event or an unreadable watch line; the watch restarts from the last resourceVersion."""


class Dropped(Exception):
    """The connection broke or went silent mid-stream (the cause is chained); resume from the last RV."""


def describe_scope(scope: str | None) -> str:
    """The scope as log and error sentences name it."""
    return f'in namespace "{scope}"' if scope else "across all namespaces"


def classify(error: BaseException, call: ApiCall, request_timeout: float) -> RestartReason:
    """Why the attempt that raised `error` ended."""
    if isinstance(error, Dropped):
        return RestartReason.DROPPED
    if isinstance(error, StreamError):
        return RestartReason.ERROR
    if isinstance(error, ApiException) and error.status == 410:
        return RestartReason.EXPIRED
    translated = translate_error(error, call, request_timeout)
    if isinstance(translated, Forbidden):
        return RestartReason.FORBIDDEN
    if isinstance(error, ApiException) and error.status not in (0, 502, 503, 504):
        return RestartReason.ERROR
    return RestartReason.UNREACHABLE


class OutageLog:
    """Failed attempts of one scope since the apiserver last answered, and the log lines they earn."""

    def __init__(self, resource: str, scope: str | None) -> None:
        self._resource = resource
        self._where = describe_scope(scope)
        self._failures = 0
        self._warned = False  # one warning per outage, then quieter lines

    def connected(self, phase: str) -> None:
        """The apiserver answered: the next failure is a new incident, logged as such."""
        if self._failures > 1:
            log.info(
                "%s of %s %s works again after %d failed attempts",
                phase,
                self._resource,
                self._where,
                self._failures,
            )
        self._failures = 0
        self._warned = False

    def failed(
        self,
        error: BaseException,
        reason: RestartReason,
        *,
        call: ApiCall,
        request_timeout: float,
        resource_version: str | None,
    ) -> None:
        """Count a failed attempt and log it: a dropped stream at INFO, anything else as a warning."""
        self._failures += 1
        failures = self._failures
        if isinstance(error, Dropped):
            cause = error.__cause__
            log.log(
                logging.INFO if failures == 1 else logging.DEBUG,
                "watch of %s %s was interrupted (%s); resuming from resourceVersion %s",
                self._resource,
                self._where,
                type(cause).__name__ if cause else "connection closed",
                resource_version,
            )
            return
        if isinstance(error, StreamError):
            sentence = str(error)
        else:
            sentence = translate_error(error, call, request_timeout).user_message
        level = logging.DEBUG if self._warned else logging.WARNING
        self._warned = True
        log.log(
            level,
            "watch of %s %s failed (%s), retrying with backoff: %s",
            self._resource,
            self._where,
            reason.value,
            sentence,
        )
