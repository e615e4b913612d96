"""Model-file helpers shared by the read-path kinds (the layer below their plug-ins).

The kinds ``cache`` and ``replica`` and their faults live in :mod:`toctou_sim.plugins`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationInfo

from toctou_sim.core.distributions import Constant, Distribution, DistributionSpec, parse_distribution
from toctou_sim.core.units import parse_duration

__all__ = ["PositiveDistributionSpec"]


def _positive_distribution(value: Any, info: ValidationInfo | None = None) -> Distribution:
    """A distribution whose values must be positive: a plain duration must be > 0, and a family's
    mean must be > 0 (a TTL of zero would make every read a miss)."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError(f"must be > 0, got {value!r}")
        return Constant(value=seconds)
    dist = parse_distribution(value, info)
    if isinstance(dist, Constant) and dist.value <= 0:
        raise ValueError(f"must be > 0, got {dist.value!r}")
    if not dist.mean > 0:
        raise ValueError(f"must have a mean > 0, got {dist.describe()}")
    return dist


PositiveDistributionSpec = Annotated[DistributionSpec, BeforeValidator(_positive_distribution)]
"""A distribution field whose values must be > 0 (a fixed TTL, or a TTL with jitter)."""
