"""Oracles of finite services (registered with :func:`toctou_sim.validation.oracles.oracle`).

- M/M/c: a store of ``c`` servers with exponential service times whose writes arrive as a
  Poisson process has Erlang C's mean wait ``C(c, a) / (c mu - lam)``.
- M/M/c/K: with a waiting room of ``q`` and 429s when it is full, the refused share of calls is
  the stationary probability of ``c + q`` calls in the system (Erlang B for ``q = 0``).
- Retry amplification: when every attempt makes one call to the store, the calls offered to it
  per operation are exactly ``1 + retries per operation``, in every replication, whatever throttled
  or timed out the attempts.

The models use the ``version`` invariant with zero latencies and window: every check holds and
every use writes at its arrival instant, so the store's writes are the Poisson arrivals.
"""

from __future__ import annotations

import math
from typing import Any

from toctou_sim.analytic import queueing
from toctou_sim.experiment.montecarlo import simulate
from toctou_sim.spec.model import ModelSpec, parse_model
from toctou_sim.validation.checks import OracleCheck, _at_confidence, _within, oracle

__all__ = ["finite_store_model"]


def finite_store_model(
    *,
    arrival_rate: float,
    servers: int,
    service_mean: float,
    queue: int | None = None,
    strategy: dict[str, Any] | None = None,
    timeout: float | None = None,
    keys: int = 1,
    horizon: float = 60.0,
    warmup: float = 3.0,
) -> ModelSpec:
    """Poisson clients whose writes queue at a store of ``servers`` servers with exponential
    service times of mean ``service_mean`` and a waiting room of ``queue`` (``None``: unbounded;
    full: 429)."""
    capacity: dict[str, Any] = {"servers": servers, "service_time": {"exponential": {"mean": service_mean}},
                                "calls": "writes"}
    if queue is not None:
        capacity["queue"] = queue
    if timeout is not None:
        capacity["timeout"] = timeout
    data: dict[str, Any] = {
        "model": {"name": "finite-store-oracle", "horizon": horizon, "warmup": warmup},
        "keys": {"count": keys, "invariant": "version"},
        "clients": {"arrival": {"poisson": {"rate": arrival_rate}}},
        "strategy": strategy or {"kind": "none"},
        "capacity": {"store": capacity},
    }
    return parse_model(data, source="<oracle>")


@oracle("finite service, M/M/c wait (Erlang C)")
def _erlang_c(seed: int, confidence: float, scale: int) -> list[OracleCheck]:
    checks = []
    for servers, service_mean, arrival in ((1, 0.01, 50.0), (4, 0.04, 80.0)):
        model = finite_store_model(arrival_rate=arrival, servers=servers, service_mean=service_mean)
        result = simulate(model, reps=8 * scale, seed=seed)
        expected = queueing.mmc_mean_wait(arrival, 1 / service_mean, servers) * 1e3
        rho = arrival * service_mean / servers
        checks.append(_within(f"store wait C(c,a)/(cμ-λ) [ms], c={servers} ρ={rho:g}", expected,
                              _at_confidence("store_wait_mean_ms", result, confidence)))
    return checks


@oracle("finite service, M/M/c/K blocking (Erlang B)")
def _erlang_b(seed: int, confidence: float, scale: int) -> list[OracleCheck]:
    checks = []
    for servers, queue in ((4, 0), (4, 3)):
        arrival, service_mean = 80.0, 0.04
        model = finite_store_model(arrival_rate=arrival, servers=servers, service_mean=service_mean, queue=queue)
        result = simulate(model, reps=8 * scale, seed=seed)
        expected = queueing.mmck_blocking(arrival, 1 / service_mean, servers, queue)
        label = "Erlang B" if queue == 0 else f"M/M/c/K, K={servers + queue}"
        checks.append(_within(f"store 429 share, {label}, c={servers} a={arrival * service_mean:g}", expected,
                              _at_confidence("store_throttled_fraction", result, confidence)))
    return checks


@oracle("retry amplification")
def _amplification(seed: int, confidence: float, scale: int) -> list[OracleCheck]:
    # cas on a hot key behind a small throttling store with a deadline: attempts fail by 429,
    # by timeout and by a lost race, and each one retries through the same policy.
    model = finite_store_model(arrival_rate=60.0, servers=2, service_mean=0.03, queue=2, timeout=0.08,
                               strategy={"kind": "cas", "retry": {"max_retries": 4, "backoff": "20ms"}},
                               keys=3, horizon=40.0, warmup=2.0)
    result = simulate(model, reps=4 * scale, seed=seed)
    worst = 0.0
    offered = amplification = 0.0
    for replication in result.replications:
        metrics = replication.metrics
        ratio = metrics["store_calls"] / metrics["operations"]
        expected = queueing.retry_amplification(metrics["retry_rate"])
        worst = max(worst, abs(ratio - expected))
        offered += ratio
        amplification += expected
    n = result.n_reps
    retried = result.estimate("retry_rate").estimate
    return [OracleCheck("store calls per operation = 1 + retries per operation", amplification / n, offered / n,
                        math.nan, math.nan, n, worst < 1e-9 and retried > 0.1,
                        f"largest difference {worst:.2g}; {retried:.2f} retries per operation")]
