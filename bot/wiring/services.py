"""The use cases both modes build the same way: the diagnose service and the `/runbooks` pages.

One place, so console mode and Slack mode answer `pod`/`ns` with the same namespaces, log lines and
access policy, and neither mode's module has to import the other's.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from bot.access import BotConfig, NamespaceAccess
from bot.knowledge import KnowledgeBase
from bot.knowledge.explanation import Explanation
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.application.cluster import ClusterConnection
    from bot.application.diagnose import DiagnoseService
    from bot.metrics import BotMetrics
    from bot.web import RunbookPages


def build_diagnose_service(
    settings: Settings,
    knowledge: KnowledgeBase,
    cluster: ClusterConnection,
    config: BotConfig,
    metrics: BotMetrics | None = None,
) -> DiagnoseService:
    """The diagnose use case with the settings' namespaces, log lines and access policy."""
    from bot.application.diagnose import DiagnoseService
    from bot.metrics import DiagnoseMetrics

    return DiagnoseService(
        knowledge,
        cluster.reader,
        access=NamespaceAccess.from_config(settings.allowed_namespaces, config),
        default_namespace=settings.default_namespace,
        log_lines=settings.log_lines,
        unavailable=cluster.problem,
        metrics=DiagnoseMetrics(metrics.registry) if metrics is not None else None,
    )


def runbook_pages(knowledge: KnowledgeBase, public_url: str) -> RunbookPages:
    """The `/runbooks` pages, with absolute links under `PUBLIC_URL` (works behind path prefixes)."""
    from bot.render.html import runbook_index, runbook_page
    from bot.web import RunbookPages

    base = f"{public_url.rstrip('/')}/runbooks/"

    @cache
    def index() -> str:
        explanations = [e for key in knowledge.runbook_keys() if (e := knowledge.runbook(key)) is not None]
        return runbook_index(explanations, base=base)

    def page(key: str) -> str | None:
        explanation = knowledge.runbook(key)
        return runbook_page(explanation, index_href=base) if explanation is not None else None

    def canonical_key(key: str) -> str | None:
        found = knowledge.runbook(key)
        reply = found if found is not None else knowledge.answer(key)
        return reply.runbook_key if isinstance(reply, Explanation) and reply.runbook_key else None

    return RunbookPages(index=index, page=page, canonical_key=canonical_key)
