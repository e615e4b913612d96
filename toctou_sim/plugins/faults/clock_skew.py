"""The ``clock_skew`` fault (a scheduled fault on one target, see :class:`~toctou_sim.spec.faults.ScheduledFaultSpec`).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from toctou_sim.core.units import Duration
from toctou_sim.spec.faults import ScheduledFaultSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.engine import Actor
from toctou_sim.world.faults import ScheduledFault

__all__ = ["PLUGIN", "ClockSkew", "ClockSkewSpec"]


class ClockSkewSpec(ScheduledFaultSpec):
    """An actor's clock is wrong during each interval: it jumps by ``offset`` seconds at the onset
    and runs at ``1 + drift`` times true speed; NTP corrects it at the end of the interval.

    The actor's lease, TTL and token-expiry decisions use its own clock, so a clock that runs
    slow (``drift < 0``) or jumps back (``offset < 0``) keeps a lease "valid" after the lease
    service expired it (guide F10).
    """

    kind: Literal["clock_skew"] = "clock_skew"
    effect: ClassVar[str] = "clock_skew"
    drift: float = Field(default=0.0, gt=-1.0)
    """Relative rate error: -0.5 = the clock runs at half speed."""
    offset: Duration = 0.0
    """Step applied at the onset, seconds (negative: the clock jumps back)."""

    @model_validator(mode="after")
    def _some_skew(self) -> ClockSkewSpec:
        if self.drift == 0 and self.offset == 0:
            raise ValueError("drift: give a drift (e.g. -0.5) or an offset (e.g. \"-5s\"); both are 0")
        return self


class ClockSkew(ScheduledFault):
    """The target's clock jumps by ``offset`` and runs at ``1 + drift`` during the interval;
    at its end NTP steps it back to true time."""

    spec: ClockSkewSpec

    def begin(self, actor: Actor, duration: float, first: bool) -> None:
        if first:
            actor.skew_clock(self.world.env.now, 1.0 + self.spec.drift, self.spec.offset)

    def end(self, actor: Actor, last: bool) -> None:
        if last:
            actor.correct_clock(self.world.env.now)


PLUGIN = Plugin(spec=ClockSkewSpec, behaviour=ClockSkew)
"""The kind ``clock_skew``: its spec and its behaviour."""
