"""What a `pod`/`ns` query is answered with, as plain data: a diagnosis, a triage, or a refusal.

The diagnose use case (`bot.application.diagnose`) builds these; every surface renders them
(`bot.render.answer_blocks` for Slack, `answer_text` for the terminal, `answer_json` for `--json`). They
carry facts, never a command name: the renderers add the command their user types, so an installation's
SLASH_COMMAND and the CLI's `exitcode-bot` are values passed in, not text replaced afterwards.

Also here, because they are pure functions over the API's pod JSON: how a workload's pod is described
when the user named the workload (`workload_named`, `pod_line`), and which refusal a `ClusterError` is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.command import QueryKind
from bot.diagnosis.model import Diagnosis
from bot.diagnosis.names import InvalidTarget
from bot.diagnosis.podjson import dig, integer, objects, text
from bot.diagnosis.ports import (
    ClusterError,
    ClusterNotConfigured,
    ClusterTimeout,
    ClusterUnreachable,
    Forbidden,
    InvalidName,
    JsonDict,
    NotFound,
)
from bot.diagnosis.triage import TriageRow, latest_failure, workload_ref

RefusalKind = Literal[
    "invalid", "denied", "not_found", "forbidden", "timeout", "unreachable", "not_configured", "cluster_error"
]
BAD_INPUT: frozenset[RefusalKind] = frozenset({"invalid", "denied"})
"""Refusals decided before any cluster call (the CLI exits 2 for these, 1 for the others)."""

NO_CLUSTER = "No Kubernetes cluster is configured for this bot, so it cannot look at pods or namespaces."


@dataclass(frozen=True, slots=True)
class PodLine:
    """Another pod of the workload the user named: enough to pick the next one to diagnose."""

    name: str
    phase: str | None
    restarts: int
    exit_code: int | None
    reason: str | None
    state: str | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class WorkloadMatch:
    """How a pod was chosen when no pod had the exact name the user typed."""

    query: str
    workload: str | None
    """`Deployment/api` when the name is a workload's; None when it matched only as a pod-name prefix."""
    crashed: bool
    """Whether the chosen pod has a failure on record (else it is merely the newest)."""
    others: tuple[PodLine, ...]


@dataclass(frozen=True, slots=True)
class PodAnswer:
    diagnosis: Diagnosis
    selection: WorkloadMatch | None = None


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """An alert incident not recovered yet, as `/exitcode ns` and `/exitcode incidents` list it."""

    namespace: str
    workload: str
    container: str
    exit_code: int | None
    phase: str
    """`firing` or `quiet` (see `bot.alerting.incidents`)."""
    started: float
    last_crash: float
    crashes: int
    channel: str | None
    thread: str | None
    """The root message as the alert sink names it (`<channel id>:<ts>` on Slack), None if not posted."""


@dataclass(frozen=True, slots=True)
class TriageAnswer:
    namespace: str
    rows: tuple[TriageRow, ...]
    pods_checked: int
    incidents: tuple[OpenIncident, ...] = ()
    """The namespace's open alert incidents (empty when there are none, or no alert watcher)."""


@dataclass(frozen=True, slots=True)
class IncidentsAnswer:
    """`incidents`: every open incident in the namespaces the asking channel may see."""

    incidents: tuple[OpenIncident, ...]


@dataclass(frozen=True, slots=True)
class Refusal:
    """No diagnosis, and why, in words for the user (raw text; renderers escape it)."""

    kind: RefusalKind
    message: str
    suggestions: tuple[str, ...] = ()
    """`namespace/pod` names the user may have meant."""
    usage: QueryKind | None = None
    """The command whose usage line the renderers add (in the surface's own command name), if any."""


Answer = PodAnswer | TriageAnswer | Refusal | IncidentsAnswer


def outcome(answer: Answer) -> str:
    """The metrics label of an answer."""
    if isinstance(answer, PodAnswer):
        return "diagnosis"
    if isinstance(answer, TriageAnswer):
        return "triage"
    if isinstance(answer, IncidentsAnswer):
        return "incidents"
    return answer.kind


def refusal_for(error: ClusterError, usage: QueryKind = "pod") -> Refusal:
    """The answer for a cluster error: its own sentence, classified for metrics and exit codes.

    A name that cannot exist (`InvalidTarget`) keeps only its problem and names the usage to show, in
    whatever command the surface's user types."""
    if isinstance(error, InvalidTarget):
        return Refusal("invalid", error.problem, usage=usage)
    kinds: tuple[tuple[type[ClusterError], RefusalKind], ...] = (
        (InvalidName, "invalid"),
        (NotFound, "not_found"),
        (Forbidden, "forbidden"),
        (ClusterTimeout, "timeout"),
        (ClusterUnreachable, "unreachable"),
        (ClusterNotConfigured, "not_configured"),
    )
    kind: RefusalKind = next((kind for cls, kind in kinds if isinstance(error, cls)), "cluster_error")
    return Refusal(kind, error.user_message)


def workload_named(pod: JsonDict, name: str) -> str | None:
    """`Deployment/api` when `name` is the name of the workload (or another owner) of `pod`."""
    workload = workload_ref(pod)
    if workload is not None and workload.split("/", 1)[1] == name:
        return workload
    for reference in objects(dig(pod, "metadata", "ownerReferences")):
        if text(reference.get("name")) == name:
            return f"{text(reference.get('kind')) or 'owner'}/{name}"
    return None


def pod_line(pod: JsonDict) -> PodLine:
    """One of a workload's other pods, as the answer lists it."""
    failure = latest_failure(pod)
    statuses = objects(dig(pod, "status", "initContainerStatuses")) + objects(
        dig(pod, "status", "containerStatuses")
    )
    return PodLine(
        name=text(dig(pod, "metadata", "name")) or "?",
        phase=text(dig(pod, "status", "phase")),
        restarts=sum(integer(status.get("restartCount")) or 0 for status in statuses),
        exit_code=failure.exit_code if failure else None,
        reason=failure.reason if failure else None,
        state=failure.state if failure else None,
        finished_at=failure.when if failure else None,
    )
