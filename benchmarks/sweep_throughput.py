"""Sweep throughput: replications/s on 1 and 2 local processes, and per-task overhead of Dask.

Run from the repository root::

    python benchmarks/sweep_throughput.py            # about a minute on 2 cores
    python benchmarks/sweep_throughput.py --reps 10  # quicker, noisier

Two measurements, both through the public API (``toctou_sim.sweep``):

1. Throughput: the bundled flash-sale model (horizon 30 s, about 0.1 s of CPU per replication),
   2 configurations x 2 strategies x ``--reps`` replications, in process (1 worker) and on a
   ``ProcessPoolExecutor`` with 2 workers. Parallel efficiency = (rate with 2) / (2 x rate with 1).
2. Overhead for short tasks: replications of about 1-2 ms each (horizon 0.2 s), run in process,
   on the process pool and on a Dask ``LocalCluster`` with 2 single-threaded worker processes.
   Overhead per task = (wall time x workers - serial time) / tasks: the worker-seconds each task
   costs beyond its own computation (pickling, queueing, scheduling, result transfer).

Wall-clock numbers depend on what else the machine is doing; run it on an idle machine, and
report the load average (printed) with the numbers.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import toctou_sim

MODEL = Path(__file__).resolve().parents[1] / "models" / "flash_sale.toml"


def timed(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def sweep_on(model: toctou_sim.ModelSpec, executor: Executor | None, reps: int, grid: dict[str, list[Any]],
             strategies: list[str]) -> toctou_sim.SweepResult:
    result = toctou_sim.sweep(model, grid=grid, strategies=strategies, reps=reps, seed=1, executor=executor)
    assert result.ok, result.failures
    return result


def throughput(reps: int) -> None:
    model = toctou_sim.load_model(MODEL, {"model.horizon": "30s"})
    grid = {"clients.arrival.poisson.rate": [500, 1000]}
    strategies = ["none", "cas"]
    n = len(grid["clients.arrival.poisson.rate"]) * len(strategies) * reps
    sweep_on(model, None, 1, grid, strategies)  # warm imports and caches
    serial = timed(lambda: sweep_on(model, None, reps, grid, strategies))
    with ProcessPoolExecutor(max_workers=2) as pool:
        sweep_on(model, pool, 1, grid, strategies)  # start the workers before timing
        parallel = timed(lambda: sweep_on(model, pool, reps, grid, strategies))
    rate1, rate2 = n / serial, n / parallel
    print(f"throughput, {n} replications of ~{serial / n * 1e3:.0f} ms:")
    print(f"  1 worker : {serial:6.2f} s  {rate1:6.2f} replications/s")
    print(f"  2 workers: {parallel:6.2f} s  {rate2:6.2f} replications/s  "
          f"(speed-up {rate2 / rate1:.2f}, parallel efficiency {rate2 / (2 * rate1):.0%})")


def overhead(tasks: int) -> None:
    model = toctou_sim.load_model(MODEL, {"model.horizon": "0.2s", "model.warmup": 0,
                                          "clients.arrival.poisson.rate": 100})
    grid = {"keys.count": [50, 100]}
    strategies = ["none", "cas"]
    reps = max(1, tasks // 4)
    n = 4 * reps
    sweep_on(model, None, 1, grid, strategies)
    serial = timed(lambda: sweep_on(model, None, reps, grid, strategies))
    rows = [("in process", 1, serial)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        sweep_on(model, pool, 1, grid, strategies)
        rows.append(("process pool", 2, timed(lambda: sweep_on(model, pool, reps, grid, strategies))))
    try:
        import distributed
    except ImportError:
        print("  (Dask distributed not installed: skipped)")
    else:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address="127.0.0.1:0") as cluster, \
                distributed.Client(cluster) as client:
            executor = client.get_executor()
            sweep_on(model, executor, 1, grid, strategies)
            wall = timed(lambda: sweep_on(model, executor, reps, grid, strategies))
            rows.append(("Dask LocalCluster", 2, wall))
    print(f"overhead, {n} tasks of ~{serial / n * 1e3:.2f} ms (one replication each):")
    for name, workers, wall in rows:
        extra = (wall * workers - serial) / n
        print(f"  {name:18s}: {wall:6.2f} s  {wall / n * 1e3:6.2f} ms/task wall  "
              f"{extra * 1e3:+6.2f} ms/task overhead (worker-time beyond the computation)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="replications per configuration and strategy")
    parser.add_argument("--tasks", type=int, default=400, help="short tasks for the overhead measurement")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    throughput(args.reps)
    overhead(args.tasks)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
