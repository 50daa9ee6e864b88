"""The raw material of a diagnosis: the API's JSON as read, plus what could not be read.

Kept separate from the engine so that gathering (I/O, through `ClusterReader`) and diagnosing (pure)
meet in one plain value that tests and benchmarks can also build from recorded fixtures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bot.diagnosis.frozen import quick_init
from bot.diagnosis.ports import JsonDict

EVENTS = "events"
NODE_EVENTS = "node events"
OWNERS = "owners"


def log_source(container: str) -> str:
    """The `PartialError.source` used for a container's log tail."""
    return f"logs of {container}"


@quick_init
@dataclass(frozen=True, slots=True)
class PartialError:
    """One read that failed while the pod itself was read: said in the diagnosis, never raised.

    `source` names what is missing (`events`, `owners`, `logs of api`); `message` is the user-facing
    sentence of the `ClusterError` (e.g. which RBAC verb is missing).
    """

    source: str
    message: str


@quick_init
@dataclass(frozen=True, slots=True)
class PodEvidence:
    """A pod and what surrounds it, as the API returned them.

    `events` holds the pod's events and, when read, its node's (SystemOOM, OOMKilling, Rebooted);
    `owners` holds the controller objects above the pod (ReplicaSet, Deployment, Job, CronJob);
    `log_tails` maps a container name to the tail of its previous instance's log.
    """

    pod: JsonDict
    events: tuple[JsonDict, ...] = ()
    owners: tuple[JsonDict, ...] = ()
    log_tails: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    partial_errors: tuple[PartialError, ...] = ()

    def failed(self, source: str) -> bool:
        """True when reading `source` failed (so its absence proves nothing)."""
        return any(error.source == source for error in self.partial_errors)
