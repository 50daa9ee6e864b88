"""`exitcode-bot` / `python -m bot`: run the bot, or answer one question and exit.

Without a subcommand the bot runs (in Slack, or in console mode without tokens; `bot.wiring`).
Subcommands answer from the shell, for scripts and for engineers who are not in Slack:
`explain QUERY`, and `pod [CLUSTER/]NS/NAME` / `ns [CLUSTER/]NAMESPACE` (also `namespace`, as in
Slack), which read the cluster of the current kubeconfig, or with CLUSTERS any of the bot's clusters,
chosen as the slash command chooses: exit 0 with an answer, 1 when the cluster said no (or cannot be
reached), 2 for bad input, a cluster the bot does not serve or a namespace ALLOWED_NAMESPACES excludes.
`--version` prints `exitcode-bot <version>`.

Start-up speed is a feature here (`exitcode-bot explain 137` should feel as quick as `kubectl`), so each
subcommand imports what it uses when it runs, and nothing else: `explain` never loads the Slack,
Kubernetes, aiohttp or Prometheus libraries, and not even pydantic unless a setting is actually given
(`explain_settings`). Those imports inside functions are for start-up speed only; the module graph has
no cycles (`.importlinter`'s layers contract: this module sits above `bot.wiring` and the application).
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot import __version__
from bot.application.startup import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    StartupError,
    load_knowledge_base,
    load_settings,
)
from bot.command import CLI_PROGRAM, SUBCOMMAND_WORDS, DiagnoseCommand, QueryKind

if TYPE_CHECKING:
    import argparse

    from bot.application.diagnose import DiagnoseService
    from bot.diagnosis.answers import Answer
    from bot.knowledge import KnowledgeBase
    from bot.settings import Settings

PROGRAM = CLI_PROGRAM

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROGRAM",
    "SUBCOMMANDS",
    "StartupError",
    "Subcommand",
    "build_parser",
    "main",
]


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One `exitcode-bot NAME …` command: how to declare its arguments and how to run it."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    aliases: tuple[str, ...] = ()


# --- explain --------------------------------------------------------------------------------------

SETTINGS_FILE = Path(__file__).with_name("settings.py")
_FIELD = re.compile(r"^    ([a-z_][a-z0-9_]*)\s*:", re.MULTILINE)


def setting_names() -> frozenset[str]:
    """The environment variables `Settings` reads (its field names, upper-cased), found without
    importing pydantic: the annotated names in the `Settings` class body of `bot/settings.py`.
    tests/test_cli.py checks this equals `Settings.model_fields`."""
    source = SETTINGS_FILE.read_text(encoding="utf-8")
    body = source.split("\nclass Settings(", 1)[1]
    body = re.split(r"\n(?=\S)", body, maxsplit=1)[0]  # up to the next top-level statement
    return frozenset(name.upper() for name in _FIELD.findall(body))


@dataclass(frozen=True, slots=True)
class ExplainSettings:
    """The three settings an explanation depends on (the operator's knowledge file, runbook links)."""

    knowledge_file: Path | None = None
    runbook_url_template: str | None = None
    public_url: str | None = None


def explain_settings(environ: Mapping[str, str] | None = None) -> ExplainSettings:
    """The settings `explain` needs; pydantic only when something is actually configured.

    With no setting in the environment and no `.env` file, every setting has its default (and defaults
    are valid), so building `Settings` would only cost start-up time. Otherwise `Settings` is built as
    for the bot, so an invalid value is reported exactly as there (exit 2, naming the variable).
    """
    env = os.environ if environ is None else environ
    names = setting_names()
    if not Path(".env").exists() and not any(key.upper() in names for key in env):
        return ExplainSettings()
    settings = load_settings()
    return ExplainSettings(settings.knowledge_file, settings.runbook_url_template, settings.public_url)


def load_explain_knowledge(settings: ExplainSettings) -> KnowledgeBase:
    """The knowledge base for `explain`, from the user's cache while its inputs are unchanged
    (`bot.application.knowledge_cache`); a broken operator file is a `StartupError` naming it."""
    from bot.application.knowledge_cache import cached_knowledge
    from bot.knowledge import KnowledgeError, RunbookLinks

    links = RunbookLinks(settings.runbook_url_template, settings.public_url)

    def load() -> KnowledgeBase:
        from bot.knowledge import load_knowledge  # PyYAML and pydantic: only on a cache miss

        return load_knowledge(settings.knowledge_file, links)

    try:
        return cached_knowledge(settings.knowledge_file, links, load)
    except KnowledgeError as error:
        raise StartupError(str(error)) from None


def _explain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "query", nargs="+", help="an exit code, signal or Kubernetes reason: 137, sigterm, OOMKilled"
    )
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")


