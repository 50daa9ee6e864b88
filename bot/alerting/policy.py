"""Which terminations deserve an alert, of which kind, and in which channel.

The anchors' loudest failure is calling normal lifecycle a crash: every rollout, scale-down, drain,
preemption and spot-node reclaim kills containers with 143/137, and tools that alert on the exit code
alone page people for deploys. Kubernetes says when a kill was intended, so each of those cases is
recognised from the pod itself and *suppressed with a reason* (a metric label), never silently dropped:

- `deleting`: the pod has `metadata.deletionTimestamp` (rollout, scale-down, `kubectl delete`);
- `disruption_target`: condition `DisruptionTarget=True` (scheduler preemption, Eviction API / drain,
  taint manager, PodGC);
- `node_shutdown`: pod reason `Terminated`/`Shutdown`/`NodeShutdown` (graceful node shutdown);
- `preempted`: pod reason `Preempting` (kubelet admitting a critical pod);
- `sidecar_shutdown`: a native sidecar stopped because the pod's main containers finished;
- `requested_stop`: exit 128 + the container's custom stop signal (KEP-4960) while being deleted;
- `restarted_with_pod`: a container stopped only because another one's exit restarted all of them
  (KEP-5532, `RestartAllContainers`): the triggering container's alert is the one alert.

A restart that a container restart rule (KEP-5307) asked for on exactly that exit code (operator `In`)
alerts, labelled, unless `ALERT_ON_RULE_RESTARTS` is off (`rule_restart`); a `NotIn` rule is a catch-all
retry, like `restartPolicy: OnFailure`, and its restarts alert as crashes.

These apply only to a container's *current* state: a `lastState` record is followed by a restart, which
the kubelet never does for a pod it is tearing down, so it was a real crash even if the pod is deleted
now. A current record that ended well *before* the deletion or disruption was requested (a Job pod that
failed, then got cleaned up while the bot was away) is a real crash too.

A kubelet eviction (pod reason `Evicted`) is node pressure, not the application's fault: its own alert
kind. Exit 0 is a normal completion, except when a Deployment/StatefulSet/DaemonSet keeps restarting it
("completed too often": it should be a Job) or the runtime says `OOMKilled`. A pod killed for exceeding
`activeDeadlineSeconds` (pod reason DeadlineExceeded) is a crash: the Job failed.

Then the operator's filters apply: `IGNORE_NAMESPACES` globs, the annotation `exitcode-bot/ignore:
"true"` on the pod or its namespace, a label selector, `IGNORE_EXIT_CODES` (crashes only), and snoozes
set from the Snooze button.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from bot.alerting.destinations import SurfaceRouting, destinations_for
from bot.alerting.ledger_state import Snooze
from bot.alerting.routing import channel_for_namespace
from bot.alerting.selector import LabelSelector, parse_selector
from bot.alerting.termination import ContainerKind, RecordSource, Termination, Workload, epoch

__all__ = [
    "CHANNEL_ANNOTATION",
    "IGNORE_ANNOTATION",
    "AlertKind",
    "AlertRules",
    "RoutedTermination",
    "Suppression",
    "Verdict",
    "assess",
    "classify",
    "route_channel",
    "snooze_key",
    "snoozed",
]

IGNORE_ANNOTATION = "exitcode-bot/ignore"
CHANNEL_ANNOTATION = "exitcode-bot/channel"
NODE_SHUTDOWN_REASONS = frozenset({"Terminated", "Shutdown", "NodeShutdown"})
CAUSE_SLACK_SECONDS = 30.0
"""Clock skew allowed between the control plane (deletion, conditions) and the node (finishedAt)."""

_CHANNEL = re.compile(r"^#?[\w.-]{1,80}$")


class AlertKind(StrEnum):
    CRASH = "crash"
    """A non-zero exit (or a restart whose exit code the API no longer shows)."""
    COMPLETED_TOO_OFTEN = "completed_too_often"
    """Exit 0 that a Deployment/StatefulSet/DaemonSet keeps restarting."""
    EVICTION = "eviction"
    """The kubelet evicted the pod under node pressure."""


class Suppression(StrEnum):
    """Why a termination was not alerted; each value is a metric label."""

    DELETING = "deleting"
    DISRUPTION_TARGET = "disruption_target"
    NODE_SHUTDOWN = "node_shutdown"
    PREEMPTED = "preempted"
    SIDECAR_SHUTDOWN = "sidecar_shutdown"
    EXIT_ZERO = "exit_zero"
    IGNORED_EXIT_CODE = "ignored_exit_code"
    IGNORED_NAMESPACE = "ignored_namespace"
    LABEL_SELECTOR = "label_selector"
    ANNOTATION = "annotation"
    SNOOZED = "snoozed"
    REQUESTED_STOP = "requested_stop"
    """Exit 128 + the container's custom stop signal while the pod was being deleted (KEP-4960)."""
    RESTARTED_WITH_POD = "restarted_with_pod"
    """Stopped only because another container's exit restarted them all (KEP-5532): that one alerts."""
    RULE_RESTART = "rule_restart"
    """A restart its restart rule asked for on this very code (KEP-5307), with ALERT_ON_RULE_RESTARTS off."""
    NO_DESTINATION = "no_destination"
    """Routed nowhere: every surface's route for it says `none` (or no surface has a default)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Either an alert kind or a suppression reason, never both."""

    kind: AlertKind | None
    suppression: Suppression | None = None

    @property
    def alerts(self) -> bool:
        return self.kind is not None

    @classmethod
    def alert(cls, kind: AlertKind) -> Verdict:
        return cls(kind=kind)

    @classmethod
    def suppressed(cls, reason: Suppression) -> Verdict:
        return cls(kind=None, suppression=reason)

    @property
    def label(self) -> str:
        """`crash`, `eviction`, … or `suppressed:deleting`, for logs."""
        return str(self.kind) if self.kind is not None else f"suppressed:{self.suppression}"


