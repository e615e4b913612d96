"""The design review's charts: which ones a report draws, in what order, with what captions.

The drawing is :mod:`toctou_sim.reporting.plots`; this module decides the set (a sweep chart only
with a grid, the recommended strategy's trace only when it differs from the baseline), saves each
as PNG and SVG into the report's folder and returns a :class:`Chart` per figure for the page
(:mod:`toctou_sim.reporting.page`) to embed with its caption.

Call the functions inside :func:`toctou_sim.reporting.plots.strategy_palette` so every chart of a
page gives a strategy the same colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import toctou_sim.reporting.plots as plots
from toctou_sim.measure.budget import TimelineBudget
from toctou_sim.measure.metrics import Histogram
from toctou_sim.spec.model import ModelSpec
from toctou_sim.world.tracing import Trace

__all__ = ["Chart", "save_chart", "sensitivity_chart", "summary_charts", "trace_charts"]


@dataclass(frozen=True)
class Chart:
    """One saved chart: its PNG (embedded in the page), its SVG beside it, and what it shows.

    Attributes:
        title: a short heading (also the image's alternative text).
        png: the PNG file; the SVG has the same stem.
        caption: one paragraph on how to read it.
        alt: the image's alternative text (default: the title).
    """

    title: str
    png: Path
    caption: str
    alt: str = ""

    @property
    def alt_text(self) -> str:
        """What the image shows, for a reader who cannot see it."""
        return self.alt or self.title

    @property
    def svg(self) -> Path:
        """The vector copy, linked from the caption."""
        return self.png.with_suffix(".svg")

    @property
    def files(self) -> list[Path]:
        """Both files, PNG first (the order a report lists them in)."""
        return [self.png, self.svg]


def save_chart(figure: Any, out: Path, name: str, title: str, caption: str, alt: str = "") -> Chart:
    """Save ``figure`` as ``out/name.png`` and ``out/name.svg`` and release it."""
    paths = plots.save(figure, out / name, close=True)
    return Chart(title, paths[0], caption, alt)


def sensitivity_chart(analysed: Sequence[Any], out: Path) -> Chart:
    """The sensitivity ranking (:func:`toctou_sim.reporting.plots.plot_sensitivity`)."""
    return save_chart(plots.plot_sensitivity(analysed), out, "sensitivity", "Which parameters matter",
                      "Bars in each strategy's colour; the dashed line is what chance reaches (95%)",
                      alt="Sensitivity")


def summary_charts(
    *,
    model: ModelSpec,
    frame: pd.DataFrame,
    views: Mapping[str, Sequence[TimelineBudget]],
    histograms: Mapping[str, Mapping[str, Histogram]],
    out: Path,
    sweep: tuple[str, str, pd.DataFrame] | None = None,
) -> list[Chart]:
    """The charts of the comparison: the grid sweep (when ``sweep`` gives its first parameter, axis
    label and frame), what the verdict judges, where the error budget goes, the burn over time and
    the distributions."""
    charts: list[Chart] = []
    if sweep is not None:
        parameter, x_label, sweep_frame = sweep
        charts.append(save_chart(
            plots.plot_sweep(sweep_frame, parameter, metrics=plots.SWEEP_METRICS, x_label=x_label),
            out, "sweep", f"Against {parameter}",
            "Violation and abort rate per operation and p99 latency, one line per strategy with 95% CI bands "
            "(a column of panels per value of a second parameter; with three or more, the best strategy per "
            "configuration); ▼ marks a 95% upper bound where no event was seen.",
        ))
    charts.append(save_chart(
        plots.plot_verdict(frame, model.slo, model.harm), out, "verdict", "What the verdict judges",
        f"Left: the {model.harm} rate (from the effect ledger) against the harm budget (red); right: the "
        "error-budget burn (harms, aborts, latency breaches, unfinished operations) against 1 (red), both "
        "against the added p99 latency paired against the baseline. A dot is the estimate, its bar reaches the "
        "95% upper bound; a strategy qualifies when its bound is below both lines, and when it reaches a steady "
        "state. A hollow dot in the grey strip saw none; its dotted bar reaches a bound from the replications "
        "alone, loose by design (a burst of harm may take a whole replication): the verdict reports it with a "
        "caveat, and a proof in a small scope (explore) is the stronger answer.",
    ))
    charts.append(save_chart(
        plots.plot_error_causes(frame, model.slo, model.harm), out, "errors", "Where the error budget goes",
        "Errors per operation by cause, stacked: harms, aborts by reason, latency breaches and operations "
        "still unfinished when the run ended; the red line is the SLO's allowance.",
    ))
    charts.append(save_chart(
        plots.plot_burn({s: v for s, v in views.items() if v}, model.slo), out, "burn",
        "Error-budget burn over time",
        "All replications of each strategy: the median burn over the first alert's long window with the band "
        "from the lowest to the highest replication, the per-bin burn (log); dashed lines are alert factors; "
        "the lane under each panel shows when each alert fires (filled to the share of replications firing).",
    ))
    charts.append(save_chart(
        plots.plot_cdfs(histograms), out, "cdfs",
        "Window, latency and lock-wait distributions",
        "Cumulative distributions from the streaming histograms of all replications (log time axis).",
    ))
    return charts


def trace_charts(trace: Trace, baseline: str, out: Path, chosen: tuple[str, Trace] | None = None) -> list[Chart]:
    """The traced runs: the recommended strategy's (``chosen``: its name and trace, when it is not
    the baseline) and then the baseline's, on the same seed."""
    charts: list[Chart] = []
    if chosen is not None:
        name, chosen_trace = chosen
        charts.append(save_chart(
            plots.plot_trace(chosen_trace), out, "trace_recommended",
            f"The same operations under the recommended strategy ({name})",
            f"The traced run of {name} on the same seed (common random numbers: the same arrivals, keys "
            f"and windows as the {baseline} trace below).",
        ))
    charts.append(save_chart(
        plots.plot_trace(trace), out, "trace", f"A short traced run ({baseline})",
        "One row per operation (60 consecutive ones after the warm-up, around the first violation when "
        "there is one): check, window and use bars, lock waits, mutations of "
        "the key as ticks; violations (red ✖), caught conflicts (red ×) and other rejected uses (grey ×) are "
        "marked. Open trace.json in Perfetto "
        "(ui.perfetto.dev) for the same run.",
    ))
    return charts
