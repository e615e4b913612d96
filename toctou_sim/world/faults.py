"""The base of the scheduled faults (the layer below their plug-ins in :mod:`toctou_sim.plugins.faults`:
pause, crash, latency spike, partition, clock skew and throttle).

Each such fault hits one named actor or service (:class:`~toctou_sim.world.actor.Actor`) during
intervals that start on a schedule or as a Poisson process and last a random duration. A fault
acts only through its target's hooks (``stall``, ``cut_off``, ``slow``, ``throttle``, ``crash``,
``skew_clock`` and their ends), and only on a target that honours its effect
(:mod:`toctou_sim.spec.targets`): the model was checked at load, so a target that does not honour
it here is one only another strategy of a comparison honours, and the fault leaves it alone.
Onsets and durations come from the fault's own named streams (``fault.<i>.onsets``,
``fault.<i>.duration``), so every strategy compared on common random numbers suffers the same
faults at the same instants.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from toctou_sim.core.distributions import parse_distribution
from toctou_sim.spec.faults import ScheduledFaultSpec
from toctou_sim.world.engine import Actor, Fault, Flow, World

__all__ = ["ScheduledFault"]


class ScheduledFault(Fault):
    """A fault on a target during intervals. Subclasses implement :meth:`begin` (and :meth:`end`).

    The target is resolved at each onset, so an alias such as ``leader`` hits whichever actor
    holds that role at that instant (no one: the onset is counted but hits nothing). A target
    absent from this world (e.g. ``lock`` while comparing against ``none``), or one that does not
    honour the effect under the running strategy (the ``clients``' clock, read only by ``token``),
    leaves the fault inert: its onsets are counted, but no hook is called.
    """

    spec: ScheduledFaultSpec

    def __init__(self, world: World, spec: Any) -> None:
        super().__init__(world, spec)
        index = next((i for i, fault in enumerate(world.spec.faults) if fault is spec), 0)
        self.stream = f"fault.{index}"
        self.effect: str = getattr(spec, "effect", "") or spec.kind
        """The effect this fault has on its target (see :mod:`toctou_sim.spec.targets`)."""
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
            if self.effect in actor.honours:
                self.begin(actor, duration, first=active == 0)
            fault_began = world.notify.fault_began
            if active == 0 and fault_began is not None:
                fault_began(self.spec.kind, actor.name, duration)
            env.timeout(duration).callbacks.append(partial(self._end, actor))

    def _end(self, actor: Actor, _event: object = None) -> None:
        left = self._active[actor.name] - 1
        self._active[actor.name] = left
        if self.effect in actor.honours:
            self.end(actor, last=left == 0)
        fault_ended = self.world.notify.fault_ended
        if left == 0 and fault_ended is not None:
            fault_ended(self.spec.kind, actor.name)

    def begin(self, actor: Actor, duration: float, first: bool) -> None:
        """An interval starts on ``actor`` (``first``: no other interval of this fault is active on
        it). Called only when ``actor`` honours :attr:`effect`; act through its hooks."""
        raise NotImplementedError

    def end(self, actor: Actor, last: bool) -> None:
        """An interval ends on ``actor`` (``last``: it was the only active one)."""

    def metrics(self) -> dict[str, float]:
        kind = self.spec.kind
        return {f"{kind}_onsets": float(self.onsets), f"{kind}_seconds": self.seconds}


