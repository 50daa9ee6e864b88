"""Alert surfaces besides Slack: Microsoft Teams, PagerDuty, a signed webhook (adapters).

Each module implements `bot.alert_service.surfaces.AlertSurface` over `http_delivery.HttpDelivery`
(paced, retried, never logging a URL or key) with its own renderer in `bot/render/`. The surfaces never
import each other; `bot.wiring.surfaces` builds the ones whose settings are present.
"""
