"""Sweep throughput: replications/s on 1 and 2 local processes, and per-task overhead of Dask.

Run from the repository root::

    python benchmarks/sweep_throughput.py            # about a minute on 2 cores
    python benchmarks/sweep_throughput.py --reps 10  # quicker, noisier

Two measurements, both through the public API (``toctou_sim.sweeps.driver``):

1. Throughput: the bundled flash-sale model (horizon 30 s, about 0.1 s of CPU per replication),
   2 configurations x 2 strategies x ``--reps`` replications, in process (1 worker) and on a
   ``ProcessPoolExecutor`` with 2 workers. Parallel efficiency = (rate with 2) / (2 x rate with 1).
2. Overhead for short tasks: replications of about 1-2 ms each (horizon 0.2 s), run in process,
   on the process pool and on a Dask ``LocalCluster`` with 2 single-threaded worker processes.
   Overhead per task = (CPU of the run, driver and workers - CPU of the serial run) / tasks: what
   each task costs beyond its own computation (pickling, queueing, scheduling, result transfer),
   with the executor's start-up and warm-up subtracted (measured by a second, idle opening).

Wall-clock numbers depend on what else the machine is doing; run it on an idle machine, and
report the load average (printed) with the numbers. The CPU seconds (this process for the serial
run and the driver, its pool's children for the workers) do not depend on other load: serial CPU
over parallel CPU is the efficiency an idle machine would reach.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
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


def children_cpu() -> float:
    """CPU seconds of this process's finished (and waited-for) children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def throughput(reps: int) -> None:
    model = toctou_sim.load_model(MODEL, {"model.horizon": "30s"})
    grid = {"clients.arrival.poisson.rate": [500, 1000]}
    strategies = ["none", "cas"]
    n = len(grid["clients.arrival.poisson.rate"]) * len(strategies) * reps
    sweep_on(model, None, 1, grid, strategies)  # warm imports and caches
    cpu = time.process_time()
    serial = timed(lambda: sweep_on(model, None, reps, grid, strategies))
    serial_cpu = time.process_time() - cpu
    before = children_cpu()
    with ProcessPoolExecutor(max_workers=2) as pool:
        sweep_on(model, pool, 1, grid, strategies)  # start the workers before timing
        cpu = time.process_time()
        parallel = timed(lambda: sweep_on(model, pool, reps, grid, strategies))
        driver_cpu = time.process_time() - cpu
    with_run = children_cpu()
    with ProcessPoolExecutor(max_workers=2) as pool:  # the same start-up and warm-up, without the run
        sweep_on(model, pool, 1, grid, strategies)
    workers_cpu = (with_run - before) - (children_cpu() - with_run)
    rate1, rate2 = n / serial, n / parallel
    print(f"throughput, {n} replications of ~{serial_cpu / n * 1e3:.0f} ms CPU:")
    print(f"  1 worker : {serial:6.2f} s  {rate1:6.2f} replications/s  ({serial_cpu:.2f} s CPU)")
    print(f"  2 workers: {parallel:6.2f} s  {rate2:6.2f} replications/s  "
          f"(speed-up {rate2 / rate1:.2f}, parallel efficiency {rate2 / (2 * rate1):.0%}; "
          f"CPU: workers {workers_cpu:.2f} s + driver {driver_cpu:.2f} s)")
    print(f"  CPU efficiency (serial CPU / parallel CPU, the bound on an idle machine): "
          f"{serial_cpu / (workers_cpu + driver_cpu):.0%}")


def _cpu_of(open_executor: Callable[[], Any], run: Callable[[Executor], Any],
            warm: Callable[[Executor], Any]) -> tuple[float, float]:
    """Wall seconds of ``run`` on a fresh executor, and the CPU seconds it cost (this process plus
    its children) beyond opening the executor and warming it up, measured by a second, idle
    opening."""
    def once(timed_run: bool) -> tuple[float, float]:
        cpu, children = time.process_time(), children_cpu()
        wall = 0.0
        with open_executor() as executor:
            warm(executor)
            if timed_run:
                wall = timed(lambda: run(executor))
        return wall, time.process_time() - cpu + children_cpu() - children

    wall, with_run = once(True)
    _, without = once(False)
    return wall, with_run - without


def overhead(tasks: int) -> None:
    model = toctou_sim.load_model(MODEL, {"model.horizon": "0.2s", "model.warmup": 0,
                                          "clients.arrival.poisson.rate": 100})
    grid = {"keys.count": [50, 100]}
    strategies = ["none", "cas"]
    reps = max(1, tasks // 4)
    n = 4 * reps
    sweep_on(model, None, 1, grid, strategies)
    cpu = time.process_time()
    serial = timed(lambda: sweep_on(model, None, reps, grid, strategies))
    serial_cpu = time.process_time() - cpu
    rows = [("in process", serial, serial_cpu)]

    def run(executor: Executor) -> Any:
        return sweep_on(model, executor, reps, grid, strategies)

    def warm(executor: Executor) -> Any:
        return sweep_on(model, executor, 1, grid, strategies)

    rows.append(("process pool", *_cpu_of(lambda: ProcessPoolExecutor(max_workers=2), run, warm)))
    try:
        import distributed
    except ImportError:
        print("  (Dask distributed not installed: skipped)")
    else:
        @contextmanager
        def dask_executor() -> Iterator[Executor]:
            with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                          dashboard_address="127.0.0.1:0") as cluster, \
                    distributed.Client(cluster) as client:
                yield client.get_executor()

        rows.append(("Dask LocalCluster", *_cpu_of(dask_executor, run, warm)))
    print(f"overhead, {n} tasks of ~{serial_cpu / n * 1e3:.2f} ms CPU (one replication each):")
    for name, wall, cpu_used in rows:
        extra = (cpu_used - serial_cpu) / n
        print(f"  {name:18s}: {wall:6.2f} s wall ({wall / n * 1e3:5.2f} ms/task)  {cpu_used:6.2f} s CPU  "
              f"{extra * 1e3:+6.2f} ms CPU/task beyond the computation")


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
