"""The shape of `bot/knowledge/data/exitcodes.yaml` (and of the operator's file, which uses the same schema).

Every model forbids unknown keys so a typo (`sumary:`) is an error at startup instead of a silently
missing sentence at 3 a.m. Entry fields are optional on purpose: the operator's file overrides entries
field by field, so it may set only `title` for code 3. Completeness (a reason needs a title, a signal
needs a name, …) is checked after merging, by `bot.knowledge.merge`, where the file that introduced the
incomplete entry is known.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

DefaultAction = Literal["terminate", "core", "ignore", "stop", "continue"]
ReasonKind = Literal["terminated", "waiting", "pod", "job"]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ExitStatus = Annotated[int, Field(ge=0, le=255)]
SignalName = Annotated[str, StringConstraints(pattern=r"^SIG[A-Z0-9]{2,12}$")]
ReasonName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9]{1,62}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepModel(_Strict):
    """One runbook step: what to do and, when there is one, the command to paste."""

    text: Text
    command: Text | None = None


class RuntimeHintModel(_Strict):
    """What one runtime (Go, Node.js, JVM, …) means by the code."""

    runtime: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    text: Text


class EntryFields(_Strict):
    """The explanatory fields shared by code entries, reason entries and templates."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=150)] | None = (
        None
    )
    summary: Text | None = None
    kubernetes: tuple[Text, ...] | None = None
    causes: tuple[Text, ...] | None = None
    runbook: Annotated[tuple[StepModel, ...], Field(min_length=1)] | None = None
    runtime_hints: tuple[RuntimeHintModel, ...] | None = None
    runbook_url: str | None = None
    application_defined: bool | None = None

    @field_validator("runbook_url")
    @classmethod
    def _http_link(cls, value: str | None) -> str | None:
        """Only http(s) links: the URL ends up in Slack buttons and HTML `href`s."""
        if value is None:
            return None
        value = value.strip()
        if not value.startswith(("https://", "http://")) or any(ch.isspace() for ch in value):
            raise ValueError("must be an http:// or https:// URL without spaces")
        return value


class CodeEntry(EntryFields):
    """What one exit status (0–255) means; merged over the generated text for its range."""

    code: ExitStatus


class ReasonEntry(EntryFields):
    """A Kubernetes reason (`OOMKilled`, `CrashLoopBackOff`, …) and which status field carries it."""

    name: ReasonName
    kind: ReasonKind | None = None
    typical_codes: tuple[ExitStatus, ...] | None = None


class SignalEntry(_Strict):
    """A Linux standard signal (1–31, x86_64/arm64 numbering)."""

    number: Annotated[int, Field(ge=1, le=31)]
    name: SignalName | None = None
    aliases: tuple[SignalName, ...] | None = None
    default_action: DefaultAction | None = None
    description: Text | None = None


class RealtimeSignals(_Strict):
    """Real-time signals 32–64 are described generically: they have no fixed meaning."""

    default_action: DefaultAction | None = None
    description: Text | None = None
    reserved_description: Text | None = None


class Templates(_Strict):
    """Generated text for codes without their own entry, by range.

    Templates may use `{code}`, `{signal}`, `{signal_number}`, `{default_action}` and `{signal_meaning}`.
    """

    signal_code: EntryFields | None = None
    non_killing_signal_code: EntryFields | None = None
    realtime_code: EntryFields | None = None
    application_defined: EntryFields | None = None


class KnowledgeFile(_Strict):
    """One knowledge file. `snippets` holds YAML anchors (`&logs_previous`) reused by entries."""

    version: Literal[1] = 1
    snippets: dict[str, object] = Field(default_factory=dict)
    signals: tuple[SignalEntry, ...] = ()
    realtime_signals: RealtimeSignals | None = None
    templates: Templates | None = None
    codes: tuple[CodeEntry, ...] = ()
    reasons: tuple[ReasonEntry, ...] = ()
