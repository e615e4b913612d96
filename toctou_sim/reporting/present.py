"""Plain-text tables of results, for terminals and notebooks.

The tables and the JSON take the tidy results either as a pandas frame (``to_frame()``, in a
notebook) or as its rows (``to_rows()``, plain dictionaries): the command line prints from the rows
and imports pandas only to write ``--out`` (pandas costs a third of a second to import). Both give
the same bytes: the rows' text layout is pandas' ``DataFrame.to_string()`` for text cells
(:func:`text_table`), and ``tests/unit/test_present_rows.py`` holds the two to each other.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union, cast

if TYPE_CHECKING:
    import pandas as pd

Tidy = Union["pd.DataFrame", Sequence[Mapping[str, Any]]]
"""Tidy results: a frame (``to_frame()``) or its rows (``to_rows()``, one dictionary per row)."""

__all__ = [
    "DUPLICATES",
    "GROUPS",
    "HEADLINE_METRICS",
    "comparison_table",
    "format_difference",
    "format_metric",
    "format_value",
    "group_of",
    "kind_of",
    "results_json",
    "shown_metrics",
    "stability_notes",
    "text_table",
    "write_table",
]

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


def _is_frame(table: Tidy) -> bool:
    return hasattr(table, "to_dict")


def _records(table: Tidy) -> list[Mapping[str, Any]]:
    """The rows of tidy results (a frame's as ``to_dict(orient="records")`` gives them)."""
    if _is_frame(table):
        records: list[Mapping[str, Any]] = cast(Any, table).to_dict(orient="records")
        return records
    return list(cast("Sequence[Mapping[str, Any]]", table))


def _nonzero(value: Any) -> bool:
    """A number that is neither 0 nor missing (None, NaN)."""
    return value is not None and value == value and value != 0


def shown_metrics(frame: Tidy) -> tuple[str, ...]:
    """What the terminal table shows: the headline metrics, then every other rate (a read path's,
    a strategy's, an actor's, the guide's M1-M10, the error budget's) that some strategy measured
    as non-zero. ``--all-metrics`` shows everything."""
    from toctou_sim.measure.guide import GUIDE_METRICS

    rows = _records(frame)
    seen = {row["metric"] for row in rows if _nonzero(row["estimate"])}
    extra = tuple(m for m in dict.fromkeys(row["metric"] for row in rows)
                  if m.endswith("_rate") and m in seen and m not in _DETAIL_RATES and m not in HEADLINE_METRICS)
    guide = tuple(name for _, names in GUIDE_METRICS.values() for name in names
                  if name in seen and name not in HEADLINE_METRICS and name not in extra)
    return tuple(m for m in HEADLINE_METRICS + extra + guide if m not in DUPLICATES)


_TIMES_BUDGET = frozenset({"burn_rate", "race_burn_rate", "error_budget_consumed", "worst_hour_burn"})
_SHARES = frozenset({"race_error_share", "worst_hour_budget", "page_rule", "ok_rate", "declined_rate"})
_NOT_RATES = frozenset({"reconcile_failures_per_min"})


def kind_of(metric: str) -> str:
    """How a metric is shown: ``duration`` (ms or s), ``rate`` (per operation: % or per million),
    ``share`` (%), ``times`` (× the sustainable burn), ``throughput`` (ops/s) or ``count``."""
    if metric.endswith(("_per_s", "_ops_s")):  # a per-second rate (offered load, goodput), not a duration
        return "throughput"
    if metric.endswith(("_ms", "_s")):
        return "duration"
    if metric in _TIMES_BUDGET:
        return "times"
    if metric in _SHARES:
        return "share"
    if metric.endswith("_rate") and metric not in _NOT_RATES:
        return "rate"
    if metric.endswith("_per_day"):
        return "per_day"
    return "count"


def _sig(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits without an exponent (``1,080``, ``0.0348``)."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(digits - 1 - magnitude, 0)
    rounded = round(value, decimals)
    return f"{rounded:,.{decimals}f}"


def _seconds(metric: str, value: float) -> float:
    return value / 1e3 if metric.endswith("_ms") else value


def _unit_scale(kind: str, metric: str, reference: float) -> tuple[float, str, str]:
    """``(multiplier, prefix, suffix)`` turning a raw value into the shown unit; ``reference``
    (the estimate, or the bound) picks the unit so an estimate and its ± share one."""
    if kind == "duration":
        seconds = abs(_seconds(metric, reference))
        to_seconds = 1e-3 if metric.endswith("_ms") else 1.0
        if seconds >= 1.0:
            return to_seconds, "", " s"
        if seconds >= 1e-3 or seconds == 0:
            return to_seconds * 1e3, "", " ms"
        return to_seconds * 1e6, "", " µs"
    if kind == "rate":
        if abs(reference) >= 1e-3 or reference == 0:
            return 100.0, "", "%"
        return 1e6, "", " per million"
    if kind == "share":
        return 100.0, "", "%"
    if kind == "times":
        return 1.0, "", "×"
    if kind == "throughput":
        return 1.0, "", " ops/s"
    if kind == "per_day":
        return 1.0, "", "/day"
    return 1.0, "", ""


def _spread(estimate: float, low: float, high: float) -> bool:
    """Whether an interval has a width worth showing: finite, and wider than floating-point noise
    around the estimate (replications that all gave one value, e.g. a p99 in one histogram bin,
    leave a width of ~1e-16 of it, which is no uncertainty; around 0, below 1e-12 of the unit)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return False
    return high - low > max(1e-9 * max(abs(estimate), abs(low), abs(high)), 1e-12)


def format_metric(metric: str, estimate: float, low: float = math.nan, high: float = math.nan,
                  upper_bound: bool = False) -> str:
    """One estimate in its unit with its 95% CI as ± in the same unit.

    Durations in µs/ms/s with 3 significant digits, per-operation rates as a percentage (or per
    million below 0.1%), burn rates as ×, shares as %; an event never seen as ``none seen (< x)``
    with its rule-of-three bound: ``266 ms ± 77 ms``, ``5.15% ± 1.4%``, ``none seen (< 0.04%)``."""
    kind = kind_of(metric)
    if upper_bound:
        scale, prefix, suffix = _unit_scale(kind, metric, high)
        return f"none seen (< {prefix}{_sig(high * scale, 2)}{suffix})"
    if estimate is None or not math.isfinite(estimate):
        return "n/a"
    scale, prefix, suffix = _unit_scale(kind, metric, estimate)
    shown = f"{prefix}{_sig(estimate * scale)}{suffix}"
    if not _spread(estimate, low, high):
        return shown
    half = (high - low) / 2 * scale
    return f"{shown} ± {_sig(half, 2)}{suffix}"


def format_difference(metric: str, estimate: float, low: float = math.nan, high: float = math.nan) -> str:
    """A signed paired difference in the metric's unit, its 95% CI as ±: ``+15.7 ms ± 4.4 ms``
    (rates in percentage points, ``pp``)."""
    if estimate is None or not math.isfinite(estimate):
        return "n/a"
    kind = kind_of(metric)
    reference = estimate if estimate else max(abs(low) if math.isfinite(low) else 0.0,
                                              abs(high) if math.isfinite(high) else 0.0)
    scale, prefix, suffix = _unit_scale(kind, metric, reference)
    if kind in ("rate", "share") and suffix == "%":
        suffix = " pp"
    sign = "+" if estimate > 0 else "−" if estimate < 0 else "±"
    shown = f"{sign}{prefix}{_sig(abs(estimate) * scale)}{suffix}"
    if estimate == 0 and not _spread(estimate, low, high):
        return "no change"
    if not _spread(estimate, low, high):
        return shown
    return f"{shown} ± {_sig((high - low) / 2 * scale, 2)}{suffix}"


def format_value(estimate: float, low: float, high: float, upper_bound: bool = False, metric: str = "") -> str:
    """One estimate with its 95% CI; with ``metric``, in its unit (:func:`format_metric`)."""
    return format_metric(metric, estimate, low, high, upper_bound)


GROUPS: dict[str, tuple[str, ...]] = {
    "harm": ("harm_rate", "harms_per_day", "violation_rate",
             "mismatch_rate", "mismatch_stale_rate", "mismatch_window_rate", "conflict_rate",
             "duplicate_resource_rate", "duplicate_effect_rate", "partial_create_rate", "authorization_drift_rate",
             "cache_validation_mismatch_rate", "idempotency_conflict_rate", "ordering_error_rate"),
    "cost": ("abort_rate", "retry_rate", "latency_p50_ms", "latency_p99_ms", "latency_p999_ms",
             "latency_added_p99_ms", "lock_wait_mean_ms", "throughput_ops_s"),
    "budget": ("error_rate", "unfinished_rate", "latency_breach_rate", "race_error_rate", "burn_rate", "race_burn_rate",
               "worst_hour_burn", "worst_hour_budget"),
}
"""The terminal and report tables' row groups, in order; every other metric is a diagnostic."""

DUPLICATES = {"error_budget_consumed": "burn_rate"}
"""Metrics that repeat another under the guide's name: shown only with ``--all-metrics``."""


def group_of(metric: str) -> str:
    """``harm``, ``cost``, ``budget`` or ``diagnostics``."""
    for name, members in GROUPS.items():
        if metric in members:
            return name
    return "diagnostics"


def _grouped(metrics: list[str]) -> list[tuple[str, list[str]]]:
    order = [*GROUPS, "diagnostics"]
    buckets: dict[str, list[str]] = {g: [] for g in order}
    for metric in metrics:
        buckets[group_of(metric)].append(metric)
    for name, members in GROUPS.items():
        rank = {m: i for i, m in enumerate(members)}
        buckets[name].sort(key=lambda m: rank[m])
    return [(g, buckets[g]) for g in order if buckets[g]]


_ESCAPES = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _labels(labels: Sequence[str]) -> list[str]:
    """Row or column labels as pandas shows them: tabs and line breaks escaped, and the leading
    whitespace every label shares taken off."""
    shown = [" " + label.translate(_ESCAPES) for label in labels]
    common = min((len(label) - len(label.lstrip()) for label in shown), default=0)
    return [label[common:] for label in shown]


def text_table(rows: Sequence[Sequence[str]], index: Sequence[str], columns: Sequence[str]) -> str:
    """``pandas.DataFrame(rows, index=index, columns=columns).to_string()`` for text cells, under
    pandas' default display options, without pandas: the index left-aligned, each column (a
    space, then its cells) right-aligned to its widest cell or header, tabs and line breaks shown
    escaped, trailing spaces kept (and pandas' three lines for a table without rows or columns)."""
    if not index or not columns:
        return f"Empty DataFrame\nColumns: [{', '.join(columns)}]\nIndex: [{', '.join(index)}]"
    labels = ["", *_labels(index)]
    width = max(map(len, labels))
    parts = [[label.ljust(width) for label in labels]]
    for number, header in enumerate(_labels(columns)):
        cells = [" " + row[number].translate(_ESCAPES) for row in rows]
        width = max([len(header), *map(len, cells)])
        parts.append([header.rjust(width), *(cell.rjust(width) for cell in cells)])
    return "\n".join(" ".join(line) for line in zip(*parts, strict=True))


def _block(cells: dict[str, dict[str, str]], columns: list[str], metrics: list[str], with_pandas: bool) -> str:
    """One grouped block of the comparison table: by pandas' ``to_string`` (``with_pandas``, when
    the results came as a frame) or by :func:`text_table`, the same text."""
    rows: list[list[str]] = []
    index: list[str] = []
    for group, members in _grouped(metrics):
        index.append(f"[{group}]")
        rows.append(["" for _ in columns])
        for metric in members:
            index.append(f"  {metric}")
            rows.append([cells[c].get(metric, "") for c in columns])
    if with_pandas:
        import pandas as pd

        return pd.DataFrame(rows, index=index, columns=columns).to_string()
    return text_table(rows, index, columns)


def comparison_table(frame: Tidy, metrics: tuple[str, ...] | None = HEADLINE_METRICS) -> str:
    """Strategies side by side (one column each), rows grouped harm · cost · budget · diagnostics,
    each estimate in its unit with its 95% CI as ±; when the frame has paired differences, a second
    block shows each strategy minus the baseline (rows where every difference is exactly 0 or
    n/a are left out). ``frame``: the tidy frame or its rows (the same text)."""
    with_pandas = _is_frame(frame)
    every = _records(frame)
    chosen = every if metrics is None else [row for row in every
                                            if row["metric"] in metrics and row["metric"] not in DUPLICATES]
    order = [m for m in (metrics or tuple(dict.fromkeys(row["metric"] for row in every)))
             if m in {row["metric"] for row in chosen}]
    strategies = list(dict.fromkeys(row["strategy"] for row in chosen))
    cells: dict[str, dict[str, str]] = {s: {} for s in strategies}
    diffs: dict[str, dict[str, str]] = {s: {} for s in strategies}
    has_diff = "diff" in cast(Any, frame).columns if with_pandas else any("diff" in row for row in chosen)
    for row in chosen:
        strategy, metric = str(row["strategy"]), str(row["metric"])
        cells[strategy][metric] = format_metric(metric, row["estimate"], row["ci_low"], row["ci_high"],
                                                bool(row["upper_bound"]))
        if has_diff and strategy != row.get("baseline"):
            diffs[strategy][metric] = format_difference(metric, row["diff"], row["diff_low"], row["diff_high"])
    n_reps = int(max(row["n_reps"] for row in chosen)) if chosen else 0
    lines = [f"estimates ± 95% CI over {n_reps} replications", _block(cells, strategies, order, with_pandas)]
    lines += stability_notes(every)
    if has_diff and len(strategies) > 1:
        baseline = chosen[0]["baseline"]
        others = [s for s in strategies if s != baseline]
        changed = [m for m in order if any(diffs[s].get(m, "n/a") not in ("n/a", "no change", "") for s in others)]
        if changed:
            lines += ["", f"paired difference vs {baseline} (common random numbers) ± 95% CI; pp = percentage points",
                      _block(diffs, others, changed, with_pandas)]
    return "\n".join(lines)


def format_diff(estimate: float, low: float, high: float, metric: str = "") -> str:
    """A signed difference with its 95% CI as ± (:func:`format_difference`)."""
    return format_difference(metric, estimate, low, high)


def stability_notes(frame: Tidy) -> list[str]:
    """One warning line per strategy whose runs had no steady state."""
    flagged = list(dict.fromkeys(row["strategy"] for row in _records(frame) if bool(row.get("unstable", False))))
    return [f"UNSTABLE {name}: no steady state, latency grows with the horizon (a backlog grew for the whole run); "
            "its latencies and rates estimate nothing" for name in flagged]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def results_json(frame: Tidy, **extra: Any) -> str:
    """``{"results": [tidy rows]}`` with NaN as null; keys sorted for byte-stable output. ``frame``:
    the tidy frame or its rows (the same text)."""
    rows = [{k: _clean(v) for k, v in row.items()} for row in _records(frame)]
    return json.dumps({**extra, "results": rows}, sort_keys=True, indent=1)


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a tidy table as CSV or Parquet, by the file's suffix."""
    path = Path(path)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        from toctou_sim.core.limits import csv_safe

        csv_safe(frame).to_csv(path, index=False)
    else:
        from toctou_sim.spec.model import SpecError

        raise SpecError(f"out {path}: expected a .csv or .parquet file name")
