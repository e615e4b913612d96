"""Faults: pause, crash, latency spike, partition, clock skew and throttle.

Each fault hits one named actor or service (:class:`~toctou_sim.world.engine.Actor`) during
intervals that start on a schedule or as a Poisson process and last a random duration. A fault
only sets plain attributes of its target at the start and end of an interval; the engine and the
strategies read them at their step boundaries. Onsets and durations come from the fault's own
named streams (``fault.<i>.onsets``, ``fault.<i>.duration``), so every strategy compared on
common random numbers suffers the same faults at the same instants.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from toctou_sim.core.distributions import parse_distribution
from toctou_sim.spec.faults import (
    ClockSkewSpec,
    LatencySpikeSpec,
    PartitionSpec,
    ScheduledFaultSpec,
    ThrottleSpec,
)
from toctou_sim.world.engine import FAULTS, Actor, Fault, Flow, Quota, World

__all__ = ["ClockSkew", "Crash", "LatencySpike", "Partition", "Pause", "ScheduledFault", "Throttle"]


class ScheduledFault(Fault):
    """A fault on a target during intervals. Subclasses implement :meth:`begin` (and :meth:`end`).

    The target is resolved at each onset, so an alias such as ``leader`` hits whichever actor
    holds that role at that instant (no one: the onset is counted but hits nothing). A target
    absent from this world (e.g. ``lock`` while comparing against ``none``) leaves the fault
    inert: the other strategies in a comparison simply have no such service.
    """

    spec: ScheduledFaultSpec

    def __init__(self, world: World, spec: Any) -> None:
        super().__init__(world, spec)
        index = next((i for i, fault in enumerate(world.spec.faults) if fault is spec), 0)
        self.stream = f"fault.{index}"
        self.onsets = 0
        self.hits = 0
        self.seconds = 0.0
        self._active: dict[str, int] = {}

    def start(self) -> None:
        world = self.world
        if self.spec.target not in world.actors and self.spec.target not in world.aliases:
            return
        world.env.process(self._run())

    def _onset_times(self) -> Iterator[float]:
        if self.spec.at is not None:
            yield from sorted(self.spec.at)
            return
        rate = self.spec.rate
        assert rate is not None
        gap = parse_distribution({"exponential": {"mean": 1.0 / rate}})
        gaps = self.world.streams.variates(f"{self.stream}.onsets", gap)
        t = 0.0
        while True:
            t += gaps()
            yield t

    def _run(self) -> Flow:
        world = self.world
        env = world.env
        horizon = world.spec.model.horizon
        durations = world.streams.variates(f"{self.stream}.duration", self.spec.duration)
        for t in self._onset_times():
            if t >= horizon:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            duration = durations()
            self.onsets += 1
            self.seconds += duration
            actor = world.resolve(self.spec.target)
            if actor is None:
                continue
            self.hits += 1
            active = self._active.get(actor.name, 0)
            self._active[actor.name] = active + 1
            self.begin(actor, duration, first=active == 0)
            fault_began = world.notify.fault_began
            if active == 0 and fault_began is not None:
                fault_began(self.spec.kind, actor.name, duration)
            env.timeout(duration).callbacks.append(partial(self._end, actor))

    def _end(self, actor: Actor, _event: object = None) -> None:
        left = self._active[actor.name] - 1
        self._active[actor.name] = left
        self.end(actor, last=left == 0)
        fault_ended = self.world.notify.fault_ended
        if left == 0 and fault_ended is not None:
            fault_ended(self.spec.kind, actor.name)

    def begin(self, actor: Actor, duration: float, first: bool) -> None:
        """An interval starts on ``actor`` (``first``: no other interval of this fault is active on it)."""
        raise NotImplementedError

    def end(self, actor: Actor, last: bool) -> None:
        """An interval ends on ``actor`` (``last``: it was the only active one)."""

    def metrics(self) -> dict[str, float]:
        kind = self.spec.kind
        return {f"{kind}_onsets": float(self.onsets), f"{kind}_seconds": self.seconds}


@FAULTS.register("pause")
class Pause(ScheduledFault):
    """Stop-the-world: the target takes no step until the pause ends (its timers still run out,
    and the rest of the world, leases included, goes on)."""

    def begin(self, actor: Actor, duration: float, first: bool) -> None:
        actor.stalled_until = max(actor.stalled_until, self.world.env.now + duration)


@FAULTS.register("crash")
class Crash(ScheduledFault):
    """The target dies now and restarts after the duration: its epoch changes, so every
    multi-step operation it was running stops at its next step (``Actor.crashed_since``), and it
    takes no new step until it is back up.

    On ``client`` (one client of the fleet) the crash hits the first client whose use takes
    effect while the interval lasts: it dies right after its side effect, before it answers, and
    the request comes again when the interval ends (:meth:`World.lose_answer`, the path of a queue
    consumer's lost ack)."""

    def __init__(self, world: World, spec: Any) -> None:
        super().__init__(world, spec)
        if spec.target == "client":
            world.crashing_client = True
            world.enable_duplicates()

    def begin(self, actor: Actor, duration: float, first: bool) -> None:
        actor.epoch += 1
        actor.down_until = max(actor.down_until, self.world.env.now + duration)

    def end(self, actor: Actor, last: bool) -> None:
        if self.world.env.now >= actor.down_until:
            for restarted in actor.on_restart:
                restarted()

    def metrics(self) -> dict[str, float]:
        extra = super().metrics()
        if self.spec.target == "client":
            extra["client_lost_answers"] = float(self.world.lost_answers)
        return extra


@FAULTS.register("latency_spike")
class LatencySpike(ScheduledFault):
    """The target service's latencies are multiplied by ``factor`` during the interval."""

    spec: LatencySpikeSpec

    def begin(self, actor: Actor, duration: float, first: bool) -> None:
        if first:
            actor.latency_factor *= self.spec.factor

    def end(self, actor: Actor, last: bool) -> None:
        if last:
            actor.latency_factor /= self.spec.factor


@FAULTS.register("partition")
class Partition(ScheduledFault):
    """The target service is unreachable during the interval: calls queue until heal, or fail
    after ``timeout`` where the caller has a failure path (lock acquire, lease renewal)."""

    spec: PartitionSpec

    def begin(self, actor: Actor, duration: float, first: bool) -> None:
        actor.stalled_until = max(actor.stalled_until, self.world.env.now + duration)
        actor.call_timeout = self.spec.timeout


@FAULTS.register("clock_skew")
class ClockSkew(ScheduledFault):
    """The target's clock jumps by ``offset`` and runs at ``1 + drift`` during the interval;
    at its end NTP steps it back to true time."""

    spec: ClockSkewSpec

    def begin(self, actor: Actor, duration: float, first: bool) -> None:
        if first:
            actor.set_clock(self.world.env.now, 1.0 + self.spec.drift, self.spec.offset)

    def end(self, actor: Actor, last: bool) -> None:
        if last:
            now = self.world.env.now
            actor.set_clock(now, 1.0, now - actor.local_time(now))


@FAULTS.register("throttle")
class Throttle(ScheduledFault):
    """The target service admits at most ``limit`` requests per second (token bucket of
    ``burst``) during the interval and rejects the rest."""

    spec: ThrottleSpec

    def __init__(self, world: World, spec: Any) -> None:
        super().__init__(world, spec)
        self.rejected = 0
        self._quotas: list[Quota] = []

    def begin(self, actor: Actor, duration: float, first: bool) -> None:
        if first:
            burst = self.spec.burst if self.spec.burst is not None else max(1.0, self.spec.limit)
            actor.quota = Quota(self.spec.limit, burst, self.world.env.now)
            self._quotas.append(actor.quota)

    def end(self, actor: Actor, last: bool) -> None:
        if last:
            actor.quota = None

    def metrics(self) -> dict[str, float]:
        extra = super().metrics()
        extra["throttled_requests"] = float(sum(quota.rejected for quota in self._quotas))
        return extra
