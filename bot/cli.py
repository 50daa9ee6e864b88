"""`exitcode-bot` / `python -m bot`: run the bot, or answer one question and exit.

Without a subcommand the bot runs (in Slack, or in console mode without tokens). Subcommands answer
from the shell, for scripts and for engineers who are not in Slack. Everything heavy is imported
inside the function that needs it: `exitcode-bot explain 137` must start in well under half a second,
so it never loads the Slack, Kubernetes, aiohttp or Prometheus libraries it does not use.

Subcommands are entries in `SUBCOMMANDS`, so a feature adds its own without touching the parser logic:
`explain`, and `pod`/`ns`, which read the cluster of the current kubeconfig (exit 0 with an answer, 1 when
the cluster said no, 2 for bad input or a namespace ALLOWED_NAMESPACES excludes).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TextIO

if TYPE_CHECKING:
    from bot.knowledge import KnowledgeBase
    from bot.settings import Settings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
"""Bad input or configuration: a usage reply, an invalid setting, a broken knowledge file."""

PROGRAM = "exitcode-bot"


class StartupError(Exception):
    """A problem an operator fixes in the configuration; printed as one line, exit code 2."""


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One `exitcode-bot NAME …` command: how to declare its arguments and how to run it."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def load_settings() -> Settings:
    """Settings from the environment and `.env`; a bad value raises `StartupError` naming the variable.

    Values are never echoed: a mistyped token must not end up in a terminal scrollback or a log.
    """
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from bot.settings import Settings

    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = "_".join(str(part) for part in item["loc"][:1]).upper() or "settings"
            problems.append(f"{name}: {item['msg']}")
        raise StartupError("invalid setting " + "; ".join(problems)) from None
    except (SettingsError, ValueError) as error:
        raise StartupError(f"invalid settings: {error}") from None


def _explain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "query", nargs="+", help="an exit code, signal or Kubernetes reason: 137, sigterm, OOMKilled"
    )
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")


def load_knowledge_base(settings: Settings) -> KnowledgeBase:
    """The knowledge base with the operator's file; a broken file is a `StartupError` naming it."""
    from bot.knowledge import KnowledgeError, RunbookLinks, load_knowledge

    try:
        return load_knowledge(
            settings.knowledge_file, RunbookLinks(settings.runbook_url_template, settings.public_url)
        )
    except KnowledgeError as error:
        raise StartupError(str(error)) from None


def _run_explain(args: argparse.Namespace) -> int:
    from bot.knowledge.explanation import Usage
    from bot.render.json_view import reply_json
    from bot.render.text import reply_text

    kb = load_knowledge_base(load_settings())
    reply = kb.answer(" ".join(args.query))
    out = _stdout()
    if args.json:
        out.write(json.dumps(reply_json(reply), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(reply_text(reply).rstrip("\n") + "\n")
    out.flush()
    return EXIT_USAGE if isinstance(reply, Usage) and not reply.is_help else EXIT_OK


EXPLAIN = Subcommand(
    name="explain",
    help="explain an exit code, signal or Kubernetes reason",
    add_arguments=_explain_arguments,
    run=_run_explain,
)


def _pod_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        metavar="NAMESPACE/POD",
        help="a pod (POD alone means DEFAULT_NAMESPACE); a Deployment, StatefulSet or Job name, or a pod "
        "name prefix, diagnoses its most recently crashed pod",
    )
    parser.add_argument("--json", action="store_true", help="print the diagnosis as JSON")


def _ns_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("namespace", metavar="NAMESPACE", help="the namespace to triage")
    parser.add_argument("--json", action="store_true", help="print the triage as JSON")


def _run_cluster_query(kind: Literal["pod", "ns"], argument: str, as_json: bool) -> int:
    """Diagnose or triage with the current kubeconfig; Kubernetes is imported only now, for these."""
    from bot.access import NamespaceAccess
    from bot.diagnose_service import run_cli_command

    settings = load_settings()
    return run_cli_command(
        kind,
        argument,
        knowledge=load_knowledge_base(settings),
        access=NamespaceAccess(settings.allowed_namespaces),
        default_namespace=settings.default_namespace,
        log_lines=settings.log_lines,
        timeout_seconds=settings.kube_timeout_seconds,
        as_json=as_json,
        out=_stdout(),
        err=sys.stderr,
    )


POD = Subcommand(
    name="pod",
    help="diagnose why a pod's containers died, from the live cluster (current kubeconfig)",
    add_arguments=_pod_arguments,
    run=lambda args: _run_cluster_query("pod", args.target, args.json),
)

NS = Subcommand(
    name="ns",
    help="list a namespace's crashing pods, newest failure first (current kubeconfig)",
    add_arguments=_ns_arguments,
    run=lambda args: _run_cluster_query("ns", args.namespace, args.json),
)

SUBCOMMANDS: list[Subcommand] = [EXPLAIN, POD, NS]


def build_parser(subcommands: Sequence[Subcommand] = SUBCOMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description=(
            "Kubernetes crash triage for Slack. Without a subcommand, runs the bot: in Slack when "
            "SLACK_BOT_TOKEN is set, otherwise in console mode on stdin/stdout."
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for subcommand in subcommands:
        sub = commands.add_parser(subcommand.name, help=subcommand.help, description=subcommand.help)
        subcommand.add_arguments(sub)
        sub.set_defaults(run=subcommand.run)
    return parser


def _run_bot() -> int:
    from bot.wiring import run_bot

    return run_bot(load_settings())


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command is None:
            return _run_bot()
        code: int = args.run(args)
        return code
    except StartupError as error:
        _report(str(error))
        return EXIT_USAGE
    except BrokenPipeError:  # `exitcode-bot explain 137 | head -3`: the reader has all it wanted
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
