"""Oracles of the cache and quorum read paths (registered with :func:`toctou_sim.validation.checks.oracle`).

- TTL cache without invalidation: ``P(stale hit) = 1 - (1 - e^{-λT}) / (λT)``.
- Quorum store with zero ack/request/response delays, ``W ~ Exp(λ)``: ``P(stale at t=0) =
  C(N-W, R) / C(N, R)`` and, derived here, ``P(consistent at t) = 1 - C(N-W,R)/C(N,R) e^{-Rλt}``.
- ``R + W > N``: a read started after commit is never stale, for any delay distributions.
- The exponential sweep of PBS (Bailis et al., VLDB 2012, §5.3): N=3, R=W=1, A=R=S ~ Exp(1/ms).
- The vectorized staleness estimator against the exact PBS formula and time to consistency.

The quorum oracles run the SimPy read path itself (:func:`toctou_sim.experiment.staleness.probe_visibility`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from toctou_sim.analytic import closed_forms as analytic
from toctou_sim.experiment.montecarlo import Estimate, simulate
from toctou_sim.experiment.staleness import probe_visibility, staleness
from toctou_sim.plugins.read_paths.replica import ReplicaSpec
from toctou_sim.spec.model import ModelSpec, parse_model
from toctou_sim.stats.intervals import t_interval
from toctou_sim.stats.intervals import wilson_interval as wilson
from toctou_sim.validation.checks import OracleCheck, _at_confidence, _within, oracle

__all__ = ["PBS_PAPER", "cache_oracle_model", "probe_estimate", "replica_spec"]

PBS_PAPER = {4.0: 0.94, 0.1: 0.41}
"""PBS §5.3 (N=3, R=W=1, A=R=S ~ Exp(1/ms)): share of reads consistent right after commit for
W ~ Exp(λ) with λ = 4/ms and 0.1/ms, as the paper reports them (10k trials)."""


def cache_oracle_model(
    *, write_rate: float, ttl: float, read_rate: float = 5.0, keys: int = 20, horizon: float = 120.0
) -> ModelSpec:
    """``keys`` independent keys behind a TTL cache with no invalidation. Each key is written
    (``grant``: the value stays, the version is bumped) at ``write_rate`` and checked at
    ``read_rate`` per second, both Poisson (uniform popularity thins the system-wide processes into
    independent per-key ones); zero latencies and window. Clients' uses do not write under the
    ``grant`` invariant, so each key sees exactly the mutator's writes. Hits inside one entry
    lifetime are correlated, so a modest read rate over many keys gives many independent
    lifetimes per replication and a tight interval."""
    return parse_model({
        "model": {"name": "oracle-ttl", "horizon": horizon, "warmup": 2 * ttl},
        "keys": {"count": keys, "invariant": "grant"},
        "read_path": {"kind": "cache", "ttl": ttl, "write_policy": "none"},
        "clients": {"arrival": {"poisson": {"rate": read_rate * keys}}},
        "mutators": [{"action": "grant", "rate": write_rate * keys}],
    }, source="<oracle>")


def replica_spec(n: int, r: int, w: int, *, write_delay: Any, message_delay: Any) -> ReplicaSpec:
    """A replica read-path spec (validated)."""
    return ReplicaSpec.model_validate({"n": n, "r": r, "w": w, "write_delay": write_delay,
                                       "message_delay": message_delay})


def probe_estimate(name: str, spec: ReplicaSpec, t_grid: list[float], *, reps: int, trials: int, seed: int,
                   confidence: float) -> list[Estimate]:
    """t-visibility through the SimPy read path: ``reps`` independent probes, a t interval each ``t``."""
    values = np.array([probe_visibility(spec, t_grid, trials=trials, seed=seed, replication=rep)
                       for rep in range(reps)])
    estimates = []
    for index in range(len(t_grid)):
        mean, low, high = t_interval(values[:, index], confidence)
        if math.isnan(low) or low == high:
            # Every replication agreed (typically all reads consistent): the pooled Wilson
            # interval still bounds the probability, where a t interval degenerates to a point.
            low, high = wilson(mean * reps * trials, reps * trials, confidence)
        estimates.append(Estimate(name, mean, low, high, reps))
    return estimates


@oracle("cache TTL staleness")
def _ttl_cache(seed: int, confidence: float, scale: int) -> list[OracleCheck]:
    checks = []
    for rate, ttl in ((1.0, 1.0), (4.0, 0.5), (0.2, 2.0)):
        model = cache_oracle_model(write_rate=rate, ttl=ttl)
        result = simulate(model, reps=16 * scale, seed=seed)
        expected = analytic.ttl_stale_read_probability(rate, ttl)
        checks.append(_within(f"TTL stale hit 1-(1-e^-λT)/(λT), λ={rate:g}/s T={ttl:g}s", expected,
                              _at_confidence("cache_stale_hit_fraction", result, confidence)))
    return checks


@oracle("quorum, zero delays")
def _quorum_zero_delay(seed: int, confidence: float, scale: int) -> list[OracleCheck]:
    checks = []
    rate = 1000.0  # W ~ Exp(mean 1 ms)
    for n, r, w in ((3, 1, 1), (5, 2, 2), (5, 1, 2)):
        spec = replica_spec(n, r, w, write_delay={"exponential": {"mean": 1 / rate}}, message_delay=0)
        grid = [0.0, 0.5 / rate]
        expected = analytic.quorum_zero_delay_visibility(n, r, w, grid, w_rate=rate)
        estimates = probe_estimate("t_visibility", spec, grid, reps=8, trials=1000 * scale, seed=seed,
                                   confidence=confidence)
        checks.append(_within(f"stale at t=0 = C(N-W,R)/C(N,R), N={n} R={r} W={w}", 1 - expected[0],
                              _complement(estimates[0])))
        checks.append(_within(f"own: 1-p_s·e^(-Rλt) at t=0.5/λ, N={n} R={r} W={w}", expected[1],
                              estimates[1]))
    return checks


def _complement(est: Estimate) -> Estimate:
    return Estimate(est.metric, 1 - est.estimate, 1 - est.ci_high, 1 - est.ci_low, est.n_reps)


@oracle("quorum, R+W>N never stale")
def _strict_quorum(seed: int, confidence: float, scale: int) -> list[OracleCheck]:
    checks = []
    heavy = {"pareto": {"scale": "1ms", "shape": 1.5}}
    lognormal = {"lognormal": {"median": "2ms", "p99": "50ms"}}
    for n, r, w in ((3, 2, 2), (5, 3, 3), (5, 1, 5)):
        spec = replica_spec(n, r, w, write_delay=heavy, message_delay=lognormal)
        values = probe_visibility(spec, [0.0], trials=1000 * scale, seed=seed)
        checks.append(OracleCheck(f"R+W>N: every read after commit consistent, N={n} R={r} W={w}", 1.0,
                                  float(values[0]), float(values[0]), float(values[0]), 1,
                                  bool(values[0] == 1.0), f"{1000 * scale} reads, pareto W, lognormal A/R/S"))
    return checks


@oracle("PBS exponential sweep")
def _pbs_exponential(seed: int, confidence: float, scale: int) -> list[OracleCheck]:
    checks = []
    grid = [0.0, 0.001, 0.005]
    for lam, paper in PBS_PAPER.items():
        spec = replica_spec(3, 1, 1, write_delay={"exponential": {"mean": 1e-3 / lam}},
                            message_delay={"exponential": {"mean": 1e-3}})
        exact = analytic.pbs_t_visibility_exact(3, 1, 1, grid, w_mean=1e-3 / lam, a_mean=1e-3, r_mean=1e-3,
                                                s_mean=1e-3)
        estimates = probe_estimate("t_visibility", spec, grid, reps=10, trials=4000 * scale, seed=seed,
                                   confidence=confidence)
        curve = ", ".join(f"t={t * 1e3:g}ms {e.estimate:.4f}" for t, e in zip(grid, estimates, strict=True))
        first = estimates[0]
        near_paper = first.ci_low <= paper + 0.01 and first.ci_high >= paper - 0.01
        checks.append(OracleCheck(f"PBS §5.3 λ={lam:g}/ms: consistent at t=0 within ±1 point of {paper:.0%}",
                                  paper, first.estimate, first.ci_low, first.ci_high, first.n_reps,
                                  near_paper, curve))
        for t, est, value in zip(grid, estimates, exact, strict=True):
            checks.append(_within(f"PBS exact t-visibility λ={lam:g}/ms t={t * 1e3:g}ms", float(value), est))
    return checks


@oracle("staleness estimator")
def _staleness_estimator(seed: int, confidence: float, scale: int) -> list[OracleCheck]:
    checks = []
    model = parse_model({
        "model": {"name": "oracle-pbs"},
        "read_path": {"kind": "replica", "n": 5, "r": 2, "w": 2,
                      "write_delay": {"exponential": {"mean": "3ms"}},
                      "ack_delay": {"exponential": {"mean": "1ms"}},
                      "request_delay": {"exponential": {"mean": "2ms"}},
                      "response_delay": {"exponential": {"mean": "0.5ms"}}},
        "clients": {"arrival": {"poisson": {"rate": 1.0}}},
    }, source="<oracle>")
    result = staleness(model, t_grid=[0.0, 0.002], reps=10, trials=10_000 * scale, seed=seed, k_max=1,
                       confidence=confidence)
    for row in result.curve.to_dict(orient="records"):
        est = Estimate("t_visibility", float(row["estimate"]), float(row["ci_low"]), float(row["ci_high"]),
                       result.n_reps)
        name = f"staleness vs exact PBS, N=5 R=2 W=2, t={row['t_ms']:g}ms"
        checks.append(_within(name, float(row["theory"]), est))
    target = result.times.iloc[0]
    est = Estimate("time_to_consistency_ms", target.estimate, target.ci_low, target.ci_high, result.n_reps)
    checks.append(_within(f"time to {target.target:.0%} (exact 1-B·e^(-Rλt) inverted) [ms]", target.theory,
                          est))
    zero_delay = replica_spec(3, 1, 1, write_delay={"exponential": {"mean": "1ms"}}, message_delay=0)
    zero = model.model_copy(update={"read_path": zero_delay})
    result = staleness(zero, t_grid=[0.0], reps=10, trials=10_000 * scale, seed=seed, k_max=1,
                       confidence=confidence)
    target = result.times.iloc[0]
    est = Estimate("time_to_consistency_ms", target.estimate, target.ci_low, target.ci_high, result.n_reps)
    checks.append(_within("own: time to 99% = ln(100·p_s)/(Rλ), N=3 R=W=1 zero delays [ms]", target.theory,
                          est))
    return checks
