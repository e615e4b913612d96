"""The ``toctou-sim compare`` command: strategies side by side on common random numbers."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from toctou_sim.cli.args import parse_sets, strategy_names
from toctou_sim.cli.common import (
    check_out,
    emit,
    import_table_modules_meanwhile,
    results_engine_note,
    retry_note,
    stop_note,
)
from toctou_sim.cli.options import engine_options, model_options

__all__ = ["compare_command"]


@click.command("compare")
@model_options
@engine_options
@click.option("--strategies", default=None,
              help="Comma-separated strategy names ([strategies] entries of the model, or kinds); "
                   "default: none, the model's [strategy] and its [strategies.*].")
@click.option("--baseline", default=None, help="Strategy the paired differences refer to (default: the first).")
def compare_command(model: Path, reps: int, seed: int, sets: tuple[str, ...], precision: float | None,
                    max_reps: int | None, metric: str, workers: int, as_json: bool, out: Path | None, all_metrics: bool,
                    quiet: bool, max_ops: float | None, max_memory: float | None, data_dirs: tuple[Path, ...],
                    engine: str, estimator: str, strategies: str | None, baseline: str | None) -> None:
    """Compare strategies on MODEL with common random numbers, side by side."""
    from toctou_sim.experiment.executors import local_executor
    from toctou_sim.experiment.montecarlo import budget_check
    from toctou_sim.experiment.montecarlo import compare as run_compare
    from toctou_sim.experiment.settings import RunSettings
    from toctou_sim.spec.model import load_model

    check_out(out)
    spec = load_model(model, parse_sets(sets), data_dirs=data_dirs)
    names = strategy_names(strategies) if strategies is not None else spec.default_strategies()
    settings = RunSettings(reps=reps, seed=seed, precision=precision, max_reps=max_reps, metric=metric, engine=engine,
                           estimator=estimator, progress=not (quiet or as_json) and sys.stderr.isatty(),
                           max_ops=max_ops, max_memory=max_memory)
    budget_check([spec.with_strategy(n) for n in names], settings.limit, max_ops, max_memory)
    with local_executor(workers, settings.limit * len(names)) as executor:
        import_table_modules_meanwhile(executor, frame=out is not None)
        result = run_compare(spec, names, baseline=baseline,
                             settings=dataclasses.replace(settings, executor=executor))
    header = (f"{spec.model.name}: {', '.join(names)} on common random numbers, seed {seed} "
              f"(the harm: {spec.harm})")
    stopped = next(iter(result.results.values())).stopped_by
    footer = "\n".join(n for n in (stop_note(stopped, precision, metric), results_engine_note(result.results, engine),
                                   retry_note({k: r.model for k, r in result.results.items()})) if n)
    emit(result, as_json=as_json, out=out, all_metrics=all_metrics, header=header, footer=footer)
