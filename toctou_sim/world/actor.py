"""The actors and services of the world that faults can hit (:class:`Actor`), and the token
bucket a throttled one admits requests through (:class:`Quota`).

Below the engine: the world creates one :class:`Actor` per named participant
(:meth:`~toctou_sim.world.engine.World.add_actor`), and faults, services and strategies act on it
only through its hooks.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy

from toctou_sim.world.operation import Flow

__all__ = ["Actor", "Quota"]


class Actor:
    """A named participant of the world that faults can hit: an active actor (``clients``,
    ``mutators``, a controller replica) or a service it calls (``store``, ``lock``, ``lease``).

    A fault acts on an actor only through its *hooks*, one per effect: :meth:`stall` (pause),
    :meth:`cut_off` (partition), :meth:`slow` / :meth:`unslow` (latency spike), :meth:`throttle` /
    :meth:`unthrottle`, :meth:`crash` / :meth:`restarted` and :meth:`skew_clock` /
    :meth:`correct_clock`. ``honours`` is what this actor's model declares it honours (see
    :mod:`toctou_sim.spec.targets`), that is, the effects whose state the world consults for this
    actor; a fault calls no hook on an actor that does not honour its effect (only possible in a
    comparison, on a target that a variant strategy honours and the running one does not: a model
    naming a target that honours the fault under none of its strategies is rejected at load).

    The engine and strategies read the state at their step boundaries, through :meth:`wait`,
    :meth:`reach`, :meth:`reachable`, :meth:`ready_at`, :meth:`is_down`, :meth:`crashed_since`,
    :meth:`scaled` and :meth:`local_time`, or, on the per-operation hot path of the engine
    (check, window, use, submit), through the attributes below, read-only. Every attribute has a
    neutral default, so an actor no fault touches behaves as if it did not exist.

    Attributes:
        name: the name faults use in their ``target`` field.
        honours: the fault effects this actor honours in this world.
        stalled_until: an actor is paused (stop-the-world), or a service is unreachable
            (partitioned), until this instant; steps wait for it.
        call_timeout: while partitioned, a call to this service fails after this many seconds
            instead of queueing until heal (``None``: calls queue).
        latency_factor: multiplier of this service's latencies (latency spikes).
        epoch: crash count. A multi-step operation remembers the epoch when it starts and stops
            at its next step when the epoch changed (:meth:`crashed_since`): that is the crash
            hook, and whatever the steps before already wrote stays (partial state).
        down_until: a crashed actor restarts at this instant.
        on_restart: callbacks run when a crashed actor is back up (a restarted controller
            resyncs its work).
        quota: admission control of a service (a throttle), or ``None`` for no limit.
        clock_anchor_true, clock_anchor_local, clock_rate: the actor's clock, piecewise linear in
            true time (see :meth:`local_time`); a clock-skew fault changes rate and offset.
    """

    __slots__ = (
        "call_timeout",
        "clock_anchor_local",
        "clock_anchor_true",
        "clock_rate",
        "down_until",
        "epoch",
        "honours",
        "latency_factor",
        "name",
        "on_restart",
        "quota",
        "stalled_until",
    )

    def __init__(self, name: str, honours: frozenset[str] = frozenset()) -> None:
        self.name = name
        self.honours = honours
        self.stalled_until = 0.0
        self.call_timeout: float | None = None
        self.latency_factor = 1.0
        self.epoch = 0
        self.down_until = 0.0
        self.on_restart: list[Callable[[], None]] = []
        self.quota: Quota | None = None
        self.clock_anchor_true = 0.0
        self.clock_anchor_local = 0.0
        self.clock_rate = 1.0

    # ---------------------------------------------------------------- hooks (faults call these)

    def stall(self, until: float) -> None:
        """Pause hook: the actor takes no step before ``until`` (overlapping pauses merge)."""
        if until > self.stalled_until:
            self.stalled_until = until

    def cut_off(self, until: float, timeout: float | None) -> None:
        """Partition hook: calls to this service get through only at ``until``; with ``timeout``
        a caller that has a failure path gives up after that many seconds instead."""
        if until > self.stalled_until:
            self.stalled_until = until
        self.call_timeout = timeout

    def slow(self, factor: float) -> None:
        """Latency-spike hook: this service's latencies are multiplied by ``factor`` from now."""
        self.latency_factor *= factor

    def unslow(self, factor: float) -> None:
        """The end of a latency spike of ``factor``."""
        self.latency_factor /= factor

    def throttle(self, quota: Quota) -> None:
        """Throttle hook: this service admits requests only through ``quota`` from now."""
        self.quota = quota

    def unthrottle(self) -> None:
        """The end of a throttle: no admission limit."""
        self.quota = None

    def crash(self, until: float) -> None:
        """Crash hook: the actor dies now (a new epoch) and is down until ``until``."""
        self.epoch += 1
        if until > self.down_until:
            self.down_until = until

    def restarted(self, now: float) -> None:
        """The end of a crash interval: once no later restart is pending, the actor is back up
        and runs its ``on_restart`` callbacks."""
        if now >= self.down_until:
            for restarted in self.on_restart:
                restarted()

    def skew_clock(self, now: float, rate: float, step: float) -> None:
        """Clock-skew hook: the clock jumps by ``step`` now and runs at ``rate`` from now on."""
        self.set_clock(now, rate, step)

    def correct_clock(self, now: float) -> None:
        """NTP steps the clock back to true time and true speed."""
        self.set_clock(now, 1.0, now - self.local_time(now))

    def take_pause(self, now: float) -> float:
        """For one member of a fleet (``client``): the end of a pause still running at ``now``,
        consumed by the caller (the first client to get here is the one paused), or 0."""
        until = self.stalled_until
        if until > now:
            self.stalled_until = 0.0
            return until
        return 0.0

    def take_crash(self, now: float) -> float:
        """For one member of a fleet (``client``): how long a crash still running at ``now``
        lasts, consumed by the caller (the first client to get here is the one that dies), or 0."""
        down = self.down_until - now
        if down > 0:
            self.down_until = now
            return down
        return 0.0

    # ---------------------------------------------------------------- what callers ask

    def local_time(self, now: float) -> float:
        """What this actor's clock reads at true time ``now``.

        Lease, TTL and token-expiry decisions an actor takes on its own use this, never
        ``env.now``: a clock with an offset or a drift makes it believe a lease is still valid
        after the lease service expired it (guide F10).
        """
        return self.clock_anchor_local + self.clock_rate * (now - self.clock_anchor_true)

    def true_duration(self, local: float) -> float:
        """True seconds this actor waits when it waits ``local`` seconds by its own clock."""
        return local / self.clock_rate

    def set_clock(self, now: float, rate: float, step: float = 0.0) -> None:
        """From ``now`` on, the clock runs at ``rate`` (1 = true speed), after jumping ``step`` s."""
        self.clock_anchor_local = self.local_time(now) + step
        self.clock_anchor_true = now
        self.clock_rate = rate

    def crashed_since(self, epoch: int) -> bool:
        """Whether the actor crashed after an operation that started at ``epoch`` began."""
        return self.epoch != epoch

    def is_down(self, now: float) -> bool:
        """Whether the actor is crashed and not yet restarted at ``now``."""
        return self.down_until > now

    def ready_at(self) -> float:
        """The instant from which the actor can take a step (after a pause, a partition or a restart)."""
        stalled = self.stalled_until
        down = self.down_until
        return stalled if stalled > down else down

    def wait(self, env: simpy.Environment) -> Flow:
        """A step that waits while the actor is paused or down (a stop-the-world pause, or a crashed
        actor restarting)."""
        stalled = max(self.stalled_until, self.down_until) - env.now
        if stalled > 0:
            yield env.timeout(stalled)

    def reach(self, env: simpy.Environment) -> Flow:
        """A call to this service gets through: returns True once it is reachable, or False when a
        partition outlasts the ``call_timeout`` (the call then failed after that timeout)."""
        stalled = self.stalled_until - env.now
        if stalled <= 0:
            return True
        timeout = self.call_timeout
        if timeout is not None and stalled > timeout:
            yield env.timeout(timeout)
            return False
        yield env.timeout(stalled)
        return True

    def scaled(self, latency: float) -> float:
        """``latency`` of a call to this service made now (multiplied during a latency spike)."""
        return latency * self.latency_factor

    def reachable(self, env: simpy.Environment) -> Flow:
        """A call to this service that queues through a partition until it heals (no timeout)."""
        stalled = self.stalled_until - env.now
        if stalled > 0:
            yield env.timeout(stalled)


class Quota:
    """A token bucket: ``rate`` admissions per second with bursts up to ``burst``.

    A throttled service admits a request only while the bucket holds a token; requests above
    the quota are rejected (HTTP 429), and the caller retries or gives up.
    """

    __slots__ = ("burst", "rate", "rejected", "tokens", "updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now
        self.rejected = 0

    def admit(self, now: float) -> bool:
        """Take a token if there is one; count a rejection otherwise."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.rejected += 1
        return False
