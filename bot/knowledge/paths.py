"""Where the bundled knowledge file lives, without importing anything heavy.

The file ships *inside* the package (`bot/knowledge/data/`, declared as package data in pyproject.toml),
so a regular `pip install`, a wheel or the container image finds it wherever site-packages is. It used to
sit in `<repo>/config/`, outside the package, which only an editable install could reach.
"""

from __future__ import annotations

from pathlib import Path

# A plain path, not an `importlib.resources` traversable: wheels are installed unpacked, and callers
# (error messages, the loader) name the file by its path.
DEFAULT_KNOWLEDGE_FILE = Path(__file__).resolve().parent / "data" / "exitcodes.yaml"
