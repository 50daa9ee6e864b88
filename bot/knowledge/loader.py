"""Loading `bot/knowledge/data/exitcodes.yaml` and the operator's file into a `KnowledgeBase`.

Runs once at startup. Every way a file can be wrong (missing, unreadable, YAML syntax, wrong shape,
an incomplete or duplicated entry) becomes a `KnowledgeError` naming the file, the entry and the field,
so a typo in an operator's file stops the bot with one readable line instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.knowledge.base import KnowledgeBase
from bot.knowledge.compose import build_code_explanations, build_reason_explanations, build_signal_table
from bot.knowledge.errors import KnowledgeError
from bot.knowledge.links import RunbookLinks
from bot.knowledge.merge import merge_files
from bot.knowledge.paths import DEFAULT_KNOWLEDGE_FILE
from bot.knowledge.schema import KnowledgeFile

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ENTRY_KEYS = {"codes": "code", "reasons": "name", "signals": "number"}


def load_knowledge(extra_file: Path | None = None, links: RunbookLinks | None = None) -> KnowledgeBase:
    """The default knowledge base, extended and overridden by `extra_file` when given."""
    paths = [DEFAULT_KNOWLEDGE_FILE] if extra_file is None else [DEFAULT_KNOWLEDGE_FILE, extra_file]
    return load_knowledge_files(paths, links)


def load_knowledge_files(paths: Sequence[Path], links: RunbookLinks | None = None) -> KnowledgeBase:
    """Merge the files in order (later ones override earlier ones field by field) into a knowledge base."""
    links = links or RunbookLinks()
    merged = merge_files([(path, read_knowledge_file(path)) for path in paths])
    signals = build_signal_table(merged)
    codes = build_code_explanations(merged, signals, links)
    reasons = build_reason_explanations(merged, links)
    return KnowledgeBase(codes, reasons, signals)


def read_knowledge_file(path: Path) -> KnowledgeFile:
    """One file, parsed and validated; raises KnowledgeError."""
    raw = _read_yaml(path)
    try:
        return KnowledgeFile.model_validate(raw)
    except ValidationError as error:
        raise _explain_validation_error(path, raw, error) from None


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KnowledgeError(path, "knowledge file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KnowledgeError(path, f"cannot read the knowledge file ({error})") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader (C or pure Python)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = error.problem or error.context or "invalid YAML"
        raise KnowledgeError(path, f"YAML syntax error{where}: {problem}") from None
    except yaml.YAMLError as error:
        raise KnowledgeError(path, f"YAML syntax error: {error}") from None
    if data is None:
        return {}
    return data


def _explain_validation_error(path: Path, raw: object, error: ValidationError) -> KnowledgeError:
    """The first pydantic error, as `file, codes[12] (code 137), field 'title': problem`."""
    first = error.errors(include_url=False)[0]
    loc = first["loc"]
    problem = first["msg"]
    if first["type"] == "extra_forbidden":
        problem = "unknown field (check the spelling; see bot/knowledge/data/exitcodes.yaml for the schema)"
    if not loc:
        return KnowledgeError(path, f"the file must be a mapping with signals/codes/reasons ({problem})")
    section = str(loc[0])
    if section in _ENTRY_KEYS and len(loc) >= 2 and isinstance(loc[1], int):
        entry = _entry_label(raw, section, loc[1])
        field = _field_path(loc[2:]) or _ENTRY_KEYS[section]
        return KnowledgeError(path, problem, entry, field)
    if len(loc) == 1:
        return KnowledgeError(path, problem, field=section)
    return KnowledgeError(path, problem, section, _field_path(loc[1:]))


def _entry_label(raw: object, section: str, index: int) -> str:
    key_name = _ENTRY_KEYS[section]
    entries = raw.get(section) if isinstance(raw, Mapping) else None
    entry: Any = entries[index] if isinstance(entries, list) and index < len(entries) else None
    key = entry.get(key_name) if isinstance(entry, Mapping) else None
    label = {"code": "code", "name": "reason", "number": "signal"}[key_name]
    return f"{section}[{index}] ({label} {key})" if key is not None else f"{section}[{index}]"


def _field_path(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts)
