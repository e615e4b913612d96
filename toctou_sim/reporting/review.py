"""The design-review bundle: run the comparison, decide, chart, and write the page.

``report(model, out)`` runs the strategies on common random numbers (and a small sweep when a
grid is given), then writes to ``out``:

- ``report.html``: self-contained (charts embedded as PNG data), with the results table, the
  error budget per strategy, when each burn-rate alert fires, the model as given, seed and
  version, and a recommendation;
- ``*.png`` / ``*.svg``: each chart; ``results.csv`` (tidy estimates), ``sweep.csv`` (with a
  grid), ``trace.json`` (a short traced run of the baseline, for Perfetto).

This module wires the roles together; each lives in a module of its own:

- :mod:`toctou_sim.reporting.verdict`: the decision (which strategy qualifies and is cheapest,
  why every other fails, what would make it pass), on numbers only;
- :mod:`toctou_sim.reporting.tables`: the results, error-budget, alert and headroom tables;
- :mod:`toctou_sim.reporting.grid`: the optional grid sweep;
- :mod:`toctou_sim.reporting.charts`: which charts, saved as PNG and SVG with their captions;
- :mod:`toctou_sim.reporting.page`: ``report.html`` from a Jinja2 template (autoescape on).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from toctou_sim.capacity.headroom import HeadroomResult
from toctou_sim.core.limits import csv_safe
from toctou_sim.experiment.montecarlo import ComparisonResult, compare, unique_strategies
from toctou_sim.experiment.settings import RunSettings
from toctou_sim.measure.budget import TimelineBudget, analyse_model_timeline
from toctou_sim.measure.metrics import Histogram
from toctou_sim.reporting.tables import alert_table, budget_table, results_table
from toctou_sim.reporting.verdict import Recommendation, recommend, what_would_pass
from toctou_sim.spec.model import ModelSpec, load_model

if TYPE_CHECKING:
    from toctou_sim.capacity.sensitivity import SensitivityResult

__all__ = ["ReportResult", "report"]


@dataclass
class ReportResult:
    """What :func:`report` wrote and concluded."""

    out: Path
    html: Path
    files: list[Path]
    recommendation: Recommendation
    comparison: ComparisonResult
    frame: pd.DataFrame
    sweep: pd.DataFrame | None = None
    headroom: dict[str, HeadroomResult] | None = None
    """Each strategy's headroom at the modelled load (``None`` when not asked for)."""
    sensitivity: list[SensitivityResult] | None = None
    """The sensitivity analyses, the baseline's then the recommended strategy's (``None`` when not
    asked for)."""


