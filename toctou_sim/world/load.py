"""Client load: the gaps between arrivals, constant-rate or following a piecewise rate profile.

A non-homogeneous Poisson process with rate ``λ(t)`` is a unit-rate Poisson process run on the
clock ``Λ(t) = ∫₀ᵗ λ``: draw ``E ~ Exp(1)`` and advance to the ``t'`` with ``Λ(t') − Λ(t) = E``.
For a piecewise-constant rate that is exact and cheap (walk the phases). The unit variates come
from the same named ``arrivals`` stream as the constant-rate case, and a constant ``λ`` gives
gaps ``E / λ`` exactly as ``Exp(mean = 1/λ)`` does, so common random numbers hold across
strategies and the profile is a pure function of the seed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from toctou_sim.core.distributions import Exponential, RandomStreams
from toctou_sim.spec.model import ArrivalSpec

__all__ = ["PiecewiseGaps", "arrival_gaps", "rate_at"]


class PiecewiseGaps:
    """Inter-arrival gaps of a Poisson process whose rate is constant on each phase.

    Called once per arrival, in order; it keeps its own clock (the sum of the gaps handed out),
    which is the simulation time of the previous arrival.
    """

    __slots__ = ("_ends", "_phase", "_rates", "_unit", "now")

    def __init__(self, ends: list[float], rates: list[float], unit: Callable[[], float]) -> None:
        self._ends = [*ends, math.inf]
        self._rates = rates
        self._unit = unit
        self._phase = 0
        self.now = 0.0

    def __call__(self) -> float:
        """The gap to the next arrival (``inf`` when the rate stays 0 for ever)."""
        need = self._unit()
        t = self.now
        ends, rates = self._ends, self._rates
        phase = self._phase
        while True:
            rate = rates[phase]
            end = ends[phase]
            if rate > 0 and t + need / rate < end:
                t += need / rate
                break
            if end == math.inf:
                return math.inf
            if rate > 0:
                need -= rate * (end - t)
            t = end
            phase += 1
        self._phase = phase
        gap = t - self.now
        self.now = t
        return gap


@functools.lru_cache(maxsize=64)
def _exponential(mean: float) -> Exponential:
    """One (frozen) distribution per mean, not one validated model per replication."""
    return Exponential(mean_=mean)


def arrival_gaps(spec: ArrivalSpec, streams: RandomStreams) -> Callable[[], float]:
    """The inter-arrival gap source of a replication, drawn from the ``arrivals`` stream."""
    if not spec.profile:
        return streams.variates("arrivals", _exponential(1.0 / spec.poisson.rate))
    unit = streams.variates("arrivals", _exponential(1.0))
    ends = [phase.until for phase in spec.profile]
    rates = [phase.rate for phase in spec.profile] + [spec.poisson.rate]
    return PiecewiseGaps(ends, rates, unit)


def rate_at(spec: ArrivalSpec, t: float) -> float:
    """The arrival rate (per second) in force at simulated time ``t``."""
    for phase in spec.profile:
        if t < phase.until:
            return phase.rate
    return spec.poisson.rate
