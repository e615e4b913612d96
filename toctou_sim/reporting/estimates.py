"""Reading one estimate out of a comparison's tidy frame.

A comparison's frame (:meth:`toctou_sim.experiment.montecarlo.ComparisonResult.to_frame`) has one
row per strategy and metric: the estimate over replications, its 95% interval (``ci_low``,
``ci_high``) and, for strategies other than the baseline, the paired difference (``diff``,
``diff_low``, ``diff_high``). The verdict and the tables read single cells of it; a missing row
or cell reads as NaN, never as an error, because not every model measures every metric.
"""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["estimate", "find_row", "upper"]


def find_row(frame: pd.DataFrame, strategy: str, metric: str) -> pd.Series | None:
    """The row of ``metric`` for ``strategy`` (``None`` when the frame has none)."""
    rows = frame[(frame["strategy"] == strategy) & (frame["metric"] == metric)]
    return None if rows.empty else rows.iloc[0]


def estimate(frame: pd.DataFrame, strategy: str, metric: str, column: str = "estimate") -> float:
    """One cell of ``metric``'s row for ``strategy`` as a float (NaN when absent or empty)."""
    row = find_row(frame, strategy, metric)
    if row is None or column not in row.index:
        return math.nan
    value = row[column]
    return float(value) if value is not None and not pd.isna(value) else math.nan


def upper(frame: pd.DataFrame, strategy: str, metric: str) -> float:
    """The 95% upper bound (the estimate when the interval is unknown)."""
    high = estimate(frame, strategy, metric, "ci_high")
    return high if math.isfinite(high) else estimate(frame, strategy, metric)
