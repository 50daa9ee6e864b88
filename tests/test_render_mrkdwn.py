"""Slack mrkdwn helpers: untrusted text can never ping, mention, link, or break the markup."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.render.mrkdwn import (
    bold,
    bullet_list,
    code_block,
    escape,
    inline_code,
    link,
    split_mrkdwn,
    truncate,
    truncate_mrkdwn,
    unescape,
)
from tests.test_render_fixtures import assert_escaped, slack_hostile_text

PARTIAL_ENTITY_AT_END = re.compile(r"&(a|am|amp|l|lt|g|gt)?$")


def visible_content(mrkdwn: str) -> str:
    """What a reader sees, ignoring whitespace and code fences (which splitting may add or move)."""
    return re.sub(r"\s|`|\u200b", "", unescape(mrkdwn))


def test_escape_neutralises_mentions_and_links() -> None:
    assert escape("<!channel>") == "&lt;!channel&gt;"
    assert escape("<@U123> hi") == "&lt;@U123&gt; hi"
    assert escape("<https://evil|docs>") == "&lt;https://evil|docs&gt;"
    assert escape("a & b") == "a &amp; b"


def test_escape_shows_text_that_looks_escaped_literally() -> None:
    # A user who types "&lt;" must see "&lt;", not "<".
    assert escape("&lt;") == "&amp;lt;"
    assert unescape(escape("&lt;")) == "&lt;"


@settings(max_examples=200)
@given(slack_hostile_text)
def test_escape_is_safe_and_lossless(text: str) -> None:
    escaped = escape(text)
    assert_escaped(escaped)
    assert unescape(escaped) == text


def test_truncate_leaves_short_text_alone() -> None:
    assert truncate("a &amp; b", 9) == "a &amp; b"


def test_truncate_backs_off_from_an_entity_instead_of_cutting_it() -> None:
    escaped = escape("a&b")  # "a&amp;b": cutting at 4 would leave "a&am"
    assert truncate(escaped, 5) == "a…"
    assert truncate(escaped, 7) == "a&amp;b"
    assert truncate(escape("x<yz"), 6) == "x&lt;…"


def test_truncate_never_exceeds_a_limit_smaller_than_the_marker() -> None:
    assert truncate("abcdef", 2, marker="[cut]") == "ab"
    assert truncate("abcdef", 0) == ""


@settings(max_examples=300)
@given(slack_hostile_text, st.integers(min_value=0, max_value=80), st.sampled_from(["…", "", " [more]"]))
def test_truncate_invariants(text: str, limit: int, marker: str) -> None:
    escaped = escape(text)
    result = truncate(escaped, limit, marker)
    assert len(result) <= limit
    kept = result[: len(result) - len(marker)] if marker and result.endswith(marker) else result
    assert escaped.startswith(kept)
    assert not PARTIAL_ENTITY_AT_END.search(kept), result
    assert_escaped(kept)
    if len(escaped) <= limit:
        assert result == escaped


def test_truncate_mrkdwn_closes_a_code_block_it_cuts_into() -> None:
    text = "Run:\n" + code_block("kubectl logs web-1 --previous " + "x" * 200)
    result = truncate_mrkdwn(text, 60)
    assert len(result) <= 60
    assert result.count("```") == 2
    assert result.endswith("```")


def test_code_block_escapes_and_cannot_be_closed_from_inside() -> None:
    block = code_block("echo ```; <!channel> & done")
    assert block.startswith("```") and block.endswith("```")
    assert block.count("```") == 2
    assert "&lt;!channel&gt; &amp; done" in block


@settings(max_examples=200)
@given(slack_hostile_text)
def test_code_block_always_has_exactly_its_own_two_fences(text: str) -> None:
    block = code_block(text)
    assert block.startswith("```") and block.endswith("```")
    assert block.count("```") == 2
    assert "````" not in block
    assert_escaped(block)


@settings(max_examples=200)
@given(slack_hostile_text)
def test_inline_code_is_one_line_with_only_its_own_backticks(text: str) -> None:
    code = inline_code(text)
    assert "\n" not in code
    assert code.count("`") == 2 and code.startswith("`") and code.endswith("`")
    assert_escaped(code)


def test_inline_code_keeps_the_command_readable() -> None:
    assert inline_code("kubectl get pod <pod> -n &ns") == "`kubectl get pod &lt;pod&gt; -n &amp;ns`"


def test_bold_is_one_clean_line() -> None:
    assert bold("Likely causes") == "*Likely causes*"
    assert bold("  a\nb  ") == "*a b*"
    assert bold("2 * 3").count("*") == 2
    assert bold("   ") == ""


def test_bullet_list_puts_each_item_on_its_own_line() -> None:
    assert bullet_list(["one", "two\nmore"]) == "• one\n• two\n    more"
    assert bullet_list([]) == ""


def test_link_only_links_http_urls_and_keeps_the_url_intact() -> None:
    assert (
        link("https://wiki.example.com/a?b=1&c=2", "Runbook")
        == "<https://wiki.example.com/a?b=1&amp;c=2|Runbook>"
    )
    assert link("https://x.example/a|b", "go") == "<https://x.example/a%7Cb|go>"
    assert link("javascript:alert(1)", "go") == "go"
    assert link("<!channel>") == "&lt;!channel&gt;"


def test_split_mrkdwn_splits_at_line_boundaries() -> None:
    lines = [f"line {n} " + "x" * 50 for n in range(100)]
    chunks = split_mrkdwn("\n".join(lines), 500)
    assert len(chunks) > 1
    assert all(len(chunk) <= 500 for chunk in chunks)
    assert [line for chunk in chunks for line in chunk.split("\n")] == lines


def test_split_mrkdwn_reopens_a_code_block_that_spans_chunks() -> None:
    command = "\n".join(f"echo {n} " + "y" * 40 for n in range(40))
    chunks = split_mrkdwn("Steps\n" + code_block(command), 400)
    assert len(chunks) > 1
    for chunk in chunks:
        assert len(chunk) <= 400
        assert chunk.count("```") % 2 == 0, chunk


@settings(max_examples=150)
@given(st.lists(slack_hostile_text, max_size=40), st.integers(min_value=20, max_value=400))
def test_split_mrkdwn_keeps_every_chunk_valid_and_loses_nothing(texts: list[str], limit: int) -> None:
    mrkdwn = "\n".join(escape(text) for text in texts)
    chunks = split_mrkdwn(mrkdwn, limit)
    for chunk in chunks:
        assert len(chunk) <= limit
        assert not PARTIAL_ENTITY_AT_END.search(chunk)
        assert_escaped(chunk)
    assert visible_content("".join(chunks)) == visible_content(mrkdwn)
