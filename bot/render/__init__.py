"""Renderers: one per surface (Block Kit, terminal text, JSON, HTML) for every core object.

Pure functions from core data to output, importing nothing that does I/O. The Slack-safety helpers
are shared by every Slack renderer and are the only sanctioned way to put text into a message:
- `bot.render.mrkdwn`: `escape()` untrusted text, escape-safe `truncate()`, code blocks, bold, lists.
- `bot.render.limits`: Block Kit builders that enforce Slack's limits by truncating, and `fit_blocks()`.

Explanations (`/exitcode 137`): `blocks.reply_blocks` / `blocks.reply_fallback_text` (Slack),
`text.reply_text` (console, CLI), `json_view.reply_json` (CLI `--json`), `html.runbook_page` /
`html.runbook_index` (`/runbooks`). Import the module you need; this package imports nothing, so the
CLI does not pay for surfaces it does not use.
"""
