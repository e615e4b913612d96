"""The design review's tables: results, error budget, alerts and headroom, as tidy frames of text.

Every cell is already formatted (a unit, a 95% interval; :mod:`toctou_sim.reporting.present`), so
the same frame prints in a terminal, shows in a notebook and becomes an HTML table
(:mod:`toctou_sim.reporting.page`) without another formatting step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from toctou_sim.capacity.headroom import HeadroomResult
from toctou_sim.core.units import format_duration
from toctou_sim.measure.budget import TimelineBudget
from toctou_sim.reporting.estimates import estimate, find_row
from toctou_sim.reporting.present import HEADLINE_METRICS, _grouped, format_difference, format_value, group_of
from toctou_sim.spec.model import SloSpec

__all__ = [
    "RESULTS_METRICS",
    "alert_table",
    "budget_table",
    "headroom_line",
    "headroom_table",
    "results_table",
]

def budget_table(frame: pd.DataFrame, slo: SloSpec) -> pd.DataFrame:
    """One row per strategy: the error budget in the guide's terms (estimates over replications)."""
    rows = []
    for strategy in dict.fromkeys(frame["strategy"]):

        def cell(metric: str, strategy: str = strategy) -> str:
            row = find_row(frame, strategy, metric)
            if row is None:
                return "n/a"
            return format_value(row["estimate"], row["ci_low"], row["ci_high"], bool(row.get("upper_bound", False)),
                                metric)

        burn = estimate(frame, strategy, "burn_rate")
        exhausted = slo.period / burn if burn > 0 else math.inf
        page = estimate(frame, strategy, "page_rule")
        harm_cost = estimate(frame, strategy, "harm_cost_per_day")
        rows.append(
            {
                "strategy": strategy,
                "harms / op": cell("harm_rate") if find_row(frame, strategy, "harm_rate") is not None
                else cell("violation_rate"),
                "harms / day": cell("harms_per_day"),
                **({f"harm cost / month ({slo.currency})": f"{harm_cost * 30:,.0f}"}
                   if math.isfinite(harm_cost) else {}),
                "aborts / op": cell("abort_rate"),
                "latency breaches / op": cell("latency_breach_rate"),
                "unfinished / op": cell("unfinished_rate"),
                "unstable": "yes" if estimate(frame, strategy, "unstable") >= 0.5 else "no",
                "error rate": cell("error_rate"),
                "burn rate (x)": cell("burn_rate"),
                "budget consumed over period": f"{burn:.0%}" if math.isfinite(burn) else "n/a",
                "budget gone after": format_duration(exhausted) if math.isfinite(exhausted) else "never",
                "race share of errors": cell("race_error_share"),
                "worst-hour burn (x)": cell("worst_hour_burn"),
                "worst-hour budget spent": _percent(frame, strategy, "worst_hour_budget"),
                "guide's rule": ("page" if page >= 0.5 else "ticket")
                + (f" ({page:.0%} of reps page)" if 0 < page < 1 else ""),
            }
        )
    return pd.DataFrame(rows)


def _percent(frame: pd.DataFrame, strategy: str, metric: str) -> str:
    """An estimate as a percentage with its 95% interval."""
    value = estimate(frame, strategy, metric)
    if not math.isfinite(value):
        return "n/a"
    low, high = estimate(frame, strategy, metric, "ci_low"), estimate(frame, strategy, metric, "ci_high")
    if math.isfinite(low) and math.isfinite(high) and low != high:
        return f"{value:.1%} [{low:.1%}, {high:.1%}]"
    return f"{value:.1%}"


