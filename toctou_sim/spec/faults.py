"""Model-file parts shared by the scheduled fault kinds (the layer below their plug-ins).

The kinds (``pause``, ``crash``, ``latency_spike``, ``partition``, ``clock_skew``, ``throttle``)
live in :mod:`toctou_sim.plugins.faults`, one module each with its behaviour.

Every fault hits one named ``target`` (an actor such as ``clients``, ``mutators``,
``controller.0`` or ``leader``, or a service such as ``store``, ``lock`` or ``lease``) during
intervals. The intervals start either at the instants listed in ``at`` (a schedule) or as a
Poisson process of ``rate`` onsets per second, and each lasts a duration drawn from
``duration``::

    [[faults]]
    kind = "pause"            # pause | crash | latency_spike | partition | clock_skew | throttle
    target = "leader"
    rate = 0.05               # or: at = ["10s", "40s"]
    duration = { pareto = { scale = "2s", shape = 1.5 } }

A target that does not exist in the model, a target that does not honour the fault (see
:mod:`toctou_sim.spec.targets`: a latency spike on the client fleet would change nothing), a
duration that is not > 0, or both ``rate`` and ``at`` are bad input: one line naming the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, field_validator, model_validator

from toctou_sim.core.distributions import Constant, Distribution, DistributionSpec, Mixture, parse_distribution
from toctou_sim.core.units import NonNegativeDuration
from toctou_sim.spec.parts import FaultSpec
from toctou_sim.spec.targets import check_target, model_targets

if TYPE_CHECKING:
    from toctou_sim.spec.parts import ModelView

__all__ = ["ScheduledFaultSpec", "check_read_path_target", "positive_duration"]


class ScheduledFaultSpec(FaultSpec):
    """A fault on ``target`` during intervals: onsets at the instants ``at`` or at Poisson ``rate``
    per second, each lasting a variate of ``duration`` (seconds, must be > 0).

    Onsets stop at the model's horizon. Overlapping intervals merge (the target stays faulty
    until the last one ends).
    """

    effect: ClassVar[str] = ""
    """The effect this fault has on its target (see :mod:`toctou_sim.spec.targets`); empty: the
    kind's name. Only a target that declares it honours the effect may be named."""

    target: str
    rate: float | None = Field(default=None, gt=0)
    """Onsets per second (a Poisson process); exclusive with ``at``."""
    at: tuple[NonNegativeDuration, ...] | None = None
    """Onset instants (a schedule); exclusive with ``rate``."""
    duration: DistributionSpec = parse_distribution(1.0)
    """How long each interval lasts."""

    @model_validator(mode="after")
    def _schedule(self) -> ScheduledFaultSpec:
        if (self.rate is None) == (self.at is None):
            raise ValueError("give exactly one of rate (onsets per second) or at (a list of instants)")
        return self

    @field_validator("duration")
    @classmethod
    def _positive_duration(cls, value: Distribution) -> Distribution:
        if not positive_duration(value):
            raise ValueError(f"must be > 0, got {value.describe()}")
        return value

    def check_model(self, model: ModelView) -> str | None:
        return check_target(model, self.effect or self.kind, self.target)


def check_read_path_target(model: ModelView, kind: str, target: str, read_path: str) -> str | None:
    """Why a fault of ``kind`` on a read path's part ``target`` (the ``cache``, the ``replicas``) is
    bad input in ``model`` (``kind: message``), or ``None`` when the model has that target and it
    honours the fault's effect (named after ``kind``)."""
    if kind in model_targets(model).get(target, frozenset()):
        return None
    return (f"kind: {kind!r} needs read_path.kind = {read_path!r}, got {model.read_path.kind!r} "
            f"(its {target} is the only target that honours {kind})")


def positive_duration(distribution: object) -> bool:
    """Whether a duration distribution can only give values > 0 (constants must be > 0; other
    families are positive by construction except a zero-width uniform at 0)."""
    if isinstance(distribution, Constant):
        return distribution.value > 0
    if isinstance(distribution, Mixture):
        return all(positive_duration(component.distribution) for component in distribution.components)
    mean = getattr(distribution, "mean", 1.0)
    return bool(mean > 0)
