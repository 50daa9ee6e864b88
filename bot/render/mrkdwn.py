"""Slack mrkdwn helpers that make untrusted text safe to post.

Slack parses `&`, `<` and `>` as control characters in every text object: `<!channel>` pings a
whole channel, `<@U123>` mentions a user and `<https://evil|docs>` disguises a link. Escaping
exactly those three characters (and nothing else: Slack decodes only these entities) is what
turns a pod name, a termination message or a user's query into inert text.
See https://api.slack.com/reference/surfaces/formatting#escaping.

Conventions every renderer relies on:
- `escape()` takes raw text and returns *escaped mrkdwn*; everything else here that is named
  "escaped" or "mrkdwn" expects text that has already been through it (or was built from it).
- `code_block()` and `inline_code()` take *raw* text and escape it themselves, because they also
  have to neutralise backticks, which only they know how to do.
- `truncate()` and `split_mrkdwn()` never cut inside an entity (`&amp;`, `&lt;`, `&gt;`) or inside a
  run of backticks, so a cut can neither show a broken `&am` nor open a stray code fence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

ENTITIES: tuple[str, ...] = ("&amp;", "&lt;", "&gt;")
"""The only entities Slack decodes; `escape()` produces nothing else."""

_LONGEST_ENTITY = max(len(entity) for entity in ENTITIES)

FENCE = "```"
"""Opens and closes a Slack code block."""

ELLIPSIS = "…"

_ZERO_WIDTH_SPACE = "\u200b"
_BACKTICK_RUN = re.compile(r"`(?=`)")
# Looks like a backtick but does not end inline code; only used where a real backtick cannot survive.
_BACKTICK_LOOKALIKE = "\u02cb"
_MODIFIER_LETTER_ASTERISK = "\u2217"


def escape(text: str) -> str:
    """Escape raw text for Slack mrkdwn so it is displayed, never parsed as a mention or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(escaped: str) -> str:
    """The inverse of `escape()` (for tests and for measuring what a user will actually see)."""
    return escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def safe_cut(text: str, index: int) -> int:
    """The largest position <= `index` where `text` can be cut without breaking Slack markup.

    A cut is unsafe inside an entity (`&am|p;` would display as garbage) and between two backticks
    (half of a ``` fence changes how the rest of the message is parsed).
    """
    index = max(0, min(index, len(text)))
    start = text.rfind("&", max(0, index - _LONGEST_ENTITY + 1), index)
    if start != -1:
        for entity in ENTITIES:
            if text.startswith(entity, start) and start + len(entity) > index:
                index = start
                break
    while 0 < index < len(text) and text[index - 1] == "`" and text[index] == "`":
        index -= 1
    return index


def truncate(escaped: str, limit: int, marker: str = ELLIPSIS) -> str:
    """Shorten escaped mrkdwn to at most `limit` characters, ending with `marker` when cut.

    Never exceeds `limit` (even when the marker itself does not fit) and never cuts inside an
    entity or a backtick run. Text that already fits is returned unchanged.
    """
    if limit <= 0:
        return ""
    if len(escaped) <= limit:
        return escaped
    if len(marker) >= limit:
        return escaped[: safe_cut(escaped, limit)]
    kept = escaped[: safe_cut(escaped, limit - len(marker))].rstrip()
    return kept + marker


def open_fences(mrkdwn: str) -> bool:
    """True when `mrkdwn` leaves a ``` code block open (an odd number of fences)."""
    return mrkdwn.count(FENCE) % 2 == 1


def truncate_mrkdwn(mrkdwn: str, limit: int, marker: str = ELLIPSIS) -> str:
    """`truncate()`, and if the cut falls inside a code block, close the block.

    Without the closing fence Slack would show the rest of the message as literal backticks.
    """
    if len(mrkdwn) <= limit:
        return mrkdwn
    shortened = truncate(mrkdwn, limit, marker)
    if not open_fences(shortened):
        return shortened
    room = limit - len(FENCE)
    if room <= 0:
        return ""
    shortened = truncate(mrkdwn, room, marker)
    return shortened + FENCE if open_fences(shortened) else shortened


