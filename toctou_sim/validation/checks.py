"""The registry of oracles and the helpers every oracle module uses (the layer below them).

An oracle compares a simulation with a closed form. :mod:`toctou_sim.validation.oracles` (direct reads,
locks, leases) and :mod:`toctou_sim.validation.oracles_read_paths` (caches, quorum stores) register theirs
here with :func:`oracle`; :mod:`toctou_sim.validation.oracles` imports both and runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from toctou_sim.experiment.montecarlo import Estimate, estimate

__all__ = ["ORACLES", "OracleCheck", "OracleFunction", "oracle"]


@dataclass(frozen=True)
class OracleCheck:
    """One comparison of simulation and theory."""

    oracle: str
    expected: float
    estimate: float
    ci_low: float
    ci_high: float
    n_reps: int
    passed: bool
    note: str = ""


OracleFunction = Callable[[int, float, int], list[OracleCheck]]
ORACLES: dict[str, OracleFunction] = {}
"""Registered oracles by name: ``f(seed, confidence, scale) -> checks``; ``scale`` multiplies
replications (1 for CI, larger for a tighter look)."""


def oracle(name: str) -> Callable[[OracleFunction], OracleFunction]:
    """Register an oracle function under ``name``."""

    def decorate(function: OracleFunction) -> OracleFunction:
        ORACLES[name] = function
        return function

    return decorate


def _within(name: str, expected: float, est: Estimate, note: str = "") -> OracleCheck:
    passed = est.ci_low <= expected <= est.ci_high
    return OracleCheck(name, expected, est.estimate, est.ci_low, est.ci_high, est.n_reps, passed, note)


def _at_confidence(metric: str, result: Any, confidence: float) -> Estimate:
    return estimate(metric, result.replications, confidence)
