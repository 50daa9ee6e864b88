"""Where a runbook link points, decided in one place so no surface ever invents a URL.

Precedence: the entry's own `runbook_url` (the operator knows best) > `RUNBOOK_URL_TEMPLATE` (their wiki)
> the bot's own `/runbooks/{key}` pages when `PUBLIC_URL` says where the bot is reachable > no link at all.
With none of them configured the steps are shown inline and no link is faked.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunbookLinks:
    """Runbook link settings: `template` may contain `{code}` and `{key}`; `public_url` is the bot's base."""

    template: str | None = None
    public_url: str | None = None

    def url_for(self, key: str, override: str | None = None) -> str | None:
        """The link for a runbook key (a normalized code such as `137`, or a reason such as `OOMKilled`).

        For reasons `{code}` and `{key}` both become the reason name, so one template serves both kinds.
        Plain `str.replace` is used instead of `str.format` so a template with other braces cannot fail.
        """
        if override:
            return override
        if self.template:
            return self.template.replace("{code}", key).replace("{key}", key)
        if self.public_url:
            return f"{self.public_url.rstrip('/')}/runbooks/{key}"
        return None
