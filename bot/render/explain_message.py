"""The acknowledgement of an explain query (`/exitcode 137`) as the JSON Slack receives, rendered fast.

`explain_message(reply, slash_command=)` is the reference: fallback text and Block Kit, fitted to Slack's
limits. `ExplainMessages` gives the same JSON, byte for byte, without rendering on the request path:
an explanation's message depends on the query only through three texts (the facts line with the
query's arithmetic, the footer's echo of the query, the share button's value); the rest (header,
summary, Kubernetes notes, causes, runbook steps, hints, buttons) is laid out once per explanation and
kept as JSON fragments, and a request only escapes and inserts those three texts.

That is only the same answer while `fit_blocks` would change nothing, so each request checks it: the
facts fit one section, and the message's blocks and characters are within Slack's limits. Otherwise
(or for a usage reply) the reference renders it. tests/test_render_explain_message.py compares both
over every code, reason and signal, with hostile and oversized queries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from json.encoder import encode_basestring_ascii  # what json.dumps() does to one str, without its overhead
from operator import attrgetter
from typing import Any

from bot.knowledge.explanation import Explanation, Reply
from bot.render.blocks import (
    arithmetic_line,
    content_fact_lines,
    explanation_layout,
    query_element,
    reply_blocks,
    reply_fallback_text,
)
from bot.render.limits import (
    MAX_BLOCKS,
    MAX_BUTTON_VALUE,
    MAX_CONTEXT_TEXT,
    MAX_MESSAGE_TEXT,
    MAX_SECTION_TEXT,
    text_length,
)

MAX_LAYOUTS = 4096
"""Explanations laid out in advance (every code, reason and signal, by variant, is far fewer); beyond
this the reference renders, so an operator's enormous knowledge file cannot grow memory unbounded."""

_QUERY_FIELDS = frozenset({"query", "code", "arithmetic", "share"})
_content = attrgetter(*(f.name for f in fields(Explanation) if f.name not in _QUERY_FIELDS))
_FACTS, _QUERY, _SHARE = "\x00facts\x00", "\x00query\x00", "\x00share\x00"
_SLOTS = (_FACTS, _QUERY, _SHARE)


def explain_message(reply: Reply, *, slash_command: str) -> dict[str, Any]:
    """The reference message: private with a "Share in channel" button, or in the channel when the
    query ended in `share` (then without the button)."""
    visible = isinstance(reply, Explanation) and reply.share
    return {
        "response_type": "in_channel" if visible else "ephemeral",
        "text": reply_fallback_text(reply),
        "blocks": reply_blocks(reply, share_button=not visible, slash_command=slash_command),
    }


@dataclass(frozen=True, slots=True)
class _Layout:
    """One explanation's message as JSON with holes for the query's texts."""

    reference: Explanation
    """The explanation it was laid out from; a reply uses it only if its content is the same."""
    content_facts: str
    head: str
    tail: tuple[tuple[int, str], ...]
    """The rest of the JSON after `head`, in order: which text (index into `_SLOTS`) goes next, then
    the fixed JSON up to the next text."""
    fixed_text: int
    """Characters of text the blocks carry besides the facts and the footer's query element."""
    blocks: int


class ExplainMessages:
    """Explain acknowledgements for one installation (`slash_command`), laid out once per explanation."""

    def __init__(self, slash_command: str) -> None:
        self.slash_command = slash_command
        self._layouts: dict[tuple[object, ...], list[_Layout]] = {}
        self._count = 0

    def layouts(self) -> int:
        """How many explanation layouts are kept (bounded by `MAX_LAYOUTS`)."""
        return self._count

    def json(self, reply: Reply) -> str:
        """`json.dumps(explain_message(reply, slash_command=...))`, without rendering when it can."""
        if isinstance(reply, Explanation):
            fast = self._from_layout(reply)
            if fast is not None:
                return fast
        return json.dumps(explain_message(reply, slash_command=self.slash_command))

    def _from_layout(self, reply: Explanation) -> str | None:
        layout = self._layout(reply)
        if layout is None:
            return None
        # "\n".join(fact_lines(reply)), with the explanation's own lines joined once in advance
        facts = layout.content_facts
        if reply.arithmetic:
            line = arithmetic_line(reply.arithmetic)
            facts = f"{line}\n{facts}" if facts else line
        echo = query_element(reply.query, self.slash_command)
        # The checks under which fit_blocks() leaves the reference's blocks exactly as laid out.
        if len(facts) > MAX_SECTION_TEXT or len(echo) > MAX_CONTEXT_TEXT or not echo.strip():
            return None
        if layout.fixed_text + len(facts) + len(echo) > MAX_MESSAGE_TEXT or layout.blocks > MAX_BLOCKS:
            return None
        texts = (facts, echo, reply.query[:MAX_BUTTON_VALUE])  # in the order of _SLOTS
        parts = [layout.head]
        for slot, fragment in layout.tail:
            parts.append(encode_basestring_ascii(texts[slot]))
            parts.append(fragment)
        return "".join(parts)

    def _layout(self, reply: Explanation) -> _Layout | None:
        has_facts = bool(reply.arithmetic) or reply.signal is not None or bool(reply.reason)
        has_facts = has_facts or bool(reply.typical_codes)
        key = (reply.title, reply.runbook_key, bool(reply.arithmetic), has_facts, reply.share)
        candidates = self._layouts.get(key)
        for layout in candidates or ():
            if _same_content(layout.reference, reply):
                return layout
        if self._count >= MAX_LAYOUTS:
            return None
        made = _lay_out(reply, has_facts=has_facts)
        if made is not None:
            self._layouts.setdefault(key, []).append(made)
            self._count += 1
        return made


def _same_content(a: Explanation, b: Explanation) -> bool:
    """Whether two explanations differ at most in what the query contributes (tuple equality checks
    identity first, so a reply made from the same knowledge entry compares in a few steps)."""
    same: bool = _content(a) == _content(b)
    return same


def _lay_out(reply: Explanation, *, has_facts: bool) -> _Layout | None:
    """The reference layout with the query's texts as markers, serialized and cut at them; None when
    a marker is not found exactly once (then the reference renders every time)."""
    share_shown = not reply.share
    blocks = explanation_layout(
        reply,
        facts=_FACTS if has_facts else "",
        query_element=_QUERY,
        share_value=_SHARE if share_shown else None,
    )
    message = {
        "response_type": "in_channel" if reply.share else "ephemeral",
        "text": reply_fallback_text(reply),
        "blocks": blocks,
    }
    serialized = json.dumps(message)
    positions: list[tuple[int, str]] = []
    for slot in _SLOTS:
        marker = json.dumps(slot)
        if serialized.count(marker) > 1:
            return None
        at = serialized.find(marker)
        if at >= 0:
            positions.append((at, slot))
    expected = {_QUERY} | ({_FACTS} if has_facts else set()) | ({_SHARE} if share_shown else set())
    if {slot for _, slot in positions} != expected:
        return None
    positions.sort()
    fragments: list[str] = []
    start = 0
    for at, slot in positions:
        fragments.append(serialized[start:at])
        start = at + len(json.dumps(slot))
    fragments.append(serialized[start:])
    order = [_SLOTS.index(slot) for _, slot in positions]
    markers_text = len(_QUERY) + (len(_FACTS) if has_facts else 0)
    return _Layout(
        reference=reply,
        content_facts="\n".join(content_fact_lines(reply)),
        head=fragments[0],
        tail=tuple(zip(order, fragments[1:], strict=True)),
        fixed_text=text_length(blocks) - markers_text,
        blocks=len(blocks),
    )
