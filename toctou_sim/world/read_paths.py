"""Read paths: how a check observes a key."""

from __future__ import annotations

from toctou_sim.world.engine import READ_PATHS, Flow, ReadPath

__all__ = ["DirectRead"]


@READ_PATHS.register("direct")
class DirectRead(ReadPath):
    """The check reads the authoritative store: the observation is the truth at the instant the
    read is served (the end of the read latency)."""

    def read(self, key: int, latency: float) -> Flow:
        if latency > 0:
            yield self.world.env.timeout(latency)
        store = self.world.store
        return store.version[key], store.value[key]