@dataclass(frozen=True, slots=True)
class AlertRules:
    """The operator's filters; build with `AlertRules.build` to parse the selector once, at startup."""

    ignore_exit_codes: frozenset[int] = frozenset()
    ignore_namespaces: tuple[str, ...] = ()
    label_selector: LabelSelector | None = None
    completed_restart_threshold: int = 2
    """Restarts after which an exit-0 loop in a controller is reported (the first completions are not)."""
    alert_on_rule_restarts: bool = True
    """ALERT_ON_RULE_RESTARTS: whether a restart that a container restart rule asked for on exactly this
    exit code (`In`) alerts. On by default: it is still a process that failed, and the alert says the spec
    asked for the restart; turn it off where such codes mean "retry me" and nobody should be paged."""

    @classmethod
    def build(
        cls,
        *,
        ignore_exit_codes: Iterable[int] = (),
        ignore_namespaces: Iterable[str] = (),
        label_selector: str | None = None,
        alert_on_rule_restarts: bool = True,
    ) -> AlertRules:
        """Rules from settings values; raises `SelectorError` (a `ValueError`) for a malformed selector."""
        selector = parse_selector(label_selector) if label_selector and label_selector.strip() else None
        return cls(
            ignore_exit_codes=frozenset(ignore_exit_codes),
            ignore_namespaces=tuple(ignore_namespaces),
            label_selector=selector,
            alert_on_rule_restarts=alert_on_rule_restarts,
        )


@dataclass(frozen=True, slots=True)
class RoutedTermination:
    """What the planner takes: a termination, its verdict and where it goes.

    `channel` is the chat sink's channel (None = the console, or no channel); `destinations`, when set,
    is every destination address (`bot.alerting.destinations`), the chat channel among them: the planner
    plans the termination once per destination (issue 12's fan-out)."""

    termination: Termination
    verdict: Verdict
    channel: str | None
    destinations: tuple[str | None, ...] | None = None

    @property
    def targets(self) -> tuple[str | None, ...]:
        """Every destination this termination is planned for (just `channel` without fan-out)."""
        return self.destinations if self.destinations is not None else (self.channel,)


def snooze_key(namespace: str, workload: Workload) -> str:
    """`namespace/Kind/name`: how snoozes are stored in the ledger and carried by buttons."""
    return f"{namespace}/{workload.ref}"


def snoozed(snoozes: Mapping[str, Snooze | float] | None, key: str, now: float) -> bool:
    """True when the decision stored under `key` silences alerts at `now` (a lift or an end does not)."""
    decision = (snoozes or {}).get(key)
    if decision is None:
        return False
    if isinstance(decision, Snooze):
        return decision.active(now)
    return decision > now


