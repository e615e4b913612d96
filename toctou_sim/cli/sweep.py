"""``toctou-sim sweep``: parse the design and the executor options, run :func:`toctou_sim.sweeps.driver`, print.

Exit codes: 0 every task ran; 1 some task failed (each reported with its configuration and
traceback; the others completed) or an internal error; 2 bad input (one line); 130 interrupted
(the finished tasks are kept: run the same command with ``--resume``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from toctou_sim.cli.args import MODEL, files_backend, parse_grid, parse_ranges, parse_sets, strategy_names
from toctou_sim.cli.common import engine_line
from toctou_sim.cli.options import REPS, SEED, FiniteFloat, safety_options
from toctou_sim.core.limits import MAX_CONFIGURATIONS, MAX_WORKERS, echo
from toctou_sim.spec.model import SpecError

__all__ = ["sweep"]

TABLE_ROWS = 40
"""Configurations shown in the terminal table (all of them are in the results files)."""


@click.command()
@click.argument("model", type=MODEL)
@click.option("--grid", "grids", multiple=True, metavar="PATH=V1,V2",
              help="Values of a model field (repeatable); every combination is a configuration.")
@click.option("--lhs", type=click.IntRange(1, MAX_CONFIGURATIONS), default=None, metavar="N",
              help="Latin hypercube points over the --range fields.")
@click.option("--range", "ranges", multiple=True, metavar="PATH=LOW:HIGH[:log][:int]",
              help="A field sampled by --lhs (repeatable); :log samples log-uniformly, :int rounds.")
@click.option("--strategies", default=None,
              help="Comma-separated strategies (default: none, the model's [strategy] and its [strategies.*]).")
@click.option("--baseline", default=None,
              help="Strategy the paired differences refer to (default: the first).")
@click.option("--reps", type=REPS, default=10, show_default=True,
              help="Replications per configuration and strategy.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the sweep (>= 0).")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
              help="Override a field in every configuration (repeatable).")
@click.option("--precision", type=FiniteFloat(0, 1, open_low=True, open_high=True), default=None,
              help="Per configuration, add replications until --metric's relative 95% half-width "
                   "is at most this.")
@click.option("--max-reps", type=REPS, default=None, help="Replication limit for --precision (default 1000).")
@click.option("--metric", default="violation_rate", show_default=True,
              help="Primary metric: for --precision (shown in the table beside the headline metrics).")
@click.option("--batch", type=REPS, default=1, show_default=True,
              help="Replications per task (raise it for very short runs).")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=None,
              help="Local processes (default: all cores; 1 = in process; at most one per core and task); "
                   "Dask workers with --dask-local.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT", help="Run on this Dask scheduler.")
@click.option("--dask-local", is_flag=True,
              help="Start a Dask LocalCluster (with its dashboard) on this machine.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Results folder: parts, manifest.json, results.parquet and results.csv.")
@click.option("--resume", is_flag=True, help="Finish the interrupted sweep in --out: run only missing tasks.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--engine", type=click.Choice(["des", "fast", "auto"]), default="auto", show_default=True,
              help="auto: the fast engine wherever a configuration qualifies (the same numbers as des).")
@safety_options
def sweep(model: Path, grids: tuple[str, ...], lhs: int | None, ranges: tuple[str, ...],
          strategies: str | None, baseline: str | None, reps: int, seed: int, sets: tuple[str, ...],
          precision: float | None, max_reps: int | None, metric: str, batch: int, workers: int | None,
          scheduler: str | None, dask_local: bool, out: Path | None, resume: bool, as_json: bool,
          quiet: bool, engine: str, max_ops: float | None, max_memory: float | None,
          data_dirs: tuple[Path, ...]) -> None:
    """Run MODEL over a grid or a Latin hypercube of configurations, every strategy on common
    random numbers, on all local cores or a Dask cluster; stream results to --out."""
    from contextlib import nullcontext

    from toctou_sim.core.limits import check_out_folder
    from toctou_sim.experiment.settings import RunSettings
    from toctou_sim.spec.model import load_model
    from toctou_sim.sweeps.driver import plan_sweep
    from toctou_sim.sweeps.folder import ResultsFolder

    check_out_folder(out, "--out")
    spec = load_model(model, parse_sets(sets), data_dirs=data_dirs)
    names = strategy_names(strategies) if strategies is not None else None
    if scheduler is not None and workers is not None:
        raise SpecError("--workers: not used with --scheduler (the cluster has its own workers)")
    # Everything is validated before a process or a cluster connection is opened.
    settings = RunSettings(reps=reps, seed=seed, precision=precision, max_reps=max_reps, metric=metric,
                           max_ops=max_ops, max_memory=max_memory, engine=engine)
    plan = plan_sweep(spec, grid=parse_grid(grids), lhs=lhs, ranges=parse_ranges(ranges), strategies=names,
                      baseline=baseline, settings=settings, batch=batch)
    plan.open_folder(out, resume)
    with ResultsFolder(out).lock() if out is not None else nullcontext():
        _run(plan, spec, out=out, resume=resume, workers=workers, scheduler=scheduler, dask_local=dask_local,
             seed=seed, metric=metric, as_json=as_json, quiet=quiet, engine=engine)


def _run(plan: Any, spec: Any, *, out: Path | None, resume: bool, workers: int | None, scheduler: str | None,
         dask_local: bool, seed: int, metric: str, as_json: bool, quiet: bool, engine: str) -> None:
    """Run a validated plan on its executor (the results folder is already held) and print."""
    from toctou_sim.experiment.executors import open_executor

    plan.open_folder(out, resume)  # again, under the lock: another sweep may have finished meanwhile
    show_progress = not quiet and not as_json and sys.stderr.isatty()

    def report(failure: Any) -> None:
        line = failure.summary()
        if show_progress:
            from tqdm.auto import tqdm

            tqdm.write(line, file=sys.stderr)
        else:
            echo(line, err=True)

    with open_executor(workers, scheduler=scheduler, dask_local=dask_local,
                       tasks=plan.first_round_tasks) as handle:
        if not as_json:
            echo(f"{spec.model.name}: {plan.describe()}, seed {seed}, on {handle.description}", err=True)
            click.echo(engine_line(plan.engines(engine), engine), err=True)
            if handle.dashboard:
                echo(f"Dask dashboard: {handle.dashboard}", err=True)
        try:
            started = time.perf_counter()
            notes = {"command": ["toctou-sim", *sys.argv[1:]], "executor": handle.description}
            result = plan.run(handle.executor, out=out, resume=resume, progress=show_progress,
                              on_failure=report, notes=notes, engine=engine)
        except KeyboardInterrupt:
            where = f"; finished tasks are in {out}: run the same command with --resume" if out else ""
            echo(f"interrupted{where}", err=True)
            sys.exit(130)
    elapsed = time.perf_counter() - started
    _print(result, metric=metric, as_json=as_json, elapsed=elapsed)
    if out is not None and not as_json and result.tasks_total:
        from toctou_sim.reporting.sweep_page import write_sweep_page

        files_backend()
        paths = write_sweep_page(result.to_frame(), result.parameters, result.strategies, out,
                                 spec.model.name, primary=metric)
        click.echo(f"wrote {paths[0]} (charts and the headline table)")
    if not result.ok:
        sys.exit(1)


def _print(result: Any, *, metric: str, as_json: bool, elapsed: float) -> None:
    from toctou_sim.reporting.present import results_json

    frame = result.to_frame()
    if as_json:
        echo(results_json(frame, failed=len(result.failures), not_run=result.not_run))
        return
    rate = result.replications_run / elapsed if elapsed > 0 else float("nan")
    echo(f"{len(result.configurations)} configurations x {len(result.strategies)} strategies: "
               f"{result.tasks_total} tasks, {result.tasks_run} run, {result.tasks_resumed} resumed, "
               f"{len(result.failures)} failed in {elapsed:.1f} s ({rate:.1f} replications/s)")
    echo(metric_table(frame, result.parameters, result.strategies, metric))

    if result.out is not None:
        out = result.out
        echo(f"wrote {out / 'results.parquet'}, {out / 'results.csv'} and {out / 'manifest.json'}")
    if result.failures:
        first = result.failures[0]
        where = f"; each traceback is in {result.out / 'failures'}" if result.out is not None else ""
        echo(f"{len(result.failures)} failed (their configurations have no rows){where}. "
                   f"First failure:\n{first.summary()}\n{first.error.rstrip()}", err=True)
    if result.not_run:
        echo(f"{result.not_run} tasks not run (the executor broke); finish with --resume", err=True)


def metric_table(frame: Any, parameters: list[str], strategies: list[str], metric: str) -> str:
    """The headline metrics (harm, error budget, p99, aborts, and ``metric``), a row per
    configuration and strategy, each with its 95% CI."""
    from toctou_sim.reporting.sweep_page import headline_table

    if "metric" not in frame.columns or frame.empty:
        return "(no results: every configuration failed)"
    table = headline_table(frame, parameters, strategies, primary=metric, limit=TABLE_ROWS)
    configs = frame["config"].nunique()
    lines = ["estimates ± 95% CI", table.to_string(index=False)]
    if configs > TABLE_ROWS:
        lines.append(f"... {configs - TABLE_ROWS} more configurations in the results files")
    return "\n".join(lines)