def _defuse_backticks(escaped: str) -> str:
    """Break every run of backticks with a zero-width space so none can form a ``` fence."""
    defused = _BACKTICK_RUN.sub("`" + _ZERO_WIDTH_SPACE, escaped)
    if defused.startswith("`"):
        defused = _ZERO_WIDTH_SPACE + defused
    if defused.endswith("`"):
        defused += _ZERO_WIDTH_SPACE
    return defused


def code_block(untrusted: str) -> str:
    """Raw text as a Slack code block: escaped, and unable to close the block early.

    Backtick runs inside the text are split with a zero-width space, so a ``` in a log line or a
    command stays inside the block; the text is otherwise preserved for copy and paste.
    """
    body = _defuse_backticks(escape(untrusted.strip("\n"))) or " "
    return f"{FENCE}{body}{FENCE}"


def inline_code(untrusted: str) -> str:
    """Raw text as Slack inline code, on one line.

    A single backtick ends inline code and there is no escape for it, so backticks are shown as a
    look-alike; newlines (which end inline code too) become spaces.
    """
    body = escape(" ".join(untrusted.split("\n"))).replace("`", _BACKTICK_LOOKALIKE).strip()
    return f"`{body or ' '}`"


def bold(escaped: str) -> str:
    """Bold a single line of escaped mrkdwn.

    Slack bold cannot span lines, start or end with whitespace, or contain `*`; all three are
    normalised so the markup never leaks into the message as stray asterisks.
    """
    line = " ".join(escaped.split()).replace("*", _MODIFIER_LETTER_ASTERISK)
    return f"*{line}*" if line else ""


def bullet_list(escaped_items: Iterable[str], bullet: str = "•") -> str:
    """Escaped mrkdwn items as a bulleted list, one per line (continuation lines indented)."""
    lines: list[str] = []
    for item in escaped_items:
        first, *rest = item.strip("\n").split("\n")
        lines.append(f"{bullet} {first}")
        lines.extend(f"    {line}" for line in rest)
    return "\n".join(lines)


def link(url: str, label_escaped: str | None = None) -> str:
    """A mrkdwn link to an http(s) URL; anything else is shown as escaped text, never linked.

    Inside `<url|label>` a `|` or `>` in the URL would end the URL early, so both are
    percent-encoded; the label must already be escaped.
    """
    if not url.lower().startswith(("https://", "http://")) or any(ch.isspace() for ch in url):
        return label_escaped if label_escaped is not None else escape(url)
    target = escape(url.replace("|", "%7C"))
    return f"<{target}|{label_escaped}>" if label_escaped else f"<{target}>"


def _hard_pieces(line: str, budget: int) -> Iterator[str]:
    """Split one over-long line into pieces of at most `budget`, preferring whitespace."""
    while len(line) > budget:
        cut = safe_cut(line, budget)
        space = line.rfind(" ", budget * 4 // 5, cut)
        if space > 0:
            cut = space + 1
        if cut == 0:  # a single entity or backtick run longer than the budget: cannot happen above 5
            cut = budget
        yield line[:cut]
        line = line[cut:]
    yield line


def split_mrkdwn(mrkdwn: str, limit: int) -> list[str]:
    """Split escaped mrkdwn into chunks of at most `limit` characters, at line boundaries.

    Lines longer than a chunk are cut at safe positions. A code block that spans a boundary is
    closed at the end of one chunk and reopened at the start of the next, so each chunk renders
    on its own (Slack renders each section independently).
    """
    if len(mrkdwn) <= limit:
        return [mrkdwn]
    budget = max(1, limit - 2 * len(FENCE))  # room to close and reopen a fence
    chunks: list[str] = []
    current = ""
    fence_open = False
    for line in mrkdwn.split("\n"):
        for index, piece in enumerate(_hard_pieces(line, budget)):
            joiner = "" if index else "\n"
            if current and len(current) + len(joiner) + len(piece) > budget:
                chunks.append(current + FENCE if fence_open else current)
                current = FENCE + piece if fence_open else piece
            else:
                current = current + joiner + piece if current else piece
            if open_fences(piece):
                fence_open = not fence_open
    chunks.append(current)
    return [chunk for chunk in chunks if chunk.strip()] or [truncate_mrkdwn(mrkdwn, limit)]
