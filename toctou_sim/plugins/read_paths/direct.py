"""The ``direct`` read path: the check reads the authoritative store."""

from __future__ import annotations

from typing import Literal

from toctou_sim.spec.parts import ReadPathSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.engine import Flow, ReadPath, World

__all__ = ["PLUGIN", "DirectRead", "DirectReadSpec"]


class DirectReadSpec(ReadPathSpec):
    """The check reads the authoritative store itself (with the store's read latency)."""

    kind: Literal["direct"] = "direct"


class DirectRead(ReadPath):
    """The check reads the authoritative store: the observation is the truth at the instant the
    read is served (the end of the read latency)."""

    spec: DirectReadSpec
    reads_store = True
    """The world's check reads the store itself (the same step as :meth:`read`, inlined)."""
    hears_uses = False
    """Nothing to update when a use writes: the store is what a check reads."""

    def __init__(self, world: World, spec: DirectReadSpec) -> None:
        super().__init__(world, spec)
        self._timeout = world.env.timeout

    def read(self, key: int, latency: float) -> Flow:
        if latency > 0:
            yield self._timeout(latency)
        store = self.world.store
        return store.version[key], store.value[key]


PLUGIN = Plugin(spec=DirectReadSpec, behaviour=DirectRead)
"""The kind ``direct``: its spec and its behaviour."""
