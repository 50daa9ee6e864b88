"""Where the bundled knowledge file lives, without importing anything heavy."""

from __future__ import annotations

from pathlib import Path

# <repo>/config/exitcodes.yaml, found relative to this package (bot/knowledge/paths.py → parents[2]).
DEFAULT_KNOWLEDGE_FILE = Path(__file__).resolve().parents[2] / "config" / "exitcodes.yaml"