def alert_table(views: Mapping[str, Sequence[TimelineBudget]]) -> pd.DataFrame:
    """One row per strategy and alert: how often it fired, when first, false pages (judged against
    the alert's own definition) and pages the guide's 20%-per-hour rule would not have sent."""
    rows = []
    for strategy, replications in views.items():
        if not replications:
            continue
        for index, alert in enumerate(replications[0].alerts):
            evaluations = [view.alerts[index] for view in replications]
            if not any(e.evaluable for e in evaluations):
                rows.append(
                    {
                        "strategy": strategy,
                        "alert": alert.alert.label,
                        "severity": alert.alert.severity,
                        "fired in": f"not evaluable: the run is shorter than the "
                        f"{format_duration(alert.alert.long_window)} long window",
                        "first fires at (median)": "",
                        "episodes / rep": "",
                        "false pages / rep": "",
                        "below guide rule / rep": "",
                    }
                )
                continue
            fired = [e for e in evaluations if e.episodes]
            first = [e.first_fire for e in fired]
            rows.append(
                {
                    "strategy": strategy,
                    "alert": alert.alert.label,
                    "severity": alert.alert.severity,
                    "fired in": f"{len(fired)} of {len(evaluations)} reps",
                    "first fires at (median)": format_duration(float(np.median(first))) if first else "never",
                    "episodes / rep": f"{np.mean([len(e.episodes) for e in evaluations]):.2g}",
                    "false pages / rep": (
                        f"{np.mean([e.false_pages for e in evaluations]):.2g}"
                        if alert.alert.severity == "page"
                        else "-"
                    ),
                    "below guide rule / rep": (
                        f"{np.mean([e.below_guide for e in evaluations]):.2g}"
                        if alert.alert.severity == "page"
                        else "-"
                    ),
                }
            )
    return pd.DataFrame(rows)


RESULTS_METRICS = tuple(dict.fromkeys([*(m for m in HEADLINE_METRICS if m != "latency_p999_ms"),
                                       "error_rate", "burn_rate"]))
"""The report's results table: the terminal's headline metrics and the error budget."""


def results_table(frame: pd.DataFrame, metrics: Sequence[str] = RESULTS_METRICS,
                  headroom: Mapping[str, HeadroomResult] | None = None) -> pd.DataFrame:
    """Metrics down, strategies across: estimate ± relative 95% half-width; paired p99 difference;
    with ``headroom``, the highest sustainable load as a last row."""
    strategies = list(dict.fromkeys(frame["strategy"]))
    table: dict[str, list[str]] = {}
    present = [m for m in metrics if m in set(frame["metric"])]
    present = [m for _, members in _grouped(present) for m in members]  # harm · cost · budget · diagnostics
    for strategy in strategies:
        column = []
        for metric in present:
            row = find_row(frame, strategy, metric)
            column.append(
                ""
                if row is None
                else format_value(row["estimate"], row["ci_low"], row["ci_high"], bool(row.get("upper_bound", False)),
                                  metric)
            )
        table[strategy] = column
    out = pd.DataFrame(table, index=[f"{group_of(m)}: {m}" for m in present])
    if "diff" in frame.columns:
        out.loc["cost: added p99 latency vs baseline"] = [
            format_difference("latency_p99_ms", estimate(frame, s, "latency_p99_ms", "diff"),
                              estimate(frame, s, "latency_p99_ms", "diff_low"),
                              estimate(frame, s, "latency_p99_ms", "diff_high"))
            for s in strategies
        ]
    if headroom:
        out.loc["capacity: headroom (x today's load)"] = [headroom[s].cell() if s in headroom else ""
                                                          for s in strategies]
    return out


def headroom_table(headroom: Mapping[str, HeadroomResult]) -> pd.DataFrame:
    """One row per strategy: its headroom, the knee's arrival rate, what broke, the loads tried."""
    return pd.DataFrame([
        {
            "strategy": name,
            "headroom (x today's load)": result.cell(),
            "knee (ops/s)": f"{result.knee_rate:.4g}" if result.headroom > 0 else "n/a",
            "what broke": result.cause or ("nothing" if result.broke_by == "not reached" else result.broke_by),
            "today's load": "healthy" if result.points and result.points[0].healthy
            else (result.points[0].cause if result.points else ""),
            "loads tried (x)": ", ".join(f"{p.multiplier:.3g}" for p in sorted(result.points,
                                                                              key=lambda p: p.multiplier)),
        }
        for name, result in headroom.items()
    ])


def headroom_line(headroom: Mapping[str, HeadroomResult], arrival_rate: float) -> str:
    """The verdict's headroom sentence: every strategy's headroom at the modelled load."""
    return (f"Headroom at today's load ({arrival_rate:.4g} ops/s): "
            + " ".join(result.sentence() for result in headroom.values()))
