"""`/exitcode pod` and `/exitcode ns` end to end: user text in, an answer for every surface out.

Wiring level: this module joins the pure core (name checks, `gather_evidence`, `diagnose`, triage), the
access policy (`bot.access`) and the cluster adapter (`bot.kube`, imported only by `connect_cluster`), and
renders the result for Slack, the terminal and JSON. It imports neither Slack nor Kubernetes at import
time, so the CLI and the alert side can use it without paying for what they do not call.

Every request ends in an `Answer`: a `PodAnswer`, a `TriageAnswer`, or a `Refusal` carrying the one
sentence to show (invalid name, denied, not found with close names, RBAC verb missing, timeout, cluster
unreachable or not configured). Names are checked and access decided before the cluster is asked anything.

Public API:
- `connect_cluster(timeout_seconds, …) -> ClusterConnection`: the `ApiClient` built once at startup (or
  why there is none); `close()` it at shutdown. The alert side may share `connection.api_client`.
- `diagnose_pod(reader, knowledge, namespace, name, *, log_lines, now=None) -> Diagnosis`: read and
  diagnose one pod; raises a `ClusterError` (its `user_message` is the sentence to show). This is what an
  alert's "Re-diagnose" button should call (or `DiagnoseService.diagnose_pod`, which uses the service's
  reader and settings).
- `DiagnoseService`: `answer(kind, argument, channel=)`, `handle_slack` (a `bot.slack.DiagnoseHandler`;
  the channel's ID and `#name` come with the command), `console_answer(text)`.
- `answer_message(answer, *, shared_by=, cluster_name=, slash_command=)` (Slack text + blocks),
  `answer_text(answer)`, `answer_json(answer)`.
- `run_cli_command(kind, argument, …) -> int`: `exitcode-bot pod|ns` (0 answered, 1 cluster error,
  2 bad input or denied).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TextIO

from bot.access import NamespaceAccess, SlackChannel
from bot.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from bot.diagnosis.engine import diagnose
from bot.diagnosis.findings import duration, stamp
from bot.diagnosis.gather import gather_evidence
from bot.diagnosis.model import Diagnosis
from bot.diagnosis.names import USAGE, parse_target, suggest_close_names, validate_namespace
from bot.diagnosis.podjson import dig, integer, objects, text
from bot.diagnosis.ports import (
    ClusterError,
    ClusterNotConfigured,
    ClusterReader,
    ClusterTimeout,
    ClusterUnreachable,
    Forbidden,
    InvalidName,
    JsonDict,
    NotFound,
)
from bot.diagnosis.triage import (
    TriageRow,
    latest_failure,
    select_pods_by_prefix,
    triage_namespace,
    workload_ref,
)
from bot.knowledge.base import KnowledgeBase
from bot.render.diagnosis_blocks import (
    diagnosis_blocks,
    diagnosis_fallback_text,
    triage_blocks,
    triage_fallback_text,
    with_cluster_context,
)
from bot.render.diagnosis_json import diagnosis_json, triage_json
from bot.render.diagnosis_text import cluster_prefix, diagnosis_text, triage_text
from bot.render.limits import (
    MAX_BLOCKS,
    MAX_FALLBACK_TEXT,
    MAX_MESSAGE_TEXT,
    TRUNCATED_NOTICE,
    Block,
    context,
    fit_blocks,
    section,
    text_length,
)
from bot.render.mrkdwn import bold, bullet_list, escape, inline_code, truncate
from bot.render.text import printable

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from bot.metrics import DiagnoseMetrics
    from bot.slack import DiagnoseRequest, Responder

log = logging.getLogger(__name__)

QueryKind = Literal["pod", "ns"]
RefusalKind = Literal[
    "invalid", "denied", "not_found", "forbidden", "timeout", "unreachable", "not_configured", "cluster_error"
]
BAD_INPUT: frozenset[RefusalKind] = frozenset({"invalid", "denied"})
"""Refusals decided before any cluster call (the CLI exits 2 for these, 1 for the others)."""

SLASH_COMMAND = "/exitcode"
"""The command the sentences below name; `_for_command` swaps in this installation's SLASH_COMMAND."""
NS_USAGE = "Use `/exitcode ns NAMESPACE` (one namespace name)."
POD_USAGE = USAGE
MAX_OTHER_PODS_SHOWN = 15
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
_SUBCOMMANDS: dict[str, QueryKind] = {"pod": "pod", "ns": "ns", "namespace": "ns"}
_SHARE_WORD = "share"


