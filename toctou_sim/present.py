"""Plain-text tables of results, for terminals and notebooks."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["HEADLINE_METRICS", "comparison_table", "format_value", "results_json", "shown_metrics",
           "stability_notes", "write_table"]

HEADLINE_METRICS = (
    "operations",
    "harm_rate",
    "harms_per_day",
    "mismatch_rate",
    "mismatch_stale_rate",
    "conflict_rate",
    "violation_rate",
    "abort_rate",
    "unfinished_rate",
    "error_rate",
    "burn_rate",
    "retry_rate",
    "latency_p50_ms",
    "latency_p99_ms",
    "latency_p999_ms",
    "lock_wait_mean_ms",
    "throughput_ops_s",
)
"""Metrics shown by default in the terminal table (every metric is in ``--json`` and ``--out``)."""


_DETAIL_RATES = frozenset({"ok_rate", "declined_rate", "spurious_rejection_rate", "mismatch_window_rate",
                           "stale_check_rate"})


def shown_metrics(frame: pd.DataFrame) -> tuple[str, ...]:
    """What the terminal table shows: the headline metrics, then every other rate (a read path's,
    a strategy's, an actor's, the guide's M1-M10, the error budget's) that some strategy measured
    as non-zero. ``--all-metrics`` shows everything."""
    from toctou_sim.metrics_guide import GUIDE_METRICS

    seen = set(frame[frame["estimate"].fillna(0) != 0]["metric"])
    extra = tuple(m for m in dict.fromkeys(frame["metric"])
                  if m.endswith("_rate") and m in seen and m not in _DETAIL_RATES and m not in HEADLINE_METRICS)
    guide = tuple(name for _, names in GUIDE_METRICS.values() for name in names
                  if name in seen and name not in HEADLINE_METRICS and name not in extra)
    return HEADLINE_METRICS + extra + guide


def format_value(estimate: float, low: float, high: float, upper_bound: bool = False) -> str:
    """``1.23e-03 ±4%`` style text for one estimate."""
    if upper_bound:
        return f"< {high:.2g} (0 seen)"
    if estimate is None or math.isnan(estimate):
        return "n/a"
    if math.isnan(low) or math.isnan(high):
        return f"{estimate:.4g}"
    half = (high - low) / 2
    if estimate == 0 and half == 0:
        return "0"
    if estimate != 0 and abs(half / estimate) < 10:
        relative = abs(half / estimate) * 100
        return f"{estimate:.3g} ±{relative:.2g}%" if relative >= 0.01 else f"{estimate:.3g} ±0%"
    return f"{estimate:.3g} [{low:.2g}, {high:.2g}]"


def comparison_table(frame: pd.DataFrame, metrics: tuple[str, ...] | None = HEADLINE_METRICS) -> str:
    """Strategies side by side (one column each) with estimates and 95% CIs; when the frame has
    paired differences, a second block shows each strategy minus the baseline."""
    chosen = frame if metrics is None else frame[frame["metric"].isin(metrics)]
    order = [m for m in (metrics or tuple(dict.fromkeys(frame["metric"]))) if m in set(chosen["metric"])]
    strategies = list(dict.fromkeys(chosen["strategy"]))
    cells: dict[str, dict[str, str]] = {s: {} for s in strategies}
    diffs: dict[str, dict[str, str]] = {s: {} for s in strategies}
    has_diff = "diff" in chosen.columns
    for row in chosen.to_dict(orient="records"):
        strategy, metric = str(row["strategy"]), str(row["metric"])
        cells[strategy][metric] = format_value(row["estimate"], row["ci_low"], row["ci_high"], bool(row["upper_bound"]))
        if has_diff and strategy != row.get("baseline"):
            diffs[strategy][metric] = format_diff(row["diff"], row["diff_low"], row["diff_high"])
    n_reps = int(chosen["n_reps"].max()) if len(chosen) else 0
    table = pd.DataFrame({s: [cells[s].get(m, "") for m in order] for s in strategies}, index=order)
    lines = [f"estimates with 95% CI over {n_reps} replications", table.to_string()]
    lines += stability_notes(frame)
    if "diff" in chosen.columns and len(strategies) > 1:
        baseline = chosen["baseline"].iloc[0]
        others = [s for s in strategies if s != baseline]
        paired = pd.DataFrame({s: [diffs[s].get(m, "") for m in order] for s in others}, index=order)
        lines += ["", f"paired difference vs {baseline} (common random numbers), 95% CI", paired.to_string()]
    return "\n".join(lines)


def stability_notes(frame: pd.DataFrame) -> list[str]:
    """One warning line per strategy whose runs had no steady state."""
    if "unstable" not in frame.columns:
        return []
    flagged = list(dict.fromkeys(frame.loc[frame["unstable"].astype(bool), "strategy"]))
    return [f"UNSTABLE {name}: no steady state, latency grows with the horizon (a backlog grew for the whole run); "
            "its latencies and rates estimate nothing" for name in flagged]


def format_diff(estimate: float, low: float, high: float) -> str:
    """A signed difference with its interval."""
    if estimate is None or math.isnan(estimate):
        return "n/a"
    if math.isnan(low):
        return f"{estimate:+.3g}"
    return f"{estimate:+.3g} [{low:+.2g}, {high:+.2g}]"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def results_json(frame: pd.DataFrame, **extra: Any) -> str:
    """``{"results": [tidy rows]}`` with NaN as null; keys sorted for byte-stable output."""
    rows = [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    return json.dumps({**extra, "results": rows}, sort_keys=True, indent=1)


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a tidy table as CSV or Parquet, by the file's suffix."""
    path = Path(path)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        from toctou_sim.spec import SpecError

        raise SpecError(f"--out {path}: expected a .csv or .parquet file name")
