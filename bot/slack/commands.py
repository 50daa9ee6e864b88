"""What the text after `/exitcode` asks for: an explanation, or a look at the cluster.

Only routing lives here. What a query means (`137`, `sigkill`, `OOMKilled`, `help`, a trailing `share`)
is the knowledge base's business, so explain queries are passed on untouched; what `pod`/`ns` arguments
mean is the diagnosis feature's, so for those this module only splits off the subcommand and the
trailing `share` word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DiagnoseKind = Literal["pod", "ns"]

_SUBCOMMANDS: dict[str, DiagnoseKind] = {"pod": "pod", "ns": "ns", "namespace": "ns"}
_SHARE_WORD = "share"


@dataclass(frozen=True, slots=True)
class ExplainCommand:
    """`/exitcode 137`, `/exitcode sigkill share`: the whole text, for `KnowledgeBase.answer`."""

    query: str


@dataclass(frozen=True, slots=True)
class DiagnoseCommand:
    """`/exitcode pod NS/NAME`, `/exitcode ns NAMESPACE`: look at live objects in the cluster."""

    kind: DiagnoseKind
    argument: str
    share: bool = False


SlashCommand = ExplainCommand | DiagnoseCommand


def parse_command_text(text: str) -> SlashCommand:
    """Route the raw command text; never raises (anything that is not `pod …`/`ns …` is explained)."""
    words = text.split()
    if not words or words[0].casefold() not in _SUBCOMMANDS:
        return ExplainCommand(query=text)
    kind = _SUBCOMMANDS[words[0].casefold()]
    rest = words[1:]
    share = bool(rest) and rest[-1].casefold() == _SHARE_WORD
    if share:
        rest = rest[:-1]
    return DiagnoseCommand(kind=kind, argument=" ".join(rest), share=share)
