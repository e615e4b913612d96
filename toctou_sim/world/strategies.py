"""Machinery shared by several strategy kinds (the layer below :mod:`toctou_sim.plugins.strategies`):
the plain check -> window -> use flow and per-key locks with leases and fencing tokens."""

from __future__ import annotations

from collections import deque
from functools import partial
from typing import Any, ClassVar

import simpy

from toctou_sim.measure.metrics import DECLINED
from toctou_sim.world.engine import REJECTED_ATTEMPT, Flow, Operation, ServiceRefused, Strategy

__all__ = ["CheckWaitUse", "KeyLocks"]


class CheckWaitUse(Strategy):
    """Check, wait, use: the flow of ``none`` and of ``cas`` (whose store guards the write).

    :meth:`accepts` says whether the store applies the use that has just arrived; the world's
    write guard (:meth:`World.decide`) applies any ``guard`` of the spec on top.
    """

    accepts_every_use: ClassVar[bool] = True
    """Whether :meth:`accepts` is always True (the operation loop then skips the call); a subclass
    that overrides :meth:`accepts` is asked."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "attempt" in cls.__dict__ and "operate" not in cls.__dict__:
            cls.operate = Strategy.operate  # type: ignore[method-assign]  # its own attempt, run in the general loop
        if "accepts" in cls.__dict__ and "accepts_every_use" not in cls.__dict__:
            cls.accepts_every_use = False

    def operate(self, op: Operation) -> Flow:
        """:meth:`Strategy.operate` with :meth:`attempt` written inline: one generator fewer per
        operation on the flow of ``none`` and ``cas``, the engine's hottest path (a subclass that
        overrides :meth:`attempt` runs the general loop instead). Keep the two in step; a test
        runs both on the same models and compares every count."""
        world = self.world
        env = world.env
        budget = self._budget
        while True:
            try:  # the attempt
                if (yield from world.check(op, op.read_latency)):
                    yield from world.wait_window(op.window, op)
                    if world.store_writes is not None:  # a finite store: queue for a server first
                        yield from world.store_writes.call(op)
                    latency = op.write_latency
                    if latency > 0:
                        yield env.timeout(latency)
                    outcome = world.decide(op, True if self.accepts_every_use else self.accepts(op))
                else:
                    outcome = DECLINED
            except ServiceRefused:  # a finite service refused or timed out the call
                outcome = REJECTED_ATTEMPT
            if outcome != REJECTED_ATTEMPT and budget is None:
                break
            outcome = self.settle(op, outcome)
            if outcome != REJECTED_ATTEMPT:
                break
            yield from self.back_off(op)
        world.finish(op, outcome)

    def attempt(self, op: Operation, first: bool) -> Flow:
        world = self.world
        if not (yield from world.check(op, op.read_latency)):
            return DECLINED
        yield from world.wait_window(op.window, op)
        if world.store_writes is not None:  # a finite store: queue for a server first
            yield from world.store_writes.call(op)
        latency = op.write_latency
        if latency > 0:
            yield world.env.timeout(latency)
        return world.decide(op, self.accepts(op))

    def accepts(self, op: Operation) -> bool:
        """Whether the store applies the use that has just arrived (always, without a guard)."""
        return True


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


