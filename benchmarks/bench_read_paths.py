"""Throughput of the read paths: simulated operations per wall-clock second on one core.

Runs, in the same process and one after the other, a bare-SimPy baseline (a Poisson source of
processes that each wait a read latency, a window and a write latency: the floor any SimPy
model pays) and the full engine with the ``direct``, ``cache`` and ``replica`` (N=3 and N=5)
read paths on the same workload. Each figure is the best of ``--repeat`` runs (least disturbed
by other load on the machine). Usage::

    PYTHONPATH=. python benchmarks/bench_read_paths.py [--horizon 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import simpy

from toctou_sim.experiment.montecarlo import run_replication
from toctou_sim.spec.model import parse_model

RATE = 2000.0
"""Client operations per simulated second."""


def bare_simpy(horizon: float, seed: int = 0) -> int:
    """Operations completed by the minimal SimPy equivalent of check -> window -> use."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1 / RATE, int(RATE * horizon * 1.2)).tolist()
    windows = rng.exponential(0.005, len(gaps)).tolist()
    env = simpy.Environment()
    done = [0]

    def operation(window: float) -> Any:
        yield env.timeout(0.001)
        yield env.timeout(window)
        yield env.timeout(0.001)
        done[0] += 1

    def source() -> Any:
        for gap, window in zip(gaps, windows, strict=True):
            yield env.timeout(gap)
            if env.now >= horizon:
                return
            env.process(operation(window))

    env.process(source())
    env.run()
    return done[0]


def engine_model(read_path: dict[str, Any], horizon: float) -> Any:
    return parse_model({
        "model": {"name": "bench", "horizon": horizon},
        "keys": {"count": 1000, "invariant": "version", "popularity": {"zipf": 1.1}},
        "store": {"read_latency": "1ms", "write_latency": "1ms"},
        "read_path": read_path,
        "clients": {"arrival": {"poisson": {"rate": RATE}}, "window": {"exponential": {"mean": "5ms"}}},
        "mutators": [{"action": "bump", "rate": 50.0}],
    }, source="<bench>")


CASES: dict[str, dict[str, Any]] = {
    "direct": {"kind": "direct"},
    "cache (ttl 1s, invalidate 10ms, lru 500)": {
        "kind": "cache", "ttl": "1s", "capacity": 500, "invalidation": {"delay": {"exponential": {"mean": "10ms"}}}},
    "replica N=3 R=1 W=1": {"kind": "replica", "n": 3, "r": 1, "w": 1,
                            "write_delay": {"exponential": {"mean": "2ms"}},
                            "message_delay": {"exponential": {"mean": "0.5ms"}}},
    "replica N=5 R=2 W=2": {"kind": "replica", "n": 5, "r": 2, "w": 2,
                            "write_delay": {"exponential": {"mean": "2ms"}},
                            "message_delay": {"exponential": {"mean": "0.5ms"}}},
}


def best_rate(run: Any, repeat: int) -> tuple[float, int]:
    best = 0.0
    ops = 0
    for _ in range(repeat):
        start = time.perf_counter()
        ops = run()
        best = max(best, ops / (time.perf_counter() - start))
    return best, ops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=float, default=20.0, help="Simulated seconds per run.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per case (best is reported).")
    args = parser.parse_args()
    baseline, ops = best_rate(lambda: bare_simpy(args.horizon), args.repeat)
    print(f"{'case':<42} {'ops':>8} {'ops/s/core':>11} {'vs bare SimPy':>14}")
    print(f"{'bare SimPy (3 timeouts per op)':<42} {ops:>8} {baseline:>11,.0f} {1.0:>13.2f}x")
    for name, read_path in CASES.items():
        model = engine_model(read_path, args.horizon)
        rate, ops = best_rate(lambda model=model: int(run_replication(model, 0, 1).metrics["operations"]),
                              args.repeat)
        print(f"{name:<42} {ops:>8} {rate:>11,.0f} {rate / baseline:>13.2f}x")


if __name__ == "__main__":
    main()