def classify(
    termination: Termination,
    pod: Mapping[str, Any],
    rules: AlertRules,
    *,
    now: float,
    namespace_annotations: Mapping[str, str] | None = None,
    snoozes: Mapping[str, Snooze | float] | None = None,
) -> Verdict:
    """The verdict for one termination of `pod` (the raw pod it was detected in).

    `namespace_annotations` are the annotations of the pod's namespace (the adapter caches them);
    `snoozes` maps `snooze_key(...)` to the latest snooze decision (`LedgerState.snoozes`), or to a
    bare end time (epoch seconds).
    """
    lifecycle = _lifecycle_suppression(termination, pod)
    if lifecycle is not None:
        return lifecycle
    if termination.restarted_with is not None:
        return Verdict.suppressed(Suppression.RESTARTED_WITH_POD)
    if termination.restart_rule and termination.rule_names_code and not rules.alert_on_rule_restarts:
        return Verdict.suppressed(Suppression.RULE_RESTART)
    kind = _alert_kind(termination, pod, rules)
    if kind is None:
        return Verdict.suppressed(Suppression.EXIT_ZERO)
    filtered = _operator_suppression(termination, pod, kind, rules, namespace_annotations)
    if filtered is not None:
        return Verdict.suppressed(filtered)
    if snoozed(snoozes, snooze_key(termination.namespace, termination.workload), now):
        return Verdict.suppressed(Suppression.SNOOZED)
    return Verdict.alert(kind)


def route_channel(
    pod: Mapping[str, Any],
    namespace_annotations: Mapping[str, str] | None,
    namespace_map: Mapping[str, str] | None,
    default_channel: str | None,
) -> str | None:
    """Where a pod's alerts go: pod annotation, namespace annotation, config map (globs), default.

    `namespace_map` comes from the config file (`namespace_channels`): the first matching glob in the
    file's order wins (`routing.channel_for_namespace`, the one implementation of that rule). A
    malformed annotation value (spaces, `<!channel>`) is ignored, so a pod author cannot make the bot
    post mentions. None means no channel: console output only.
    """
    metadata = pod.get("metadata") or {}
    for source in (metadata.get("annotations"), namespace_annotations):
        channel = _channel_from(source)
        if channel is not None:
            return channel
    namespace = str(metadata.get("namespace") or "default")
    return channel_for_namespace(namespace, namespace_map) or default_channel or None


def assess(
    terminations: Iterable[Termination],
    pod: Mapping[str, Any],
    rules: AlertRules,
    *,
    now: float,
    namespace_annotations: Mapping[str, str] | None = None,
    namespace_map: Mapping[str, str] | None = None,
    default_channel: str | None = None,
    snoozes: Mapping[str, Snooze | float] | None = None,
    surfaces: SurfaceRouting | None = None,
) -> list[RoutedTermination]:
    """Classify and route every termination of one pod: the planner's input, in one call.

    With `surfaces` (other alert surfaces are on), each item also lists every destination
    (`destinations_for`); one routed nowhere at all is suppressed as `no_destination`, so it is still
    counted once."""
    items = list(terminations)
    if not items:
        return []
    channel = route_channel(pod, namespace_annotations, namespace_map, default_channel)
    destinations: tuple[str | None, ...] | None = None
    if surfaces is not None:
        metadata = pod.get("metadata") or {}
        destinations = destinations_for(
            str(metadata.get("namespace") or "default"),
            slack_channel=channel,
            pod_annotations=metadata.get("annotations"),
            namespace_annotations=namespace_annotations,
            namespace_routes=surfaces.namespace_routes,
            defaults=surfaces.defaults,
            surfaces=surfaces.surfaces,
            targets=surfaces.targets,
        )
        channel = destinations[0] if destinations else None
    routed: list[RoutedTermination] = []
    for item in items:
        verdict = classify(
            item, pod, rules, now=now, namespace_annotations=namespace_annotations, snoozes=snoozes
        )
        if destinations == () and verdict.alerts:
            verdict = Verdict.suppressed(Suppression.NO_DESTINATION)
        routed.append(RoutedTermination(item, verdict, channel, destinations))
    return routed