def _run_explain(args: argparse.Namespace) -> int:
    return explain(args.query, as_json=args.json)


def explain(query: Sequence[str], *, as_json: bool) -> int:
    """Print the answer to `exitcode-bot explain QUERY…` (text, or JSON with `--json`)."""
    from bot.knowledge.explanation import Usage
    from bot.render.text import reply_text

    kb = load_explain_knowledge(explain_settings())
    reply = kb.answer(" ".join(query))
    out = _stdout()
    if as_json:
        import json

        from bot.render.json_view import reply_json

        out.write(json.dumps(reply_json(reply), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(reply_text(reply).rstrip("\n") + "\n")
    out.flush()
    return EXIT_USAGE if isinstance(reply, Usage) and not reply.is_help else EXIT_OK


_JSON_FLAG = "--json"


def plain_explain(argv: Sequence[str]) -> tuple[list[str], bool] | None:
    """`(query words, --json)` when argv is a plain `explain WORD… [--json]` that argparse would read
    exactly so; None for anything else (options, `-1`, `--`, abbreviations, a misplaced `--json`), which
    then goes through argparse with its own messages. Saves importing and building the parser (a
    noticeable part of `explain`'s cold start); tests/test_cli.py compares both on many command lines.

    argparse's reading of `explain` (`query` with nargs="+", then `--json`): leading and trailing
    `--json` flags around one run of words; a word starting with `-` is an option or a negative number
    only argparse decides about, and `--json` between words leaves the later words unrecognised.
    """
    if len(argv) < 2 or argv[0] != EXPLAIN.name:
        return None
    words = list(argv[1:])
    as_json = False
    while words and words[0] == _JSON_FLAG:
        words.pop(0)
        as_json = True
    while words and words[-1] == _JSON_FLAG:
        words.pop()
        as_json = True
    if not words or any(word.startswith("-") for word in words):
        return None
    return words, as_json


EXPLAIN = Subcommand(
    name="explain",
    help="explain an exit code, signal or Kubernetes reason",
    add_arguments=_explain_arguments,
    run=_run_explain,
)


# --- pod / ns ---------------------------------------------------------------------------------------


def _pod_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "argument",
        metavar="[CLUSTER/]NAMESPACE/POD",
        help="a pod (POD alone means DEFAULT_NAMESPACE); a Deployment, StatefulSet or Job name, or a pod "
        "name prefix, diagnoses its most recently crashed pod. With CLUSTERS, CLUSTER/ names one of its "
        "clusters (default: the home cluster)",
    )
    parser.add_argument("--json", action="store_true", help="print the diagnosis as JSON")


def _ns_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "argument",
        metavar="[CLUSTER/]NAMESPACE",
        help="the namespace to triage; with CLUSTERS, CLUSTER/ names one of its clusters (default: the "
        "home cluster)",
    )
    parser.add_argument("--json", action="store_true", help="print the triage as JSON")


