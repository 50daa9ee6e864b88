"""Where runbook links point: entry override > RUNBOOK_URL_TEMPLATE > PUBLIC_URL/runbooks > none."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.knowledge import RunbookLinks, load_knowledge


@pytest.mark.parametrize(
    ("links", "key", "override", "expected"),
    [
        (RunbookLinks(), "137", None, None),
        (
            RunbookLinks(public_url="https://bot.example.com/"),
            "137",
            None,
            "https://bot.example.com/runbooks/137",
        ),
        (
            RunbookLinks(public_url="https://bot.example.com"),
            "OOMKilled",
            None,
            "https://bot.example.com/runbooks/OOMKilled",
        ),
        (
            RunbookLinks(
                template="https://wiki.example.com/exit/{code}", public_url="https://bot.example.com"
            ),
            "137",
            None,
            "https://wiki.example.com/exit/137",
        ),
        (
            RunbookLinks(template="https://wiki/{key}?c={code}"),
            "Evicted",
            None,
            "https://wiki/Evicted?c=Evicted",
        ),
        (RunbookLinks(template="https://wiki/{code}"), "3", "https://own/3", "https://own/3"),
        (RunbookLinks(public_url="https://bot"), "3", "https://own/3", "https://own/3"),
        (RunbookLinks(), "3", "https://own/3", "https://own/3"),
        (RunbookLinks(template="https://wiki/static-page"), "1", None, "https://wiki/static-page"),
    ],
)
def test_precedence(links: RunbookLinks, key: str, override: str | None, expected: str | None) -> None:
    assert links.url_for(key, override) == expected


def test_explanations_carry_links_from_the_settings() -> None:
    kb = load_knowledge(links=RunbookLinks(template="https://wiki.example.com/exit/{code}"))
    assert kb.explain_code(137).runbook_url == "https://wiki.example.com/exit/137"
    assert kb.explain_reason("oomkilled").runbook_url == "https://wiki.example.com/exit/OOMKilled"  # type: ignore[union-attr]
    wrapped = kb.answer("-1")
    assert wrapped.runbook_url == "https://wiki.example.com/exit/255"  # type: ignore[union-attr]


def test_public_url_links_to_the_bots_own_pages() -> None:
    kb = load_knowledge(links=RunbookLinks(public_url="https://exitcode.example.com"))
    assert kb.explain_code(1).runbook_url == "https://exitcode.example.com/runbooks/1"
    assert kb.explain_code(1000).runbook_url == "https://exitcode.example.com/runbooks/232"


def test_entry_override_beats_template(tmp_path: Path) -> None:
    extra = tmp_path / "ours.yaml"
    extra.write_text("codes:\n  - code: 3\n    runbook_url: https://wiki.example.com/config-invalid\n")
    kb = load_knowledge(extra, RunbookLinks(template="https://wiki.example.com/exit/{code}"))
    assert kb.explain_code(3).runbook_url == "https://wiki.example.com/config-invalid"
    assert kb.explain_code(4).runbook_url == "https://wiki.example.com/exit/4"


def test_no_settings_no_link() -> None:
    kb = load_knowledge()
    assert all(kb.runbook(key).runbook_url is None for key in kb.runbook_keys())  # type: ignore[union-attr]
