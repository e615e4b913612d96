"""The ``lock`` strategy: a per-key FIFO lock with optional lease and fencing."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

import simpy

from toctou_sim.core.distributions import DistributionSpec, parse_distribution
from toctou_sim.core.units import PositiveDuration
from toctou_sim.measure.metrics import DECLINED
from toctou_sim.spec.parts import RetryPolicy, StrategySpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.spec.targets import CALL_SERVICE, TargetKind
from toctou_sim.world.engine import REJECTED_ATTEMPT, Flow, Operation, Strategy, World
from toctou_sim.world.strategies import KeyLocks

__all__ = ["PLUGIN", "Lock", "LockSpec"]


REJECTED_ATTEMPT_TIMEOUT = REJECTED_ATTEMPT
"""A lock wait that timed out counts as a rejected attempt (retried or aborted)."""


class LockSpec(StrategySpec):
    """A per-key FIFO lock held from before the check until after the use.

    ``lease_ttl`` bounds how long a grant lasts: a holder that outlives its lease keeps running
    while the lock passes to the next waiter. With ``fencing`` every grant carries an increasing
    token, the check is a fenced read that raises the store's token watermark for the key, and the
    store rejects a write whose token is below the watermark, so an expired holder cannot write
    after a newer holder has checked. ``mutators_take_lock`` makes background mutators take the
    same lock (all writers of the key cooperate); without it they race the holders.
    """

    kind: Literal["lock"] = "lock"
    acquire_latency: DistributionSpec = parse_distribution(0.0)
    lease_ttl: PositiveDuration | None = None
    fencing: bool | Literal["writes"] = False
    """``true``: read-fenced (the check raises the key's token watermark); ``"writes"``: only
    accepted writes raise it, and the store rejects a write whose token is older than one it has
    seen on a write (cheaper: no fenced read; weaker: a stale holder that writes before the newer
    holder's write still lands); ``false``: no fencing."""
    wait_timeout: PositiveDuration | None = None
    mutators_take_lock: bool = True
    retry: RetryPolicy = RetryPolicy()

    def targets(self) -> dict[str, TargetKind]:
        return {"lock": CALL_SERVICE}


class Lock(Strategy):
    """Take the key's lock, check, wait, use, release.

    With ``fencing`` the check is a fenced read (it raises the key's token watermark in the store)
    and the store rejects a write whose token is below the watermark: a holder whose lease expired
    cannot write once a newer holder has checked, so the lock stays safe under pauses. With
    ``fencing = "writes"`` only accepted writes raise the watermark: a stale holder's write is
    rejected once a newer holder has written, but lands if it comes first.
    """

    spec: LockSpec

    def __init__(self, world: World, spec: LockSpec) -> None:
        super().__init__(world, spec)
        self.locks = KeyLocks(world.env, spec.lease_ttl)
        self._service = world.add_actor("lock")
        self._capacity = world.finite_service("lock")
        self._acquire_latency = world.streams.variates("lock.acquire_latency", spec.acquire_latency)
        self._fencing: bool = spec.fencing is True
        self._write_fencing: bool = spec.fencing == "writes"
        self._write_fence: dict[int, int] = {}
        """Write-only fencing: per key, the newest token an accepted write carried."""
        self._wait_timeout: float | None = spec.wait_timeout
        self.timeouts = 0
        self.fenced_rejections = 0

    def attempt(self, op: Operation, first: bool) -> Flow:
        world = self.world
        env = world.env
        if self._capacity is not None:  # a finite lock service: queue for a server first
            yield from self._capacity.call(op)
        service = self._service
        latency = self._acquire_latency() * service.latency_factor  # service.scaled(), inlined
        if latency > 0:
            yield env.timeout(latency)
        # the lock service is partitioned away (reach() is a step only while it is)
        if service.stalled_until > env._now and not (yield from service.reach(env)):
            self.timeouts += 1
            return REJECTED_ATTEMPT_TIMEOUT
        requested = env.now
        grant = self.locks.acquire(op.key)
        if not grant.triggered:
            if self._wait_timeout is None:
                yield grant
            else:
                yield grant | env.timeout(self._wait_timeout)
                if not grant.triggered:
                    self.locks.cancel(op.key, grant)
                    self.timeouts += 1
                    waited = world.notify.lock_waited
                    if waited is not None:
                        waited(op, env.now - requested)
                    return REJECTED_ATTEMPT_TIMEOUT
        token: int = grant.value  # type: ignore[assignment]
        op.token = token
        waited = world.notify.lock_waited
        if waited is not None:
            waited(op, env.now - requested)
        try:
            if not (yield from world.check(op, op.read_latency)):
                return DECLINED
            store = world.store
            if self._fencing and token > store.fence[op.key]:
                store.fence[op.key] = token
            yield from world.wait_window(op.window, op)
            if world.store_writes is not None:
                yield from world.store_writes.call(op)
            if op.write_latency > 0:
                yield env.timeout(op.write_latency)
            accepted = not self._fencing or token >= store.fence[op.key]
            if self._write_fencing:
                accepted = token >= self._write_fence.get(op.key, 0)
            if not accepted:
                self.fenced_rejections += 1
            outcome = world.decide(op, accepted)
            if self._write_fencing and outcome != REJECTED_ATTEMPT and world.invariant.use_writes:
                self._write_fence[op.key] = token
            return outcome
        finally:
            self.locks.release(op.key, token)

    def mutate(self, key: int, apply: Callable[[], None]) -> None:
        if not self.spec.mutators_take_lock:
            apply()
            return
        grant = self.locks.acquire(key)
        if grant.triggered:
            self._locked_apply(key, apply, grant)
        else:
            grant.callbacks.append(partial(self._locked_apply, key, apply))

    def _locked_apply(self, key: int, apply: Callable[[], None], grant: simpy.Event) -> None:
        token: int = grant.value  # type: ignore[assignment]
        store = self.world.store
        if self._fencing and token > store.fence[key]:
            store.fence[key] = token
        if self._write_fencing:
            self._write_fence[key] = max(token, self._write_fence.get(key, 0))
        apply()
        self.locks.release(key, token)

    def metrics(self) -> dict[str, float]:
        return {
            "lock_leases_expired": float(self.locks.expired),
            "lock_wait_timeouts": float(self.timeouts),
            "fenced_rejections": float(self.fenced_rejections),
        }


PLUGIN = Plugin(spec=LockSpec, behaviour=Lock)
"""The kind ``lock``: its spec and its behaviour."""