def run_diagnose_command(
    command: DiagnoseCommand,
    *,
    as_json: bool,
    out: TextIO,
    err: TextIO,
    environ: dict[str, str] | None = None,
) -> int:
    """`exitcode-bot pod [CLUSTER/]NS/NAME` and `exitcode-bot ns [CLUSTER/]NAMESPACE`.

    Without CLUSTERS: the current kubeconfig context, as always. With CLUSTERS: the clusters the bot
    serves, connected and routed exactly as the slash command's are (`connect_clusters`, `ClusterDiagnose`:
    `CLUSTER/` as `split_cluster` reads it, else the home cluster), and the answer names its cluster.

    The answer goes to `out`; a refusal's sentence to `err` (exit 2 for bad input, an unknown cluster or
    a denied namespace, 1 for anything the cluster said, such as a cluster that cannot be reached). Never
    a traceback: an unexpected failure is one line and exit 1. The Kubernetes client is imported only
    now, for these.
    """
    import asyncio
    import json
    import logging

    from bot.diagnosis.answers import BAD_INPUT, Refusal
    from bot.render.answer_json import answer_json
    from bot.render.answer_text import answer_text, refusal_text
    from bot.render.text import printable

    settings = load_settings()
    knowledge = load_knowledge_base(settings)
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # connection retries are reported as one sentence
    diagnose = _cluster_diagnose(settings, knowledge, environ)
    try:
        cluster, answer = asyncio.run(diagnose.answer(command.kind, command.argument))
    except Exception as error:
        err.write(printable(f"{PROGRAM}: unexpected error ({type(error).__name__}: {error})\n"))
        return EXIT_FAILURE
    finally:
        diagnose.close()
    if isinstance(answer, Refusal):
        err.write(printable(f"{PROGRAM}: " + refusal_text(answer, program=PROGRAM)))
        return EXIT_USAGE if answer.kind in BAD_INPUT else EXIT_FAILURE
    named = {"cluster": cluster} if cluster is not None else {}
    if as_json:
        out.write(json.dumps(named | answer_json(answer), indent=2, ensure_ascii=False) + "\n")
    else:
        heading = printable(f"Cluster: {cluster}\n") if cluster is not None else ""
        out.write(heading + answer_text(answer, program=PROGRAM))
    out.flush()
    return EXIT_OK


def _cluster_diagnose(
    settings: Settings, knowledge: KnowledgeBase, environ: dict[str, str] | None
) -> CliDiagnose:
    """The clusters `pod`/`ns` may read: every one of CLUSTERS, or the current context without it. A
    CLUSTERS entry the kubeconfig lacks is a `StartupError` (exit 2, one line), as for the bot."""
    from bot.access import NamespaceAccess
    from bot.application.cluster import ClusterConnection, connect_cluster
    from bot.application.diagnose import DiagnoseService

    def service(connection: ClusterConnection) -> DiagnoseService:
        return DiagnoseService(
            knowledge,
            connection.reader,
            access=NamespaceAccess(settings.allowed_namespaces),
            default_namespace=settings.default_namespace,
            log_lines=settings.log_lines,
            unavailable=connection.problem,
        )

    if not settings.clusters:
        connection = connect_cluster(settings.kube_timeout_seconds, environ=environ)
        single = service(connection)

        async def current_context(kind: QueryKind, argument: str) -> tuple[str | None, Answer]:
            return None, await single.answer(kind, argument)

        return CliDiagnose(current_context, connection.close)
    from bot.access import ClusterAccess
    from bot.application.cluster_commands import ClusterDiagnose
    from bot.application.clusters import ClusterSelectionError, connect_clusters

    try:
        registry = connect_clusters(
            settings.clusters,
            cluster_name=settings.cluster_name,
            timeout_seconds=settings.kube_timeout_seconds,
            environ=environ,
        )
    except ClusterSelectionError as error:
        raise StartupError(str(error)) from None
    services = {connection.name or registry.home: service(connection) for connection in registry}
    # No channel on a shell: every cluster may be asked, the home one by default (`ClusterAccess`).
    router = ClusterDiagnose(registry, services, ClusterAccess())

    async def routed(kind: QueryKind, argument: str) -> tuple[str | None, Answer]:
        result = await router.answer(kind, argument)
        return result.cluster, result.answer

    return CliDiagnose(routed, registry.close)


