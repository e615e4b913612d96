"""Charts for design reviews: matplotlib (Agg), written as PNG and SVG, readable on a slide.

Every chart has a title, axis labels with units, 95% confidence bands or bars where the data
has them, and log axes where rates span decades. Each function returns a ``Figure``;
:func:`save` writes it as ``<stem>.png`` and ``<stem>.svg``.

1. :func:`plot_sweep`: mismatch and violation rate against a swept parameter, a line per strategy.
2. :func:`plot_tradeoff`: added p99 latency (paired against the baseline) vs violation rate,
   with the Pareto frontier and the SLO's allowed error rate.
3. :func:`plot_burn`: error-budget burn over simulated time with alert thresholds and firings.
4. :func:`plot_cdfs`: CDFs of window length, latency and lock wait from the streaming histograms.
5. :func:`plot_trace`: the timeline of a short traced run, one row per operation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from toctou_sim.metrics import Histogram
from toctou_sim.units import format_duration

if TYPE_CHECKING:
    from toctou_sim.budget import TimelineBudget
    from toctou_sim.spec import SloSpec
    from toctou_sim.world.tracing import Trace

__all__ = [
    "error_causes",
    "pareto_frontier",
    "plot_burn",
    "plot_cdfs",
    "plot_error_causes",
    "plot_sweep",
    "plot_trace",
    "plot_tradeoff",
    "plot_verdict",
    "save",
]

_STYLE: Any = {
    "font.size": 12,
    "axes.titlesize": 14,
    "axes.labelsize": 12,
    "legend.fontsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
_COLORS = [f"C{i}" for i in range(10)]


def _figure(width: float = 9.0, height: float = 5.5, rows: int = 1, cols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:
    with plt.rc_context(_STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False, **kwargs)
    return fig, axes


def save(fig: Figure, stem: str | Path, dpi: int = 110) -> list[Path]:
    """Write ``fig`` as ``stem.png`` and ``stem.svg``; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    with plt.rc_context(_STYLE):
        fig.savefig(paths[0], dpi=dpi)
        fig.savefig(paths[1])
    return paths


def _color(index: int) -> Any:
    return _COLORS[index % len(_COLORS)]


def _metric_label(metric: str) -> str:
    return {
        "mismatch_rate": "mismatch rate (per operation)",
        "violation_rate": "violation rate (per operation)",
        "conflict_rate": "conflict rate (per operation)",
        "abort_rate": "abort rate (per operation)",
        "error_rate": "error rate (per operation)",
    }.get(metric, metric.replace("_", " "))


def _positive_floor(values: Sequence[float]) -> float:
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    return min(positive) / 3 if positive else 1e-6


def plot_sweep(
    frame: pd.DataFrame,
    parameter: str,
    metrics: Sequence[str] = ("mismatch_rate", "violation_rate"),
    title: str | None = None,
    log_x: bool | None = None,
    x_label: str | None = None,
) -> Figure:
    """Rates against a swept parameter: a panel per metric, a line per strategy, 95% CI bands.

    Args:
        frame: tidy rows with ``strategy``, ``metric``, ``estimate``, ``ci_low``, ``ci_high``,
            ``n_reps`` and one column per swept parameter (as a sweep produces).
        parameter: the column on the x axis.
        metrics: one panel each.
        title: the figure title.
        log_x: log x axis (default: when the parameter spans more than a decade).
        x_label: the x axis label with its unit (default: the parameter's name).
    """
    if parameter not in frame.columns:
        raise ValueError(f"no column {parameter!r} in the frame; columns are {', '.join(frame.columns)}")
    fig, axes = _figure(5.0 * len(metrics) + 1, 5.0, 1, len(metrics))
    strategies = list(dict.fromkeys(frame["strategy"]))
    values = pd.to_numeric(frame[parameter], errors="coerce")
    if log_x is None:
        finite = values[values > 0]
        log_x = bool(len(finite) and finite.max() / finite.min() > 10)
    for ax, metric in zip(axes[0], metrics, strict=True):
        rows = frame[frame["metric"] == metric].copy()
        rows["_x"] = pd.to_numeric(rows[parameter], errors="coerce")
        floor = _positive_floor(list(rows["estimate"]) + list(rows["ci_high"]))
        for index, strategy in enumerate(strategies):
            line = rows[rows["strategy"] == strategy].sort_values("_x")
            if line.empty:
                continue
            x = line["_x"].to_numpy(dtype=float)
            y = np.maximum(line["estimate"].to_numpy(dtype=float), floor)
            low = np.maximum(line["ci_low"].to_numpy(dtype=float), floor)
            high = np.maximum(line["ci_high"].to_numpy(dtype=float), floor)
            bound = line["upper_bound"].to_numpy(dtype=bool) if "upper_bound" in line else np.zeros(len(x), bool)
            y = np.where(bound, high, y)
            ax.plot(x, y, marker="o", color=_color(index), label=strategy, linewidth=2)
            ax.fill_between(x, low, high, color=_color(index), alpha=0.18, linewidth=0)
            if bound.any():
                ax.scatter(x[bound], high[bound], marker="v", color=_color(index), s=60, zorder=3)
        ax.set_yscale("log")
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(x_label or parameter)
        ax.set_ylabel(_metric_label(metric) + ", log scale")
        ax.set_title(_metric_label(metric).split(" (")[0])
    axes[0][0].legend(title="strategy (▼ = upper bound, 0 seen)")
    fig.suptitle(title or f"Rates against {parameter} (95% CI bands)")
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
            color=_color(index),
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
    ax.legend(loc="best")
    ax.set_title(title or "Safety vs latency: what each strategy costs")
    return fig


