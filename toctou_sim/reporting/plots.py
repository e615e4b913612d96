"""Charts for design reviews: matplotlib figures that show inline in Jupyter and save as PNG and SVG.

Every chart has a title, axis labels with units, 95% confidence bands or bars where the data
has them, and log axes where rates span decades. A strategy has the same colour in every chart
(:func:`strategy_color`). Each function returns a pyplot-managed ``Figure`` (so ``plt.show()``
draws it in a notebook); :func:`save` writes it as ``<stem>.png`` and ``<stem>.svg`` with tight
bounds (no clipped labels) and, with ``close=True``, releases it.

1. :func:`plot_sweep`: rates against swept parameters: one parameter, a line per strategy with
   95% CI bands; two, small multiples (a panel per value of the second); more, a map of the best
   strategy per configuration (:func:`plot_best_map`).
2. :func:`plot_tradeoff`: added p99 latency (paired against the baseline) vs violation rate,
   with the Pareto frontier and the SLO's allowed error rate.
3. :func:`plot_burn`: error-budget burn over simulated time (all replications as a band) with
   alert states as lanes.
4. :func:`plot_cdfs`: CDFs of window length, latency and lock wait from the streaming histograms.
5. :func:`plot_trace`: the timeline of a short traced run, one row per operation.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.patches import Rectangle

from toctou_sim.core.units import format_duration, parse_duration
from toctou_sim.measure.metrics import Histogram

if TYPE_CHECKING:
    from toctou_sim.measure.budget import TimelineBudget
    from toctou_sim.spec.model import SloSpec
    from toctou_sim.world.tracing import Trace

__all__ = [
    "SWEEP_METRICS",
    "axis_values",
    "error_causes",
    "pareto_frontier",
    "plot_best_map",
    "plot_burn",
    "plot_cdfs",
    "plot_error_causes",
    "plot_fit",
    "plot_load_timeline",
    "plot_sensitivity",
    "plot_sweep",
    "plot_trace",
    "plot_tradeoff",
    "plot_verdict",
    "save",
    "strategy_color",
    "strategy_colors",
    "strategy_palette",
    "sweep_parameters",
    "trace_rows",
]

_STYLE: Any = {
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.labelsize": 12,
    "legend.fontsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
"""The house style. Labels hold model text (names, strategy labels): :func:`save` turns mathtext
off for them (:func:`literal`), so a ``$`` is drawn as is instead of failing as mathtext."""


_F = TypeVar("_F", bound=Callable[..., Any])


def _styled(function: _F) -> _F:
    """Draw the whole chart under the house style (titles, labels and legends are sized when made)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with plt.rc_context(_STYLE):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# One colour per strategy, the same in every chart: the common strategies have fixed colours; any
# other name gets one of the spare colours (hues none of the fixed ones use) by a stable hash of its
# name. A page drawing several charts pins its strategies first (:func:`strategy_palette`), so two
# names never share a colour on it and each keeps its colour from chart to chart.
_FIXED_COLORS = {
    "none": "#d62728",
    "recheck": "#ff7f0e",
    "cas": "#1f77b4",
    "lock": "#9467bd",
    "lease": "#8c564b",
    "idempotency": "#2ca02c",
    "idempotency_eventual": "#bcbd22",
    "queue": "#17becf",
    "reconcile": "#e377c2",
    "two_phase": "#7f7f7f",
    "reservation": "#393b79",
    "token": "#637939",
}
_SPARE_COLORS = ["#e7ba52", "#ad494a", "#a55194", "#6b6ecf", "#8ca252", "#d6616b", "#ce6dbd", "#31a3a3",
                 "#843c39", "#9c9ede", "#5d4037", "#00838f"]
_PINNED: dict[str, str] = {}


def _hashed(name: str) -> int:
    return zlib.crc32(name.encode("utf-8")) % len(_SPARE_COLORS)


def strategy_colors(names: Sequence[str]) -> dict[str, str]:
    """Colours for a set of strategies drawn together, no two alike (while the spare colours last):
    fixed names keep theirs; every other name, in sorted order, takes its hashed spare colour or,
    when a name before it took that one, the next free one. Depends only on the set of names."""
    colors = {name: _FIXED_COLORS[name] for name in names if name in _FIXED_COLORS}
    taken = set(colors.values())
    for name in sorted(set(names) - set(colors)):
        start = _hashed(name)
        for step in range(len(_SPARE_COLORS)):
            color = _SPARE_COLORS[(start + step) % len(_SPARE_COLORS)]
            if color not in taken:
                break
        else:
            color = _SPARE_COLORS[start]
        colors[name] = color
        taken.add(color)
    return colors


@contextlib.contextmanager
def strategy_palette(names: Sequence[str]) -> Iterator[dict[str, str]]:
    """Within the block every chart colours ``names`` by :func:`strategy_colors` of the whole set,
    so a page's charts agree and no two of its strategies share a colour."""
    saved = dict(_PINNED)
    _PINNED.update(strategy_colors(names))
    try:
        yield dict(_PINNED)
    finally:
        _PINNED.clear()
        _PINNED.update(saved)


def strategy_color(name: str) -> str:
    """The colour of a strategy in every chart: fixed for the common strategies, pinned inside a
    :func:`strategy_palette` block, otherwise picked by a stable hash of the name (the same across
    runs and processes)."""
    if name in _PINNED:
        return _PINNED[name]
    if name in _FIXED_COLORS:
        return _FIXED_COLORS[name]
    return _SPARE_COLORS[_hashed(name)]


def _figure(width: float = 9.0, height: float = 5.5, rows: int = 1, cols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:
    fig = plt.figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **kwargs)
    return fig, axes


_MARGIN = 0.08
"""Inches of blank kept around each chart's content (and between its panels' labels)."""