@dataclass(frozen=True, slots=True)
class CliDiagnose:
    """What `pod`/`ns` ask, and how to close its clients after."""

    answer: Callable[[QueryKind, str], Coroutine[Any, Any, tuple[str | None, Answer]]]
    """(the cluster the answer is about, or None without CLUSTERS; the answer)"""
    close: Callable[[], None]


def _diagnose_subcommand(kind: QueryKind) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        command = DiagnoseCommand(kind=kind, argument=args.argument)
        return run_diagnose_command(command, as_json=args.json, out=_stdout(), err=sys.stderr)

    return run


def _aliases(kind: QueryKind) -> tuple[str, ...]:
    """The other words the command grammar accepts for `kind` (`namespace` for `ns`)."""
    return tuple(word for word, meaning in SUBCOMMAND_WORDS.items() if meaning == kind and word != kind)


POD = Subcommand(
    name="pod",
    help="diagnose why a pod's containers died, from the live cluster (the current kubeconfig context, "
    "or with CLUSTERS the one CLUSTER/ names)",
    add_arguments=_pod_arguments,
    run=_diagnose_subcommand("pod"),
    aliases=_aliases("pod"),
)

NS = Subcommand(
    name="ns",
    help="list a namespace's crashing pods, newest failure first (the current kubeconfig context, or "
    "with CLUSTERS the one CLUSTER/ names)",
    add_arguments=_ns_arguments,
    run=_diagnose_subcommand("ns"),
    aliases=_aliases("ns"),
)

SUBCOMMANDS: list[Subcommand] = [EXPLAIN, POD, NS]


# --- the parser ---------------------------------------------------------------------------------------


def build_parser(subcommands: Sequence[Subcommand] = SUBCOMMANDS) -> argparse.ArgumentParser:
    import argparse  # not for a plain `explain` (`plain_explain`)

    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description=(
            "Kubernetes crash triage for Slack. Without a subcommand, runs the bot: in Slack when "
            "SLACK_BOT_TOKEN is set, otherwise in console mode on stdin/stdout."
        ),
    )
    parser.add_argument("--version", action="version", version=f"{PROGRAM} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for subcommand in subcommands:
        sub = commands.add_parser(
            subcommand.name, help=subcommand.help, description=subcommand.help, aliases=subcommand.aliases
        )
        subcommand.add_arguments(sub)
        sub.set_defaults(run=subcommand.run)
    return parser


def _run_bot() -> int:
    from bot.wiring import run_bot  # the whole bot: imported only when it runs

    return run_bot(load_settings())


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run; returns the process exit code."""
    plain = plain_explain(sys.argv[1:] if argv is None else argv)
    try:
        if plain is not None:
            return explain(plain[0], as_json=plain[1])
    except StartupError as error:
        _report(str(error))
        return EXIT_USAGE
    except BrokenPipeError:
        return _reader_gone()
    args = build_parser().parse_args(argv)
    try:
        if args.command is None:
            return _run_bot()
        code: int = args.run(args)
        return code
    except StartupError as error:
        _report(str(error))
        return EXIT_USAGE
    except BrokenPipeError:
        return _reader_gone()


def _reader_gone() -> int:
    """`exitcode-bot explain 137 | head -3`: the reader has all it wanted; not an error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not complain
    return EXIT_OK


def _report(message: str) -> None:
    sys.stderr.write(f"{PROGRAM}: {message}\n")
    sys.stderr.flush()


def _stdout() -> TextIO:
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper):
        out.reconfigure(errors="replace")
    return out
