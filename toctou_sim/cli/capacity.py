"""The ``toctou-sim timeline``, ``headroom`` and ``sensitivity`` commands: load over time on a
finite service (retry storms), the highest sustainable load of each strategy, and which parameters
matter most for the harm and the error budget."""

from __future__ import annotations

import math
from pathlib import Path

import click

from toctou_sim.cli.args import MODEL, files_backend, parse_sets, strategy_names
from toctou_sim.cli.options import REPS, SEED, WORKERS
from toctou_sim.spec.model import SpecError

__all__ = ["headroom_command", "sensitivity_command", "timeline_command"]


@click.command("timeline")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--strategies", default=None, help="Comma-separated strategies (default: the model's own).")
@click.option("--service", default="store", show_default=True, help="The finite service to chart.")
@click.option("--seed", default=0, show_default=True, help="Seed of the run.")
@click.option("--replication", default=0, show_default=True, help="Which replication of the seed.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Override a model field (repeatable).")
@click.option("--chart", type=click.Path(path_type=Path), default=None,
              help="Write the chart as STEM.png and STEM.svg.")
@click.option("--json", "as_json", is_flag=True, help="Print the per-bin rows as JSON.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Also write the rows (.csv/.parquet).")
def timeline_command(model: Path, strategies: str | None, service: str, seed: int, replication: int,
                     sets: tuple[str, ...], chart: Path | None, as_json: bool, out: Path | None) -> None:
    """Offered load, retries, goodput and errors over simulated time on MODEL's finite service,
    one replication per strategy (common random numbers): does the system recover after a spike?"""
    from toctou_sim.capacity.headroom import load_spikes, load_timeline, service_capacity
    from toctou_sim.reporting.present import results_json, write_table
    from toctou_sim.spec.model import load_model

    spec = load_model(model, parse_sets(sets))
    names = strategy_names(strategies) if strategies is not None else None
    frame = load_timeline(spec, names, service=service, seed=seed, replication=replication)
    if out is not None:
        write_table(frame, out)
    if chart is not None:
        from toctou_sim.reporting.plots import plot_load_timeline, save

        figure = plot_load_timeline(frame, capacity=service_capacity(spec, service), spans=load_spikes(spec),
                                    title=f"{spec.model.name}: load on the {service} over time (seed {seed})")
        paths = save(figure, chart)
    if as_json:
        click.echo(results_json(frame))
        return
    capacity = service_capacity(spec, service)
    click.echo(f"{spec.model.name}: {service} capacity {capacity:.4g} calls/s; per bin: offered, retried and "
               "wasted calls/s, ok ops/s, error rate")
    for strategy, group in frame.groupby("strategy", sort=False):
        click.echo(f"{strategy}:")
        every = max(1, math.ceil(len(group) / 30))
        for row in group.iloc[::every].to_dict(orient="records"):
            rate = float(row["error_rate"])
            errors = "    -" if math.isnan(rate) else f"{rate:5.2f}"
            click.echo(f"  t={row['time_s']:8.0f}s  offered {row['offered_per_s']:8.1f}  "
                       f"retried {row['retries_per_s']:8.1f}  wasted {row['wasted_per_s']:8.1f}  "
                       f"ok {row['ok_per_s']:8.1f}  errors {errors}")
    for path in ([] if chart is None else paths) + ([] if out is None else [out]):
        click.echo(f"wrote {path}")


@click.command("headroom")
@click.argument("model", type=MODEL)
@click.option("--strategies", default=None, help="Comma-separated strategies (default: the model's own).")
@click.option("--reps", type=REPS, default=3, show_default=True, help="Replications per load.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the run (the same at every load).")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Override a model field (repeatable).")
@click.option("--p99", "p99_limit", default=None, metavar="DURATION",
              help="p99 latency limit (default: slo.latency_threshold, else none).")
@click.option("--error-budget", type=float, default=None, help="Largest healthy error rate (default 1 - slo.target).")
@click.option("--error-metric", default="error_rate", show_default=True,
              help="The rate held to the budget (e.g. abort_rate to leave violations out).")
@click.option("--max-multiplier", default=8.0, show_default=True, help="Highest load tried, x today's.")
@click.option("--json", "as_json", is_flag=True, help="Print every load simulated as JSON.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Also write the rows (.csv/.parquet).")
@click.option("--workers", type=WORKERS, default=0, show_default=True,
              help="Processes (0 = all cores; at most one per core and replication of a load).")
def headroom_command(model: Path, strategies: str | None, reps: int, seed: int, sets: tuple[str, ...],
                     p99_limit: str | None, error_budget: float | None, error_metric: str, max_multiplier: float,
                     as_json: bool, out: Path | None, workers: int) -> None:
    """The highest arrival rate each strategy sustains on MODEL: a load sweep that stops at the
    knee (p99 over its limit, errors over budget, or a saturated service)."""
    import pandas as pd

    from toctou_sim.capacity.headroom import headroom
    from toctou_sim.core.units import parse_duration
    from toctou_sim.experiment.executors import local_executor
    from toctou_sim.experiment.settings import RunSettings
    from toctou_sim.reporting.present import results_json, write_table
    from toctou_sim.spec.model import load_model

    spec = load_model(model, parse_sets(sets))
    try:
        limit = parse_duration(p99_limit) if p99_limit is not None else None
    except ValueError as exc:
        raise SpecError(f"--p99: {exc}") from None
    names = strategy_names(strategies) if strategies is not None else [spec.strategy.label or spec.strategy.kind]
    with local_executor(workers, reps) as executor:
        settings = RunSettings(reps=reps, seed=seed, executor=executor)
        results = [headroom(spec, name, p99_limit=limit, error_budget=error_budget, error_metric=error_metric,
                            max_multiplier=max_multiplier, settings=settings) for name in names]
    frame = pd.concat([result.to_frame() for result in results], ignore_index=True)
    if out is not None:
        write_table(frame, out)
    if as_json:
        summary = [{"strategy": r.strategy, "headroom": r.headroom, "knee_rate": r.knee_rate, "broke_by": r.broke_by}
                   for r in results]
        click.echo(results_json(frame, headroom=summary))
        return
    first = results[0]
    limit_text = "none" if math.isinf(first.p99_limit_ms) else f"{first.p99_limit_ms:.4g} ms"
    click.echo(f"{spec.model.name}: today's load {first.arrival_rate:.4g} ops/s; healthy = p99 <= {limit_text}, "
               f"{error_metric} <= {first.error_budget:.4g}, no saturated service ({reps} reps per load, seed {seed})")
    for result in results:
        click.echo(f"  {result.summary()}")
    if out is not None:
        click.echo(f"wrote {out}")


@click.command("sensitivity")
@click.argument("model", type=MODEL)
@click.option("--strategy", default=None, help="The strategy to analyse (default: the model's own).")
@click.option("--param", "params", multiple=True, metavar="PATH=LOW:HIGH",
              help="A parameter and its range: numbers, durations (10ms:200ms) or multipliers of today's value "
                   "(x0.5:x2, which also scale a whole distribution or the arrival process); repeatable. "
                   "Default: x0.5:x2 of the load, the window, the store latencies, mutator rates and TTLs.")
@click.option("--n", "n", type=click.IntRange(4, 100_000), default=64, show_default=True,
              help="Latin hypercube points.")
@click.option("--reps", type=REPS, default=1, show_default=True, help="Replications per point.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the sample and the runs.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Override a model field (repeatable).")
@click.option("--chart", type=click.Path(path_type=Path), default=None,
              help="Write the bar chart as STEM.png and STEM.svg (default: sensitivity-<model name>).")
@click.option("--json", "as_json", is_flag=True, help="Print the indices as JSON.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Also write the sample and its outputs (.csv/.parquet).")
@click.option("--workers", type=WORKERS, default=0, show_default=True,
              help="Processes (0 = all cores; at most one per core and task).")
def sensitivity_command(model: Path, strategy: str | None, params: tuple[str, ...], n: int, reps: int, seed: int,
                        sets: tuple[str, ...], chart: Path | None, as_json: bool, out: Path | None,
                        workers: int) -> None:
    """Which parameters matter most for MODEL's harm rate and error rate: PAWN sensitivity indices
    (SALib) over a Latin hypercube sample, as a ranked table and a bar chart."""
    from toctou_sim.capacity.sensitivity import Parameter, sensitivity
    from toctou_sim.core.limits import check_out_file
    from toctou_sim.experiment.executors import local_executor
    from toctou_sim.experiment.settings import RunSettings
    from toctou_sim.reporting.present import results_json, write_table
    from toctou_sim.spec.model import load_model

    parameters = [Parameter.parse(text) for text in params] or None
    spec = load_model(model, parse_sets(sets))
    if chart is None:
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in spec.model.name).strip("-.") or "model"
        chart = Path(f"sensitivity-{safe}")
    check_out_file(chart.with_suffix(".png"), "--chart")
    with local_executor(workers, n * reps) as executor:
        result = sensitivity(spec, strategy, parameters, n=n,
                             settings=RunSettings(reps=reps, seed=seed, executor=executor))
    if out is not None:
        write_table(result.samples, out)
    files_backend()
    from toctou_sim.reporting.plots import plot_sensitivity, save

    paths = save(plot_sensitivity([result]), chart, close=True)
    if as_json:
        click.echo(results_json(result.to_frame()))
        return
    click.echo(f"{spec.model.name}, {result.strategy}: PAWN index of each parameter (0: no effect, 1: decisive; "
               f"chance reaches {result.chance('harm'):.2f} on the harm, {result.chance('error_rate'):.2f} on the "
               f"error rate, 95%); {n} Latin hypercube points, {reps} replication(s) each, seed {seed}")
    click.echo(result.table().to_string(index=False))
    for path in paths + ([] if out is None else [out]):
        click.echo(f"wrote {path}")
