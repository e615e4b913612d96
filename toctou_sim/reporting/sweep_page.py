"""A sweep's results where people look: the headline table (terminal and HTML) and ``sweep.html``.

The table has one row per configuration and strategy and the headline metrics across: harm
(``violation_rate``), the error budget (``burn_rate``), tail latency (``latency_p99_ms``) and
aborts (``abort_rate``), each in its unit with its 95% CI (:mod:`toctou_sim.reporting.present`).
The page (``sweep.html``, rendered from a Jinja2 template by :mod:`toctou_sim.reporting.page`)
embeds the sweep chart (:func:`toctou_sim.reporting.plots.plot_sweep`: lines with CI bands for
one parameter, small multiples for two, the best strategy per configuration for more) and the
table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

__all__ = ["HEADLINE", "headline_table", "write_sweep_page"]

HEADLINE = {
    "violation_rate": "harm (violations/op)",
    "burn_rate": "error budget (burn ×)",
    "latency_p99_ms": "p99 latency",
    "abort_rate": "aborts/op",
}
"""Metric -> column heading of a sweep's headline table."""


def headline_table(frame: pd.DataFrame, parameters: Sequence[str], strategies: Sequence[str],
                   primary: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """Configurations x strategies down, the headline metrics (and ``primary`` first, when it is
    another metric) across, formatted with their CIs; ``limit`` caps the configurations."""
    from toctou_sim.reporting.present import format_metric

    metrics = dict(HEADLINE)
    if primary and primary not in metrics:
        metrics = {primary: primary, **metrics}
    present = [m for m in metrics if m in set(frame["metric"])]
    configs = list(dict.fromkeys(frame["config"])) if "config" in frame.columns else [None]
    if limit is not None:
        configs = configs[:limit]
    rows = []
    for config in configs:
        chosen = frame if config is None else frame[frame["config"] == config]
        for strategy in strategies:
            lines = chosen[chosen["strategy"] == strategy]
            if lines.empty:
                continue
            first = lines.iloc[0]
            row: dict[str, str] = {p: _param(first[p]) for p in parameters}
            row["strategy"] = strategy
            row["reps"] = str(int(first["n_reps"])) + ("" if first.get("stopped_by", "reps") == "reps"
                                                       else f" ({first['stopped_by']})")
            by_metric = {str(r["metric"]): r for r in lines.to_dict(orient="records")}
            for metric in present:
                r = by_metric.get(metric)
                row[metrics[metric]] = "" if r is None else format_metric(
                    metric, float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"]), bool(r["upper_bound"]))
            rows.append(row)
    return pd.DataFrame(rows)


def _param(value: object) -> str:
    from toctou_sim.reporting.plots import _text

    return _text(value)


def write_sweep_page(frame: pd.DataFrame, parameters: Sequence[str], strategies: Sequence[str], out: Path,
                     title: str, primary: str | None = None) -> list[Path]:
    """Write ``sweep.html`` (+ ``sweep.png`` and ``sweep.svg``) into ``out``; returns the paths.

    The page is rendered from the ``sweep.html.j2`` template (:mod:`toctou_sim.reporting.page`),
    so the title, parameter values and strategy labels are escaped by the template engine.
    """
    from toctou_sim.reporting import plots
    from toctou_sim.reporting.charts import Chart, save_chart
    from toctou_sim.reporting.page import render_sweep

    charts: list[Chart] = []
    if parameters:
        metrics = tuple(m for m in plots.SWEEP_METRICS if m in set(frame["metric"])) or ("violation_rate",)
        with plots.strategy_palette(strategies):
            figure = plots.plot_sweep(frame, parameters[0], metrics=metrics)
        caption = ("One line per strategy with 95% CI bands" if len(parameters) == 1 else
                   "A column of panels per value of the second parameter" if len(parameters) == 2 else
                   "The strategy with the lowest 95% upper bound of the violation rate, per configuration")
        charts.append(save_chart(figure, out, "sweep", "", caption, alt="sweep chart"))
    page = out / "sweep.html"
    page.write_text(render_sweep(title=title, parameters=parameters, strategies=strategies,
                                 headline=headline_table(frame, parameters, strategies, primary), charts=charts),
                    encoding="utf-8")
    return [page, *(path for chart in charts for path in chart.files)]