def _lifecycle_suppression(termination: Termination, pod: Mapping[str, Any]) -> Verdict | None:
    """An eviction verdict or a lifecycle suppression for a current-state record; None for a crash."""
    if termination.source is not RecordSource.STATE:
        return None
    status = pod.get("status") or {}
    metadata = pod.get("metadata") or {}
    reason = status.get("reason")
    if reason == "Evicted":
        return None  # an alert kind of its own, decided by _alert_kind (operator filters still apply)
    if reason == "Preempting":
        return Verdict.suppressed(Suppression.PREEMPTED)
    if reason in NODE_SHUTDOWN_REASONS:
        return Verdict.suppressed(Suppression.NODE_SHUTDOWN)
    disrupted, disruption_since = _disruption_target(status)
    if disrupted and _caused_by(termination, disruption_since):
        return Verdict.suppressed(Suppression.DISRUPTION_TARGET)
    deletion = metadata.get("deletionTimestamp")
    if deletion and _caused_by(termination, _deletion_requested_at(metadata)):
        # 128 + a custom stop signal is the stop the container asked for; a 137 is still the grace-period
        # SIGKILL (the diagnosis calls it an overrun), suppressed like any exit of a pod being deleted.
        return Verdict.suppressed(
            Suppression.REQUESTED_STOP if termination.requested_stop else Suppression.DELETING
        )
    if termination.container_kind is ContainerKind.SIDECAR and _main_containers_done(status):
        return Verdict.suppressed(Suppression.SIDECAR_SHUTDOWN)
    return None


def _alert_kind(termination: Termination, pod: Mapping[str, Any], rules: AlertRules) -> AlertKind | None:
    status = pod.get("status") or {}
    if termination.source is RecordSource.STATE and status.get("reason") == "Evicted":
        return AlertKind.EVICTION
    if termination.exit_code != 0 or termination.reason == "OOMKilled":
        # OOMKilled with exit 0: a child process was OOM-killed and the main process exited cleanly
        # afterwards (containerd reports it so); memory trouble is worth an alert either way.
        return AlertKind.CRASH
    restarting = termination.container_kind is ContainerKind.SIDECAR or (
        termination.container_kind is ContainerKind.MAIN and termination.workload.restarts_on_success
    )
    if restarting and termination.restart_count >= rules.completed_restart_threshold:
        return AlertKind.COMPLETED_TOO_OFTEN
    return None


def _operator_suppression(
    termination: Termination,
    pod: Mapping[str, Any],
    kind: AlertKind,
    rules: AlertRules,
    namespace_annotations: Mapping[str, str] | None,
) -> Suppression | None:
    if any(fnmatchcase(termination.namespace, pattern) for pattern in rules.ignore_namespaces):
        return Suppression.IGNORED_NAMESPACE
    metadata = pod.get("metadata") or {}
    if _is_true(metadata.get("annotations"), IGNORE_ANNOTATION) or _is_true(
        namespace_annotations, IGNORE_ANNOTATION
    ):
        return Suppression.ANNOTATION
    if rules.label_selector is not None and not rules.label_selector.matches(metadata.get("labels")):
        return Suppression.LABEL_SELECTOR
    if (
        kind is not AlertKind.EVICTION
        and termination.exit_code is not None
        and termination.exit_code in rules.ignore_exit_codes
    ):
        return Suppression.IGNORED_EXIT_CODE
    return None


def _disruption_target(status: Mapping[str, Any]) -> tuple[bool, float | None]:
    """Whether `DisruptionTarget` is True, and since when (None if the API did not say)."""
    for condition in status.get("conditions") or ():
        if condition.get("type") == "DisruptionTarget" and condition.get("status") == "True":
            return True, epoch(condition.get("lastTransitionTime"))
    return False, None


def _deletion_requested_at(metadata: Mapping[str, Any]) -> float | None:
    """The apiserver sets `deletionTimestamp` to request time + grace period; undo the grace period."""
    deadline = epoch(metadata.get("deletionTimestamp"))
    grace = metadata.get("deletionGracePeriodSeconds")
    if deadline is None:
        return None
    return deadline - (grace if isinstance(grace, int | float) else 0)


def _caused_by(termination: Termination, since: float | None) -> bool:
    """Did the container end after the intent (deletion, disruption) was recorded, give or take skew?"""
    finished = termination.finished_epoch
    if finished is None or since is None:
        return True
    return finished >= since - CAUSE_SLACK_SECONDS


def _main_containers_done(status: Mapping[str, Any]) -> bool:
    """Sidecars are stopped by the kubelet once every main container has terminated (or the pod is done)."""
    if status.get("phase") in ("Succeeded", "Failed"):
        return True
    statuses = status.get("containerStatuses") or ()
    return bool(statuses) and all((item.get("state") or {}).get("terminated") for item in statuses)


def _channel_from(annotations: Mapping[str, Any] | None) -> str | None:
    if not annotations:
        return None
    value = annotations.get(CHANNEL_ANNOTATION)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if _CHANNEL.match(value) else None


def _is_true(annotations: Mapping[str, Any] | None, key: str) -> bool:
    if not annotations:
        return False
    value = annotations.get(key)
    return isinstance(value, str) and value.strip().lower() == "true"
