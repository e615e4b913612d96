"""Oracle checks: the simulator against closed forms (``toctou-sim validate``).

Each oracle builds a small model whose answer theory knows, simulates it, and passes when the
theoretical value lies inside the simulation's own confidence interval (99% by default). Safety
oracles pass when a strategy that cannot violate shows no violation (and one that can, does).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from toctou_sim.analytic import closed_forms as analytic
from toctou_sim.experiment.montecarlo import simulate
from toctou_sim.spec.model import ModelSpec, parse_model
from toctou_sim.validation import oracles_capacity as _oracles_capacity  # noqa: F401  (registers the finite-service oracles)
from toctou_sim.validation import oracles_read_paths as _oracles_read_paths  # noqa: F401  (registers the cache/quorum oracles)
from toctou_sim.validation.checks import ORACLES, OracleCheck, _at_confidence, _within, oracle

__all__ = ["ORACLES", "OracleCheck", "oracle", "run_oracles"]


def single_key_model(
    *,
    client_rate: float,
    mutator_rate: float,
    window: Any,
    strategy: dict[str, Any] | None = None,
    horizon: float = 200.0,
    warmup: float = 5.0,
) -> ModelSpec:
    """One key with the ``version`` invariant, direct zero-latency reads and writes, Poisson clients
    and Poisson ``bump`` mutators. Every client use is itself a write, so the key sees writes at
    ``client_rate + mutator_rate`` in steady state (the output of an M/G/inf queue is Poisson)."""
    data: dict[str, Any] = {
        "model": {"name": "oracle", "horizon": horizon, "warmup": warmup},
        "keys": {"count": 1, "invariant": "version"},
        "clients": {"arrival": {"poisson": {"rate": client_rate}}, "window": window},
        "mutators": [{"action": "bump", "rate": mutator_rate}] if mutator_rate > 0 else [],
        "strategy": strategy or {"kind": "none"},
    }
    return parse_model(data, source="<oracle>")


@oracle("mismatch, constant window")
def _constant_window(seed: int, confidence: float, scale: int) -> list[OracleCheck]:
    checks = []
    for rate, window in ((2.0, 0.05), (10.0, 0.05), (20.0, 0.1)):
        model = single_key_model(client_rate=1.0, mutator_rate=rate, window=window, horizon=400.0, warmup=2.0)
        result = simulate(model, reps=10 * scale, seed=seed)
        expected = analytic.mismatch_probability_constant(rate + 1.0, window)
        checks.append(_within(f"mismatch 1-exp(-λW), λ={rate + 1:g}/s W={window * 1e3:g}ms", expected,
                              _at_confidence("mismatch_rate", result, confidence)))
    return checks


@oracle("mismatch, exponential window")
def _exponential_window(seed: int, confidence: float, scale: int) -> list[OracleCheck]:
    checks = []
    for rate, mean in ((5.0, 0.05), (20.0, 0.1)):
        model = single_key_model(client_rate=1.0, mutator_rate=rate, window={"exponential": {"mean": mean}},
                                 horizon=400.0, warmup=5.0)
        result = simulate(model, reps=10 * scale, seed=seed)
        expected = analytic.mismatch_probability_exponential(rate + 1.0, mean)
        checks.append(_within(f"mismatch λm/(1+λm), λ={rate + 1:g}/s m={mean * 1e3:g}ms", expected,
                              _at_confidence("mismatch_rate", result, confidence)))
    return checks


@oracle("mismatch, lognormal window")
def _lognormal_window(seed: int, confidence: float, scale: int) -> list[OracleCheck]:
    median, p99 = 0.03, 0.3
    model = single_key_model(client_rate=1.0, mutator_rate=8.0,
                             window={"lognormal": {"median": median, "p99": p99}}, horizon=400.0, warmup=10.0)
    window = model.clients.window
    result = simulate(model, reps=10 * scale, seed=seed)
    expected = analytic.mismatch_probability_lognormal(9.0, window.log_mu, window.log_sigma)  # type: ignore[attr-defined]
    return [_within("mismatch E[1-exp(-λW)], λ=9/s lognormal(30ms, p99 300ms)", expected,
                    _at_confidence("mismatch_rate", result, confidence))]


@oracle("lock wait, M/M/1")
def _mm1(seed: int, confidence: float, scale: int) -> list[OracleCheck]:
    checks = []
    service_rate = 100.0
    for rho in (0.5, 0.8):
        arrival = rho * service_rate
        model = single_key_model(client_rate=arrival, mutator_rate=0.0,
                                 window={"exponential": {"mean": 1 / service_rate}},
                                 strategy={"kind": "lock"}, horizon=300.0, warmup=10.0)
        result = simulate(model, reps=10 * scale, seed=seed)
        expected = analytic.mm1_mean_wait(arrival, service_rate) * 1e3
        checks.append(_within(f"lock wait ρ/(μ-λ) [ms], ρ={rho:g}", expected,
                              _at_confidence("lock_wait_mean_ms", result, confidence)))
    return checks


@oracle("safety")
def _safety(seed: int, confidence: float, scale: int) -> list[OracleCheck]:
    checks = []
    window = {"exponential": {"mean": 0.05}}
    for label, strategy, must_violate in (
        ("cas never violates", {"kind": "cas"}, False),
        ("lock+fencing never violates (lease < window)",
         {"kind": "lock", "lease_ttl": 0.01, "fencing": True}, False),
        ("lock without fencing, lease < window, violates",
         {"kind": "lock", "lease_ttl": 0.01, "fencing": False}, True),
    ):
        model = single_key_model(client_rate=20.0, mutator_rate=5.0, window=window, strategy=strategy,
                                 horizon=100.0, warmup=1.0)
        result = simulate(model, reps=3 * scale, seed=seed)
        est = result.estimate("violation_rate")
        seen = est.events or 0.0
        passed = seen > 0 if must_violate else seen == 0
        checks.append(OracleCheck(label, math.nan if must_violate else 0.0, est.estimate, est.ci_low,
                                  est.ci_high, est.n_reps, passed, f"{seen:g} violations"))
    return checks


def run_oracles(
    *, seed: int = 1, confidence: float = 0.99, scale: int = 1, names: list[str] | None = None
) -> pd.DataFrame:
    """Run the registered oracles; one row per check with ``passed``."""
    # This module's oracles first, then the read paths' (the order they were always run in).
    selected = names or sorted(ORACLES, key=lambda name: ORACLES[name].__module__ != __name__)
    unknown = [n for n in selected if n not in ORACLES]
    if unknown:
        from toctou_sim.spec.model import SpecError

        raise SpecError(f"names: unknown oracle {unknown[0]!r}; expected one of {', '.join(ORACLES)}")
    rows = [check.__dict__ for name in selected for check in ORACLES[name](seed, confidence, scale)]
    return pd.DataFrame(rows)

