"""The ``latency_spike`` fault: a scheduled fault on one target that adds latency
(see :class:`~toctou_sim.spec.faults.ScheduledFaultSpec`).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from toctou_sim.spec.faults import ScheduledFaultSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.engine import Actor
from toctou_sim.world.faults import ScheduledFault

__all__ = ["PLUGIN", "LatencySpike", "LatencySpikeSpec"]


class LatencySpikeSpec(ScheduledFaultSpec):
    """A service's latencies are multiplied by ``factor`` during each interval (a noisy neighbour,
    a compaction, a slow disk).

    ``store``: an operation that starts during a spike sees its read and write latencies
    multiplied; ``lock`` / ``lease`` / ``dedupe``: every call made during a spike is slowed; a
    finite service (``[capacity.NAME]``): its service times. Actors have no latency of their own:
    a spike on one is rejected.
    """

    kind: Literal["latency_spike"] = "latency_spike"
    effect: ClassVar[str] = "latency_spike"
    target: str = "store"
    factor: float = Field(default=10.0, gt=0)
    """Multiplier of the latencies during the spike."""


class LatencySpike(ScheduledFault):
    """The target service's latencies are multiplied by ``factor`` during the interval."""

    spec: LatencySpikeSpec

    def begin(self, actor: Actor, duration: float, first: bool) -> None:
        if first:
            actor.slow(self.spec.factor)

    def end(self, actor: Actor, last: bool) -> None:
        if last:
            actor.unslow(self.spec.factor)


PLUGIN = Plugin(spec=LatencySpikeSpec, behaviour=LatencySpike)
"""The kind ``latency_spike``: its spec and its behaviour."""
