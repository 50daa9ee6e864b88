"""The validated knowledge base kept between runs of `exitcode-bot explain`, so it starts like `kubectl`.

Loading the knowledge (PyYAML, then pydantic validation, then precomputing every answer) is most of a
cold start, and its result only changes when its inputs do. So the CLI keeps the built `KnowledgeBase`
in the user's cache directory (`$XDG_CACHE_HOME/exitcode-bot/`, else `~/.cache/exitcode-bot/`), under a
key made of everything it is built from: the bundled and the operator's knowledge files (their bytes),
the runbook-link settings, the code that builds it (`bot/knowledge/*.py`), and the Python version. Any
change is a new key, so a cached answer is always the answer the files give now; a broken operator file
is never cached and fails exactly as without the cache.

A cache is an optimisation only: an unreadable, unwritable, foreign-owned or corrupt entry is ignored
(the knowledge is then loaded as usual). Entries are pickles, so only files owned by this user and not
writable by anyone else are read, in a directory only this user can enter. The bot itself does not use
this: it validates its knowledge at startup, where a few hundred milliseconds do not matter.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from bot.knowledge.base import KnowledgeBase
from bot.knowledge.links import RunbookLinks
from bot.knowledge.paths import DEFAULT_KNOWLEDGE_FILE

KNOWLEDGE_CODE = Path(__file__).resolve().parents[1] / "knowledge"
_UNSAFE_BITS = stat.S_IWGRP | stat.S_IWOTH


def cache_directory(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CACHE_HOME/exitcode-bot`, or `~/.cache/exitcode-bot` (the XDG base directory default)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "exitcode-bot"


def cache_key(extra_file: Path | None, links: RunbookLinks) -> str:
    """A digest of everything the knowledge base is built from. Reads the files (a few hundred KiB)."""
    digest = hashlib.sha256()
    digest.update(f"{sys.version}\0{links.template!r}\0{links.public_url!r}\0".encode())
    sources = sorted(KNOWLEDGE_CODE.glob("*.py"))
    files = [*sources, DEFAULT_KNOWLEDGE_FILE, *([extra_file] if extra_file is not None else [])]
    for path in files:
        digest.update(f"\0{path}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cached_knowledge(
    extra_file: Path | None,
    links: RunbookLinks,
    load: Callable[[], KnowledgeBase],
    *,
    directory: Path | None = None,
) -> KnowledgeBase:
    """The knowledge base from the cache when its inputs are unchanged, else `load()` (then cached).

    Errors of `load()` (a broken operator file) propagate unchanged and are never cached."""
    try:
        key = cache_key(extra_file, links)
    except OSError:  # an unreadable operator file: let the loader say so, in its words
        return load()
    where = (directory if directory is not None else cache_directory()) / f"knowledge-{key}.pickle"
    found = _read(where)
    if found is not None:
        return found
    knowledge = load()
    _write(where, knowledge)
    return knowledge


def _read(path: Path) -> KnowledgeBase | None:
    try:
        with path.open("rb") as stream:
            info = os.fstat(stream.fileno())
            if info.st_uid != os.geteuid() or info.st_mode & _UNSAFE_BITS:
                return None
            knowledge = pickle.load(stream)  # noqa: S301 - our own file, checked above
    except Exception:  # missing, unreadable or corrupt: load as usual
        return None
    return knowledge if isinstance(knowledge, KnowledgeBase) else None


def _write(path: Path, knowledge: KnowledgeBase) -> None:
    """Write atomically (temporary file, then rename), so a concurrent run never reads half a file."""
    import tempfile  # only on a cache miss

    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.parent.stat().st_uid != os.geteuid():
            return
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".knowledge-")
        try:
            with os.fdopen(handle, "wb") as stream:
                pickle.dump(knowledge, stream, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        for stale in path.parent.glob("knowledge-*.pickle"):  # one entry: the current inputs'
            if stale != path:
                stale.unlink(missing_ok=True)
    except Exception:  # a read-only home, a full disk: the next run loads as usual
        return
