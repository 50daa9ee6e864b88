"""Exit-code knowledge: the YAML knowledge base, query parsing and explanations (pure core).

Import-light on purpose: renderers import `bot.knowledge.explanation` through this package, and the CLI
must cold-start fast, so the loader (pydantic, PyYAML) is imported only when `load_knowledge` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.knowledge.base import KnowledgeBase
from bot.knowledge.errors import KnowledgeError
from bot.knowledge.links import RunbookLinks
from bot.knowledge.paths import DEFAULT_KNOWLEDGE_FILE

if TYPE_CHECKING:
    from bot.knowledge.loader import load_knowledge

__all__ = ["DEFAULT_KNOWLEDGE_FILE", "KnowledgeBase", "KnowledgeError", "RunbookLinks", "load_knowledge"]


def __getattr__(name: str) -> Any:
    """Import the loader (and with it pydantic and PyYAML) on first use of `load_knowledge`."""
    if name == "load_knowledge":
        from bot.knowledge.loader import load_knowledge

        return load_knowledge
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