def save(fig: Figure, stem: str | Path, dpi: int = 110, close: bool = False) -> list[Path]:
    """Write ``fig`` as ``stem.png`` and ``stem.svg``, nothing clipped (a constrained layout fits
    every label inside the figure; any other figure is cropped to its tight bounds); returns the
    paths. ``close=True`` releases the figure afterwards (scripts drawing many charts)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    literal(fig)
    engine = fig.get_layout_engine()
    with plt.rc_context(_STYLE):
        if isinstance(engine, ConstrainedLayoutEngine):
            # The layout fits every label inside the figure, with a margin as wide as a tight crop's
            # pad: no tight crop, which measured every artist again per format (a report's charts
            # take about a third less time). The SVG keeps the layout the PNG computed.
            engine.set(w_pad=_MARGIN, h_pad=_MARGIN)
            fig.savefig(paths[0], dpi=dpi)
            fig.set_layout_engine("none")
            try:
                fig.savefig(paths[1])
            finally:
                fig.set_layout_engine(engine)
        else:
            fig.savefig(paths[0], dpi=dpi, bbox_inches="tight")
            fig.savefig(paths[1], bbox_inches="tight")
    if close:
        plt.close(fig)
    return paths


_RATE_LABELS = {
    "mismatch_rate": "mismatch rate",
    "violation_rate": "violation rate",
    "conflict_rate": "conflict rate",
    "abort_rate": "abort rate",
    "error_rate": "error rate",
    "retry_rate": "retry rate",
}


def literal(fig: Figure) -> Figure:
    """Turn mathtext off in every text of ``fig`` that can hold model text (titles, labels,
    legends, annotations), so a ``$`` in a model's name is drawn as is; tick labels keep it (a log
    axis writes its powers of ten in mathtext)."""
    from matplotlib.text import Text

    generated = set()  # tick labels and offsets come from formatters (mathtext on log axes), not from a model
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            generated.update(axis.get_ticklabels(which="both"))
            generated.add(axis.get_offset_text())
    for text in fig.findobj(Text):
        if text not in generated:
            text.set_parse_math(False)
    return fig


def _metric_label(metric: str) -> str:
    """An axis label with its unit."""
    if metric in _RATE_LABELS:
        return f"{_RATE_LABELS[metric]} (per operation)"
    if metric.endswith("_rate"):
        return metric[: -len("_rate")].replace("_", " ") + " rate (per operation)"
    if metric.endswith("_ms"):
        return metric[: -len("_ms")].replace("_", " ").replace("latency ", "latency ") + " (ms)"
    if metric in ("burn_rate", "error_budget_consumed", "worst_hour_burn"):
        return metric.replace("_", " ") + " (× sustainable)"
    if metric == "throughput_ops_s":
        return "throughput (operations/s)"
    return metric.replace("_", " ")


def _metric_title(metric: str) -> str:
    return _metric_label(metric).split(" (")[0]


def _log_metric(metric: str) -> bool:
    """Rates span decades: log axes; durations and throughputs: linear."""
    return metric.endswith("_rate") or metric in ("burn_rate", "error_budget_consumed")


def _positive_floor(values: Sequence[float]) -> float:
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    return min(positive) / 3 if positive else 1e-6


# --------------------------------------------------------------------------------------------
# Sweeps.

SWEEP_METRICS = ("violation_rate", "abort_rate", "latency_p99_ms")
"""What a sweep's charts show by default: harm, its price in aborts and in tail latency."""

_TIDY_COLUMNS = frozenset({
    "config", "model", "strategy", "metric", "estimate", "ci_low", "ci_high", "n_reps", "upper_bound", "events",
    "wilson_low", "wilson_high", "seed", "model_hash", "version", "baseline", "diff", "diff_low", "diff_high",
    "stopped_by", "replication", "value",
})


