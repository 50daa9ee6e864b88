"""The command grammar: what the words after `/exitcode` (or `exitcode-bot`, or a console line) ask for.

One pure function, `parse_command`, used by every surface (the Slack adapter, console mode and the CLI),
so `pod shop/api share` means the same thing wherever it is typed:

    137 · sigkill · OOMKilled · help · 143 share   -> ExplainCommand (the knowledge base reads the query)
    pod NAMESPACE/POD [share] · pod POD [share]    -> DiagnoseCommand("pod", …)
    ns NAMESPACE [share] · namespace NAMESPACE     -> DiagnoseCommand("ns", …)
    snoozes                                        -> SnoozesCommand() (the alert snoozes in force)

What an explain query means (`137`, `128+9`, `help`, a trailing `share`) is the knowledge base's business,
so explain text is passed on untouched; what a `pod`/`ns` argument means is the diagnosis use case's, so
here it is only split off the subcommand and the trailing `share`. The command's own name (`/exitcode`, or
this installation's SLASH_COMMAND) is a value each surface passes in: nothing here assumes it.

Pure: no I/O, no settings; part of the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_SLASH_COMMAND = "/exitcode"
"""The slash command's name when SLASH_COMMAND is not set (one installation per cluster may pick another)."""
CLI_PROGRAM = "exitcode-bot"
"""How the same commands are typed in a shell (`exitcode-bot pod NS/NAME`)."""

QueryKind = Literal["pod", "ns"]
"""The cluster subcommands: diagnose one pod, or triage a namespace."""

SUBCOMMAND_WORDS: dict[str, QueryKind] = {"pod": "pod", "ns": "ns", "namespace": "ns"}
SHARE_WORD = "share"
SNOOZES_WORD = "snoozes"


@dataclass(frozen=True, slots=True)
class ExplainCommand:
    """`137`, `sigkill share`, `help`: the whole text, for `KnowledgeBase.answer`."""

    query: str


@dataclass(frozen=True, slots=True)
class DiagnoseCommand:
    """`pod NS/NAME`, `ns NAMESPACE`: look at live objects in the cluster.

    `argument` is the user's raw text after the subcommand (untrusted: the use case validates it);
    `share` asks for the answer to be posted visibly (meaningful in Slack only).
    """

    kind: QueryKind
    argument: str
    share: bool = False


@dataclass(frozen=True, slots=True)
class SnoozesCommand:
    """`snoozes`: list the alert snoozes in force that the channel may see (Slack only)."""


Command = ExplainCommand | DiagnoseCommand | SnoozesCommand


def parse_command(text: str) -> Command:
    """The command in `text`; never raises (anything that is not `pod …`/`ns …`/`snoozes` is an explain
    query)."""
    words = text.split()
    if len(words) == 1 and words[0].casefold() == SNOOZES_WORD:
        return SnoozesCommand()
    if not words or words[0].casefold() not in SUBCOMMAND_WORDS:
        return ExplainCommand(query=text)
    rest = words[1:]
    share = bool(rest) and rest[-1].casefold() == SHARE_WORD
    if share:
        rest = rest[:-1]
    return DiagnoseCommand(kind=SUBCOMMAND_WORDS[words[0].casefold()], argument=" ".join(rest), share=share)


def strip_slash_command(line: str, slash_command: str) -> str | None:
    """`/exitcode 137` and `137` both give `137` (with `slash_command="/exitcode"`); a line starting with
    another slash command gives None. Case-insensitive, as Slack's command names are."""
    text = line.strip()
    if not text.startswith("/"):
        return text
    command, _, rest = text.partition(" ")
    if command.casefold() != slash_command.casefold():
        return None
    return rest.strip()


def command_line(program: str, kind: QueryKind, argument: str) -> str:
    """What to type to ask for `kind` about `argument`: `/exitcode-prod pod shop/api`,
    `exitcode-bot ns shop`. Renderers call this with the name of the surface they render for."""
    return f"{program} {kind} {argument}"
