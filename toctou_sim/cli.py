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

from toctou_sim.spec import SpecError

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


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


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    """``--set a.b=v`` options as a dict (values are parsed as TOML later)."""
    overrides = {}
    for item in values:
        path, sep, value = item.partition("=")
        if not sep or not path:
            raise SpecError(f"--set {item}: expected PATH=VALUE, e.g. clients.arrival.poisson.rate=500")
        overrides[path.strip()] = value.strip()
    return overrides


def model_options(function: F) -> F:
    """Options shared by every command that runs a model."""
    decorators = [
        click.argument("model", type=click.Path(path_type=Path)),
        click.option("--reps", default=10, show_default=True, help="Replications (minimum with --precision)."),
        click.option("--seed", default=0, show_default=True, help="Seed of the run."),
        click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                     help="Override a model field by dotted path (repeatable)."),
        click.option("--precision", type=float, default=None,
                     help="Add replications until the primary metric's relative 95%% half-width is at most this."),
        click.option("--max-reps", type=int, default=None, help="Replication limit for --precision (default 1000)."),
        click.option("--metric", default="violation_rate", show_default=True, help="Primary metric for --precision."),
        click.option("--workers", type=int, default=1, show_default=True,
                     help="Processes to run replications on (0 = all cores)."),
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
        click.option("--engine", type=click.Choice(["des", "fast", "auto"]), default="des", show_default=True,
                     help="des: SimPy event loop; fast: vectorized (the model must qualify); "
                          "auto: fast only where the model qualifies (and says so)."),
        click.option("--estimator", type=click.Choice(["plain", "conditional"]), default="plain",
                     show_default=True,
                     help="conditional: exact conflict probability per use instead of 0/1 (fast engine only)."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def _engine_note(results: dict[str, Any], engine: str) -> str:
    """One line saying which engine ran each strategy (with ``auto``: and why)."""
    if engine == "des":
        return ""
    parts = [f"{label}={r.engine}" + (f" ({r.engine_reason})" if engine == "auto" else "")
             for label, r in results.items()]
    return "engine: " + "; ".join(parts)


def check_out(out: Path | None) -> None:
    """Refuse an ``--out`` name we cannot write before any simulation runs."""
    if out is not None and out.suffix not in (".csv", ".parquet"):
        raise SpecError(f"--out {out}: expected a .csv or .parquet file name")


def _executor(workers: int) -> Any:
    if workers == 1:
        return None
    import os
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers if workers > 0 else os.cpu_count())


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


def bundled_models() -> list[tuple[str, str]]:
    """(path, one-line description) of each bundled model."""
    import tomllib

    rows = []
    for path in sorted(MODELS_DIR.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            description = str(data.get("model", {}).get("description", "")).strip().splitlines()[0:1]
        except (tomllib.TOMLDecodeError, OSError):
            description = ["(unreadable)"]
        rows.append((str(path.relative_to(MODELS_DIR.parent)), description[0] if description else ""))
    return rows


@main.command()
def models() -> None:
    """List the bundled models with a one-line description."""
    rows = bundled_models()
    width = max((len(p) for p, _ in rows), default=0)
    for path, description in rows:
        click.echo(f"{path:<{width}}  {description}")


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


from toctou_sim.cli_staleness import staleness as _staleness  # noqa: E402

main.add_command(_staleness)

from toctou_sim.cli_sweep import sweep as _sweep_command  # noqa: E402

main.add_command(_sweep_command)

from toctou_sim.cli_report import report_command, trace_command  # noqa: E402

main.add_command(report_command)
main.add_command(trace_command)

from toctou_sim.cli_explore import explore_command  # noqa: E402

main.add_command(explore_command)

if __name__ == "__main__":  # pragma: no cover
    main()
