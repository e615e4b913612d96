"""The ``eviction_storm`` fault: cache flushes at Poisson instants (needs a ``cache`` read path)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from toctou_sim.core.distributions import Exponential
from toctou_sim.core.units import NonNegativeDuration
from toctou_sim.plugins.read_paths.cache import CacheRead
from toctou_sim.spec.faults import check_read_path_target
from toctou_sim.spec.parts import FaultSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.caching import fault_index, require_read_path
from toctou_sim.world.engine import Fault, Flow, World

if TYPE_CHECKING:
    from toctou_sim.spec.parts import ModelView

__all__ = ["PLUGIN", "EvictionStorm", "EvictionStormSpec"]


class EvictionStormSpec(FaultSpec):
    """Cache flushes (a restart, a memory-pressure storm) at Poisson ``rate`` per second: every
    entry is dropped at once, so the next checks all miss. Needs a ``cache`` read path."""

    kind: Literal["eviction_storm"] = "eviction_storm"
    rate: float = Field(gt=0)
    start: NonNegativeDuration = 0.0
    """No storm before this instant."""

    def check_model(self, model: ModelView) -> str | None:
        return check_read_path_target(model, self.kind, "cache", "cache")


class EvictionStorm(Fault):
    """Flushes the whole cache at the instants of a Poisson process (see :class:`EvictionStormSpec`)."""

    spec: EvictionStormSpec

    def __init__(self, world: World, spec: EvictionStormSpec) -> None:
        super().__init__(world, spec)
        self.cache: CacheRead = require_read_path(world, spec, CacheRead, "cache")
        self._name = f"fault.{fault_index(world, spec)}.eviction_storm"

    def start(self) -> None:
        self.world.env.process(self._storms())

    def _storms(self) -> Flow:
        env = self.world.env

        gaps = self.world.streams.variates(f"{self._name}.arrivals", Exponential(mean_=1.0 / self.spec.rate))
        if self.spec.start > 0:
            yield env.timeout(self.spec.start)
        end = 2 * self.world.spec.model.horizon
        while True:
            yield env.timeout(gaps())
            if env.now >= end:
                return
            self.cache.flush()


PLUGIN = Plugin(spec=EvictionStormSpec, behaviour=EvictionStorm)
"""The kind ``eviction_storm``: its spec and its behaviour."""
