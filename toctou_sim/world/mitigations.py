"""Helpers shared by several strategy and actor kinds (the layer below :mod:`toctou_sim.plugins`):
counting a mismatch caught before use, the measured interval, and background writes gated by
per-key locks."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, cast

import simpy

from toctou_sim.core.distributions import Exponential, Uniform
from toctou_sim.world.engine import Operation, World
from toctou_sim.world.strategies import KeyLocks

__all__ = [
    "UNIT",
    "actor_index",
    "caught_before_use",
    "exponential",
    "gated_mutate",
    "locked_apply",
    "mean_or_nan",
    "measured",
    "measured_minutes",
]

UNIT = Uniform(low=0.0, high=1.0)


def exponential(mean: float) -> Exponential:
    return Exponential.model_validate({"mean": mean})


def caught_before_use(world: World, op: Operation) -> None:
    """Count a mismatch caught by a mitigation before any use (a dedupe hit): a conflict."""
    caught = world.notify.caught
    if caught is not None:
        caught(op)


def measured(world: World, t: float) -> bool:
    model = world.spec.model
    return model.warmup <= t < model.horizon


def measured_minutes(world: World) -> float:
    model = world.spec.model
    return (model.horizon - model.warmup) / 60.0


def mean_or_nan(total: float, count: int) -> float:
    return total / count if count else math.nan


def locked_apply(locks: KeyLocks, lane: int, apply: Callable[[], None], grant: simpy.Event) -> None:
    apply()
    locks.release(lane, cast(int, grant.value))


def gated_mutate(locks: KeyLocks, lane: int, apply: Callable[[], None]) -> None:
    """Apply a background write once ``lane`` is free (the writer waits its turn)."""
    grant = locks.acquire(lane)
    if grant.triggered:
        locked_apply(locks, lane, apply, grant)
    else:
        grant.callbacks.append(partial(locked_apply, locks, lane, apply))


def actor_index(world: World, spec: Any) -> int:
    """The position of ``spec`` among the model's actors (names its random streams uniquely)."""
    return next(i for i, actor in enumerate(world.spec.actors) if actor is spec)


