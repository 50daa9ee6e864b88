"""Block Kit builders: oversized input is truncated into a message Slack accepts, never rejected."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.render import limits
from bot.render.limits import (
    actions,
    button,
    confirm_dialog,
    context,
    divider,
    fields_section,
    fit_blocks,
    header,
    section,
    sections,
)
from bot.render.mrkdwn import code_block, escape
from tests.test_render_fixtures import INJECTION, assert_escaped, assert_slack_accepts, slack_hostile_text


def test_header_caps_a_huge_title_and_escapes_it() -> None:
    block = header(INJECTION + "x" * 10_000)
    text = block["text"]["text"]
    assert block["text"]["type"] == "plain_text"
    assert len(text) <= limits.MAX_HEADER_TEXT
    assert text.startswith("&lt;!channel&gt;") and text.endswith("…")
    assert_slack_accepts([block])


def test_header_is_one_line_and_never_empty() -> None:
    assert header("Exit code\n137")["text"]["text"] == "Exit code 137"
    assert header("   ")["text"]["text"].strip()


def test_section_truncates_to_3000_characters() -> None:
    text = section(escape("&" * 5000))["text"]["text"]
    assert len(text) <= limits.MAX_SECTION_TEXT
    assert text.endswith("…")
    assert_escaped(text)


def test_section_cut_inside_a_code_block_keeps_the_block_closed() -> None:
    block = section("Logs:\n" + code_block("line\n" * 2000))
    assert len(block["text"]["text"]) <= limits.MAX_SECTION_TEXT
    assert_slack_accepts([block])


def test_sections_split_long_text_into_several_valid_sections() -> None:
    lines = [escape(f"step {n}: <placeholder> & more ") * 10 for n in range(60)]
    blocks = sections("\n".join(lines))
    assert len(blocks) > 1
    assert all(len(block["text"]["text"]) <= limits.MAX_SECTION_TEXT for block in blocks)
    rejoined = [line for block in blocks for line in block["text"]["text"].split("\n")]
    assert rejoined == lines


def test_fields_section_says_how_many_pairs_did_not_fit() -> None:
    block = fields_section([(f"label {n}", "v" * 3000) for n in range(12)])
    assert len(block["fields"]) == limits.MAX_FIELDS
    assert "3 more not shown" in block["fields"][-1]["text"]
    assert all(len(field["text"]) <= limits.MAX_FIELD_TEXT for field in block["fields"])
    fitted = fit_blocks([block])
    assert fitted[0]["fields"][0]["text"].startswith("*label 0*\nvvv")
    assert_slack_accepts(fitted)


def test_context_keeps_at_most_ten_elements() -> None:
    block = context([f"note {n}" for n in range(12)] + [""])
    assert [element["text"] for element in block["elements"]] == [f"note {n}" for n in range(10)]
    assert_slack_accepts([context([])])


def test_button_caps_text_value_and_ids() -> None:
    element = button("Share " * 50, "a" * 300, value="v" * 5000)
    assert len(element["text"]["text"]) <= limits.MAX_BUTTON_TEXT
    assert element["value"] == "v" * limits.MAX_BUTTON_VALUE
    assert len(element["action_id"]) == limits.MAX_ACTION_ID


def test_button_keeps_a_valid_url_and_drops_one_slack_would_reject() -> None:
    assert button("Runbook", "rb", url="https://wiki.example.com/exit/137?a=1&b=2")["url"].endswith("&b=2")
    for bad in (
        "wiki/exit/137",
        "javascript:alert(1)",
        "https://x.example/<!channel>",
        "https://" + "a" * 3000,
    ):
        assert "url" not in button("Runbook", "rb", url=bad)


def test_actions_keeps_at_most_25_buttons() -> None:
    block = actions([button(f"b{n}", f"id{n}") for n in range(30)], block_id="x" * 300)
    assert len(block["elements"]) == limits.MAX_ACTIONS_ELEMENTS
    assert len(block["block_id"]) == limits.MAX_BLOCK_ID
    assert_slack_accepts([block])


def test_confirm_dialog_respects_its_own_limits() -> None:
    dialog = confirm_dialog(
        "T" * 500, escape("<@U1> ") * 100, confirm="Yes" * 20, deny="No" * 20, style="danger"
    )
    assert len(dialog["title"]["text"]) <= limits.MAX_CONFIRM_TITLE
    assert len(dialog["text"]["text"]) <= limits.MAX_CONFIRM_TEXT
    assert len(dialog["confirm"]["text"]) <= limits.MAX_CONFIRM_BUTTON
    assert len(dialog["deny"]["text"]) <= limits.MAX_CONFIRM_BUTTON
    element = button("Snooze", "snooze", value="x", confirm=dialog)
    assert_slack_accepts([actions([element])])


def test_fit_blocks_leaves_a_message_within_limits_untouched() -> None:
    blocks = [header("t"), section("s"), divider(), actions([button("b", "b")])]
    assert fit_blocks(blocks) == blocks


def test_fit_blocks_cuts_to_50_keeping_the_buttons_and_saying_so() -> None:
    buttons = actions([button("Open runbook", "rb", url="https://wiki.example.com/137")])
    blocks = fit_blocks([section(f"part {n}") for n in range(80)] + [buttons])
    assert len(blocks) == limits.MAX_BLOCKS
    assert blocks[-1] == buttons
    assert blocks[-2]["type"] == "context"
    assert "truncated" in blocks[-2]["elements"][0]["text"]
    assert blocks[0]["text"]["text"] == "part 0"
    assert_slack_accepts(blocks)


def test_fit_blocks_keeps_the_total_text_under_the_message_budget() -> None:
    blocks = fit_blocks([section("x" * 2900) for _ in range(20)], notice="… cut")
    assert limits.text_length(blocks) <= limits.MAX_MESSAGE_TEXT
    assert blocks[-1]["elements"][0]["text"] == "… cut"
    assert_slack_accepts(blocks)


def test_fit_blocks_drops_an_empty_actions_block() -> None:
    assert fit_blocks([section("s"), actions([])]) == [section("s")]


@settings(max_examples=60, deadline=None)
@given(st.lists(slack_hostile_text, min_size=1, max_size=70), st.booleans())
def test_any_sequence_of_built_blocks_fits(texts: list[str], with_buttons: bool) -> None:
    blocks = [header(texts[0])]
    blocks += [block for text in texts for block in sections(escape(text * 40))]
    blocks.append(fields_section([(escape(text), escape(text)) for text in texts]))
    blocks.append(context(escape(text) for text in texts))
    if with_buttons:
        blocks.append(actions([button(text, "id", value=text) for text in texts]))
    fitted = fit_blocks(blocks)
    assert_slack_accepts(fitted, fences_balanced=False)
    if with_buttons:
        assert fitted[-1]["type"] == "actions"
