"""Turning merged knowledge data into finished `Explanation`s, once, at load time.

Every code 0–255 gets an explanation: its own entry laid over the generated text for its range
(a signal code, a non-killing signal code, a real-time signal code, or an application-defined code), so
an operator's new code needs nothing more than what they want to say. Doing this once at load keeps
`answer()` a dictionary lookup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from bot.knowledge.explanation import Explanation, RunbookStep, RuntimeHint, SignalInfo
from bot.knowledge.links import RunbookLinks
from bot.knowledge.merge import MergedKnowledge, overlay
from bot.knowledge.schema import EntryFields, ReasonEntry
from bot.knowledge.signals import (
    ACTION_TEXT,
    FIRST_REALTIME,
    GLIBC_SIGRTMIN,
    LAST_REALTIME,
    SIGNAL_EXIT_OFFSET,
    SignalTable,
    realtime_name,
)

ALL_CODES = range(256)
# Template variables; runbook placeholders such as `{namespace}` are deliberately not in this list.
_VARIABLE = re.compile(r"\{(code|signal|signal_number|default_action|signal_meaning)\}")


def build_signal_table(merged: MergedKnowledge) -> SignalTable:
    standard: dict[int, tuple[SignalInfo, tuple[str, ...]]] = {}
    for number, entry in merged.signals.items():
        assert entry.name and entry.default_action and entry.description  # checked by merge
        info = SignalInfo(number, entry.name, entry.default_action, entry.description)
        standard[number] = (info, entry.aliases or ())
    rt = merged.realtime
    assert rt.default_action and rt.description and rt.reserved_description  # checked by merge
    realtime = {
        n: SignalInfo(
            n,
            realtime_name(n),
            rt.default_action,
            rt.description if n >= GLIBC_SIGRTMIN else rt.reserved_description,
        )
        for n in range(FIRST_REALTIME, LAST_REALTIME + 1)
    }
    return SignalTable(standard, realtime)


def build_code_explanations(
    merged: MergedKnowledge, signals: SignalTable, links: RunbookLinks
) -> tuple[Explanation, ...]:
    """Explanations for 0–255, indexed by code.

    Codes generated from the same template share equal runbook steps (1,029 steps, 297 different):
    each is kept once, which halves the objects the CLI's knowledge cache unpickles at every start."""
    steps: dict[RunbookStep, RunbookStep] = {}
    return tuple(_code_explanation(code, merged, signals, links, steps) for code in ALL_CODES)


def build_reason_explanations(merged: MergedKnowledge, links: RunbookLinks) -> dict[str, Explanation]:
    """Explanations for every reason, keyed by `reason_key`."""
    return {key: _reason_explanation(entry, links) for key, entry in merged.reasons.items()}


def _signal_for(code: int, signals: SignalTable) -> SignalInfo | None:
    if code <= SIGNAL_EXIT_OFFSET:
        return None
    return signals.by_number(code - SIGNAL_EXIT_OFFSET)


def _template_name(signal: SignalInfo | None) -> str:
    if signal is None:
        return "application_defined"
    if signal.number >= FIRST_REALTIME:
        return "realtime_code"
    return "signal_code" if signal.kills_by_default else "non_killing_signal_code"


def _code_explanation(
    code: int,
    merged: MergedKnowledge,
    signals: SignalTable,
    links: RunbookLinks,
    steps: dict[RunbookStep, RunbookStep],
) -> Explanation:
    signal = _signal_for(code, signals)
    template_name = _template_name(signal)
    fields = merged.templates[template_name]
    entry = merged.codes.get(code)
    if entry is not None:
        fields = overlay(fields, entry, keep=("code",))
    variables = {"code": str(code)}
    if signal is not None:
        variables.update(
            signal=signal.name,
            signal_number=str(signal.number),
            default_action=ACTION_TEXT[signal.default_action],
            signal_meaning=signal.description.rstrip("."),
        )
    key = str(code)
    default_app_defined = template_name in ("application_defined", "non_killing_signal_code")
    texts = _texts(fields, variables)
    return Explanation(
        query=key,
        subject="exit_code",
        code=code,
        normalized_code=code,
        signal=signal,
        title=texts.title,
        summary=texts.summary,
        kubernetes=texts.kubernetes,
        causes=texts.causes,
        runbook_steps=tuple(steps.setdefault(step, step) for step in texts.runbook_steps),
        runtime_hints=texts.runtime_hints,
        runbook_key=key,
        runbook_url=links.url_for(key, fields.runbook_url),
        application_defined=default_app_defined
        if fields.application_defined is None
        else fields.application_defined,
    )


def _reason_explanation(entry: ReasonEntry, links: RunbookLinks) -> Explanation:
    texts = _texts(entry, {})
    return Explanation(
        query=entry.name,
        subject="reason",
        reason=entry.name,
        reason_kind=entry.kind,
        typical_codes=entry.typical_codes or (),
        title=texts.title,
        summary=texts.summary,
        kubernetes=texts.kubernetes,
        causes=texts.causes,
        runbook_steps=texts.runbook_steps,
        runtime_hints=texts.runtime_hints,
        runbook_key=entry.name,
        runbook_url=links.url_for(entry.name, entry.runbook_url),
        application_defined=bool(entry.application_defined),
    )


class _Texts(NamedTuple):
    title: str
    summary: str
    kubernetes: tuple[str, ...]
    causes: tuple[str, ...]
    runbook_steps: tuple[RunbookStep, ...]
    runtime_hints: tuple[RuntimeHint, ...]


def _texts(fields: EntryFields, variables: Mapping[str, str]) -> _Texts:
    """The entry's text with template variables filled; unknown `{names}` are left for the renderer."""

    def fill(text: str) -> str:
        return _VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(0)), text)

    assert fields.title and fields.summary  # templates and reasons are checked complete by merge
    return _Texts(
        title=fill(fields.title),
        summary=fill(fields.summary),
        kubernetes=tuple(fill(t) for t in fields.kubernetes or ()),
        causes=tuple(fill(t) for t in fields.causes or ()),
        runbook_steps=tuple(
            RunbookStep(fill(s.text), fill(s.command) if s.command else None) for s in fields.runbook or ()
        ),
        runtime_hints=tuple(RuntimeHint(h.runtime, fill(h.text)) for h in fields.runtime_hints or ()),
    )
