"""The ``toctou-sim run`` command: one model under one strategy, estimates with 95% CIs."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from toctou_sim.cli.args import parse_sets
from toctou_sim.cli.common import (
    check_out,
    emit,
    import_table_modules_meanwhile,
    results_engine_note,
    retry_note,
    stop_note,
)
from toctou_sim.cli.options import engine_options, model_options

__all__ = ["run_command"]


@click.command("run")
@model_options
@engine_options
@click.option("--strategy", default=None, help="Run this strategy instead of the model's own.")
def run_command(model: Path, reps: int, seed: int, sets: tuple[str, ...], precision: float | None, max_reps: int | None,
                metric: str, workers: int, as_json: bool, out: Path | None, all_metrics: bool, quiet: bool,
                max_ops: float | None, max_memory: float | None, data_dirs: tuple[Path, ...],
                engine: str, estimator: str, strategy: str | None) -> None:
    """Simulate MODEL with its strategy and print estimates with 95% CIs."""
    from toctou_sim.experiment.executors import local_executor
    from toctou_sim.experiment.montecarlo import budget_check, simulate
    from toctou_sim.experiment.settings import RunSettings
    from toctou_sim.spec.model import load_model

    check_out(out)
    spec = load_model(model, parse_sets(sets), data_dirs=data_dirs)
    if strategy is not None:
        spec = spec.with_strategy(strategy)
    settings = RunSettings(reps=reps, seed=seed, precision=precision, max_reps=max_reps, metric=metric, engine=engine,
                           estimator=estimator, progress=not (quiet or as_json) and sys.stderr.isatty(),
                           max_ops=max_ops, max_memory=max_memory)
    budget_check([spec], settings.limit, max_ops, max_memory)
    with local_executor(workers, settings.limit) as executor:
        import_table_modules_meanwhile(executor, frame=out is not None)
        result = simulate(spec, settings=dataclasses.replace(settings, executor=executor))
    header = (f"{spec.model.name}: strategy {result.strategy}, seed {seed}, {result.n_reps} replications "
              f"(the harm: {spec.harm})")
    if estimator == "episodes":
        from toctou_sim.experiment.episodes import describe

        names = (metric, "harm_rate", "harms_per_episode", "episodes_per_op", "baseline_harm_rate")
        shown = {name: result.estimate(name) for name in names if name in result.metric_names}
        echo_later = describe(shown, metric if metric in ("harm_rate", "violation_rate") else "harm_rate")
    else:
        echo_later = ""
    footer = "\n".join(n for n in (echo_later, stop_note(result.stopped_by, precision, metric),
                                   results_engine_note({result.strategy: result}, engine),
                                   retry_note({result.strategy: result.model})) if n)
    emit(result, as_json=as_json, out=out, all_metrics=all_metrics, header=header, footer=footer)
