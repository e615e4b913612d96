"""The ``replica_partition`` fault: intervals with one replica cut off (needs a ``replica`` read path)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from toctou_sim.core.distributions import DistributionSpec, Exponential, parse_distribution
from toctou_sim.core.units import NonNegativeDuration
from toctou_sim.plugins.read_paths.replica import QuorumRead
from toctou_sim.spec.faults import check_read_path_target
from toctou_sim.spec.parts import FaultSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.caching import fault_index, require_read_path
from toctou_sim.world.engine import Fault, Flow, World

if TYPE_CHECKING:
    from toctou_sim.spec.parts import ModelView

__all__ = ["PLUGIN", "ReplicaPartition", "ReplicaPartitionSpec"]


class ReplicaPartitionSpec(FaultSpec):
    """Intervals during which one replica (chosen uniformly at each start) is unreachable:
    write and read messages sent to it while it is cut off are queued and delivered at the heal
    (plus their usual delay). Partitions start at Poisson ``rate`` per second and last
    ``duration``. Needs a ``replica`` read path."""

    kind: Literal["replica_partition"] = "replica_partition"
    rate: float = Field(gt=0)
    duration: DistributionSpec = parse_distribution(1.0)
    start: NonNegativeDuration = 0.0

    def check_model(self, model: ModelView) -> str | None:
        return check_read_path_target(model, self.kind, "replicas", "replica")


class ReplicaPartition(Fault):
    """Cuts one replica off during intervals (see :class:`ReplicaPartitionSpec`)."""

    spec: ReplicaPartitionSpec

    def __init__(self, world: World, spec: ReplicaPartitionSpec) -> None:
        super().__init__(world, spec)
        self.store: QuorumRead = require_read_path(world, spec, QuorumRead, "replica")
        self._name = f"fault.{fault_index(world, spec)}.replica_partition"
        self.partitions = 0
        self.partitioned_time = 0.0

    def start(self) -> None:
        self.world.env.process(self._partitions())

    def _partitions(self) -> Flow:
        env = self.world.env
        streams = self.world.streams
        gaps = streams.variates(f"{self._name}.arrivals", Exponential(mean_=1.0 / self.spec.rate))
        durations = streams.variates(f"{self._name}.duration", self.spec.duration)
        chooser = streams.keys(f"{self._name}.replica", self.store.n, None)
        if self.spec.start > 0:
            yield env.timeout(self.spec.start)
        end = 2 * self.world.spec.model.horizon
        while True:
            yield env.timeout(gaps())
            if env.now >= end:
                return
            replica = chooser()
            duration = durations()
            self.partitions += 1
            self.partitioned_time += duration
            self.store.cut(replica, env.now + duration)
            yield env.timeout(duration)

    def metrics(self) -> dict[str, float]:
        return {"replica_partitions": float(self.partitions),
                "replica_partitioned_time_s": self.partitioned_time}


PLUGIN = Plugin(spec=ReplicaPartitionSpec, behaviour=ReplicaPartition)
"""The kind ``replica_partition``: its spec and its behaviour."""