def utc_now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------------------- cluster


@dataclass
class ClusterConnection:
    """The cluster the bot reads, built once at startup; or, when there is none, the sentence saying why.

    The bot runs without a cluster (explanations need none), so "no cluster" is a state, not an error.
    """

    api_client: ApiClient | None
    reader: ClusterReader | None
    problem: str | None
    """Why there is no cluster (not configured, or a kubeconfig that cannot be used); None when there is."""

    @property
    def configured(self) -> bool:
        return self.reader is not None

    def close(self) -> None:
        """Release the client's connection pool (at shutdown); safe to call twice."""
        client, self.api_client, self.reader = self.api_client, None, None
        if client is not None:
            client.close()  # type: ignore[no-untyped-call]


def connect_cluster(timeout_seconds: float, *, environ: Mapping[str, str] | None = None) -> ClusterConnection:
    """The cluster kubectl would use (`KUBECONFIG`, `~/.kube/config`, in-cluster); never raises for a
    missing or broken configuration: the connection then carries the reason instead of a client."""
    from bot.kube.client import build_api_client
    from bot.kube.reader import KubeClusterReader

    try:
        api_client = build_api_client(environ=environ)
    except ClusterNotConfigured as error:
        return ClusterConnection(api_client=None, reader=None, problem=error.user_message)
    return ClusterConnection(
        api_client=api_client, reader=KubeClusterReader(api_client, timeout_seconds), problem=None
    )


NO_CLUSTER = "No Kubernetes cluster is configured for this bot, so it cannot look at pods or namespaces."


# ------------------------------------------------------------------------------------------- answers


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
class TriageAnswer:
    namespace: str
    rows: tuple[TriageRow, ...]
    pods_checked: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """No diagnosis, and why, in words for the user (raw text; renderers escape it)."""

    kind: RefusalKind
    message: str
    suggestions: tuple[str, ...] = ()
    """`namespace/pod` names the user may have meant."""


Answer = PodAnswer | TriageAnswer | Refusal


def outcome(answer: Answer) -> str:
    """The metrics label of an answer."""
    if isinstance(answer, PodAnswer):
        return "diagnosis"
    if isinstance(answer, TriageAnswer):
        return "triage"
    return answer.kind


def refusal_for(error: ClusterError) -> Refusal:
    """The answer for a cluster error: its own sentence, classified for metrics and exit codes."""
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


# ----------------------------------------------------------------------------------------- diagnosis


async def diagnose_pod(
    reader: ClusterReader,
    knowledge: KnowledgeBase,
    namespace: str,
    name: str,
    *,
    log_lines: int,
    now: datetime | None = None,
) -> Diagnosis:
    """Read one pod (and its events, owners and log tails) and diagnose it.

    Shared by `/exitcode pod` and an alert's "Re-diagnose" button, so both say the same thing about the
    same pod. Raises `ClusterError`: `InvalidName` before any call, `NotFound`, `Forbidden`,
    `ClusterTimeout`, `ClusterUnreachable`; each carries `user_message`, the sentence to show.
    """
    evidence = await gather_evidence(reader, namespace, name, log_lines=log_lines)
    return diagnose(evidence, knowledge, now if now is not None else utc_now())


