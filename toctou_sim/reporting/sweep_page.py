"""A sweep's results where people look: the headline table (terminal and HTML) and ``sweep.html``.

The table has one row per configuration and strategy and the headline metrics across: harm
(``violation_rate``), the error budget (``burn_rate``), tail latency (``latency_p99_ms``) and
aborts (``abort_rate``), each in its unit with its 95% CI (:mod:`toctou_sim.reporting.present`). The page
embeds the sweep chart (:func:`toctou_sim.reporting.plots.plot_sweep`: lines with CI bands for one
parameter, small multiples for two, the best strategy per configuration for more) and the table.
"""

from __future__ import annotations

import base64
import html
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
    """Write ``sweep.html`` (+ ``sweep.png`` and ``sweep.svg``) into ``out``; returns the paths."""
    from toctou_sim.reporting import plots

    files: list[Path] = []
    figures: list[tuple[Path, str]] = []
    if parameters:
        metrics = tuple(m for m in plots.SWEEP_METRICS if m in set(frame["metric"])) or ("violation_rate",)
        with plots.strategy_palette(strategies):
            figure = plots.plot_sweep(frame, parameters[0], metrics=metrics)
        caption = ("One line per strategy with 95% CI bands" if len(parameters) == 1 else
                   "A column of panels per value of the second parameter" if len(parameters) == 2 else
                   "The strategy with the lowest 95% upper bound of the violation rate, per configuration")
        paths = plots.save(figure, out / "sweep", close=True)
        files += paths
        figures.append((paths[0], caption))
    table = headline_table(frame, parameters, strategies, primary)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>toctou-sim sweep: {html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Sweep: {html.escape(title)}</h1>",
        f'<p class="meta">Parameters: {html.escape(", ".join(parameters) or "none")}; strategies '
        f'{html.escape(", ".join(strategies))} on common random numbers. Estimates ± 95% CI; an event never '
        "seen shows its rule-of-three upper bound.</p>",
    ]
    for path, caption in figures:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="sweep chart">'
                     f'<figcaption>{html.escape(caption)} (<a href="{path.with_suffix(".svg").name}">SVG</a>)'
                     "</figcaption></figure>")
    parts += ["<h2>Headline metrics</h2>", '<div class="scroll">',
              table.to_html(index=False, border=0, escape=True, na_rep=""), "</div>",
              "<p>Every metric of every configuration is in results.csv and results.parquet.</p>",
              "</body></html>"]
    page = out / "sweep.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return [page, *files]


_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; max-width: 1180px;
       margin: 2em auto; padding: 0 1em; color: #1d1d1f; line-height: 1.45; }
.meta { color: #555; } .scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.92em; }
"""
