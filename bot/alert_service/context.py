"""What a leadership term works with, handed over explicitly: the ports (sink, ledger, watch, Lease,
cluster reader), the operator's routing and the timings. A term and its parts get this value, never the
service object: they cannot reach into the service's private state, and the service can be built without
a reference cycle (nothing here refers back to it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.alerting import AlertRules, PlannerConfig
from bot.alerting.destinations import SurfaceRouting
from bot.diagnosis.ports import ClusterReader
from bot.knowledge import KnowledgeBase
from bot.kube.lease import LeaseElector
from bot.kube.namespaces import NamespaceAnnotations
from bot.kube.watch import PodStream
from bot.metrics import AlertMetrics

from .ledger_sync import LedgerStore
from .sinks import AlertSink
from .surfaces import AlertSurface
from .tuning import AlertTuning

__all__ = ["AlertRouting", "StreamFactory", "TermContext"]

StreamFactory = Callable[[], PodStream]


@dataclass(frozen=True, slots=True)
class AlertRouting:
    """Which terminations alert (the operator's rules) and where they go (namespace map, default)."""

    rules: AlertRules
    namespace_map: Mapping[str, str]
    default_channel: str | None
    surfaces: SurfaceRouting | None = None
    """Routing to the other alert surfaces (issue 12); None: only the chat sink gets alerts."""


@dataclass(frozen=True, slots=True)
class TermContext:
    """The collaborators of every leadership term (see the module docstring)."""

    knowledge: KnowledgeBase
    sink: AlertSink | None
    """The chat sink (Slack or the console); None in an alerts-only deployment (no Slack app)."""
    ledger: LedgerStore
    streams: StreamFactory
    routing: AlertRouting
    planner_config: PlannerConfig
    tuning: AlertTuning
    clock: Callable[[], float]
    metrics: AlertMetrics | None = None
    elector: LeaseElector | None = None
    """None: this process leads unconditionally (console mode, tests of the service logic)."""
    namespaces: Callable[[], NamespaceAnnotations] | None = None
    reader: ClusterReader | None = None
    log_lines: int = 20
    cluster_name: str | None = None
    surfaces: Mapping[str, AlertSurface] = field(default_factory=dict)
    """The other alert surfaces switched on, by name (`bot.alert_service.surfaces`)."""

    @property
    def leading(self) -> bool:
        return self.elector.is_leader if self.elector is not None else True