class DiagnoseService:
    """Answers `pod` and `ns` queries from any surface; built once, shared by Slack, console and CLI."""

    def __init__(
        self,
        knowledge: KnowledgeBase,
        reader: ClusterReader | None,
        *,
        access: NamespaceAccess | None = None,
        default_namespace: str = "default",
        log_lines: int = 20,
        unavailable: str | None = None,
        clock: Callable[[], datetime] | None = None,
        metrics: DiagnoseMetrics | None = None,
        cluster_name: str | None = None,
        slash_command: str = SLASH_COMMAND,
    ) -> None:
        self.knowledge = knowledge
        self.cluster_name = cluster_name
        """CLUSTER_NAME: named on every Slack and console answer (one bot per cluster, shared channels)."""
        self.slash_command = slash_command
        self.reader = reader
        self.access = access if access is not None else NamespaceAccess()
        self.default_namespace = default_namespace
        self.log_lines = log_lines
        self.unavailable = unavailable or NO_CLUSTER
        self.clock = clock if clock is not None else utc_now
        self.metrics = metrics

    async def diagnose_pod(self, namespace: str, name: str) -> Diagnosis:
        """`diagnose_pod()` with this service's reader, log lines and clock; raises `ClusterError`
        (`ClusterNotConfigured` when the bot has no cluster). Access is the caller's decision:
        `self.access.denial(namespace, channel)`."""
        if self.reader is None:
            raise ClusterNotConfigured(self.unavailable)
        return await diagnose_pod(
            self.reader, self.knowledge, namespace, name, log_lines=self.log_lines, now=self.clock()
        )

    async def answer(self, kind: QueryKind, argument: str, *, channel: SlackChannel | None = None) -> Answer:
        """The answer to `/exitcode pod ARGUMENT` or `/exitcode ns ARGUMENT` (from `channel`, in Slack).

        Never raises a `ClusterError`: every cluster problem becomes a `Refusal`.
        """
        started = time.perf_counter()
        if kind == "pod":
            answer = await self._pod(argument, channel)
        else:
            answer = await self._namespace(argument, channel)
        if isinstance(answer, Refusal) and answer.kind in ("forbidden", "timeout", "unreachable"):
            log.warning("/exitcode %s %r: %s", kind, argument[:100], answer.message)
        if self.metrics is not None:
            self.metrics.observe(kind, outcome(answer), time.perf_counter() - started)
        return answer

    async def _pod(self, argument: str, channel: SlackChannel | None) -> Answer:
        try:
            target = parse_target(argument, self.default_namespace)
        except InvalidName as error:
            return refusal_for(error)
        denied = self.access.denial(target.namespace, channel)
        if denied is not None:
            return Refusal("denied", denied)
        if self.reader is None:
            return Refusal("not_configured", self.unavailable)
        try:
            return PodAnswer(await self.diagnose_pod(target.namespace, target.name))
        except NotFound as missing:
            return await self._by_prefix(self.reader, target.namespace, target.name, missing)
        except ClusterError as error:
            return refusal_for(error)

    async def _by_prefix(
        self, reader: ClusterReader, namespace: str, query: str, missing: NotFound
    ) -> Answer:
        """No pod has that exact name: a workload's (or a name prefix's) most recently crashed pod, or
        "not found" with the closest names in the namespace."""
        try:
            pods = await reader.list_pods(namespace)
        except ClusterError:  # listing is forbidden (or failing): the pod is still not found
            return Refusal("not_found", missing.user_message)
        matches = select_pods_by_prefix(pods, query)
        if not matches:
            names = [name for pod in pods if (name := text(dig(pod, "metadata", "name")))]
            close = suggest_close_names(query, names)
            return Refusal("not_found", missing.user_message, tuple(f"{namespace}/{name}" for name in close))
        chosen, *others = matches
        name = text(dig(chosen, "metadata", "name")) or query
        try:
            diagnosis = await self.diagnose_pod(namespace, name)
        except ClusterError as error:
            return refusal_for(error)
        selection = WorkloadMatch(
            query=query,
            workload=_workload_named(chosen, query),
            crashed=latest_failure(chosen) is not None,
            others=tuple(_pod_line(pod) for pod in others),
        )
        return PodAnswer(diagnosis, selection)

    async def _namespace(self, argument: str, channel: SlackChannel | None) -> Answer:
        try:
            namespace = validate_namespace(argument.strip())
        except InvalidName as error:
            return Refusal("invalid", error.user_message.replace(USAGE, NS_USAGE))
        denied = self.access.denial(namespace, channel)
        if denied is not None:
            return Refusal("denied", denied)
        if self.reader is None:
            return Refusal("not_configured", self.unavailable)
        try:
            pods = await self.reader.list_pods(namespace)
        except ClusterError as error:
            return refusal_for(error)
        rows = triage_namespace(pods, self.clock(), kb=self.knowledge)
        return TriageAnswer(namespace, tuple(rows), len(pods))

    # --- surfaces ---------------------------------------------------------------------------------

    async def handle_slack(self, request: DiagnoseRequest, responder: Responder) -> None:
        """The Slack `DiagnoseHandler`: answers through the command's `response_url`.

        A diagnosis is posted in the channel when the user asked to `share`; a refusal is always private
        (a typo need not be broadcast).
        """
        channel = SlackChannel(request.channel_id, request.channel_name)
        answer = await self.answer(request.kind, request.argument, channel=channel)
        shared = request.share and not isinstance(answer, Refusal)
        text, blocks = answer_message(
            answer,
            shared_by=request.user_id if shared else None,
            cluster_name=self.cluster_name,
            slash_command=self.slash_command,
        )
        await responder.send(text, blocks, in_channel=shared)

    async def console_answer(self, line: str) -> str | None:
        """The printed answer to a console line that is a `pod`/`ns` query; None for anything else."""
        routed = split_cluster_query(line)
        if routed is None:
            return None
        kind, argument = routed
        if not argument:
            return (POD_USAGE if kind == "pod" else NS_USAGE).replace("`", "") + "\n"
        text_ = answer_text(await self.answer(kind, argument))
        return f"Cluster: {printable(self.cluster_name)}\n{text_}" if self.cluster_name else text_


