"""The command grammar: what the words after `/exitcode` (or `exitcode-bot`, or a console line) ask for.

One pure function, `parse_command`, used by every surface (the Slack adapter, console mode and the CLI),
so `pod shop/api share` means the same thing wherever it is typed:

    137 · sigkill · OOMKilled · help · 143 share   -> ExplainCommand (the knowledge base reads the query)
    pod NAMESPACE/POD [share] · pod POD [share]    -> DiagnoseCommand("pod", …)
    ns NAMESPACE [share] · namespace NAMESPACE     -> DiagnoseCommand("ns", …)
    incidents [share]                              -> DiagnoseCommand("incidents", "")  (open incidents)
    pod CLUSTER/NAMESPACE/POD · ns CLUSTER/NAMESPACE -> the same, for one cluster (`split_cluster`)
    clusters                                       -> ClustersCommand (the clusters this bot serves)
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

QueryKind = Literal["pod", "ns", "incidents"]
"""The cluster subcommands: diagnose one pod, triage a namespace, list the open alert incidents."""

SUBCOMMAND_WORDS: dict[str, QueryKind] = {
    "pod": "pod",
    "ns": "ns",
    "namespace": "ns",
    "incidents": "incidents",
}
NO_ARGUMENT: frozenset[QueryKind] = frozenset({"incidents"})
"""Subcommands that take no argument (`incidents` lists what the channel may see)."""
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
class ClustersCommand:
    """`clusters`: each cluster's name, reachability, server version and which replica watches it."""

    share: bool = False


CLUSTERS_WORD = "clusters"


@dataclass(frozen=True, slots=True)
class SnoozesCommand:
    """`snoozes`: list the alert snoozes in force that the channel may see (Slack only)."""


Command = ExplainCommand | DiagnoseCommand | ClustersCommand | SnoozesCommand


def parse_command(text: str) -> Command:
    """The command in `text`; never raises (anything that is not `pod …`, `ns …`, `incidents`, `clusters`
    or `snoozes` is an explain query)."""
    words = text.split()
    if (
        words
        and words[0].casefold() == CLUSTERS_WORD
        and [w.casefold() for w in words[1:]] in ([], [SHARE_WORD])
    ):
        return ClustersCommand(share=len(words) == 2)
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


def split_cluster(kind: QueryKind, argument: str) -> tuple[str | None, str]:
    """`(cluster, rest)` of a `pod`/`ns` argument: `prod/shop/api` → `("prod", "shop/api")` for `pod`
    (a pod's own argument has at most one `/`, NAMESPACE/POD), `prod/shop` → `("prod", "shop")` for `ns`
    (a namespace has none). Without the extra part the cluster is None (the channel's default)."""
    text = argument.strip()
    slashes = 2 if kind == "pod" else 1
    if text.count("/") < slashes:
        return None, text
    cluster, _, rest = text.partition("/")
    return cluster, rest


_NOT_IN_CLUSTER_NAMES = frozenset("/<>&`*")


def is_cluster_name(name: str) -> bool:
    """Whether `name` can name a cluster in a command (`CLUSTER/NAMESPACE`) and in a button's value: one
    word, without `/`, Slack's markup characters `<>&` or the glob and code marks `*` and backquote."""
    return bool(name) and not any(char.isspace() or char in _NOT_IN_CLUSTER_NAMES for char in name)
