"""The ``toctou-sim`` command line: argument parsing and printing, nothing else.

Exit codes: 0 ok; 2 bad input (one line on stderr naming the file, the field and what was
expected); 1 an internal error (a bug: the traceback is shown).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from toctou_sim.cli.args import MODEL, parse_sets
from toctou_sim.cli.options import REPS, SEED, WORKERS, FiniteFloat, safety_options
from toctou_sim.cli.report import report_command, trace_command
from toctou_sim.cli.staleness import staleness as _staleness
from toctou_sim.cli.sweep import sweep as _sweep_command
from toctou_sim.core.limits import check_out_file, echo, terminal_text, worker_count
from toctou_sim.spec.model import SpecError

__all__ = ["main", "parse_sets"]

F = TypeVar("F", bound=Callable[..., Any])


class _Group(click.Group):
    """Turns :class:`SpecError` (bad input) and click's usage errors (a bad option value) into
    exit code 2 and one line on stderr."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpecError as exc:
            click.echo(f"error: {_flag_names(terminal_text(str(exc)))}", err=True)
            ctx.exit(2)
        except click.UsageError as exc:
            command = f" {exc.ctx.command_path}" if exc.ctx is not None else ""
            message = " ".join(terminal_text(exc.format_message()).split())
            click.echo(f"error: {message} (see{command} -h)", err=True)
            ctx.exit(2)


_FLAGS = {"pass max_ops": "pass --max-ops", "pass max_memory": "pass --max-memory"}


def _flag_names(message: str) -> str:
    """The library's argument names in a message, as this command line's flags."""
    for argument, flag in _FLAGS.items():
        message = message.replace(argument, flag)
    name, colon, rest = message.partition(":")
    if colon and name in _ARGUMENTS:
        message = "--" + name.replace("_", "-") + colon + rest
    return message


_ARGUMENTS = frozenset({"seed", "reps", "max_reps", "precision", "metric", "strategies", "batch", "workers",
                        "max_ops", "max_memory", "confidence", "trials", "k_max"})
"""Library arguments a message may start with (``reps: must be >= 1``): shown as ``--reps``."""


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM: stop this process's worker processes now (wherever the main thread is, even
    while a pool is starting), then unwind as Ctrl-C does."""
    import multiprocessing

    global _TERMINATED
    _TERMINATED = True
    for child in multiprocessing.active_children():
        child.terminate()
    raise KeyboardInterrupt


_TERMINATED = False
"""Set when SIGTERM arrived: :func:`entry` then skips the interpreter's final clean-up."""


def entry() -> None:
    """The ``toctou-sim`` program: :func:`main`, and after an interrupt (SIGTERM, or exit code 130)
    an immediate exit once the output is flushed: the workers are already stopped and the
    sweep's files written, and the interpreter's final garbage collection of a large heap can
    take seconds."""
    import os

    try:
        main()
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    if _TERMINATED or code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 1)
    sys.exit(code)