def split_cluster_query(line: str) -> tuple[QueryKind, str] | None:
    """`pod shop/api share` → ("pod", "shop/api"); None when the line is not a cluster query.

    The same routing as the Slack adapter's, without importing it (console mode and the CLI must not
    load Slack's libraries); a trailing `share` means nothing outside Slack and is dropped.
    """
    words = line.split()
    if not words or words[0].casefold() not in _SUBCOMMANDS:
        return None
    rest = words[1:]
    if rest and rest[-1].casefold() == _SHARE_WORD:
        rest = rest[:-1]
    return _SUBCOMMANDS[words[0].casefold()], " ".join(rest)


def _workload_named(pod: JsonDict, name: str) -> str | None:
    workload = workload_ref(pod)
    if workload is not None and workload.split("/", 1)[1] == name:
        return workload
    for reference in objects(dig(pod, "metadata", "ownerReferences")):
        if text(reference.get("name")) == name:
            return f"{text(reference.get('kind')) or 'owner'}/{name}"
    return None


def _pod_line(pod: JsonDict) -> PodLine:
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


# ------------------------------------------------------------------------------------------ rendering


def _selection_sentence(answer: PodAnswer) -> str:
    """Raw text: why this pod was diagnosed when the user named something else."""
    selection = answer.selection
    assert selection is not None
    total = len(selection.others) + 1
    if selection.workload:
        group = f"pods of {selection.workload}"
    else:
        group = f"pods whose name starts with “{selection.query}”"
    if total == 1:
        chosen = f"this is the only {group.replace('pods ', 'pod ', 1)}"
    elif selection.crashed:
        chosen = f"this is the most recently crashed of the {total} {group}"
    else:
        chosen = f"none of the {total} {group} has crashed; this is the newest"
    others = "; the others are listed below" if selection.others else ""
    namespace = answer.diagnosis.namespace
    return f"No pod is named “{selection.query}” in namespace “{namespace}”: {chosen}{others}."


def _other_pod_facts(line: PodLine, now: datetime) -> str:
    """Raw text: restarts, last exit, state and when, for one of the other pods."""
    parts = [f"restarts {line.restarts}"]
    if line.exit_code is not None:
        parts.append(f"last exit {line.exit_code}" + (f" {line.reason}" if line.reason else ""))
    if line.state:
        parts.append(line.state)
    if line.exit_code is None and not line.state:
        parts.append(f"no crash on record ({line.phase or 'phase unknown'})")
    if line.finished_at is not None:
        parts.append(f"{duration(max(now - line.finished_at, timedelta(0)))} ago")
    return " · ".join(parts)


def _for_command(text: str, slash_command: str) -> str:
    """`text` naming this installation's slash command instead of `/exitcode` (SLASH_COMMAND)."""
    if slash_command == SLASH_COMMAND:
        return text
    return text.replace(f"{SLASH_COMMAND} ", f"{slash_command} ")


