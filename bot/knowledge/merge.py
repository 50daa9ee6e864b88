"""Merging the default knowledge file with the operator's, field by field, and checking the result.

Entries are keyed (codes by number, reasons by case-insensitive name, signals by number); a later file
replaces only the fields it sets, so an operator who writes `{code: 3, title: config invalid}` keeps the
default summary, steps and hints. Completeness is checked on the merged result, and every error names
the file and entry that introduced the incomplete entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from bot.knowledge.errors import KnowledgeError
from bot.knowledge.keys import reason_key, signal_key
from bot.knowledge.schema import (
    CodeEntry,
    EntryFields,
    KnowledgeFile,
    RealtimeSignals,
    ReasonEntry,
    SignalEntry,
    Templates,
)

ModelT = TypeVar("ModelT", bound=BaseModel)
KeyT = TypeVar("KeyT", int, str)

STANDARD_SIGNALS = range(1, 32)
TEMPLATE_NAMES = ("signal_code", "non_killing_signal_code", "realtime_code", "application_defined")


@dataclass(frozen=True, slots=True)
class Origin:
    """Which file and entry a merged entry (or its latest override) came from, for error messages."""

    path: Path
    entry: str


@dataclass(slots=True)
class MergedKnowledge:
    """All files merged; every entry complete enough to build explanations from."""

    signals: dict[int, SignalEntry] = field(default_factory=dict)
    realtime: RealtimeSignals = field(default_factory=RealtimeSignals)
    templates: dict[str, EntryFields] = field(default_factory=dict)
    codes: dict[int, CodeEntry] = field(default_factory=dict)
    reasons: dict[str, ReasonEntry] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)


def overlay(base: ModelT, top: BaseModel, keep: tuple[str, ...] = ()) -> ModelT:
    """`base` with every field `top` explicitly set, except the key fields in `keep`.

    `top` may be a richer model (a code entry over a template); its extra key fields go in `keep`.
    """
    update = {name: getattr(top, name) for name in top.model_fields_set if name not in keep}
    return base.model_copy(update=update)


def code_label(index: int, entry: CodeEntry) -> str:
    return f"codes[{index}] (code {entry.code})"


def reason_label(index: int, entry: ReasonEntry) -> str:
    return f"reasons[{index}] (reason {entry.name})"


def signal_label(index: int, entry: SignalEntry) -> str:
    return f"signals[{index}] (signal {entry.number})"


def merge_files(files: Sequence[tuple[Path, KnowledgeFile]]) -> MergedKnowledge:
    """Merge the files in order (later wins, field by field), then check completeness."""
    merged = MergedKnowledge()
    for path, data in files:
        _merge_keyed(path, data.signals, merged.signals, "signals", lambda e: e.number, signal_label, merged)
        _merge_keyed(path, data.codes, merged.codes, "codes", lambda e: e.code, code_label, merged)
        _merge_keyed(
            path, data.reasons, merged.reasons, "reasons", lambda e: reason_key(e.name), reason_label, merged
        )
        if data.realtime_signals is not None:
            merged.realtime = overlay(merged.realtime, data.realtime_signals)
            merged.origins["realtime_signals"] = Origin(path, "realtime_signals")
        if data.templates is not None:
            _merge_templates(path, data.templates, merged)
    _check_complete(merged, files[0][0])
    return merged


def _merge_keyed(
    path: Path,
    entries: Sequence[ModelT],
    into: dict[KeyT, ModelT],
    section: str,
    key_of: Callable[[ModelT], KeyT],
    label_of: Callable[[int, ModelT], str],
    merged: MergedKnowledge,
) -> None:
    seen: dict[KeyT, int] = {}
    for index, entry in enumerate(entries):
        key = key_of(entry)
        label = label_of(index, entry)
        if key in seen:
            first = label_of(seen[key], entries[seen[key]])
            raise KnowledgeError(
                path, f"duplicate entry; {first} already defines it", label, _key_field(section)
            )
        seen[key] = index
        into[key] = overlay(into[key], entry, keep=(_key_field(section),)) if key in into else entry
        merged.origins[f"{section}:{key}"] = Origin(path, label)


def _key_field(section: str) -> str:
    return {"signals": "number", "codes": "code", "reasons": "name"}[section]


def _merge_templates(path: Path, templates: Templates, merged: MergedKnowledge) -> None:
    for name in TEMPLATE_NAMES:
        template: EntryFields | None = getattr(templates, name)
        if template is None:
            continue
        current = merged.templates.get(name)
        merged.templates[name] = overlay(current, template) if current is not None else template
        merged.origins[f"templates:{name}"] = Origin(path, f"templates.{name}")


def _require(origin: Origin, model: BaseModel, fields: tuple[str, ...], what: str) -> None:
    for name in fields:
        if getattr(model, name) is None:
            raise KnowledgeError(origin.path, f"required for {what}", origin.entry, name)


def _check_complete(merged: MergedKnowledge, default_path: Path) -> None:
    missing = [n for n in STANDARD_SIGNALS if n not in merged.signals]
    if missing:
        numbers = ", ".join(str(n) for n in missing)
        raise KnowledgeError(default_path, f"the table must cover signals 1–31; missing {numbers}", "signals")
    names: dict[str, int] = {}
    for number, signal in sorted(merged.signals.items()):
        _require(
            merged.origins[f"signals:{number}"], signal, ("name", "default_action", "description"), "a signal"
        )
        for spelled in (signal.name or "", *(signal.aliases or ())):
            key = signal_key(spelled)
            other = names.setdefault(key, number)
            if other != number:
                _name_clash(merged, default_path, spelled, other, number)
    rt_origin = merged.origins.get("realtime_signals", Origin(default_path, "realtime_signals"))
    _require(rt_origin, merged.realtime, ("default_action", "description", "reserved_description"), "it")
    for name in TEMPLATE_NAMES:
        if name not in merged.templates:
            raise KnowledgeError(default_path, "template is missing", f"templates.{name}")
        origin = merged.origins[f"templates:{name}"]
        _require(origin, merged.templates[name], ("title", "summary", "runbook"), "a template")
    for key, reason in merged.reasons.items():
        origin = merged.origins[f"reasons:{key}"]
        _require(origin, reason, ("title", "summary", "kind", "runbook"), "a reason")


def _name_clash(merged: MergedKnowledge, default_path: Path, spelled: str, first: int, second: int) -> None:
    """Two signals share a name: blame the entry from the operator's file if one of them is from it."""
    first_origin, second_origin = merged.origins[f"signals:{first}"], merged.origins[f"signals:{second}"]
    if second_origin.path == default_path and first_origin.path != default_path:
        first, second, first_origin, second_origin = second, first, second_origin, first_origin
    field = "name" if merged.signals[second].name == spelled else "aliases"
    raise KnowledgeError(
        second_origin.path, f"{spelled} is already a name of signal {first}", second_origin.entry, field
    )
