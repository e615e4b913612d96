"""Driver memory and overhead of a sweep of 10^5 tasks, without simulating anything.

Run from the repository root::

    python benchmarks/sweep_driver_memory.py --out /tmp/big            # 4,000 and 40,000 tasks
    python benchmarks/sweep_driver_memory.py --configs 500 --reps 100  # 10^5 tasks, in memory

The executor here answers every task at once with a fixed set of metrics (the shape of a real
replication's) instead of running the world, so what is measured is the driver alone: planning,
hashing, the in-flight window, writing parts, aggregating each configuration with montecarlo's
estimators, and the final table. It prints the peak of Python allocations (``tracemalloc``) at
two sizes: if the driver held every task's result, the peak would grow with the task count;
it grows only with the number of configurations (the size of the final table itself) and, without
``--out``, with the per-replication rows kept for ``replications_frame()``. Each size runs twice:
once timed, once under ``tracemalloc`` (which slows allocation, so that pass is not timed).
"""

from __future__ import annotations

import argparse
import shutil
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import numpy as np

import toctou_sim
from toctou_sim.sweeps.tasks import SweepTask, TaskOutcome

MODEL = Path(__file__).resolve().parents[1] / "models" / "flash_sale.toml"
METRICS = toctou_sim.run_replication(toctou_sim.load_model(MODEL, {"model.horizon": "6s"}), 0, 0).metrics


class InstantExecutor(Executor):
    """Returns, for each task, metrics drawn from the task's own seed and replication."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        task: SweepTask = args[0]
        rows = []
        for replication in task.replications:
            rng = np.random.default_rng([task.seed, replication, len(task.task_id)])
            rows.append((replication, {k: float(v) * rng.uniform(0.5, 1.5) for k, v in METRICS.items()}))
        future: Future[Any] = Future()
        future.set_result(TaskOutcome(task.task_id, tuple(rows)))
        return future


def measure(configs: int, reps: int, out: Path | None, trace: bool) -> None:
    model = toctou_sim.load_model(MODEL)
    grid = {"clients.arrival.poisson.rate": [float(100 + i) for i in range(configs)]}
    if out is not None:
        shutil.rmtree(out, ignore_errors=True)
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    result = toctou_sim.sweep(model, grid=grid, strategies=["none", "cas"], reps=reps, seed=1,
                              executor=InstantExecutor(), out=out)
    elapsed = time.perf_counter() - started
    where = f"{result.tasks_total:>7} tasks ({configs} configurations x 2 strategies x {reps} reps), " \
        f"out={'disk' if out else 'memory'}"
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{where}: peak Python memory {peak / 2**20:6.1f} MiB, table {len(result.to_frame())} rows")
    else:
        print(f"{where}: {elapsed:6.1f} s driver time ({elapsed / result.tasks_total * 1e3:.2f} ms/task)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="stream parts into this folder (deleted first)")
    parser.add_argument("--configs", type=int, default=200)
    parser.add_argument("--reps", type=int, nargs="+", default=[10, 100])
    args = parser.parse_args()
    for reps in args.reps:
        measure(args.configs, reps, args.out, trace=False)
        measure(args.configs, reps, args.out, trace=True)


if __name__ == "__main__":
    main()
