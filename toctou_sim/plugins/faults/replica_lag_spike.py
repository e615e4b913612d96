"""The ``replica_lag_spike`` fault: intervals of slowed replica writes (needs a ``replica`` read path)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from toctou_sim.core.distributions import DistributionSpec, Exponential, parse_distribution
from toctou_sim.plugins.read_paths.replica import QuorumRead
from toctou_sim.spec.faults import check_read_path_target
from toctou_sim.spec.parts import FaultSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.caching import fault_index, require_read_path
from toctou_sim.world.engine import Fault, Flow, World

if TYPE_CHECKING:
    from toctou_sim.spec.parts import ModelView

__all__ = ["PLUGIN", "ReplicaLagSpike", "ReplicaLagSpikeSpec"]


class ReplicaLagSpikeSpec(FaultSpec):
    """Intervals during which write delays W are multiplied by ``factor`` (a slow disk, a GC
    pause, a saturated link). Spikes start at Poisson ``rate`` per second and last ``duration``;
    writes sent during a spike are slowed. Needs a ``replica`` read path."""

    kind: Literal["replica_lag_spike"] = "replica_lag_spike"
    rate: float = Field(gt=0)
    duration: DistributionSpec = parse_distribution(1.0)
    factor: float = Field(default=10.0, ge=1.0)
    replicas: int | None = Field(default=None, ge=1)
    """How many replicas (the first ones) a spike slows; default all."""

    def check_model(self, model: ModelView) -> str | None:
        return check_read_path_target(model, self.kind, "replicas", "replica")


class ReplicaLagSpike(Fault):
    """Multiplies write delays by ``factor`` during spikes (see :class:`ReplicaLagSpikeSpec`)."""

    spec: ReplicaLagSpikeSpec

    def __init__(self, world: World, spec: ReplicaLagSpikeSpec) -> None:
        super().__init__(world, spec)
        self.store: QuorumRead = require_read_path(world, spec, QuorumRead, "replica")
        self._name = f"fault.{fault_index(world, spec)}.replica_lag_spike"
        self.spikes = 0
        self.spiked_time = 0.0

    def start(self) -> None:
        self.world.env.process(self._spikes())

    def _spikes(self) -> Flow:
        env = self.world.env
        streams = self.world.streams
        gaps = streams.variates(f"{self._name}.arrivals", Exponential(mean_=1.0 / self.spec.rate))
        durations = streams.variates(f"{self._name}.duration", self.spec.duration)
        count = min(self.spec.replicas or self.store.n, self.store.n)
        end = 2 * self.world.spec.model.horizon
        while True:
            yield env.timeout(gaps())
            if env.now >= end:
                return
            duration = durations()
            self.spikes += 1
            self.spiked_time += duration
            self.store.lag(count, self.spec.factor)
            yield env.timeout(duration)
            self.store.lag(count, 1.0)

    def metrics(self) -> dict[str, float]:
        return {"replica_lag_spikes": float(self.spikes), "replica_lag_spike_time_s": self.spiked_time}


PLUGIN = Plugin(spec=ReplicaLagSpikeSpec, behaviour=ReplicaLagSpike)
"""The kind ``replica_lag_spike``: its spec and its behaviour."""
