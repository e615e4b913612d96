"""``toctou-sim report`` and ``toctou-sim trace``: parsing and printing only."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from toctou_sim.spec import SpecError

__all__ = ["report_command", "trace_command"]


@click.command("report")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder to write the bundle into (default: report-<model name> in the current folder).")
@click.option(
    "--strategies",
    default=None,
    help="Comma-separated strategy names ([strategies] entries of the model, or kinds); "
         "default: none, the model's [strategy] and its [strategies.*].",
)
@click.option("--baseline", default=None, help="Strategy latency is paired against (default: none, else the first).")
@click.option("--reps", default=10, show_default=True, help="Replications per strategy.")
@click.option("--seed", default=0, show_default=True, help="Seed of the run.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Override a model field (repeatable).")
@click.option(
    "--grid",
    "grids",
    multiple=True,
    metavar="PATH=V1,V2",
    help="Also sweep a field over these values and chart the rates against it (repeatable).",
)
@click.option("--grid-reps", type=int, default=None, help="Replications per grid point (default: --reps).")
@click.option("--trace-ops", default=400, show_default=True, help="Operations in the traced run (0: none).")
@click.option("--workers", type=int, default=1, show_default=True, help="Processes (0 = all cores).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
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
    quiet: bool,
) -> None:
    """Run MODEL's comparison and write a design-review bundle (report.html, charts, CSV) to OUT."""
    from toctou_sim.cli import _executor, parse_sets
    from toctou_sim.cli_sweep import parse_grid
    from toctou_sim.reporting import report
    from toctou_sim.spec import load_model

    spec = load_model(model, parse_sets(sets))
    if out is None:
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in spec.model.name).strip("-.") or "model"
        out = Path(f"report-{safe}")
    names = [s.strip() for s in strategies.split(",") if s.strip()] if strategies is not None else None
    grid = parse_grid(grids) if grids else None
    executor = _executor(workers)
    try:
        result = report(
            spec,
            out,
            strategies=names,
            reps=reps,
            seed=seed,
            baseline=baseline,
            grid=grid,
            grid_reps=grid_reps,
            trace_ops=trace_ops,
            executor=executor,
            progress=not quiet and sys.stderr.isatty(),
        )
    finally:
        if executor is not None:
            executor.shutdown()
    click.echo(str(result.recommendation))
    click.echo(f"wrote {result.html} and {len(result.files) - 1} more files in {result.out}")


@click.command("trace")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The .json file to write.")
@click.option("--max-ops", default=200, show_default=True, help="Operations to trace.")
@click.option("--strategy", default=None, help="Trace this strategy instead of the model's own.")
@click.option("--seed", default=0, show_default=True)
@click.option("--replication", default=0, show_default=True)
@click.option("--start", default=None, help="Trace operations arriving from this instant (default: the warm-up).")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Override a model field (repeatable).")
@click.option(
    "--png",
    type=click.Path(path_type=Path),
    default=None,
    help="Also draw the timeline chart (.png and .svg next to it).",
)
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
) -> None:
    """Export one short replication of MODEL as Chrome trace-event JSON (open it in ui.perfetto.dev)."""
    from toctou_sim import __version__
    from toctou_sim.cli import parse_sets
    from toctou_sim.spec import load_model
    from toctou_sim.units import parse_duration
    from toctou_sim.world.tracing import trace_replication

    if max_ops < 1:
        raise SpecError(f"--max-ops: must be >= 1, got {max_ops}")
    if out.suffix != ".json":
        raise SpecError(f"--out {out}: expected a .json file name")
    try:
        begin = parse_duration(start) if start is not None else None
    except ValueError as exc:
        raise SpecError(f"--start: {exc}") from None
    spec = load_model(model, parse_sets(sets))
    if strategy is not None:
        spec = spec.with_strategy(strategy)
    trace = trace_replication(spec, seed=seed, replication=replication, max_ops=max_ops, start=begin)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(trace.to_chrome(__version__)), encoding="utf-8")
    violations = sum(op.violation for op in trace.ops)
    mismatches = sum(op.mismatch for op in trace.ops)
    click.echo(
        f"wrote {out}: {len(trace.ops)} operations ({mismatches} with a mismatch, {violations} violated), "
        f"{len(trace.instants)} instants; open it in https://ui.perfetto.dev"
    )
    if png is not None:
        from toctou_sim import plots

        paths = plots.save(plots.plot_trace(trace), png.with_suffix(""))
        click.echo(f"wrote {', '.join(str(p) for p in paths)}")
