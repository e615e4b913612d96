"""Read paths: how a check observes a key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toctou_sim.world.engine import READ_PATHS, Flow, ReadPath, World

if TYPE_CHECKING:
    from toctou_sim.spec.model import ReadPathSpec

__all__ = ["DirectRead"]


@READ_PATHS.register("direct")
class DirectRead(ReadPath):
    """The check reads the authoritative store: the observation is the truth at the instant the
    read is served (the end of the read latency)."""

    def __init__(self, world: World, spec: ReadPathSpec) -> None:
        super().__init__(world, spec)
        self._timeout = world.env.timeout

    def read(self, key: int, latency: float) -> Flow:
        if latency > 0:
            yield self._timeout(latency)
        store = self.world.store
        return store.version[key], store.value[key]
