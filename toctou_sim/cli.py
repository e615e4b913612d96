"""The ``toctou-sim`` command line: argument parsing and printing, nothing else.

Exit codes: 0 ok; 2 bad input (one line on stderr naming the file, the field and what was
expected); 1 an internal error (a bug: the traceback is shown).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from toctou_sim.cli_args import MODEL, parse_sets
from toctou_sim.cli_args import make_executor as _executor
from toctou_sim.cli_report import report_command, trace_command
from toctou_sim.cli_staleness import staleness as _staleness
from toctou_sim.cli_sweep import sweep as _sweep_command
from toctou_sim.spec import SpecError

__all__ = ["main", "parse_sets"]

F = TypeVar("F", bound=Callable[..., Any])


class _Group(click.Group):
    """Turns :class:`SpecError` (bad input) into exit code 2 and one line on stderr."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpecError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="toctou-sim")
def main() -> None:
    """Simulate time-of-check-to-time-of-use windows and what mitigations cost."""
    import warnings

    from toctou_sim.sanity import ModelWarning

    shown = warnings.showwarning

    def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        if issubclass(category, ModelWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            shown(message, category, *args, **kwargs)

    warnings.showwarning = show


def model_options(function: F) -> F:
    """Options shared by every command that runs a model."""
    decorators = [
        click.argument("model", type=MODEL),
        click.option("--reps", default=10, show_default=True, help="Replications (minimum with --precision)."),
        click.option("--seed", default=0, show_default=True, help="Seed of the run."),
        click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                     help="Override a model field by dotted path (repeatable)."),
        click.option("--precision", type=float, default=None,
                     help="Add replications until the primary metric's relative 95% half-width is at most this."),
        click.option("--max-reps", type=int, default=None, help="Replication limit for --precision (default 1000)."),
        click.option("--metric", default="violation_rate", show_default=True, help="Primary metric for --precision."),
        click.option("--workers", type=int, default=0, show_default=True,
                     help="Processes to run replications on (0 = all cores; the numbers do not change)."),
        click.option("--json", "as_json", is_flag=True, help="Print machine-readable results."),
        click.option("--out", type=click.Path(path_type=Path), default=None,
                     help="Also write the tidy table to a .csv or .parquet file."),
        click.option("--all-metrics", is_flag=True, help="Show every metric in the table."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def engine_options(function: F) -> F:
    """``--engine`` and ``--estimator`` (the fast path and conditional Monte Carlo)."""
    decorators = [
        click.option("--engine", type=click.Choice(["des", "fast", "auto"]), default="auto", show_default=True,
                     help="des: SimPy event loop; fast: the compiled event kernel, same numbers (the model "
                          "must qualify); auto: fast wherever the model qualifies (and says so)."),
        click.option("--estimator", type=click.Choice(["plain", "conditional"]), default="plain",
                     show_default=True,
                     help="conditional: exact conflict probability per use instead of 0/1 (fast engine only)."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def _engine_note(results: dict[str, Any], engine: str) -> str:
    """One line saying which engine ran each strategy (with ``auto``: why not fast, where not)."""
    if engine == "des":
        return ""
    parts = [f"{label}={r.engine}" + (f" ({r.engine_reason})" if r.engine == "des" else "")
             for label, r in results.items()]
    return "engine: " + ", ".join(parts)


def check_out(out: Path | None) -> None:
    """Refuse an ``--out`` name we cannot write before any simulation runs."""
    if out is not None and out.suffix not in (".csv", ".parquet"):
        raise SpecError(f"--out {out}: expected a .csv or .parquet file name")


def _emit(frame: Any, *, as_json: bool, out: Path | None, all_metrics: bool, header: str, footer: str) -> None:
    from toctou_sim.present import comparison_table, results_json, shown_metrics, write_table

    if out is not None:
        write_table(frame, out)
    if as_json:
        click.echo(results_json(frame))
        return
    click.echo(header)
    click.echo(comparison_table(frame, None if all_metrics else shown_metrics(frame)))
    if footer:
        click.echo(footer)
    if out is not None:
        click.echo(f"wrote {out}")


@main.command()
@model_options
@engine_options
@click.option("--strategy", default=None, help="Run this strategy instead of the model's own.")
def run(model: Path, reps: int, seed: int, sets: tuple[str, ...], precision: float | None, max_reps: int | None,
        metric: str, workers: int, as_json: bool, out: Path | None, all_metrics: bool, quiet: bool,
        engine: str, estimator: str, strategy: str | None) -> None:
    """Simulate MODEL with its strategy and print estimates with 95% CIs."""
    from toctou_sim.montecarlo import simulate
    from toctou_sim.spec import load_model

    check_out(out)
    spec = load_model(model, parse_sets(sets))
    executor = _executor(workers)
    try:
        result = simulate(spec, reps=reps, seed=seed, strategy=strategy, precision=precision, max_reps=max_reps,
                          metric=metric, executor=executor, progress=not (quiet or as_json) and sys.stderr.isatty(),
                          engine=engine, estimator=estimator)
    finally:
        if executor is not None:
            executor.shutdown()
    header = (f"{spec.model.name}: strategy {result.strategy}, seed {seed}, {result.n_reps} replications "
              f"(the harm: {spec.harm})")
    footer = "\n".join(n for n in (_stop_note(result.stopped_by, precision, metric),
                                   _engine_note({result.strategy: result}, engine),
                                   retry_note({result.strategy: result.model})) if n)
    _emit(result.to_frame(), as_json=as_json, out=out, all_metrics=all_metrics, header=header, footer=footer)


def retry_note(models: dict[str, Any]) -> str:
    """One line saying how each strategy that retries retries, so a comparison shows its terms."""
    from toctou_sim.units import format_duration

    parts = []
    for name, model in models.items():
        retry = getattr(model.strategy, "retry", None)
        if retry is None:
            continue
        guard = model.strategy.write_guard()
        parts.append(f"{name} {retry.max_retries}x from {format_duration(retry.backoff)} ({retry.jitter} jitter)"
                     + (f", {guard} guard" if guard != "none" else ""))
    return "retries: " + "; ".join(parts) if parts else ""


def _stop_note(stopped_by: str, precision: float | None, metric: str) -> str:
    if precision is None:
        return ""
    if stopped_by == "precision":
        return f"stopped: {metric} reached ±{precision:.0%} relative half-width"
    return f"stopped: --max-reps reached before {metric} got to ±{precision:.0%} (add replications or accept it)"


@main.command()
@model_options
@engine_options
@click.option("--strategies", default=None,
              help="Comma-separated strategy names ([strategies] entries of the model, or kinds); "
                   "default: none, the model's [strategy] and its [strategies.*].")
@click.option("--baseline", default=None, help="Strategy the paired differences refer to (default: the first).")
def compare(model: Path, reps: int, seed: int, sets: tuple[str, ...], precision: float | None,
            max_reps: int | None, metric: str, workers: int, as_json: bool, out: Path | None, all_metrics: bool,
            quiet: bool, engine: str, estimator: str, strategies: str | None, baseline: str | None) -> None:
    """Compare strategies on MODEL with common random numbers, side by side."""
    from toctou_sim.montecarlo import compare as run_compare
    from toctou_sim.spec import load_model

    check_out(out)
    spec = load_model(model, parse_sets(sets))
    names = ([s.strip() for s in strategies.split(",") if s.strip()] if strategies is not None
             else spec.default_strategies())
    executor = _executor(workers)
    try:
        result = run_compare(spec, names, reps=reps, seed=seed, baseline=baseline, precision=precision,
                             max_reps=max_reps, metric=metric, executor=executor,
                             progress=not (quiet or as_json) and sys.stderr.isatty(), engine=engine,
                             estimator=estimator)
    finally:
        if executor is not None:
            executor.shutdown()
    header = (f"{spec.model.name}: {', '.join(names)} on common random numbers, seed {seed} "
              f"(the harm: {spec.harm})")
    stopped = next(iter(result.results.values())).stopped_by
    footer = "\n".join(n for n in (_stop_note(stopped, precision, metric), _engine_note(result.results, engine),
                                   retry_note({k: r.model for k, r in result.results.items()})) if n)
    _emit(result.to_frame(), as_json=as_json, out=out, all_metrics=all_metrics, header=header, footer=footer)


@main.command()
@click.option("--paths", is_flag=True, help="Print each model's file instead of its name.")
def models(paths: bool) -> None:
    """List the bundled models (run one by name: toctou-sim run flash_sale)."""
    from toctou_sim.bundled import bundled_models

    rows = [(str(m.path) if paths else m.name, m.description) for m in bundled_models()]
    width = max((len(name) for name, _ in rows), default=0)
    for name, description in rows:
        click.echo(f"{name:<{width}}  {description}")


@main.command()
@click.argument("path", type=click.Path(path_type=Path), default="model.toml")
@click.option("--invariant", type=click.Choice(["exists", "counter", "grant", "version", "unchanged"]),
              default="version", show_default=True, help="What each check protects (see the model file's [keys]).")
@click.option("--read-path", type=click.Choice(["direct", "cache", "replica"]), default="direct",
              show_default=True, help="How the check reads state.")
@click.option("--name", default=None, help="The model's name (default: the file's stem).")
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def init(path: Path, invariant: str, read_path: str, name: str | None, force: bool) -> None:
    """Write a commented starting model to PATH (default model.toml); - prints it instead."""
    import tomllib

    from toctou_sim.bundled import starting_model
    from toctou_sim.spec import parse_model

    text = starting_model(name=name or (path.stem if str(path) != "-" else "model"), invariant=invariant,
                          read_path=read_path, file_name=None if str(path) == "-" else str(path))
    parse_model(tomllib.loads(text), source="<init>")  # the template is ours: a failure here is a bug
    if str(path) == "-":
        click.echo(text, nl=False)
        return
    if path.exists() and not force:
        raise SpecError(f"{path}: already exists (choose another PATH, or --force to overwrite)")
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path} ({invariant} invariant, {read_path} read path); "
               f"run it with: toctou-sim run {path}")


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write to this file instead of stdout.")
def schema(out: Path | None) -> None:
    """Print the JSON Schema of a model file (for editor completion, e.g. with Taplo or Even Better TOML)."""
    import json

    from toctou_sim.schema import model_file_schema

    text = json.dumps(model_file_schema(), indent=2, sort_keys=True) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")


@main.command()
@click.option("--seed", default=1, show_default=True)
@click.option("--confidence", default=0.99, show_default=True, help="Confidence of the intervals theory must fall in.")
@click.option("--scale", default=1, show_default=True, help="Multiply replications (tighter checks, longer run).")
@click.option("--oracle", "names", multiple=True, help="Run only this oracle (repeatable).")
@click.option("--json", "as_json", is_flag=True)
def validate(seed: int, confidence: float, scale: int, names: tuple[str, ...], as_json: bool) -> None:
    """Check the simulator against closed forms; exit 1 if any check fails."""
    from toctou_sim.oracles import run_oracles
    from toctou_sim.present import results_json

    frame = run_oracles(seed=seed, confidence=confidence, scale=scale, names=list(names) or None)
    if as_json:
        click.echo(results_json(frame))
    else:
        shown = frame.assign(result=frame["passed"].map({True: "pass", False: "FAIL"})).drop(columns=["passed"])
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        click.echo(f"{int(frame['passed'].sum())} of {len(frame)} checks passed "
                   f"(theory inside the simulation's {confidence:.0%} CI)")
    if not frame["passed"].all():
        sys.exit(1)


main.add_command(_staleness)
main.add_command(_sweep_command)
main.add_command(report_command)
main.add_command(trace_command)

from toctou_sim.cli_fit import fit_command  # noqa: E402

main.add_command(fit_command)

if __name__ == "__main__":  # pragma: no cover
    main()

from toctou_sim.cli_capacity import headroom_command, timeline_command  # noqa: E402

main.add_command(timeline_command)
main.add_command(headroom_command)