def _on_sigterm(ctx: click.Context) -> None:
    """Make SIGTERM behave like SIGINT (KeyboardInterrupt: workers stopped, sweep parts kept)
    while a command runs; the previous handler is restored afterwards."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="toctou-sim")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Simulate time-of-check-to-time-of-use windows and what mitigations cost."""
    _on_sigterm(ctx)
    import warnings

    from toctou_sim.spec.sanity import ModelWarning

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
        click.option("--reps", type=REPS, default=10, show_default=True,
                     help="Replications (minimum with --precision)."),
        click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the run (>= 0)."),
        click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                     help="Override a model field by dotted path (repeatable)."),
        click.option("--precision", type=FiniteFloat(0, 1, open_low=True, open_high=True), default=None,
                     help="Add replications until the primary metric's relative 95% half-width is at most this."),
        click.option("--max-reps", type=REPS, default=None, help="Replication limit for --precision (default 1000)."),
        click.option("--metric", default="violation_rate", show_default=True, help="Primary metric for --precision."),
        click.option("--workers", type=WORKERS, default=0, show_default=True,
                     help="Processes to run replications on (0 = all cores; at most one per core and task)."),
        click.option("--json", "as_json", is_flag=True, help="Print machine-readable results."),
        click.option("--out", type=click.Path(path_type=Path), default=None,
                     help="Also write the tidy table to a .csv or .parquet file."),
        click.option("--all-metrics", is_flag=True, help="Show every metric in the table."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return safety_options(function)


def engine_options(function: F) -> F:
    """``--engine`` and ``--estimator`` (the fast path and conditional Monte Carlo)."""
    decorators = [
        click.option("--engine", type=click.Choice(["des", "fast", "auto"]), default="auto", show_default=True,
                     help="des: SimPy event loop; fast: the compiled event kernel, same numbers (the model "
                          "must qualify); auto: fast wherever the model qualifies (and says so)."),
        click.option("--estimator", type=click.Choice(["plain", "conditional", "episodes"]), default="plain",
                     show_default=True,
                     help="conditional: exact conflict probability per use instead of 0/1 (fast engine only); "
                          "episodes: harms per fault episode x episodes per operation (DES; one fault with a rate)."),
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
    """Refuse an ``--out`` file we cannot write (wrong suffix, missing or unwritable folder, a
    folder) before any simulation runs."""
    check_out_file(out, "--out", (".csv", ".parquet"))


@contextmanager
def executor_for(workers: int, tasks: int) -> Iterator[Any]:
    """``None`` (in process) or a local pool of ``min(workers or cores, cores, tasks)`` processes
    that exit with this one; an interrupt terminates them at once."""
    from toctou_sim.experiment.executors import local_pool

    count = worker_count(workers, tasks, "--workers")
    if count == 1:
        yield None
        return
    with local_pool(count) as pool:
        yield pool


def _emit(frame: Any, *, as_json: bool, out: Path | None, all_metrics: bool, header: str, footer: str) -> None:
    from toctou_sim.reporting.present import comparison_table, results_json, shown_metrics, write_table

    if out is not None:
        write_table(frame, out)
    if as_json:
        echo(results_json(frame))
        return
    echo(header)
    echo(comparison_table(frame, None if all_metrics else shown_metrics(frame)))
    if footer:
        echo(footer)
    if out is not None:
        echo(f"wrote {out}")


@main.command()
@model_options
@engine_options
@click.option("--strategy", default=None, help="Run this strategy instead of the model's own.")
def run(model: Path, reps: int, seed: int, sets: tuple[str, ...], precision: float | None, max_reps: int | None,
        metric: str, workers: int, as_json: bool, out: Path | None, all_metrics: bool, quiet: bool,
        max_ops: float | None, max_memory: float | None, data_dirs: tuple[Path, ...],
        engine: str, estimator: str, strategy: str | None) -> None:
    """Simulate MODEL with its strategy and print estimates with 95% CIs."""
    from toctou_sim.experiment.montecarlo import simulate
    from toctou_sim.spec.model import load_model

    check_out(out)
    spec = load_model(model, parse_sets(sets), data_dirs=data_dirs)
    if strategy is not None:
        spec = spec.with_strategy(strategy)
    from toctou_sim.experiment.montecarlo import budget_check

    budget_check([spec], _limit(reps, precision, max_reps), max_ops, max_memory)
    with executor_for(workers, _limit(reps, precision, max_reps)) as executor:
        result = simulate(spec, reps=reps, seed=seed, precision=precision, max_reps=max_reps,
                          metric=metric, executor=executor, progress=not (quiet or as_json) and sys.stderr.isatty(),
                          engine=engine, estimator=estimator, max_ops=max_ops, max_memory=max_memory)
    header = (f"{spec.model.name}: strategy {result.strategy}, seed {seed}, {result.n_reps} replications "
              f"(the harm: {spec.harm})")
    if estimator == "episodes":
        from toctou_sim.experiment.episodes import describe

        names = (metric, "harm_rate", "harms_per_episode", "episodes_per_op", "baseline_harm_rate")
        shown = {name: result.estimate(name) for name in names if name in result.metric_names}
        echo_later = describe(shown, metric if metric in ("harm_rate", "violation_rate") else "harm_rate")
    else:
        echo_later = ""
    footer = "\n".join(n for n in (echo_later, _stop_note(result.stopped_by, precision, metric),
                                   _engine_note({result.strategy: result}, engine),
                                   retry_note({result.strategy: result.model})) if n)
    _emit(result.to_frame(), as_json=as_json, out=out, all_metrics=all_metrics, header=header, footer=footer)


def _limit(reps: int, precision: float | None, max_reps: int | None) -> int:
    """The most replications per strategy a run may take (``StoppingRule.limit``)."""
    if precision is None:
        return reps
    return max(reps, max_reps) if max_reps else max(reps, 1000)


def retry_note(models: dict[str, Any]) -> str:
    """One line saying how each strategy that retries retries, so a comparison shows its terms."""
    from toctou_sim.core.units import format_duration

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
            quiet: bool, max_ops: float | None, max_memory: float | None, data_dirs: tuple[Path, ...],
            engine: str, estimator: str, strategies: str | None, baseline: str | None) -> None:
    """Compare strategies on MODEL with common random numbers, side by side."""
    from toctou_sim.experiment.montecarlo import compare as run_compare
    from toctou_sim.spec.model import load_model

    check_out(out)
    spec = load_model(model, parse_sets(sets), data_dirs=data_dirs)
    names = strategy_names(strategies) if strategies is not None else spec.default_strategies()
    from toctou_sim.experiment.montecarlo import budget_check

    limit = _limit(reps, precision, max_reps)
    budget_check([spec.with_strategy(n) for n in names], limit, max_ops, max_memory)
    with executor_for(workers, limit * len(names)) as executor:
        result = run_compare(spec, names, reps=reps, seed=seed, baseline=baseline, precision=precision,
                             max_reps=max_reps, metric=metric, executor=executor,
                             progress=not (quiet or as_json) and sys.stderr.isatty(), engine=engine,
                             estimator=estimator, max_ops=max_ops, max_memory=max_memory)
    header = (f"{spec.model.name}: {', '.join(names)} on common random numbers, seed {seed} "
              f"(the harm: {spec.harm})")
    stopped = next(iter(result.results.values())).stopped_by
    footer = "\n".join(n for n in (_stop_note(stopped, precision, metric), _engine_note(result.results, engine),
                                   retry_note({k: r.model for k, r in result.results.items()})) if n)
    _emit(result.to_frame(), as_json=as_json, out=out, all_metrics=all_metrics, header=header, footer=footer)


def strategy_names(text: str) -> list[str]:
    """``--strategies a,b``: the names, none empty and none twice."""
    from toctou_sim.experiment.montecarlo import unique_strategies

    try:
        return unique_strategies([s.strip() for s in text.split(",") if s.strip()])
    except SpecError as exc:
        raise SpecError(f"--{exc}") from None


@main.command()
@click.option("--paths", is_flag=True, help="Print each model's file instead of its name.")
def models(paths: bool) -> None:
    """List the bundled models (run one by name: toctou-sim run flash_sale)."""
    from toctou_sim.spec.bundled import bundled_models

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

    from toctou_sim.spec.bundled import starting_model
    from toctou_sim.spec.model import parse_model

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

    from toctou_sim.spec.schema import model_file_schema

    text = json.dumps(model_file_schema(), indent=2, sort_keys=True) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")


@main.command()
@click.option("--seed", type=SEED, default=1, show_default=True)
@click.option("--confidence", type=FiniteFloat(0, 1, open_low=True, open_high=True), default=0.99,
              show_default=True, help="Confidence of the intervals theory must fall in.")
@click.option("--scale", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Multiply replications (tighter checks, longer run).")
@click.option("--oracle", "names", multiple=True, help="Run only this oracle (repeatable).")
@click.option("--json", "as_json", is_flag=True)
def validate(seed: int, confidence: float, scale: int, names: tuple[str, ...], as_json: bool) -> None:
    """Check the simulator against closed forms; exit 1 if any check fails."""
    from toctou_sim.reporting.present import results_json
    from toctou_sim.validation.oracles import run_oracles

    frame = run_oracles(seed=seed, confidence=confidence, scale=scale, names=list(names) or None)
    if as_json:
        echo(results_json(frame))
    else:
        shown = frame.assign(result=frame["passed"].map({True: "pass", False: "FAIL"})).drop(columns=["passed"])
        echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        echo(f"{int(frame['passed'].sum())} of {len(frame)} checks passed "
                   f"(theory inside the simulation's {confidence:.0%} CI)")
    if not frame["passed"].all():
        sys.exit(1)


main.add_command(_staleness)
main.add_command(_sweep_command)
main.add_command(report_command)
main.add_command(trace_command)

from toctou_sim.cli.fit import fit_command  # noqa: E402

main.add_command(fit_command)

from toctou_sim.cli.capacity import headroom_command, sensitivity_command, timeline_command  # noqa: E402

main.add_command(timeline_command)
main.add_command(headroom_command)
main.add_command(sensitivity_command)

from toctou_sim.cli.explore import explore_command  # noqa: E402

main.add_command(explore_command)

if __name__ == "__main__":  # pragma: no cover
    entry()
