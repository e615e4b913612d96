"""The ``recheck`` strategy: re-read the truth just before use."""

from __future__ import annotations

from typing import Literal

from toctou_sim.measure.metrics import DECLINED
from toctou_sim.spec.parts import RetryPolicy, StrategySpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.engine import Flow, Operation, Strategy, World

__all__ = ["PLUGIN", "Recheck", "RecheckSpec"]


class RecheckSpec(StrategySpec):
    """Re-read the truth just before use; decline if the precondition no longer holds.

    A window remains between the re-check and the write (the write latency), so a recheck
    narrows the race without closing it.
    """

    kind: Literal["recheck"] = "recheck"
    retry: RetryPolicy = RetryPolicy()


class Recheck(Strategy):
    """Re-read the truth just before use. A mismatch seen by the re-check is caught (a conflict);
    one that arises during the write latency after it is not."""

    spec: RecheckSpec

    def __init__(self, world: World, spec: RecheckSpec) -> None:
        super().__init__(world, spec)
        self._recheck_latency = world.streams.variates("recheck.read_latency", world.spec.store.read_latency)

    def attempt(self, op: Operation, first: bool) -> Flow:
        world = self.world
        if not (yield from world.check(op, op.read_latency)):
            return DECLINED
        yield from world.wait_window(op.window, op)
        if world.store_reads is not None:  # the re-check is a store read
            yield from world.store_reads.call(op)
        latency = self._recheck_latency()
        if latency > 0:
            yield world.env.timeout(latency)
        if not world.store.holds(op.key, op.seen_version):
            return world.catch(op)
        if world.store_writes is not None:
            yield from world.store_writes.call(op)
        if op.write_latency > 0:
            yield world.env.timeout(op.write_latency)
        return world.decide(op, accepted=True)


PLUGIN = Plugin(spec=RecheckSpec, behaviour=Recheck)
"""The kind ``recheck``: its spec and its behaviour."""
