"""The one error the knowledge loader raises.

A broken knowledge file must stop the bot at startup with a message an operator can act on without a
debugger: which file, which entry, which field, and what is wrong with it. Pydantic's own errors name a
path like `codes.12.title`, which is useless when the file has 300 entries, so the loader translates them
into this type.
"""

from __future__ import annotations

from pathlib import Path


class KnowledgeError(Exception):
    """The knowledge base (default or operator file) cannot be loaded."""

    def __init__(self, path: Path, problem: str, entry: str | None = None, field: str | None = None) -> None:
        self.path = path
        self.problem = problem
        self.entry = entry
        self.field = field
        where = [str(path)]
        if entry:
            where.append(entry)
        if field:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {problem}")