def _baseline(frame: pd.DataFrame) -> str:
    if "baseline" in frame.columns and len(frame):
        return str(frame["baseline"].iloc[0])
    return "baseline"


def plot_burn(views: Mapping[str, TimelineBudget], slo: SloSpec, title: str | None = None) -> Figure:
    """Error-budget burn over simulated time, a panel per strategy.

    Thin steps: the burn rate per timeline bin; thick line: the burn over the first alert's long
    window; green area (right axis): the load, operations finished per second. Dashed lines mark
    each alert's factor; shaded spans show when a paging alert fires, vertical lines when any
    alert starts. The y axis is logarithmic (burn rates span decades).
    """
    names = list(views)
    fig, axes = _figure(10.0, 2.6 * len(names) + 1.2, len(names), 1, sharex=True)
    alert_colors = {alert.label: _color(i + 3) for i, alert in enumerate(slo.alerts)}
    span = max((float(v.times[-1]) for v in views.values() if v.times.size), default=60.0)
    unit, scale = ("s", 1.0) if span <= 180 else ("min", 60.0) if span <= 3 * 3600 else ("h", 3600.0)
    for ax, name in zip(axes[:, 0], names, strict=True):
        view = views[name]
        minutes = view.times / scale
        burn = np.where(np.isfinite(view.burn), view.burn, np.nan)
        floor = 0.1
        if view.times.size:
            load = ax.twinx()
            width = float(view.times[1] - view.times[0]) if view.times.size > 1 else 1.0
            load.fill_between(minutes, view.ops / width, step="pre", color="tab:green", alpha=0.12, linewidth=0)
            load.set_ylabel("load (ops/s)", color="tab:green")
            load.tick_params(axis="y", colors="tab:green")
            load.set_ylim(bottom=0)
            load.grid(False)
            ax.set_zorder(load.get_zorder() + 1)
            ax.patch.set_visible(False)
        ax.step(minutes, np.maximum(burn, floor), where="pre", color="0.55", linewidth=0.8, label="per bin")
        if view.alerts:
            first = view.alerts[0]
            ax.plot(
                minutes,
                np.maximum(first.long_burn, floor),
                color="C0",
                linewidth=2.2,
                label=f"over {first.alert.label.split(' ')[-1].split('/')[0]} window",
            )
        for evaluation in view.alerts:
            color = alert_colors[evaluation.alert.label]
            ax.axhline(evaluation.alert.factor, color=color, linestyle="--", linewidth=1.2)
            ax.text(
                minutes[0] if minutes.size else 0,
                evaluation.alert.factor * 1.08,
                f"{evaluation.alert.label} ({evaluation.alert.severity})",
                color=color,
                fontsize=9,
            )
            for start, end in evaluation.episodes:
                if evaluation.alert.severity == "page":
                    ax.axvspan(start / scale, end / scale, color=color, alpha=0.12)
                ax.axvline(start / scale, color=color, linewidth=1.5)
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
        ax.set_ylabel("burn rate (×)")
        fired = ", ".join(
            f"{e.alert.factor:g}× at {e.first_fire / scale:.3g} {unit}" for e in view.alerts if e.episodes
        )
        window = format_duration(view.window_s)
        ax.set_title(
            f"{name}: worst {window} burn {view.worst_hour_burn:.3g}× "
            f"({view.worst_hour_budget:.1%} of budget/h); " + (f"fired: {fired}" if fired else "no alert fired"),
            fontsize=11,
            loc="left",
        )
    axes[-1][0].set_xlabel(f"simulated time ({unit})")
    axes[0][0].legend(loc="upper right", fontsize=9)
    fig.suptitle(
        title
        or f"Error-budget burn (SLO {slo.target:.4g} over {slo.period / 86400:g} d); "
        "shaded = a paging alert firing, vertical line = an alert starts"
    )
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
        for index, (strategy, hists) in enumerate(histograms.items()):
            histogram = hists.get(name)
            if histogram is None:
                continue
            x, y = _cdf(histogram)
            if x.size:
                ax.step(x * 1e3, y, where="post", color=_color(index), linewidth=2, label=strategy)
        ax.set_xscale("log")
        ax.set_xlabel(f"{labels.get(name, name)} (ms, log scale)")
        ax.set_title(labels.get(name, name))
        ax.set_ylim(0, 1.01)
    axes[0][0].set_ylabel("fraction of operations ≤ x")
    axes[0][0].legend(loc="lower right")
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
    first = 0
    if focus and len(trace.ops) > max_rows:
        marked = [i for i, op in enumerate(trace.ops) if op.violation]
        marked = marked or [i for i, op in enumerate(trace.ops) if op.mismatch]
        if marked:
            first = max(0, min(marked[0] - max_rows // 3, len(trace.ops) - max_rows))
    ops = trace.ops[first : first + max_rows]
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


ERROR_CAUSES: tuple[tuple[str, str], ...] = (
    ("harm_rate", "harm ({harm})"),
    ("race_abort_rate", "abort: race caught, retries exhausted"),
    ("orphaned_request_rate", "abort: partial create left an orphan"),
    ("other_abort_rate", "abort: lock-wait timeout, throttle, unreachable"),
    ("latency_breach_rate", "latency breach"),
    ("unfinished_rate", "unfinished when the run ended"),
)
"""The causes an error is charged to, with their legend labels."""


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
        ax.barh(causes.index, values, left=bottom, color=_color(index), label=label.format(harm=harm))
        bottom += values
    ax.axvline(1 - slo.target, color="crimson", linewidth=1.5, label=f"SLO allowance ({1 - slo.target:.2g})")
    ax.set_xscale("symlog", linthresh=max((1 - slo.target) / 10, 1e-9))
    ax.set_xlabel("errors per operation (symmetric log scale)")
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title(title or "Where the error budget goes")
    return fig


def plot_verdict(frame: pd.DataFrame, slo: SloSpec, harm: str = "harm", title: str | None = None) -> Figure:
    """What the verdict judges, against added p99 latency (paired against the baseline): left, the
    harm rate's 95% upper bound against the harm budget; right, the error-budget burn's upper bound
    (harms, aborts, latency breaches, unfinished) against 1. A strategy qualifies when it sits
    below both lines."""
    fig, axes = _figure(12.0, 5.5, cols=2)
    strategies = list(dict.fromkeys(frame["strategy"]))
    allowed = 1 - slo.target
    for panel, (metric, scale, line, label) in enumerate((
        ("harm_rate", 1.0, slo.harm_allowed, f"{harm} rate per operation (95% upper bound)"),
        ("error_rate", 1.0 / allowed, 1.0, "error-budget burn (x, 95% upper bound)"),
    )):
        ax = axes[0][panel]
        for index, strategy in enumerate(strategies):
            rows = frame[frame["strategy"] == strategy].set_index("metric")
            name = metric if metric in rows.index else "violation_rate"
            if name not in rows.index or "latency_p99_ms" not in rows.index:
                continue
            lat = rows.loc["latency_p99_ms"]
            x = float(lat.get("diff", 0.0)) if "diff" in rows.columns else 0.0
            x = 0.0 if math.isnan(x) else x
            high = float(rows.loc[name, "ci_high"]) * scale
            seen = float(rows.loc[name, "estimate"]) > 0
            ax.scatter([x], [max(high, 1e-9)], marker="o" if seen else "v", s=90, color=_color(index),
                       label=strategy if seen else f"{strategy} (none seen: bound)")
            ax.annotate(strategy, (x, max(high, 1e-9)), textcoords="offset points", xytext=(7, 6), fontsize=10)
        ax.axhline(line, color="crimson", linewidth=1.5,
                   label="harm budget" if panel == 0 else "budget spent exactly over the period")
        ax.set_yscale("log")
        ax.set_xlabel("added p99 latency vs baseline (ms, paired)")
        ax.set_ylabel(label)
        ax.legend(loc="best", fontsize=9)
    fig.suptitle(title or "What the verdict judges: harm and budget against latency")
    return fig