def _text(value: Any) -> str:
    """A parameter value as short text: ``{"exponential": {"mean": "40ms"}}`` -> ``exponential mean=40ms``."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            value = json.loads(value)
        except ValueError:
            return f"{value}"
    if isinstance(value, dict):
        parts = []
        for key, inner in value.items():
            if isinstance(inner, dict):
                parts.append(f"{key} " + " ".join(f"{k}={_text(v)}" for k, v in inner.items()))
            else:
                parts.append(f"{key}={_text(inner)}")
        return ", ".join(parts)
    if isinstance(value, float):
        return f"{value:.4g}"
    return f"{value}"


def axis_values(values: Sequence[Any]) -> tuple[list[float], str, list[str]]:
    """Swept values as positions on an axis: ``(positions, unit, labels)``.

    Numbers are used as they are (unit ``""``); durations (``"250ms"``, ``"5s"``) become
    milliseconds or seconds (unit ``"ms"`` or ``"s"``, sorted by value, not as text); anything else
    (an inline table, a name) is a category at positions 0, 1, 2... in order of first appearance
    (unit ``"category"``)."""
    items = list(values)
    if all(isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool) for v in items):
        numbers = [float(v) for v in items]
        return numbers, "", [f"{v:.4g}" for v in numbers]
    try:
        seconds = [parse_duration(v) for v in items]
    except (ValueError, TypeError):
        seconds = None
    if seconds is not None and all(isinstance(v, str) for v in items):
        scale, unit = (1e-3, "ms") if max(seconds, default=0.0) < 1.0 else (1.0, "s")
        return [s / scale for s in seconds], unit, [str(v) for v in items]
    order = {v: i for i, v in enumerate(dict.fromkeys(_text(v) for v in items))}
    texts = [_text(v) for v in items]
    return [float(order[t]) for t in texts], "category", texts


def _sort_key(values: Sequence[Any]) -> list[Any]:
    positions, _unit, _labels = axis_values(values)
    return positions


def sweep_parameters(frame: pd.DataFrame, first: str | None = None, second: str | None = None) -> list[str]:
    """The swept parameter columns of a tidy sweep frame, ``first`` first and ``second`` second.

    A parameter is a column (other than the tidy result columns) whose value changes between
    configurations; a column that repeats another in other words (a derived copy) is dropped."""
    if "config" in frame.columns:
        per_config = frame.drop_duplicates("config")
    else:
        keys = [c for c in frame.columns if c not in _TIDY_COLUMNS]
        per_config = frame.drop_duplicates(keys)
    candidates = [c for c in frame.columns if c not in _TIDY_COLUMNS and per_config[c].astype(str).nunique() > 1]
    for column in (second, first):
        if column is None:
            continue
        if column not in frame.columns:
            raise ValueError(f"no column {column!r} in the frame; columns are {', '.join(map(str, frame.columns))}")
        candidates = [column, *(c for c in candidates if c != column)]
    chosen: list[str] = []
    seen: set[tuple[int, ...]] = set()
    for column in candidates:
        codes = tuple(pd.factorize(per_config[column].astype(str))[0].tolist())
        if codes in seen:
            continue
        seen.add(codes)
        chosen.append(column)
    return chosen


def _parameter_label(parameter: str, unit: str, x_label: str | None = None) -> str:
    if x_label:
        return x_label
    return f"{parameter} ({unit})" if unit and unit != "category" else parameter


@_styled
def plot_sweep(
    frame: pd.DataFrame,
    parameter: str | None = None,
    metrics: Sequence[str] = ("mismatch_rate", "violation_rate"),
    title: str | None = None,
    log_x: bool | None = None,
    x_label: str | None = None,
    by: str | None = None,
) -> Figure:
    """Metrics against swept parameters, a line per strategy with 95% CI bands.

    One parameter: a panel per metric. Two (``parameter`` on the x axis and ``by``, found from the
    frame when not given): small multiples, a row per metric and a column per value of ``by``, so no
    line runs through points of different configurations. Three or more: the map of the best
    strategy per configuration (:func:`plot_best_map`, on the first metric).

    Args:
        frame: tidy rows with ``strategy``, ``metric``, ``estimate``, ``ci_low``, ``ci_high``,
            ``n_reps`` and one column per swept parameter (as a sweep produces).
        parameter: the column on the x axis (default: the first swept parameter).
        metrics: one panel (row) each; rates get a log axis, durations a linear one in ms.
        title: the figure title.
        log_x: log x axis (default: when numeric values span more than a decade).
        x_label: the x axis label with its unit (default: the parameter's name and unit).
        by: the second parameter (a column of panels per value).
    """
    if parameter is None and by is not None:
        raise ValueError("give the x-axis parameter with by")
    parameters = sweep_parameters(frame, parameter, by)
    if not parameters:
        raise ValueError("the frame has no swept parameter (a column whose value changes between configurations)")
    parameter = parameters[0]
    others = parameters[1:]
    if len(others) > 1:
        measured = [m for m in metrics if m in set(frame["metric"])] or list(metrics)
        harm = "violation_rate" if "violation_rate" in measured else measured[0]
        return plot_best_map(frame, parameters, metric=harm, title=title)
    panel_values: list[Any] = [None]
    if others:
        by = others[0]
        distinct = list(dict.fromkeys(frame[by]))
        order = _sort_key(distinct)
        panel_values = [v for _, v in sorted(zip(order, distinct, strict=True), key=lambda p: p[0])]
    if by is None:  # one parameter: the metrics side by side
        fig, grid = _figure(5.0 * len(metrics) + 1.0, 5.0, 1, len(metrics))
        axes = [[grid[0][i]] for i in range(len(metrics))]
    else:  # a row per metric, a column per value of the second parameter
        fig, axes = _figure(min(4.6 * len(panel_values) + 1.5, 22.0), 3.8 * len(metrics) + 1.0, len(metrics),
                            len(panel_values), sharex=True, sharey="row")
    rows = len(metrics)
    strategies = list(dict.fromkeys(frame["strategy"]))
    positions, unit, labels = axis_values(list(frame[parameter]))
    frame = frame.assign(_x=positions, _xlabel=labels)
    if log_x is None:
        finite = [v for v in positions if v > 0]
        log_x = unit != "category" and bool(finite) and max(finite) / min(finite) > 10
    for row, metric in enumerate(metrics):
        chosen = frame[frame["metric"] == metric]
        floor = _positive_floor(list(chosen["estimate"]) + list(chosen["ci_high"]))
        for col, value in enumerate(panel_values):
            ax = axes[row][col]
            panel = chosen if by is None else chosen[chosen[by].astype(str) == str(value)]
            for strategy in strategies:
                line = panel[panel["strategy"] == strategy].sort_values("_x")
                if line.empty:
                    continue
                _sweep_line(ax, line, strategy, floor if _log_metric(metric) else None)
            if _log_metric(metric):
                ax.set_yscale("log")
            if log_x:
                ax.set_xscale("log")
            if unit == "category":
                ticks = frame.drop_duplicates("_x").sort_values("_x")
                ax.set_xticks(ticks["_x"].tolist(), ticks["_xlabel"].tolist(), rotation=20, ha="right")
            if by is None or row == rows - 1:
                ax.set_xlabel(_parameter_label(parameter, unit, x_label))
            if by is None or col == 0:
                ax.set_ylabel(_metric_label(metric) + (", log" if _log_metric(metric) else ""))
            heading = _metric_title(metric)
            if by is not None:
                heading = f"{heading} · {by.split('.')[-1]} = {_text(value)}"
            ax.set_title(heading, fontsize=11)
    _strategy_legend(fig, strategies, bound_note=True)
    fig.suptitle(title or (f"Against {parameter}" + (f", a column per {by}" if by else "") + " (95% CI bands)"))
    return fig


def _sweep_line(ax: Any, line: pd.DataFrame, strategy: str, floor: float | None) -> None:
    color = strategy_color(strategy)
    x = line["_x"].to_numpy(dtype=float)
    y = line["estimate"].to_numpy(dtype=float)
    low = line["ci_low"].to_numpy(dtype=float)
    high = line["ci_high"].to_numpy(dtype=float)
    bound = line["upper_bound"].to_numpy(dtype=bool) if "upper_bound" in line else np.zeros(len(x), bool)
    y = np.where(bound, high, y)
    low = np.maximum(low, 0.0)  # every metric is non-negative: a t interval reaching below 0 is cut at 0
    if floor is not None:
        y, low, high = np.maximum(y, floor), np.maximum(low, floor), np.maximum(high, floor)
    ax.plot(x, y, marker="o", color=color, label=strategy, linewidth=2, linestyle="--" if bound.all() else "-")
    # A band only where events were seen: a rule-of-three bound has no lower end worth drawing.
    ax.fill_between(x, low, high, where=~bound, color=color, alpha=0.18, linewidth=0, interpolate=False)
    if bound.any():
        ax.scatter(x[bound], high[bound], marker="v", color=color, s=60, zorder=3)


def _strategy_legend(fig: Figure, strategies: Sequence[str], bound_note: bool = False) -> None:
    from matplotlib.lines import Line2D

    handles: list[Any] = [Line2D([], [], color=strategy_color(s), marker="o", linewidth=2, label=s)
                          for s in strategies]
    if bound_note:
        handles.append(Line2D([], [], color="0.3", marker="v", linestyle="none",
                              label="upper bound (none seen)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), title="strategy")


@_styled
def plot_best_map(
    frame: pd.DataFrame,
    parameters: Sequence[str] | None = None,
    metric: str = "violation_rate",
    title: str | None = None,
) -> Figure:
    """The best strategy per configuration: the first parameter across, every combination of the
    others down; each cell is coloured by the strategy with the lowest 95% upper bound of ``metric``
    (ties go to the strategy listed first) and says its value."""
    parameters = list(parameters) if parameters else sweep_parameters(frame)
    rows = frame[frame["metric"] == metric]
    if rows.empty:
        raise ValueError(f"no rows for {metric!r}")
    first, rest = parameters[0], parameters[1:]
    order = list(dict.fromkeys(frame["strategy"]))
    rank = {s: i for i, s in enumerate(order)}
    x_values = list(dict.fromkeys(rows[first]))
    x_values = [v for _, v in sorted(zip(_sort_key(x_values), x_values, strict=True), key=lambda p: p[0])]
    combos = list(dict.fromkeys(tuple(r) for r in rows[rest].astype(str).itertuples(index=False))) if rest else [()]
    fig, axes = _figure(max(6.0, 1.9 * len(x_values) + 4.0), 0.55 * len(combos) + 2.8)
    ax = axes[0][0]
    for yi, combo in enumerate(combos):
        for xi, x_value in enumerate(x_values):
            cell = rows[rows[first].astype(str) == str(x_value)]
            for name, value in zip(rest, combo, strict=True):
                cell = cell[cell[name].astype(str) == value]
            if cell.empty:
                continue
            ranked = cell.assign(_r=cell["strategy"].map(rank)).sort_values(["ci_high", "_r"])
            best = ranked.iloc[0]
            shown = (f"< {best['ci_high']:.2g}" if bool(best.get("upper_bound", False))
                     else f"{best['estimate']:.2g}")
            ax.add_patch(Rectangle((xi - 0.5, yi - 0.5), 1, 1, color=strategy_color(str(best["strategy"])),
                                       alpha=0.85))
            ax.text(xi, yi, f"{best['strategy']}\n{shown}", ha="center", va="center", fontsize=9, color="white")
    ax.set_xlim(-0.5, len(x_values) - 0.5)
    ax.set_ylim(len(combos) - 0.5, -0.5)
    ax.set_xticks(range(len(x_values)), [_text(v) for v in x_values])
    names = [" · ".join(f"{n.split('.')[-1]}={_text(v)}" for n, v in zip(rest, c, strict=True)) for c in combos]
    ax.set_yticks(range(len(combos)), names)
    ax.set_xlabel(first)
    ax.grid(False)
    _strategy_legend(fig, [s for s in order if s in set(rows["strategy"])])
    fig.suptitle(title or f"Best strategy per configuration: lowest 95% upper bound of {_metric_title(metric)}")
    return fig


def pareto_frontier(points: Sequence[tuple[str, float, float]]) -> list[str]:
    """Names of the points not dominated in (x, y), both to be minimised, ordered by x."""
    frontier: list[str] = []
    best_y = math.inf
    for name, _x, y in sorted(points, key=lambda p: (p[1], p[2])):
        if y < best_y:
            frontier.append(name)
            best_y = y
    return frontier


@_styled
def plot_tradeoff(
    frame: pd.DataFrame,
    target: float | None = None,
    title: str | None = None,
    latency_metric: str = "latency_p99_ms",
    rate_metric: str = "violation_rate",
) -> Figure:
    """Added p99 latency (paired against the baseline) vs violation rate, one point per strategy.

    The Pareto frontier (no other strategy is both faster and safer) is drawn; the horizontal
    line is the SLO's allowed error rate ``1 − target``: a strategy above it spends the whole
    budget on violations alone. Zero-violation strategies sit at their rule-of-three upper bound
    (▼). Error bars are 95% CIs (the latency one from the paired difference).
    """
    fig, axes = _figure(9.0, 6.0)
    ax = axes[0][0]
    strategies = list(dict.fromkeys(frame["strategy"]))
    points: list[tuple[str, float, float]] = []
    for index, strategy in enumerate(strategies):
        rows = frame[frame["strategy"] == strategy].set_index("metric")
        if latency_metric not in rows.index or rate_metric not in rows.index:
            continue
        lat = rows.loc[latency_metric]
        rate = rows.loc[rate_metric]
        x = float(lat.get("diff", 0.0)) if "diff" in rows.columns else 0.0
        x = 0.0 if math.isnan(x) else x
        x_low = float(lat.get("diff_low", x)) if "diff_low" in rows.columns else x
        x_high = float(lat.get("diff_high", x)) if "diff_high" in rows.columns else x
        x_low = x if math.isnan(x_low) else x_low
        x_high = x if math.isnan(x_high) else x_high
        bound = bool(rate.get("upper_bound", False))
        y = float(rate["ci_high"]) if bound else float(rate["estimate"])
        y_low = y if bound else float(rate["ci_low"])
        y_high = float(rate["ci_high"])
        points.append((strategy, x, y))
        ax.errorbar(
            [x],
            [y],
            xerr=[[max(x - x_low, 0)], [max(x_high - x, 0)]],
            yerr=[[max(y - max(y_low, y * 1e-3), 0)], [max(y_high - y, 0)]],
            fmt="v" if bound else "o",
            markersize=10,
            color=strategy_color(strategy),
            capsize=4,
            label=f"{strategy} (0 seen: ▼ at 95% upper bound)" if bound else strategy,
        )
        ax.annotate(strategy, (x, y), textcoords="offset points", xytext=(8, 8 if index % 2 == 0 else -16), fontsize=12)
    frontier = pareto_frontier(points)
    if len(frontier) > 1:
        coords = {name: (x, y) for name, x, y in points}
        xs = [coords[name][0] for name in frontier]
        ys = [coords[name][1] for name in frontier]
        ax.step(xs, ys, where="post", color="0.3", linestyle="--", linewidth=1.5, label="Pareto frontier")
    if target is not None:
        ax.axhline(1 - target, color="crimson", linewidth=1.5, label=f"SLO allowed error rate ({1 - target:.2g})")
    ax.set_yscale("log")
    ax.set_xlabel(
        f"added {latency_metric.replace('_ms', '').replace('latency_', '')} latency vs {_baseline(frame)} (ms, paired)"
    )
    ax.set_ylabel(_metric_label(rate_metric) + ", log scale")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    ax.set_title(title or "Safety vs latency: what each strategy costs")
    return fig


def _baseline(frame: pd.DataFrame) -> str:
    if "baseline" in frame.columns and len(frame):
        return str(frame["baseline"].iloc[0])
    return "baseline"


_ALERT_COLORS = ["#b2182b", "#ef8a62", "#2166ac", "#67a9cf", "#1b7837", "#762a83"]


@_styled
def plot_burn(
    views: Mapping[str, TimelineBudget | Sequence[TimelineBudget]], slo: SloSpec, title: str | None = None
) -> Figure:
    """Error-budget burn over simulated time: for each strategy, a burn panel and an alert lane.

    Burn panel (log y): the median burn over the first alert's long window across replications
    (thick line) with the band from the lowest to the highest replication, the per-bin burn of
    the median replication (thin grey steps), each alert's factor as a dashed line labelled in the
    legend, and the load (operations finished per second, median over replications) as a green
    line on the right axis. Alert lanes below it: one lane per alert, filled to the share of
    replications in which the alert fires at each instant (a full lane: every replication).

    Args:
        views: strategy -> one replication's timeline, or all replications' timelines.
    """
    groups = {name: ([v] if not isinstance(v, Sequence) else list(v)) for name, v in views.items()}
    groups = {name: reps for name, reps in groups.items() if reps}
    names = list(groups)
    n_alerts = len(slo.alerts)
    lane_height = 0.25 * max(n_alerts, 1) + 0.2
    ratios: list[float] = []
    for _ in names:
        ratios += [2.6, lane_height]
    fig = plt.figure(figsize=(11.0, sum(ratios) + 1.6), layout="constrained")
    grid = fig.add_gridspec(len(ratios), 1, height_ratios=ratios)
    alert_colors = {alert.label: _ALERT_COLORS[i % len(_ALERT_COLORS)] for i, alert in enumerate(slo.alerts)}
    span = max((float(r.times[-1]) for reps in groups.values() for r in reps if r.times.size), default=60.0)
    unit, scale = ("s", 1.0) if span <= 180 else ("min", 60.0) if span <= 3 * 3600 else ("h", 3600.0)
    floor = 0.1
    first_ax: Any = None
    last_ax: Any = None
    legend_handles: dict[str, Any] = {}
    for index, name in enumerate(names):
        reps = groups[name]
        ax = fig.add_subplot(grid[2 * index], sharex=first_ax)
        lanes = fig.add_subplot(grid[2 * index + 1], sharex=ax)
        first_ax = first_ax or ax
        last_ax = lanes
        size = min(r.times.size for r in reps)
        times = reps[0].times[:size] / scale
        if size:
            width = float(reps[0].times[1] - reps[0].times[0]) if size > 1 else 1.0
            load = np.median(np.stack([r.ops[:size] for r in reps]), axis=0) / width
            twin = ax.twinx()
            (load_line,) = twin.plot(times, load, color="tab:green", linewidth=0.9, alpha=0.6,
                                     label="load (ops/s, right axis)")
            legend_handles.setdefault("load", load_line)
            twin.set_ylabel("load (ops/s)", color="tab:green")
            twin.tick_params(axis="y", colors="tab:green")
            twin.set_ylim(bottom=0)
            twin.grid(False)
            per_bin = np.stack([np.where(np.isfinite(r.burn[:size]), r.burn[:size], np.nan) for r in reps])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a bin where no replication finished an op
                middle = np.nanmedian(per_bin, axis=0)
            (bins_line,) = ax.step(times, np.maximum(middle, floor), where="pre", color="0.6", linewidth=0.8,
                                   label="burn per bin (median rep)")
            legend_handles.setdefault("bins", bins_line)
            if reps[0].alerts:
                first = reps[0].alerts[0]
                long = np.stack([np.maximum(r.alerts[0].long_burn[:size], floor) for r in reps])
                window = format_duration(first.alert.long_window)
                (long_line,) = ax.plot(times, np.median(long, axis=0), color="black", linewidth=2.2,
                                       label=f"burn over {window} (median of {len(reps)} reps)")
                legend_handles.setdefault("long", long_line)
                if len(reps) > 1:
                    band = ax.fill_between(times, long.min(axis=0), long.max(axis=0), color="0.2", alpha=0.15,
                                           linewidth=0, label="lowest to highest replication")
                    legend_handles.setdefault("band", band)
        for lane, alert in enumerate(slo.alerts):
            color = alert_colors[alert.label]
            line = ax.axhline(alert.factor, color=color, linestyle="--", linewidth=1.2,
                              label=f"alert {alert.label} ({alert.severity}) threshold")
            legend_handles.setdefault(f"alert {alert.label}", line)
            if size:
                firing = np.stack([r.alerts[lane].firing[:size].astype(float) for r in reps
                                   if len(r.alerts) > lane])
                share = firing.mean(axis=0)
                lanes.fill_between(times, lane - 0.4, lane - 0.4 + 0.8 * share, step="pre", color=color,
                                   linewidth=0)
            lanes.axhline(lane + 0.5, color="0.85", linewidth=0.8)
        lanes.set_ylim(n_alerts - 0.5, -0.5)
        lanes.set_yticks(range(n_alerts), [f"{a.label} ({a.severity})" for a in slo.alerts], fontsize=8)
        lanes.grid(False)
        lanes.tick_params(axis="x", labelbottom=index == len(names) - 1)
        ax.tick_params(axis="x", labelbottom=False)
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
        ax.set_ylabel("burn rate (×)")
        worst = max(reps, key=lambda r: r.worst_hour_burn)
        fired = sum(1 for r in reps if any(e.episodes for e in r.alerts))
        ax.set_title(
            f"{name}: worst {format_duration(worst.window_s)} burn {worst.worst_hour_burn:.3g}× "
            f"({worst.worst_hour_budget:.1%} of budget/h); an alert fired in {fired} of {len(reps)} reps",
            fontsize=11,
            loc="left",
            color=strategy_color(name),
        )
    if last_ax is not None:
        last_ax.set_xlabel(f"simulated time ({unit}); lanes: share of replications in which each alert fires")
    fig.legend(handles=list(legend_handles.values()), loc="outside lower center", ncol=3, fontsize=9)
    fig.suptitle(title or f"Error-budget burn (SLO {slo.target:.4g} over {slo.period / 86400:g} d)")
    return fig


def plot_load_timeline(
    frame: pd.DataFrame,
    *,
    capacity: float | None = None,
    spans: Sequence[tuple[float, float]] = (),
    title: str | None = None,
) -> Figure:
    """Load over simulated time (a frame of :func:`toctou_sim.capacity.headroom.load_timeline`), one line
    per strategy in four panels: calls offered to the finite service, retried calls, goodput
    (operations that succeeded per second) and the error rate.

    ``capacity`` (calls per second the service can serve) is drawn as a dashed line on the
    offered-load panel; ``spans`` (seconds) are shaded on every panel (e.g. a load spike).
    """
    panels = (
        ("offered_per_s", "offered load\n(calls/s)"),
        ("retries_per_s", "retried calls\n(calls/s)"),
        ("ok_per_s", "goodput\n(ok ops/s)"),
        ("error_rate", "error rate"),
    )
    fig, axes = _figure(10.0, 9.0, len(panels), 1, sharex=True)
    span = float(frame["time_s"].max()) if len(frame) else 60.0
    unit, scale = ("s", 1.0) if span <= 180 else ("min", 60.0) if span <= 3 * 3600 else ("h", 3600.0)
    for row, (column, label) in enumerate(panels):
        ax = axes[row][0]
        for strategy, group in frame.groupby("strategy", sort=False):
            ax.step(group["time_s"] / scale, group[column], where="post", color=strategy_color(str(strategy)),
                    linewidth=1.6,
                    label=str(strategy))
        for start, end in spans:
            ax.axvspan(start / scale, end / scale, color="0.5", alpha=0.15, linewidth=0)
        if column == "offered_per_s" and capacity is not None:
            ax.axhline(capacity, color="0.2", linestyle="--", linewidth=1.2)
            ax.text(0, capacity * 1.03, f"capacity {capacity:.3g} calls/s", fontsize=9, va="bottom")
        if column == "error_rate":
            ax.set_ylim(-0.02, 1.02)
        else:
            ax.set_ylim(bottom=0)
        ax.set_ylabel(label)
    axes[0][0].legend(loc="upper right", fontsize=9)
    axes[-1][0].set_xlabel(f"simulated time ({unit})")
    fig.suptitle(title or "Load over time: offered calls, retries, goodput and errors (shaded: the spike)")
    return fig


@_styled
def plot_sensitivity(results: Sequence[Any], title: str | None = None) -> Figure:
    """Which parameters matter most: one panel per output (the harm rate, the error rate), a bar per
    parameter and strategy (:class:`toctou_sim.capacity.sensitivity.SensitivityResult` objects;
    bars in the strategy's colour) at its PAWN index, parameters ranked by the first strategy's
    effect on the harm; the dashed line is the index a parameter without effect reaches by chance
    (95%, by permutation)."""
    from toctou_sim.capacity.sensitivity import OUTPUTS

    first = results[0]
    order = first.ranking("harm")
    labels = {p.path: p.label for p in first.parameters}
    fig, axes = _figure(12.0, 1.6 + 0.55 * len(order) * max(1, len(results)), cols=len(OUTPUTS), sharey=True)
    height = 0.8 / len(results)
    for panel, (output, label) in enumerate(OUTPUTS.items()):
        ax = axes[0][panel]
        for k, result in enumerate(results):
            rows = result.indices[result.indices["output"] == output].set_index("parameter")
            values = [float(rows.loc[path, "pawn_median"]) if path in rows.index else 0.0 for path in order]
            positions = np.arange(len(order)) + (k - (len(results) - 1) / 2) * height
            varied = bool(rows["varied"].all()) if len(rows) else False
            ax.barh(positions, values, height=height, color=strategy_color(result.strategy),
                    label=result.strategy if varied else f"{result.strategy} (no variation)")
        chance = first.chance(output)
        if chance > 0:
            ax.axvline(chance, color="0.3", linestyle="--", linewidth=1.2,
                       label=f"reached by chance, 95% ({chance:.2f})")
        ax.set_yticks(np.arange(len(order)), [labels[path] for path in order])
        ax.set_xlim(0, 1)
        ax.set_xlabel("PAWN index (0: no effect, 1: decisive)")
        ax.set_title(label.replace("harm", first.harm, 1))
        ax.legend(loc="lower right", fontsize=9)
    axes[0][0].invert_yaxis()
    fig.suptitle(title or f"{first.model}: which parameters matter ({first.n} Latin hypercube points, "
                 f"{first.reps} replication(s) each)")
    return fig


def _cdf(histogram: Histogram) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    histogram.flush()
    total = histogram.count
    if total == 0:
        return np.empty(0), np.empty(0)
    upper = histogram.LOW * 10 ** (np.arange(1, histogram.counts.size + 1) / histogram.BINS_PER_DECADE)
    cumulative = (np.cumsum(histogram.counts) + histogram.zeros) / total
    keep = histogram.counts > 0
    return upper[keep], cumulative[keep]


@_styled
def plot_cdfs(
    histograms: Mapping[str, Mapping[str, Histogram]],
    names: Sequence[str] = ("window", "latency", "lock_wait", "staleness"),
    title: str | None = None,
) -> Figure:
    """CDFs of durations from the streaming histograms: a panel per quantity, a line per strategy.

    Args:
        histograms: strategy -> quantity -> merged histogram.
        names: quantities to draw, when some strategy has them (``window`` is the check-to-use
            time, ``latency`` end to end, ``lock_wait`` queueing for a lock, ``staleness`` the
            age of what a check saw).
    """
    present = [
        n
        for n in names
        if any(h.get(n) is not None and h[n].count + len(h[n]._buffer) > 0 for h in histograms.values())
    ]
    if not present:
        present = ["latency"]
    fig, axes = _figure(4.8 * len(present) + 1, 4.8, 1, len(present), sharey=True)
    labels = {
        "window": "check → use window",
        "latency": "end-to-end latency",
        "lock_wait": "lock wait",
        "staleness": "staleness at check",
    }
    for ax, name in zip(axes[0], present, strict=True):
        for strategy, hists in histograms.items():
            histogram = hists.get(name)
            if histogram is None:
                continue
            x, y = _cdf(histogram)
            if x.size:
                ax.step(x * 1e3, y, where="post", color=strategy_color(strategy), linewidth=2, label=strategy)
        ax.set_xscale("log")
        ax.set_xlabel(f"{labels.get(name, name)} (ms, log scale)")
        ax.set_title(labels.get(name, name))
        ax.set_ylim(0, 1.01)
    axes[0][0].set_ylabel("fraction of operations ≤ x")
    _strategy_legend(fig, list(histograms))
    fig.suptitle(title or "Distributions from the streaming histograms (all replications)")
    return fig


_SPAN_COLORS = {
    "check": "tab:blue",
    "window": "tab:orange",
    "use": "tab:green",
    "lock wait": "tab:purple",
    "wait": "tab:gray",
    "retry wait": "tab:gray",
}


def trace_rows(trace: Trace, max_rows: int = 60, focus: bool = True) -> tuple[int, int]:
    """``(first, count)``: the operations :func:`plot_trace` draws (consecutive in arrival order)."""
    first = 0
    if focus and len(trace.ops) > max_rows:
        marked = [i for i, op in enumerate(trace.ops) if op.violation]
        marked = marked or [i for i, op in enumerate(trace.ops) if op.mismatch]
        if marked:
            first = max(0, min(marked[0] - max_rows // 3, len(trace.ops) - max_rows))
    return first, min(max_rows, len(trace.ops) - first)


@_styled
def plot_trace(trace: Trace, max_rows: int = 60, title: str | None = None, focus: bool = True) -> Figure:
    """A short traced run: one row per operation, its check / window / use as bars.

    Lock waits and retry waits are bars of their own colour; background mutations of the
    operation's key are black ticks on its row; a use that met a false precondition is outlined
    in red (a violation is filled red, a caught conflict hatched).

    Args:
        trace: the traced run.
        max_rows: operations drawn (consecutive in arrival order).
        title: the chart title.
        focus: when the trace has more operations than rows, start the rows a little before the
            first violation (or, failing that, the first mismatch) so the race is in view.
    """
    first, count = trace_rows(trace, max_rows, focus)
    ops = trace.ops[first : first + count]
    fig, axes = _figure(11.0, max(3.5, 0.22 * len(ops) + 1.8))
    ax = axes[0][0]
    t0 = min((op.arrival for op in ops), default=0.0)
    t_end = max((op.end for op in ops if not math.isnan(op.end)), default=t0 + 1)
    mutations: dict[int, list[float]] = {}
    for instant in trace.instants:
        if instant.key is not None and t0 <= instant.time <= t_end:
            mutations.setdefault(instant.key, []).append((instant.time - t0) * 1e3)
    for row, op in enumerate(ops):
        y = len(ops) - 1 - row
        for span in op.spans:
            start = (span.start - t0) * 1e3
            width = max((span.end - span.start) * 1e3, 0.0)
            color = _SPAN_COLORS.get(span.name, "tab:gray")
            edge, hatch, line = "none", None, 0.0
            if span.args.get("violation"):
                color, edge, line = "red", "darkred", 1.5
                ax.scatter([start + width], [y], marker="X", color="red", s=70, zorder=4)
            elif span.args.get("conflict"):
                edge, hatch, line = "red", "///", 1.2
                ax.scatter([start + width], [y], marker="x", color="red", s=45, zorder=4)
            elif span.name == "use" and span.args.get("accepted") is False:
                ax.scatter([start + width], [y], marker="x", color="0.35", s=35, zorder=4)
            ax.broken_barh(
                [(start, width)],
                (y - 0.38, 0.76),
                facecolors=color,
                edgecolors=edge,
                hatch=hatch,
                linewidth=line,
            )
        ticks = mutations.get(op.key, [])
        if ticks:
            ax.scatter(ticks, [y] * len(ticks), marker="|", color="black", s=90, zorder=3)
        if op.outcome in ("violated", "aborted", "declined"):
            ax.text(
                (op.end - t0) * 1e3,
                y,
                f" {op.outcome}",
                va="center",
                fontsize=8,
                color={"violated": "red", "aborted": "black"}.get(op.outcome, "0.5"),
            )
    ax.set_yticks(range(len(ops)))
    ax.set_yticklabels([f"op {op.index} · key {op.key}" for op in reversed(ops)], fontsize=7)
    ax.set_xlabel(f"simulated time since {t0:.3f} s (ms)")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Patch(color=c, label=n) for n, c in _SPAN_COLORS.items() if n not in ("wait",)]
    handles += [
        Line2D([], [], marker="X", color="red", linestyle="none", markersize=9, label="violation"),
        Line2D([], [], marker="x", color="red", linestyle="none", markersize=8, label="conflict caught"),
        Line2D(
            [], [], marker="x", color="0.35", linestyle="none", markersize=7, label="use rejected, precondition held"
        ),
        Line2D([], [], marker="|", color="black", linestyle="none", markersize=10, label="mutation of the key"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=9)
    ax.grid(axis="y", alpha=0)
    ax.set_title(title or f"Trace of {len(ops)} operations ({trace.strategy}, {trace.model}, seed {trace.seed})")
    return fig


@_styled
def plot_fit(data: Any, fits: Sequence[Any], title: str | None = None) -> Figure:
    """Calibration: the data's CDF against each fitted family's (log time axis, ms) and, for raw
    samples, a QQ plot of the best fit (points on the diagonal: the family describes the data)."""
    qq = data.samples is not None
    fig, axes = _figure(13.0 if qq else 8.0, 5.2, 1, 2 if qq else 1)
    ax = axes[0][0]
    if data.samples is not None:
        x = np.sort(data.samples)
        empirical = np.arange(1, x.size + 1) / x.size
        ax.step(x * 1e3, empirical, where="post", color="black", linewidth=2.2, label=f"data (n={x.size})")
        grid = np.geomspace(x[0], x[-1], 300)
    else:
        edges, counts = data.edges, data.counts
        finite = np.isfinite(edges)
        cumulative = np.cumsum(counts) / counts.sum()
        ax.plot(edges[finite] * 1e3, cumulative[finite], "ks", markersize=6, label=f"buckets (n={int(counts.sum())})")
        grid = np.geomspace(max(edges[finite][0] / 10, 1e-7), edges[finite][-1] * 2, 300)
    styles = ["-", "--", "-.", ":", (0, (5, 1))]
    for index, fitted in enumerate(fits):
        ax.plot(grid * 1e3, fitted.cdf.cdf(grid), linestyle=styles[index % len(styles)], linewidth=1.8,
                label=f"{fitted.family} (KS {fitted.ks:.3f}, AIC {fitted.aic:.0f})")
    ax.set_xscale("log")
    ax.set_xlabel(f"{data.name} (ms, log scale)")
    ax.set_ylabel("fraction of durations ≤ x")
    ax.set_ylim(0, 1.01)
    ax.set_title("CDF: data and fitted families (best first)")
    ax.legend(loc="lower right", fontsize=9)
    if qq and fits:
        best = fits[0]
        q = (np.arange(1, x.size + 1) - 0.5) / x.size
        theory = np.asarray(best.cdf.ppf(q), dtype=float)
        right = axes[0][1]
        right.loglog(theory * 1e3, x * 1e3, "o", markersize=3, alpha=0.6, color="C0")
        bounds = [min(theory.min(), x.min()) * 1e3, max(theory.max(), x.max()) * 1e3]
        right.plot(bounds, bounds, color="0.3", linestyle="--", linewidth=1, label="y = x")
        right.set_xlabel(f"{best.family} quantile (ms, log)")
        right.set_ylabel("data quantile (ms, log)")
        right.set_title(f"QQ plot of the best fit: {best.family}")
        right.legend(loc="upper left")
    fig.suptitle(title or f"Calibration of {data.name}")
    return fig


ERROR_CAUSES: tuple[tuple[str, str], ...] = (
    ("harm_rate", "harm ({harm})"),
    ("race_abort_rate", "abort: race caught, retries exhausted"),
    ("orphaned_request_rate", "abort: partial create left an orphan"),
    ("other_abort_rate", "abort: lock-wait timeout, throttle, unreachable"),
    ("latency_breach_rate", "latency breach"),
    ("unfinished_rate", "unfinished when the run ended"),
)
"""The causes an error is charged to, with their legend labels."""
_CAUSE_COLORS = ["#d62728", "#ff7f0e", "#8c564b", "#9467bd", "#17becf", "#7f7f7f"]


def error_causes(frame: pd.DataFrame) -> pd.DataFrame:
    """Errors per operation by cause, one row per strategy (the columns of :data:`ERROR_CAUSES`)."""
    rows = []
    for strategy in dict.fromkeys(frame["strategy"]):
        values = frame[frame["strategy"] == strategy].set_index("metric")["estimate"]

        def get(metric: str, values: pd.Series = values) -> float:
            value = values.get(metric, 0.0)
            return 0.0 if value is None or pd.isna(value) else float(value)

        harm = get("harm_rate") if "harm_rate" in values.index else get("violation_rate")
        other = get("abort_rate") - get("race_abort_rate") - get("orphaned_request_rate")
        other -= get("turned_away_duplicate_rate")
        rows.append({"strategy": strategy, "harm_rate": harm, "race_abort_rate": get("race_abort_rate"),
                     "orphaned_request_rate": get("orphaned_request_rate"), "other_abort_rate": max(other, 0.0),
                     "latency_breach_rate": get("latency_breach_rate"), "unfinished_rate": get("unfinished_rate")})
    return pd.DataFrame(rows).set_index("strategy")


@_styled
def plot_error_causes(frame: pd.DataFrame, slo: SloSpec, harm: str = "harm", title: str | None = None) -> Figure:
    """What each strategy's error budget is spent on: errors per operation by cause, stacked, with
    the SLO's allowance ``1 − target`` as a line (a bar above it burns more than the budget)."""
    causes = error_causes(frame)
    fig, axes = _figure(9.0, 5.0)
    ax = axes[0][0]
    bottom = np.zeros(len(causes))
    for index, (column, label) in enumerate(ERROR_CAUSES):
        values = causes[column].to_numpy(dtype=float)
        if not values.any():
            continue
        ax.barh(causes.index, values, left=bottom, color=_CAUSE_COLORS[index % len(_CAUSE_COLORS)],
                label=label.format(harm=harm))
        bottom += values
    ax.axvline(1 - slo.target, color="crimson", linewidth=1.5, label=f"SLO allowance ({1 - slo.target:.2g})")
    ax.set_xscale("symlog", linthresh=max((1 - slo.target) / 10, 1e-9))
    ax.set_xlabel("errors per operation (symmetric log scale)")
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title(title or "Where the error budget goes")
    return fig


@_styled
def plot_verdict(frame: pd.DataFrame, slo: SloSpec, harm: str = "harm", title: str | None = None) -> Figure:
    """What the verdict judges, against added p99 latency (paired against the baseline): left, the
    harm rate against the harm budget; right, the error-budget burn (harms, aborts, latency
    breaches, unfinished) against 1. A strategy qualifies when its 95% upper bound sits below both
    lines.

    Each strategy is a dot at its estimate with a bar up to its 95% upper bound. A strategy that
    saw no event has no estimate to draw on a log axis: it sits in the "none seen" strip at the
    bottom, with a dotted bar up to its bound. That bound comes from the replications alone (a
    burst may take a whole replication), so it is loose; drawn as a point it would look like the
    worst strategy of the chart, which is what the verdict does not say (it reports such a
    strategy with a caveat)."""
    fig, axes = _figure(12.0, 5.5, cols=2)
    strategies = list(dict.fromkeys(frame["strategy"]))
    allowed = 1 - slo.target
    for panel, (metric, scale, line, label) in enumerate((
        ("harm_rate", 1.0, slo.harm_allowed, f"{harm} rate per operation"),
        ("error_rate", 1.0 / allowed, 1.0, "error-budget burn (x)"),
    )):
        ax = axes[0][panel]
        ax.set_yscale("log")
        points: list[tuple[str, float, float, float]] = []  # strategy, x, estimate, upper bound
        for strategy in strategies:
            rows = frame[frame["strategy"] == strategy].set_index("metric")
            name = metric if metric in rows.index else "violation_rate"
            if name not in rows.index or "latency_p99_ms" not in rows.index:
                continue
            lat = rows.loc["latency_p99_ms"]
            x = float(lat.get("diff", 0.0)) if "diff" in rows.columns else 0.0
            x = 0.0 if math.isnan(x) else x
            points.append((strategy, x, float(rows.loc[name, "estimate"]) * scale,
                           float(rows.loc[name, "ci_high"]) * scale))
        positive = [v for _, _, est, high in points for v in (est, high) if v > 0 and math.isfinite(v)]
        floor = min([line, *positive]) / 10.0
        for strategy, x, est, high in points:
            color = strategy_color(strategy)
            seen = est > 0
            y = est if seen else floor
            if math.isfinite(high) and high > y:
                ax.plot([x, x], [y, high], color=color, linewidth=2.0 if seen else 1.2,
                        linestyle="-" if seen else ":", alpha=1.0 if seen else 0.7)
                ax.scatter([x], [high], marker="_", s=160, color=color, alpha=1.0 if seen else 0.7)
            ax.scatter([x], [y], marker="o", s=90, color=color if seen else "white", edgecolors=color,
                       linewidths=2.0, zorder=3, label=strategy if seen else f"{strategy} (none seen)")
        span = (max(x for _, x, _, _ in points) - min(x for _, x, _, _ in points)) if points else 0.0
        per_char = 0.017 * (span or 1.0)  # about 60 characters of a 10-point label across a panel
        placed: list[tuple[float, float, float, int]] = []  # x from, x to, y, offset of each label
        for strategy, x, est, _ in points:
            y = est if est > 0 else floor
            # a label beside its dot, moved down a line while it would overlap one already placed
            end = x + (len(strategy) + 2) * per_char
            near = [off for start, stop, py, off in placed
                    if start <= end and x <= stop and abs(math.log10(py / y)) < 0.35]
            offset = 6
            while offset in near:
                offset -= 13
            placed.append((x, end, y, offset))
            ax.annotate(strategy, (x, y), textcoords="offset points", xytext=(7, offset), fontsize=10)
        if any(est <= 0 for _, _, est, _ in points):
            ax.axhspan(floor / 3.0, floor * 3.0, color="0.92", zorder=0)
            ax.annotate("none seen", (0.99, floor / 2.9), xycoords=("axes fraction", "data"), ha="right",
                        va="bottom", fontsize=8, color="0.35")
            ax.set_ylim(bottom=floor / 3.0)
        ax.axhline(line, color="crimson", linewidth=1.5,
                   label="harm budget" if panel == 0 else "budget spent exactly over the period")
        ax.set_xlabel("added p99 latency vs baseline (ms, paired)")
        ax.set_ylabel(label)
        ax.legend(loc="best", fontsize=9)
    fig.suptitle((title or "What the verdict judges: harm and budget against latency")
                 + "\ndot: estimate, bar: up to the 95% upper bound; hollow, in the grey strip: none seen")
    return fig
