"""``toctou-sim report`` and ``toctou-sim trace``: parsing and printing only."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from toctou_sim.cli.args import MODEL, files_backend, parse_grid, parse_sets, strategy_names
from toctou_sim.cli.common import engine_line
from toctou_sim.cli.options import REPS, SEED, WORKERS, safety_options
from toctou_sim.core.limits import MAX_REPS, echo
from toctou_sim.spec.model import SpecError

MAX_TRACE_OPS = 1_000_000
"""Most operations one trace records (a trace holds every event of every operation in memory)."""

__all__ = ["report_command", "trace_command"]


@click.command("report")
@click.argument("model", type=MODEL)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder to write the bundle into (default: report-<model name> in the current folder).")
@click.option(
    "--strategies",
    default=None,
    help="Comma-separated strategy names ([strategies] entries of the model, or kinds); "
         "default: none, the model's [strategy] and its [strategies.*].",
)
@click.option("--baseline", default=None, help="Strategy latency is paired against (default: none, else the first).")
@click.option("--reps", type=REPS, default=10, show_default=True, help="Replications per strategy.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the run (>= 0).")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Override a model field (repeatable).")
@click.option(
    "--grid",
    "grids",
    multiple=True,
    metavar="PATH=V1,V2",
    help="Also sweep a field over these values and chart the rates against it (repeatable).",
)
@click.option("--grid-reps", type=REPS, default=None, help="Replications per grid point (default: --reps).")
@click.option("--trace-ops", type=click.IntRange(0, MAX_TRACE_OPS), default=400, show_default=True,
              help="Operations in the traced run (0: none).")
@click.option("--workers", type=WORKERS, default=0, show_default=True,
              help="Processes (0 = all cores; at most one per core and task).")
@click.option("--force", is_flag=True, help="Write into --out even when it is a non-empty folder.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--no-headroom", "no_headroom", is_flag=True,
              help="Skip each strategy's headroom (a coarse load sweep, 2 replications per load).")
@click.option("--sensitivity", is_flag=True,
              help="Also rank the parameters by their effect on the harm and the error rate (PAWN over a Latin "
                   "hypercube; --sensitivity-n points per strategy, for the baseline and the recommended one).")
@click.option("--sensitivity-n", type=click.IntRange(4, 100_000), default=32, show_default=True,
              help="Latin hypercube points of --sensitivity.")
@safety_options
def report_command(
    model: Path,
    out: Path | None,
    strategies: str | None,
    baseline: str | None,
    reps: int,
    seed: int,
    sets: tuple[str, ...],
    grids: tuple[str, ...],
    grid_reps: int | None,
    trace_ops: int,
    workers: int,
    force: bool,
    quiet: bool,
    no_headroom: bool,
    sensitivity: bool,
    sensitivity_n: int,
    max_ops: float | None,
    max_memory: float | None,
    data_dirs: tuple[Path, ...],
) -> None:
    """Run MODEL's comparison and write a design-review bundle (report.html, charts, CSV) to OUT."""
    from toctou_sim.core.limits import check_out_folder
    from toctou_sim.experiment.executors import local_executor
    from toctou_sim.experiment.montecarlo import budget_check
    from toctou_sim.experiment.settings import RunSettings
    from toctou_sim.reporting.review import report
    from toctou_sim.spec.model import load_model
    from toctou_sim.sweeps.driver import plan_sweep

    spec = load_model(model, parse_sets(sets), data_dirs=data_dirs)
    if out is None:
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in spec.model.name).strip("-.") or "model"
        out = Path(f"report-{safe}")
    check_out_folder(out, "--out")
    names = strategy_names(strategies) if strategies is not None else spec.default_strategies()
    grid = parse_grid(grids) if grids else None
    check_folder(out, force)
    files_backend()
    budget_check([spec.with_strategy(n) for n in names], reps, max_ops, max_memory)
    if grid:  # validated and budgeted before the comparison runs
        plan_sweep(spec, grid=grid, strategies=names, reps=grid_reps or reps, seed=seed, max_ops=max_ops,
                   max_memory=max_memory)
    with local_executor(workers, reps * len(names)) as executor:
        settings = RunSettings(reps=reps, seed=seed, executor=executor, progress=not quiet and sys.stderr.isatty(),
                               max_ops=max_ops, max_memory=max_memory)
        result = report(
            spec,
            out,
            strategies=names,
            baseline=baseline,
            grid=grid,
            grid_reps=grid_reps,
            trace_ops=trace_ops,
            settings=settings,
            headroom=not no_headroom,
            sensitivity=sensitivity,
            sensitivity_n=sensitivity_n,
            on_verdict=lambda recommendation: echo(str(recommendation)),  # before the charts
        )
    if result.headroom:
        from toctou_sim.reporting.tables import headroom_line

        echo(headroom_line(result.headroom, spec.clients.arrival.poisson.rate))
    engines = {name: (r.engine, r.engine_reason) for name, r in result.comparison.results.items()}
    echo(engine_line(engines, "auto"))
    echo(f"wrote {result.html} and {len(result.files) - 1} more files in {result.out}")


