"""Mitigation strategies: none, recheck, compare-and-swap and a per-key lock with lease and fencing."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

import simpy

from toctou_sim.measure.metrics import DECLINED
from toctou_sim.spec.model import LockSpec
from toctou_sim.world.engine import REJECTED_ATTEMPT, STRATEGIES, Flow, Operation, Strategy, World

__all__ = ["CompareAndSwap", "KeyLocks", "Lock", "NoMitigation", "Recheck"]


@STRATEGIES.register("none")
class NoMitigation(Strategy):
    """Check, wait, use: the use takes effect whatever happened in the window."""

    def attempt(self, op: Operation, first: bool) -> Flow:
        world = self.world
        if not (yield from world.check(op, op.read_latency)):
            return DECLINED
        yield from world.wait_window(op.window)
        if world.store_writes is not None:  # a finite store: queue for a server first
            yield from world.store_writes.call(op)
        if op.write_latency > 0:
            yield world.env.timeout(op.write_latency)
        return world.decide(op, accepted=self.accepts(op))

    def accepts(self, op: Operation) -> bool:
        """Whether the store applies the use that has just arrived (always, without a guard)."""
        return True


@STRATEGIES.register("recheck")
class Recheck(Strategy):
    """Re-read the truth just before use. A mismatch seen by the re-check is caught (a conflict);
    one that arises during the write latency after it is not."""

    def __init__(self, world: World, spec: Any) -> None:
        super().__init__(world, spec)
        self._recheck_latency = world.streams.variates("recheck.read_latency", world.spec.store.read_latency)

    def attempt(self, op: Operation, first: bool) -> Flow:
        world = self.world
        if not (yield from world.check(op, op.read_latency)):
            return DECLINED
        yield from world.wait_window(op.window)
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


@STRATEGIES.register("cas")
class CompareAndSwap(NoMitigation):
    """Check, wait, then a guarded write: the world's write guard (the spec's ``compare``)
    applies the use only if the key's version is unchanged (``version``) or the precondition
    holds on the truth (``predicate``) at the instant the write lands (:meth:`World.decide`).

    A version CAS never violates: an unchanged version means an unchanged state, on which the
    precondition held when it was observed; a stale observation carries an old version and
    fails. A predicate CAS never violates either, and never fails while the precondition holds.
    """


class KeyLocks:
    """Per-key FIFO locks with optional leases. Each grant carries a new, increasing token.

    A lease expires ``lease_ttl`` after its grant: the lock then passes to the next waiter even
    if the holder is still working, which is exactly how a paused or slow holder ends up acting
    without the lock.
    """

    __slots__ = ("env", "expired", "holder", "lease_ttl", "next_token", "waiters")

    def __init__(self, env: simpy.Environment, lease_ttl: float | None) -> None:
        self.env = env
        self.lease_ttl = lease_ttl
        self.holder: dict[int, int] = {}
        """Token of the current holder of each held key."""
        self.waiters: dict[int, deque[simpy.Event]] = {}
        self.next_token = 1
        self.expired = 0
        """Leases that expired while their holder still held the lock."""

    def acquire(self, key: int) -> simpy.Event:
        """An event that succeeds with a token when ``key``'s lock is granted to the caller."""
        event = self.env.event()
        if key in self.holder:
            self.waiters.setdefault(key, deque()).append(event)
        else:
            self._grant(key, event)
        return event

    def cancel(self, key: int, event: simpy.Event) -> None:
        """Withdraw a request that has not been granted (a wait timeout)."""
        queue = self.waiters.get(key)
        if queue is not None and event in queue:
            queue.remove(event)

    def release(self, key: int, token: int) -> None:
        """Release ``key`` if ``token`` still holds it (after an expiry it no longer does)."""
        if self.holder.get(key) == token:
            self._pass_on(key)

    def _grant(self, key: int, event: simpy.Event) -> None:
        token = self.next_token
        self.next_token += 1
        self.holder[key] = token
        event.succeed(token)
        if self.lease_ttl is not None:
            self.env.timeout(self.lease_ttl).callbacks.append(partial(self._expire, key, token))

    def _pass_on(self, key: int) -> None:
        queue = self.waiters.get(key)
        if queue:
            self._grant(key, queue.popleft())
        else:
            del self.holder[key]

    def _expire(self, key: int, token: int, _event: simpy.Event) -> None:
        if self.holder.get(key) == token:
            self.expired += 1
            self._pass_on(key)


@STRATEGIES.register("lock")
class Lock(Strategy):
    """Take the key's lock, check, wait, use, release.

    With ``fencing`` the check is a fenced read (it raises the key's token watermark in the store)
    and the store rejects a write whose token is below the watermark: a holder whose lease expired
    cannot write once a newer holder has checked, so the lock stays safe under pauses. With
    ``fencing = "writes"`` only accepted writes raise the watermark: a stale holder's write is
    rejected once a newer holder has written, but lands if it comes first.
    """

    spec: LockSpec

    def __init__(self, world: World, spec: Any) -> None:
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
        latency = self._acquire_latency() * self._service.latency_factor
        if latency > 0:
            yield env.timeout(latency)
        if not (yield from world.reach(self._service)):  # the lock service is partitioned away
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
                    if op.counted:
                        world.recorder.lock_wait.add(env.now - requested)
                    return REJECTED_ATTEMPT_TIMEOUT
        token: int = grant.value  # type: ignore[assignment]
        op.token = token
        if op.counted:
            world.recorder.lock_wait.add(env.now - requested)
        try:
            if not (yield from world.check(op, op.read_latency)):
                return DECLINED
            store = world.store
            if self._fencing and token > store.fence[op.key]:
                store.fence[op.key] = token
            yield from world.wait_window(op.window)
            if world.store_writes is not None:
                yield from world.store_writes.call(op)
            if op.write_latency > 0:
                yield env.timeout(op.write_latency)
            accepted = not self._fencing or token >= store.fence[op.key]
            if self._write_fencing:
                accepted = token >= self._write_fence.get(op.key, 0)
            if not accepted:
                self.fenced_rejections += 1
            outcome = world.decide(op, accepted=accepted)
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


REJECTED_ATTEMPT_TIMEOUT = REJECTED_ATTEMPT
"""A lock wait that timed out counts as a rejected attempt (retried or aborted)."""
