"""`exitcode-bot explain` keeps the built knowledge base between runs, and never answers from a stale one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.application.knowledge_cache import cache_directory, cached_knowledge
from bot.knowledge import KnowledgeBase, RunbookLinks, load_knowledge
from tests.conftest import bot_env

LINKS = RunbookLinks(template="https://wiki.example.com/exit/{code}")


def loader(
    extra: Path | None = None, links: RunbookLinks = LINKS
) -> tuple[list[int], Callable[[], KnowledgeBase]]:
    calls: list[int] = []

    def load() -> KnowledgeBase:
        calls.append(1)
        return load_knowledge(extra, links)

    return calls, load


def every_query(kb: KnowledgeBase) -> list[str]:
    return [str(code) for code in range(-5, 300)] + list(kb.runbook_keys()) + ["sigsegv", "signal 9", "help"]


def test_a_cached_knowledge_base_answers_exactly_as_a_loaded_one(tmp_path: Path) -> None:
    calls, load = loader()
    first = cached_knowledge(None, LINKS, load, directory=tmp_path)
    second = cached_knowledge(None, LINKS, load, directory=tmp_path)

    assert calls == [1], "the second run reads the cache"
    fresh = load_knowledge(None, LINKS)
    for query in every_query(fresh):
        assert second.answer(query) == fresh.answer(query) == first.answer(query), query


def test_a_changed_operator_file_or_link_setting_is_never_answered_from_the_cache(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    cache = tmp_path / "c"
    extra.write_text("version: 1\ncodes:\n  - code: 3\n    title: '3 → first'\n")
    _, load = loader(extra)
    assert cached_knowledge(extra, LINKS, load, directory=cache).explain_code(3).title == "3 → first"

    extra.write_text("version: 1\ncodes:\n  - code: 3\n    title: '3 → second'\n")
    assert cached_knowledge(extra, LINKS, load, directory=cache).explain_code(3).title == "3 → second"

    other = RunbookLinks(template="https://other.example.com/{code}")
    _, load_other = loader(extra, other)
    answer = cached_knowledge(extra, other, load_other, directory=cache).explain_code(3)
    assert answer.runbook_url == "https://other.example.com/3"
    assert len(list(cache.glob("knowledge-*.pickle"))) == 1, "old entries are removed"


def test_entries_others_could_have_written_or_that_are_corrupt_are_ignored(tmp_path: Path) -> None:
    calls, load = loader()
    cached_knowledge(None, LINKS, load, directory=tmp_path)
    [entry] = tmp_path.glob("knowledge-*.pickle")

    entry.chmod(0o666)
    cached_knowledge(None, LINKS, load, directory=tmp_path)
    assert calls == [1, 1], "a group- or world-writable entry is not trusted"

    entry.write_bytes(b"not a pickle")
    entry.chmod(0o600)
    kb = cached_knowledge(None, LINKS, load, directory=tmp_path)
    assert calls == [1, 1, 1] and kb.explain_code(137).title.startswith("137")


def test_an_unwritable_cache_directory_costs_nothing_but_speed(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the directory should be")
    calls, load = loader()

    kb = cached_knowledge(None, LINKS, load, directory=blocked / "exitcode-bot")

    assert calls == [1] and kb.explain_code(1).normalized_code == 1


def test_the_cache_lives_in_the_xdg_cache_directory(tmp_path: Path) -> None:
    assert cache_directory({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "exitcode-bot"
    assert cache_directory({}) == Path.home() / ".cache" / "exitcode-bot"


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX ownership checks")
def test_a_second_explain_imports_neither_yaml_nor_pydantic(tmp_path: Path) -> None:
    probe = (
        "import sys, io, contextlib\n"
        "from bot.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = main(['explain', '137'])\n"
        "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'yaml', 'pydantic'}))\n"
    )
    env = {**bot_env(), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    runs = [
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env)
        for _ in range(2)
    ]

    assert runs[0].stdout.strip() == "0 ['pydantic', 'yaml']", runs[0].stderr
    assert runs[1].stdout.strip() == "0 []", runs[1].stderr
