"""The ``reservation`` strategy: reserve capacity at check, consume it at use."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Literal

import simpy

from toctou_sim.core.units import PositiveDuration
from toctou_sim.measure.metrics import DECLINED, TimeWeighted
from toctou_sim.spec.parts import RetryPolicy, StrategySpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.spec.strategies import require_invariant
from toctou_sim.world.engine import REJECTED_ATTEMPT, Flow, Operation, Strategy, World

if TYPE_CHECKING:
    from toctou_sim.spec.parts import ModelView

__all__ = ["PLUGIN", "Reservation", "ReservationSpec"]


class ReservationSpec(StrategySpec):
    """Reserve one unit atomically at check (the check is the reservation), consume it at use,
    release it when the operation gives up or ``ttl`` after it was taken. A use after its
    reservation expired must reserve again and is throttled if nothing is left."""

    kind: Literal["reservation"] = "reservation"
    ttl: PositiveDuration | None = None
    retry: RetryPolicy = RetryPolicy()

    def check_model(self, model: ModelView) -> str | None:
        return require_invariant(model, "reservation", ("counter",))


class _Hold:
    """A unit reserved for one operation."""

    __slots__ = ("active", "key")

    def __init__(self, key: int) -> None:
        self.key = key
        self.active = True


class Reservation(Strategy):
    """Pre-reserve capacity: the check atomically takes one unit at the store (so it can never
    be promised twice), the use consumes the unit it holds, and an operation that gives up, or
    whose reservation outlives its TTL, gives the unit back.

    Nothing is oversold; the price is capacity held idle between check and use (and for the
    TTL when a client never comes back), and uses throttled after their reservation expired.
    """

    spec: ReservationSpec

    def __init__(self, world: World, spec: ReservationSpec) -> None:
        super().__init__(world, spec)
        self._ttl: float | None = spec.ttl
        model = world.spec.model
        self.held = TimeWeighted(model.warmup, model.horizon)
        self.expired = 0
        self.throttled = 0

    def _take(self, key: int) -> bool:
        store = self.world.store
        if store.value[key] <= 0:
            return False
        store.write(key, store.value[key] - 1)
        self.world.read_path.on_write(key)
        return True

    def _give(self, key: int) -> None:
        store = self.world.store
        store.write(key, store.value[key] + 1)
        self.world.read_path.on_write(key)

    def _expire(self, hold: _Hold, _event: simpy.Event) -> None:
        if hold.active:
            hold.active = False
            self.expired += 1
            self.held.change(self.world.env.now, -1)
            self._give(hold.key)

    def attempt(self, op: Operation, first: bool) -> Flow:
        world = self.world
        env = world.env
        store = world.store
        key = op.key
        yield from world.actors["clients"].wait(env)  # a paused client reserves when it resumes
        if not (yield from world.reach(world.actors["store"])):
            return REJECTED_ATTEMPT  # the store is partitioned and the call timed out
        if world.store_reads is not None:  # a finite store: queue for a server first
            yield from world.store_reads.call(op)
        if op.read_latency > 0:
            yield env.timeout(op.read_latency)
        op.t_check = env.now
        op.stale = False
        taken = self._take(key)
        op.seen_version = store.version[key]
        checked = world.notify.checked
        if checked is not None:  # the reservation is this attempt's check, on the truth
            checked(op, taken, False)
        if not taken:
            return DECLINED
        hold = _Hold(key)
        self.held.change(env.now, 1)
        if self._ttl is not None:
            env.timeout(self._ttl).callbacks.append(partial(self._expire, hold))
        try:
            yield from world.wait_window(op.window, op)
            if world.store_writes is not None:  # a finite store: queue for a server first
                yield from world.store_writes.call(op)
            if op.write_latency > 0:
                yield env.timeout(op.write_latency)
            if not hold.active:
                if not self._take(key):
                    if op.counted:
                        self.throttled += 1
                    return world.catch(op)
                hold.active = True
                self.held.change(env.now, 1)
            # Consume: the held unit is handed back and taken by the use in the same instant.
            hold.active = False
            self.held.change(env.now, -1)
            self._give(key)
            return world.decide(op, accepted=True)
        finally:
            if hold.active:
                hold.active = False
                self.held.change(env.now, -1)
                self._give(key)

    def metrics(self) -> dict[str, float]:
        return {
            "capacity_held_idle": self.held.mean(),
            "reservations_expired": float(self.expired),
            "throttled_after_expiry": float(self.throttled),
        }


PLUGIN = Plugin(spec=ReservationSpec, behaviour=Reservation)
"""The kind ``reservation``: its spec and its behaviour."""
