"""Block Kit builders that cannot produce a block Slack would reject.

Slack rejects a whole message (`invalid_blocks`, `msg_blocks_too_long`) when any one limit is
exceeded, and the user then sees nothing at all. Every builder here therefore enforces its limits by
truncating, never by raising: a long termination message costs its tail, not the alert.

Inputs: builders that produce `mrkdwn` take *already escaped* mrkdwn (see `bot.render.mrkdwn`);
builders that produce `plain_text` (headers, button labels, dialog titles) take *raw* text and escape
it themselves, because Slack treats `&`, `<`, `>` as control characters in every text object.

Limits are from https://api.slack.com/reference/block-kit/blocks and …/block-elements (the same
numbers slack_sdk validates). `MAX_MESSAGE_TEXT` is not documented: chat.postMessage answers
`msg_blocks_too_long` once the blocks carry roughly 11-13k characters of text in total
(slackapi/bolt-js#2509, #2867), so `fit_blocks()` keeps a margin below that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from bot.render.mrkdwn import ELLIPSIS, escape, split_mrkdwn, truncate, truncate_mrkdwn

Block = dict[str, Any]
"""One Block Kit block (or element) as the JSON-ready dict Slack expects."""

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 3000
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BUTTON_URL = 3000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_MESSAGE_TEXT = 10_000
"""Total text budget across all blocks of one message (undocumented Slack limit, with a margin)."""
MAX_FALLBACK_TEXT = 3000
"""The top-level `text` (notifications, screen readers); Slack advises keeping it under 4000."""

EMPTY_TEXT = "\u200b"
"""Slack rejects empty text; a zero-width space is the conventional 'nothing to show'."""

TRUNCATED_NOTICE = "… truncated to fit Slack's message limits"

ButtonStyle = Literal["primary", "danger"]


def plain_text(raw: str, limit: int) -> dict[str, Any]:
    """A `plain_text` object from raw text: escaped, capped at `limit`, never empty."""
    text = truncate(escape(raw.strip()), limit) or EMPTY_TEXT
    return {"type": "plain_text", "text": text, "emoji": True}


def mrkdwn_text(escaped: str, limit: int) -> dict[str, Any]:
    """A `mrkdwn` object from escaped mrkdwn: capped at `limit` (code blocks kept closed), never empty."""
    text = truncate_mrkdwn(escaped, limit)
    return {"type": "mrkdwn", "text": text if text.strip() else EMPTY_TEXT}


def header(raw: str) -> Block:
    """A header block; headers are one line of plain text of at most 150 characters."""
    return {"type": "header", "text": plain_text(" ".join(raw.split()), MAX_HEADER_TEXT)}


def section(escaped: str) -> Block:
    """A section of escaped mrkdwn, truncated to 3000 characters."""
    return {"type": "section", "text": mrkdwn_text(escaped, MAX_SECTION_TEXT)}


def sections(escaped: str, limit: int = MAX_SECTION_TEXT) -> list[Block]:
    """Long escaped mrkdwn as several sections of at most `limit` characters, split at line breaks.

    Use this instead of `section()` when the text is content the user needs (runbook steps), not a
    line that may lose its tail. `fit_blocks()` still bounds the total.
    """
    return [section(chunk) for chunk in split_mrkdwn(escaped, min(limit, MAX_SECTION_TEXT))]


def fields_section(pairs: Sequence[tuple[str, str]], text: str | None = None) -> Block:
    """A two-column section of `*label*` / value pairs (both escaped mrkdwn), at most 10 fields.

    When there are more pairs than fields, the last field says how many were left out rather than
    dropping them silently.
    """
    shown = list(pairs)
    if len(shown) > MAX_FIELDS:
        hidden = len(shown) - (MAX_FIELDS - 1)
        shown = [*shown[: MAX_FIELDS - 1], ("…", f"{hidden} more not shown")]
    block: Block = {"type": "section"}
    if text is not None or not shown:
        block["text"] = mrkdwn_text(text or "", MAX_SECTION_TEXT)
    if shown:
        block["fields"] = [
            mrkdwn_text(f"*{label}*\n{value}" if label else value, MAX_FIELD_TEXT) for label, value in shown
        ]
    return block


def context(escaped_texts: Iterable[str]) -> Block:
    """A context block (small grey text) of escaped mrkdwn elements: at most 10, 3000 characters each."""
    elements = [mrkdwn_text(text, MAX_CONTEXT_TEXT) for text in escaped_texts if text.strip()]
    return {"type": "context", "elements": elements[:MAX_CONTEXT_ELEMENTS] or [mrkdwn_text("", 1)]}


def divider() -> Block:
    """A horizontal rule."""
    return {"type": "divider"}


_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)
"""An http(s) URL made only of RFC 3986 characters (anything else must be percent-encoded)."""


def is_linkable_url(url: str | None) -> bool:
    """True for an http(s) URL Slack will accept on a link button.

    Slack rejects the whole message for one malformed URL, so anything doubtful (spaces, `<`, raw
    non-ASCII, over 3000 characters) is not linked; renderers show it as text instead.
    """
    return url is not None and len(url) <= MAX_BUTTON_URL and _URL.fullmatch(url) is not None


def confirm_dialog(
    title: str,
    escaped_text: str,
    confirm: str = "Confirm",
    deny: str = "Cancel",
    style: ButtonStyle | None = None,
) -> Block:
    """An "are you sure?" dialog for a button; title and button labels are raw text."""
    dialog: Block = {
        "title": plain_text(title, MAX_CONFIRM_TITLE),
        "text": mrkdwn_text(escaped_text, MAX_CONFIRM_TEXT),
        "confirm": plain_text(confirm, MAX_CONFIRM_BUTTON),
        "deny": plain_text(deny, MAX_CONFIRM_BUTTON),
    }
    if style is not None:
        dialog["style"] = style
    return dialog


def button(
    text: str,
    action_id: str,
    value: str | None = None,
    url: str | None = None,
    style: ButtonStyle | None = None,
    confirm: Block | None = None,
) -> Block:
    """A button element; `text` is raw. `value` is returned verbatim to the app, capped at 2000.

    The value is not shown to anyone, so it is not escaped; whoever handles the action must treat it
    as untrusted input. A `url` that Slack would reject is left out rather than failing the message.
    """
    element: Block = {
        "type": "button",
        "text": plain_text(text, MAX_BUTTON_TEXT),
        "action_id": action_id[:MAX_ACTION_ID],
    }
    if value is not None:
        element["value"] = value[:MAX_BUTTON_VALUE]
    if url is not None and is_linkable_url(url):
        element["url"] = url
    if style is not None:
        element["style"] = style
    if confirm is not None:
        element["confirm"] = confirm
    return element


def actions(buttons: Sequence[Block], block_id: str | None = None) -> Block:
    """An actions block with at most 25 elements.

    Slack rejects an empty actions block; `fit_blocks()` removes one, so callers may build it
    unconditionally.
    """
    block: Block = {"type": "actions", "elements": list(buttons[:MAX_ACTIONS_ELEMENTS])}
    if block_id is not None:
        block["block_id"] = block_id[:MAX_BLOCK_ID]
    return block


def text_length(node: object) -> int:
    """Characters of text a block (or list of blocks) carries, as counted against `MAX_MESSAGE_TEXT`."""
    if isinstance(node, dict):
        return sum(
            len(value) if key == "text" and isinstance(value, str) else text_length(value)
            for key, value in node.items()
        )
    if isinstance(node, list):
        return sum(text_length(item) for item in node)
    return 0


def _is_empty_actions(block: Block) -> bool:
    return block.get("type") == "actions" and not block.get("elements")


_MIN_USEFUL_TEXT = 100
"""Below this many characters, a shortened block says too little to be worth keeping."""


def _fit_text_objects(objects: Sequence[Block], room: int) -> list[Block]:
    """Text objects (fields, context elements) in order, truncated to share `room` characters."""
    fitted: list[Block] = []
    for obj in objects:
        text = obj.get("text")
        if not isinstance(text, str):
            fitted.append(obj)  # e.g. a context image: carries no text
            continue
        if room < _MIN_USEFUL_TEXT // 4:
            break
        shortened = truncate_mrkdwn(text, room)
        if not shortened.strip():
            break
        fitted.append({**obj, "text": shortened})
        room -= len(shortened)
    return fitted


def _shortened(block: Block, room: int) -> Block | None:
    """A section or context cut down to `room` characters of text, or None if that leaves too little."""
    if room < _MIN_USEFUL_TEXT:
        return None
    if block.get("type") == "context":
        elements = _fit_text_objects(block.get("elements", []), room)
        return {**block, "elements": elements} if elements else None
    if block.get("type") != "section":
        return None
    shortened = {key: value for key, value in block.items() if key not in ("text", "fields")}
    text = block.get("text")
    if isinstance(text, dict) and isinstance(text.get("text"), str):
        shortened["text"] = mrkdwn_text(text["text"], min(room, MAX_SECTION_TEXT))
        room -= len(shortened["text"]["text"])
    fields = _fit_text_objects(block.get("fields", []), room)
    if fields:
        shortened["fields"] = fields
    return shortened if "text" in shortened or fields else None


def fit_blocks(
    blocks: Sequence[Block],
    *,
    notice: str = TRUNCATED_NOTICE,
    max_blocks: int = MAX_BLOCKS,
    max_text: int = MAX_MESSAGE_TEXT,
) -> list[Block]:
    """The message's blocks, cut to at most `max_blocks` and `max_text` characters of text.

    When something has to go, the tail of the body goes: the final actions block (the buttons the
    user needs, e.g. the runbook link) is kept, and a context block with `notice` (escaped mrkdwn)
    says that the message was truncated, so a cut is never silent.
    """
    kept = [block for block in blocks if not _is_empty_actions(block)]
    if len(kept) <= max_blocks and text_length(kept) <= max_text:
        return kept
    tail = [kept.pop()] if kept and kept[-1].get("type") == "actions" else []
    notice_block = context([notice or ELLIPSIS])
    slots = max_blocks - len(tail) - 1
    room = max_text - text_length(tail) - text_length(notice_block)
    body: list[Block] = []
    for block in kept:
        if len(body) >= slots:
            break
        size = text_length(block)
        if size > room:
            shortened = _shortened(block, room)
            if shortened is not None:
                body.append(shortened)
            break
        body.append(block)
        room -= size
    return [*body, notice_block, *tail]