def report(
    model: ModelSpec | str | Path,
    out: str | Path,
    *,
    strategies: Sequence[str] | None = None,
    reps: int = 10,
    seed: int = 0,
    baseline: str | None = None,
    overrides: dict[str, Any] | None = None,
    grid: Mapping[str, Sequence[str]] | None = None,
    grid_reps: int | None = None,
    trace_ops: int = 400,
    executor: Executor | None = None,
    progress: bool = False,
    max_ops: float | None = None,
    max_memory: float | None = None,
    headroom: bool = True,
    sensitivity: bool = False,
    sensitivity_n: int = 32,
    on_verdict: Callable[[Recommendation], None] | None = None,
    settings: RunSettings | None = None,
) -> ReportResult:
    """Run the comparison (and a sweep over ``grid``), write the design-review bundle to ``out``.

    Args:
        model: a validated model or a model file path.
        out: the folder to write into (created).
        strategies: strategy names (default: the model's own set: ``none``, its ``[strategy]``
            and its ``[strategies.*]``); the baseline is ``none`` when present, else the first.
        reps, seed: replications per strategy, and the run's seed.
        baseline: the strategy latency is paired against.
        overrides: model fields by dotted path, applied before anything runs.
        grid: ``{path: [v1, v2, ...]}``: also sweep these fields (every combination) and chart
            the rates against the first one.
        grid_reps: replications per grid point (default: ``reps``).
        trace_ops: operations in the traced run of the baseline (0: no trace); the chart shows 60 of
            them, starting a little before the first violation.
        executor: any ``concurrent.futures.Executor`` for the replications.
        progress: show a progress bar.
        max_ops, max_memory: the budget of the comparison and of the grid sweep, each checked
            before it runs (see :func:`toctou_sim.core.limits.check_budget`).
        headroom: also find each strategy's headroom at the modelled load
            (:func:`toctou_sim.capacity.headroom.report_headroom`: a coarse load sweep, 2 replications per
            load), shown in the verdict, the results table and a section of its own, and written to
            ``headroom.csv``.
        sensitivity: also rank the model's parameters by their effect on the harm rate and the
            error rate (:func:`toctou_sim.capacity.sensitivity.sensitivity`, ``sensitivity_n`` Latin
            hypercube samples, the recommended strategy or else the baseline), as a chart.
        on_verdict: called with the recommendation as soon as it is decided, before the headroom
            sweep, the charts and the page (which take most of a report's time): the command line
            prints the verdict then.
        settings: how to run the comparison, in one
            :class:`~toctou_sim.experiment.settings.RunSettings` (give it or the keywords ``reps``,
            ``seed``, ``executor``, ``progress``, ``max_ops`` and ``max_memory``, not both). The
            comparison honours all of it (``precision``, ``engine``, ...); the grid, the headroom
            and sensitivity sweeps and the trace take its seed and executor.
    """
    import toctou_sim.reporting.charts as charts  # matplotlib and Jinja2 load only when a report is written
    import toctou_sim.reporting.plots as plots
    from toctou_sim.experiment.montecarlo import _as_model
    from toctou_sim.reporting.grid import axis_label, run_grid
    from toctou_sim.reporting.page import render_report
    from toctou_sim.version import __version__
    from toctou_sim.world.tracing import trace_replication

    run = RunSettings.resolve(settings, report, reps=reps, seed=seed, executor=executor, progress=progress,
                              max_ops=max_ops, max_memory=max_memory)
    reps, seed, executor = run.reps, run.seed, run.executor
    spec = _as_model(model if isinstance(model, ModelSpec) else load_model(model), overrides)
    names = unique_strategies(strategies or spec.default_strategies())
    base = baseline if baseline is not None else ("none" if "none" in names else names[0])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = compare(spec, names, settings=run, baseline=base)
    frame = result.to_frame()
    files: list[Path] = []
    csv = out / "results.csv"
    csv_safe(frame).to_csv(csv, index=False)
    files.append(csv)

    recommendation = recommend(frame, spec.slo, base, harm=spec.harm)
    if recommendation.chosen is None:
        recommendation = what_would_pass(spec, names, recommendation, reps=reps, seed=seed, executor=executor,
                                         progress=run.progress)
    if on_verdict is not None:
        on_verdict(recommendation)
    headrooms = None
    if headroom:
        from toctou_sim.capacity.headroom import report_headroom

        headrooms = report_headroom(result, executor=executor)
        headroom_csv = out / "headroom.csv"
        csv_safe(pd.concat([h.to_frame() for h in headrooms.values()], ignore_index=True)).to_csv(
            headroom_csv, index=False)
        files.append(headroom_csv)
    palette = sorted(set(names) | set(frame["strategy"].astype(str)))  # every chart colours a strategy alike
    analysed = None
    sensitivity_chart = None
    if sensitivity:
        from toctou_sim.capacity.sensitivity import sensitivity as analyse

        focus = list(dict.fromkeys([base, *([recommendation.chosen] if recommendation.chosen else [])]))
        analysed = [analyse(spec, name, n=sensitivity_n, seed=seed, executor=executor) for name in focus]
        sensitivity_csv = out / "sensitivity.csv"
        csv_safe(pd.concat([a.to_frame() for a in analysed], ignore_index=True)).to_csv(sensitivity_csv, index=False)
        files.append(sensitivity_csv)
        with plots.strategy_palette(palette):
            sensitivity_chart = charts.sensitivity_chart(analysed, out)
        files.extend(sensitivity_chart.files)
    views = _timelines(result)

    sweep_frame = None
    sweep_chart = None
    if grid:
        sweep_frame = run_grid(spec, grid, names, reps=grid_reps or reps, seed=seed, executor=executor,
                               max_ops=run.max_ops, max_memory=run.max_memory)
        sweep_csv = out / "sweep.csv"
        csv_safe(sweep_frame).to_csv(sweep_csv, index=False)
        files.append(sweep_csv)
        parameter = next(iter(grid))
        sweep_chart = (parameter, axis_label(parameter, grid[parameter]), sweep_frame)
    with plots.strategy_palette(palette):
        figures = charts.summary_charts(model=spec, frame=frame, views=views, histograms=_merged_histograms(result),
                                        out=out, sweep=sweep_chart)
    files.extend(path for chart in figures for path in chart.files)
    if trace_ops > 0:
        trace = trace_replication(spec.with_strategy(base), seed=seed, max_ops=trace_ops)
        trace_path = out / "trace.json"
        trace_path.write_text(json.dumps(trace.to_chrome(__version__)), encoding="utf-8")
        files.append(trace_path)
        chosen = recommendation.chosen
        chosen_trace = None
        if chosen is not None and chosen != base:
            chosen_trace = (chosen, trace_replication(spec.with_strategy(chosen), seed=seed, max_ops=trace_ops))
        with plots.strategy_palette(palette):
            traced = charts.trace_charts(trace, base, out, chosen_trace)
        figures += traced
        files.extend(path for chart in traced for path in chart.files)

    html_path = out / "report.html"
    html_path.write_text(
        render_report(
            model=spec,
            comparison=result,
            recommendation=recommendation,
            results=results_table(frame, headroom=headrooms),
            budget=budget_table(frame, spec.slo),
            alerts=alert_table(views),
            charts=figures,
            reps=reps,
            seed=seed,
            version=__version__,
            files=files,
            headroom=headrooms,
            sensitivity=analysed,
            sensitivity_chart=sensitivity_chart,
        ),
        encoding="utf-8",
    )
    return ReportResult(
        out=out,
        html=html_path,
        files=[html_path, *files],
        recommendation=recommendation,
        comparison=result,
        frame=frame,
        sweep=sweep_frame,
        headroom=headrooms,
        sensitivity=analysed,
    )


def _merged_histograms(result: ComparisonResult) -> dict[str, dict[str, Histogram]]:
    """Each strategy's streaming histograms, merged over its replications."""
    merged: dict[str, dict[str, Histogram]] = {}
    for strategy, simulation in result.results.items():
        hists: dict[str, Histogram] = {}
        for replication in simulation.replications:
            for name, histogram in replication.histograms.items():
                hists.setdefault(name, Histogram()).merge(histogram)
        merged[strategy] = hists
    return merged


def _timelines(result: ComparisonResult) -> dict[str, list[TimelineBudget]]:
    """Each strategy's error-budget timeline, one per replication that recorded one."""
    views: dict[str, list[TimelineBudget]] = {}
    for strategy, simulation in result.results.items():
        model = simulation.model
        views[strategy] = [
            analyse_model_timeline(r.timeline, model)
            for r in simulation.replications
            if r.timeline is not None
        ]
    return views