def _with_selection_blocks(
    answer: PodAnswer, blocks: list[Block], slash_command: str = SLASH_COMMAND
) -> list[Block]:
    """The diagnosis blocks with why this pod was picked (under the header) and the workload's other
    pods (after the diagnosis), keeping both even when the diagnosis must be cut to fit."""
    selection = answer.selection
    assert selection is not None
    namespace = answer.diagnosis.namespace
    intro = context([escape(_selection_sentence(answer))])
    extra: list[Block] = []
    if selection.others:
        now = answer.diagnosis.diagnosed_at
        shown = selection.others[:MAX_OTHER_PODS_SHOWN]
        lines = [f"{inline_code(line.name)} · {escape(_other_pod_facts(line, now))}" for line in shown]
        if len(selection.others) > len(shown):
            lines.append(f"{len(selection.others) - len(shown)} more not shown")
        title = f"Other pods of {selection.workload}" if selection.workload else "Other matching pods"
        extra.append(section(f"{bold(escape(title))}\n{bullet_list(lines)}"))
        example = f"{slash_command} pod {namespace}/{shown[0].name}"
        extra.append(context([f"Diagnose another: {inline_code(example)}"]))
    head, body = blocks[:1], blocks[1:]
    tail = [body.pop()] if body and body[-1].get("type") == "actions" else []
    if body and _is_truncation_notice(body[-1]):
        body.pop()
        truncated = True
    else:
        truncated = False
    reserved = [*head, intro, *extra, *tail]
    body = fit_blocks(
        body, max_blocks=MAX_BLOCKS - len(reserved) - 1, max_text=MAX_MESSAGE_TEXT - text_length(reserved)
    )
    if truncated and not (body and _is_truncation_notice(body[-1])):
        body.append(context([TRUNCATED_NOTICE]))
    return [*head, intro, *body, *extra, *tail]


def _is_truncation_notice(block: Block) -> bool:
    elements = block.get("elements") if block.get("type") == "context" else None
    return bool(elements) and isinstance(elements, list) and elements[0].get("text") == TRUNCATED_NOTICE


def _refusal_mrkdwn(refusal: Refusal, slash_command: str = SLASH_COMMAND) -> str:
    icon = {"invalid": ":grey_question:", "denied": ":no_entry:", "not_found": ":mag:"}.get(
        refusal.kind, ":warning:"
    )
    lines = [f"{icon} {escape(_for_command(refusal.message, slash_command))}"]
    if refusal.suggestions:
        commands = ", ".join(inline_code(f"{slash_command} pod {name}") for name in refusal.suggestions)
        lines.append(f"Did you mean {commands}?")
    return "\n".join(lines)


def answer_message(
    answer: Answer,
    *,
    shared_by: str | None = None,
    cluster_name: str | None = None,
    slash_command: str = SLASH_COMMAND,
) -> tuple[str, list[Block]]:
    """Slack fallback text (escaped) and blocks for an answer; `shared_by` (a user ID) adds "Shared by".

    `cluster_name` (CLUSTER_NAME) adds a "Cluster:" line under the header and `[name] ` before the
    fallback text: with one bot per cluster in a workspace, every answer says which cluster it read.
    `slash_command` is the command the sentences suggest typing (SLASH_COMMAND).
    """
    prefix = escape(cluster_prefix(cluster_name))
    if isinstance(answer, Refusal):
        message = _for_command(" ".join(answer.message.split()), slash_command)
        fallback = truncate(prefix + escape(message), MAX_FALLBACK_TEXT)
        blocks = [section(_refusal_mrkdwn(answer, slash_command))]
        return fallback, with_cluster_context(blocks, cluster_name)
    if isinstance(answer, TriageAnswer):
        text_ = triage_fallback_text(answer.rows, namespace=answer.namespace)
        blocks = triage_blocks(answer.rows, namespace=answer.namespace, pods_checked=answer.pods_checked)
    else:
        text_ = diagnosis_fallback_text(answer.diagnosis)
        blocks = diagnosis_blocks(answer.diagnosis)
        if answer.selection is not None:
            blocks = _with_selection_blocks(answer, blocks, slash_command)
    if prefix:
        text_ = truncate(prefix + text_, MAX_FALLBACK_TEXT)
    blocks = with_cluster_context(blocks, cluster_name)
    if shared_by is not None and _SLACK_USER_ID.match(shared_by):
        blocks = fit_blocks([context([f"Shared by <@{shared_by}>"]), *blocks])
    return text_, blocks