def check_folder(out: Path, force: bool) -> None:
    """Refuse to write a bundle into a non-empty folder (stale files would mix in) unless ``--force``."""
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise SpecError(f"--out {out}: the folder is not empty; choose a new folder or add --force to write into it")


@click.command("trace")
@click.argument("model", type=MODEL)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The .json file to write.")
@click.option("--max-ops", type=click.IntRange(1, MAX_TRACE_OPS), default=200, show_default=True,
              help="Operations to trace.")
@click.option("--strategy", default=None, help="Trace this strategy instead of the model's own.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--replication", type=click.IntRange(0, MAX_REPS), default=0, show_default=True)
@click.option("--start", default=None, help="Trace operations arriving from this instant (default: the warm-up).")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Override a model field (repeatable).")
@click.option(
    "--png",
    type=click.Path(path_type=Path),
    default=None,
    help="Also draw the timeline chart (.png and .svg next to it).",
)
@click.option("--png-ops", default=60, show_default=True, help="Operations the --png chart draws (rows).")
@click.option("--data-dir", "data_dirs", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A folder besides the model's own that empirical files may be read from (repeatable).")
def trace_command(
    model: Path,
    out: Path,
    max_ops: int,
    strategy: str | None,
    seed: int,
    replication: int,
    start: str | None,
    sets: tuple[str, ...],
    png: Path | None,
    png_ops: int,
    data_dirs: tuple[Path, ...],
) -> None:
    """Export one short replication of MODEL as Chrome trace-event JSON (open it in ui.perfetto.dev)."""
    from toctou_sim.core.limits import RunEstimate, check_budget, check_out_file
    from toctou_sim.core.units import parse_duration
    from toctou_sim.spec.model import load_model
    from toctou_sim.spec.size import estimate_run
    from toctou_sim.version import __version__
    from toctou_sim.world.tracing import trace_replication

    if png_ops < 1:
        raise SpecError(f"--png-ops: must be >= 1, got {png_ops}")
    check_out_file(out, "--out", (".json",))
    if png is not None:
        check_out_file(png.with_suffix(".png"), "--png")
    try:
        begin = parse_duration(start) if start is not None else None
    except ValueError as exc:
        raise SpecError(f"--start: {exc}") from None
    spec = load_model(model, parse_sets(sets), data_dirs=data_dirs)
    if begin is not None and not 0 <= begin < spec.model.horizon:
        raise SpecError(f"--start: must be between 0 and the horizon ({spec.model.horizon:g}s), got {start}")
    if strategy is not None:
        spec = spec.with_strategy(strategy)
    # A trace stops after --max-ops operations: only the memory and the clock are budgeted.
    check_budget(RunEstimate(0.0, 0.0, estimate_run(spec).memory, 1.0))
    trace = trace_replication(spec, seed=seed, replication=replication, max_ops=max_ops, start=begin)
    out.write_text(json.dumps(trace.to_chrome(__version__)), encoding="utf-8")
    violations = sum(op.violation for op in trace.ops)
    mismatches = sum(op.mismatch for op in trace.ops)
    echo(
        f"wrote {out}: {len(trace.ops)} operations ({mismatches} with a mismatch, {violations} violated), "
        f"{len(trace.instants)} instants; open it in https://ui.perfetto.dev"
    )
    if png is not None:

        files_backend()
        import toctou_sim.reporting.plots as plots

        first, count = plots.trace_rows(trace, png_ops)
        paths = plots.save(plots.plot_trace(trace, max_rows=png_ops), png.with_suffix(""), close=True)
        shown = (f"all {count} operations" if count == len(trace.ops) else
                 f"{count} of {len(trace.ops)} operations (from op {trace.ops[first].index}, around the first "
                 "violation or mismatch; --png-ops to draw more)")
        echo(f"wrote {', '.join(str(p) for p in paths)}: the chart draws {shown}")