def answer_text(answer: Answer) -> str:
    """The answer as terminal text ending in a newline (console mode, `exitcode-bot pod|ns`)."""
    if isinstance(answer, Refusal):
        return printable(refusal_text(answer))
    if isinstance(answer, TriageAnswer):
        return triage_text(answer.rows, namespace=answer.namespace, pods_checked=answer.pods_checked)
    body = diagnosis_text(answer.diagnosis)
    selection = answer.selection
    if selection is None:
        return body
    lines = [_selection_sentence(answer), "", body.rstrip("\n")]
    if selection.others:
        title = f"Other pods of {selection.workload}" if selection.workload else "Other matching pods"
        lines.extend(["", f"{title}:"])
        now = answer.diagnosis.diagnosed_at
        lines.extend(f"  {line.name}: {_other_pod_facts(line, now)}" for line in selection.others)
    return printable("\n".join(lines) + "\n")


def refusal_text(refusal: Refusal) -> str:
    """A refusal as plain text (one or two lines, ending in a newline); not yet made printable."""
    lines = [refusal.message.replace("`", "")]
    if refusal.suggestions:
        lines.append(f"Did you mean: {', '.join(refusal.suggestions)}?")
    return "\n".join(lines) + "\n"


def answer_json(answer: PodAnswer | TriageAnswer) -> dict[str, Any]:
    """`--json`: the diagnosis or triage document; a pod picked from a workload adds `selected`."""
    if isinstance(answer, TriageAnswer):
        return triage_json(answer.rows, namespace=answer.namespace, pods_checked=answer.pods_checked)
    document = diagnosis_json(answer.diagnosis)
    selection = answer.selection
    if selection is not None:
        document["selected"] = {
            "query": selection.query,
            "workload": selection.workload,
            "crashed": selection.crashed,
            "other_pods": [
                {
                    "pod": line.name,
                    "phase": line.phase,
                    "restarts": line.restarts,
                    "exit_code": line.exit_code,
                    "reason": line.reason,
                    "state": line.state,
                    "finished_at": stamp(line.finished_at) if line.finished_at else None,
                }
                for line in selection.others
            ],
        }
    return document


# ------------------------------------------------------------------------------------------------ CLI


def run_cli_command(
    kind: QueryKind,
    argument: str,
    *,
    knowledge: KnowledgeBase,
    access: NamespaceAccess,
    default_namespace: str,
    log_lines: int,
    timeout_seconds: float,
    as_json: bool,
    out: TextIO,
    err: TextIO,
    environ: Mapping[str, str] | None = None,
) -> int:
    """`exitcode-bot pod NS/NAME` and `exitcode-bot ns NAMESPACE` with the current kubeconfig.

    The answer goes to `out`; a refusal's sentence to `err` (exit 2 for bad input or a denied namespace,
    1 for anything the cluster said). Never a traceback: an unexpected failure is one line and exit 1.
    """
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # connection retries are reported as one sentence
    cluster = connect_cluster(timeout_seconds, environ=environ)
    service = DiagnoseService(
        knowledge,
        cluster.reader,
        access=access,
        default_namespace=default_namespace,
        log_lines=log_lines,
        unavailable=cluster.problem,
    )
    try:
        answer = asyncio.run(service.answer(kind, argument))
    except Exception as error:
        err.write(printable(f"exitcode-bot: unexpected error ({type(error).__name__}: {error})\n"))
        return EXIT_FAILURE
    finally:
        cluster.close()
    if isinstance(answer, Refusal):
        # The sentences name the Slack command; here the same request is typed as `exitcode-bot …`.
        err.write(printable("exitcode-bot: " + refusal_text(answer).replace("/exitcode ", "exitcode-bot ")))
        return EXIT_USAGE if answer.kind in BAD_INPUT else EXIT_FAILURE
    if as_json:
        out.write(json.dumps(answer_json(answer), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(answer_text(answer))
    out.flush()
    return EXIT_OK
