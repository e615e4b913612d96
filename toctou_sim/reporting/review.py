"""The design-review bundle: run the comparison, chart it, and recommend a strategy.

``report(model, out)`` runs the strategies on common random numbers (and a small sweep when a
grid is given), then writes to ``out``:

- ``report.html``: self-contained (charts embedded as PNG data), with the results table, the
  error budget per strategy, when each burn-rate alert fires, the model as given, seed and
  version, and a recommendation;
- ``*.png`` / ``*.svg``: each chart; ``results.csv`` (tidy estimates), ``sweep.csv`` (with a
  grid), ``trace.json`` (a short traced run of the baseline, for Perfetto).

The recommendation applies the guide's decision checklist quantitatively. A strategy
**qualifies** when, at 95% confidence,

1. the harm stays within its budget: the upper bound of the harm rate (oversells, double
   charges, duplicate creates, unauthorized actions, counted from the effect ledger) is at most
   the model's ``slo.harm_budget`` (default: the availability allowance ``1 − target``);
2. the error-budget burn stays within the SLO: the upper bound of the error rate (harms, aborts,
   latency breaches and operations left unfinished) over ``1 − target`` is at most 1;
3. no replication has an hour the guide's rule would page for (> 20% of the budget in one hour);
4. it reaches a steady state: fewer than half of the replications are unstable (a backlog that
   grows for the whole run: latency then grows with the horizon and estimates nothing).

Among qualifying strategies the cheapest wins: the least added p99 latency (paired against the
baseline), then the fewest aborts; the next is the runner-up. Every other strategy is listed
with the constraints it fails and by how much. When none qualifies, the report says so, names
the binding constraint (the one the closest candidate fails) and tries the registered
mitigations that apply to the model, saying which would qualify.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from toctou_sim.capacity.headroom import HeadroomResult
from toctou_sim.core.limits import csv_safe
from toctou_sim.core.units import format_duration
from toctou_sim.experiment.montecarlo import ComparisonResult, compare, unique_strategies
from toctou_sim.measure.budget import TimelineBudget, analyse_model_timeline
from toctou_sim.measure.metrics import Histogram
from toctou_sim.reporting.present import HEADLINE_METRICS, _grouped, format_difference, format_value, group_of
from toctou_sim.spec.model import ModelSpec, SloSpec, StrategySpec, load_model

if TYPE_CHECKING:
    from toctou_sim.capacity.sensitivity import SensitivityResult

__all__ = [
    "Recommendation",
    "ReportResult",
    "Verdict",
    "budget_table",
    "candidate_strategies",
    "recommend",
    "report",
    "run_grid",
]

CONSTRAINTS = {
    "harm": "harm within its budget",
    "burn": "error-budget burn within the SLO",
    "page": "no hour the guide's rule would page for",
    "stable": "a steady state (no backlog growing for the whole run)",
}


@dataclass(frozen=True)
class Verdict:
    """How one strategy fares against the SLO and the harm budget, and what it costs.

    Attributes:
        strategy: its label.
        harm_high: 95% upper bound of the harm rate (harms per operation, from the ledger).
        burn_high: 95% upper bound of the burn rate (error rate over ``1 − target``).
        page_share: share of replications with an hour the guide's rule pages for.
        added_p99_ms: p99 latency minus the baseline's, paired (ms).
        abort_rate: aborted operations per operation (duplicates turned away excluded).
        failures: constraint name -> a sentence saying by how much it fails.
        unstable_share: share of replications whose backlog grew for the whole run.
        harms_per_day: expected harms per day at the modelled load.
    """

    strategy: str
    harm_high: float
    burn_high: float
    page_share: float
    added_p99_ms: float
    abort_rate: float
    failures: dict[str, str] = field(default_factory=dict)
    added_low: float = math.nan
    """95% interval of the added p99 latency (paired against the baseline)."""
    added_high: float = math.nan
    unstable_share: float = 0.0
    harms_per_day: float = math.nan
    caveats: dict[str, str] = field(default_factory=dict)
    """Constraints not failed but not demonstrated either (no harm seen, but too few operations
    to bound the rate below its budget)."""

    @property
    def qualifies(self) -> bool:
        """It meets every constraint."""
        return not self.failures

    @property
    def unstable(self) -> bool:
        """At least half of its replications had no steady state."""
        return self.unstable_share >= 0.5

    @property
    def cost(self) -> tuple[bool, float, float]:
        """What ranks qualifying strategies: demonstrated before undemonstrated, then added p99
        latency, then aborts."""
        added = self.added_p99_ms if math.isfinite(self.added_p99_ms) else math.inf
        return (bool(self.caveats), added, self.abort_rate if math.isfinite(self.abort_rate) else math.inf)


@dataclass(frozen=True)
class Recommendation:
    """The checklist's outcome.

    Attributes:
        chosen: the cheapest qualifying strategy (``None`` when none qualifies).
        runner_up: the next cheapest qualifying one.
        verdicts: every strategy's verdict, cheapest first.
        binding: when none qualifies, the constraint the closest candidate fails.
        lines: the recommendation as sentences.
        would_qualify: when none of the compared strategies qualifies, the registered
            mitigations tried in their place that would (filled by :func:`report`).
    """

    chosen: str | None
    runner_up: str | None
    verdicts: list[Verdict]
    binding: str | None
    lines: list[str]
    would_qualify: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _row(frame: pd.DataFrame, strategy: str, metric: str) -> pd.Series | None:
    rows = frame[(frame["strategy"] == strategy) & (frame["metric"] == metric)]
    return None if rows.empty else rows.iloc[0]


def _value(frame: pd.DataFrame, strategy: str, metric: str, column: str = "estimate") -> float:
    row = _row(frame, strategy, metric)
    if row is None or column not in row.index:
        return math.nan
    value = row[column]
    return float(value) if value is not None and not pd.isna(value) else math.nan


def _high(frame: pd.DataFrame, strategy: str, metric: str) -> float:
    """The 95% upper bound (the estimate when the interval is unknown)."""
    high = _value(frame, strategy, metric, "ci_high")
    return high if math.isfinite(high) else _value(frame, strategy, metric)


def _per_million(rate: float) -> str:
    """A per-operation rate as people say it: a percentage from 0.1% up, per million below."""
    if not math.isfinite(rate):
        return "n/a"
    if rate >= 1e-3:
        return f"{rate * 100:.3g}%"
    return f"{rate * 1e6:.3g} per million"


def recommend(frame: pd.DataFrame, slo: SloSpec, baseline: str | None = None, harm: str = "harm") -> Recommendation:
    """Apply the decision checklist to a comparison's tidy frame (see the module docstring).

    Args:
        frame: rows with ``strategy``, ``metric``, ``estimate``, ``ci_low``, ``ci_high`` and,
            for the latency cost, the paired ``diff`` against the baseline.
        slo: the SLO (and harm budget) the strategies are held to.
        baseline: the strategy latency is paired against (default: the frame's ``baseline``).
        harm: what a harm is called in this model ("oversell", "double charge").
    """
    allowed = 1.0 - slo.target
    harm_allowed = slo.harm_allowed
    budget_name = "the harm budget" if slo.harm_budget is not None else "the SLO's allowance (no harm_budget set)"
    strategies = list(dict.fromkeys(frame["strategy"]))
    if baseline is None:
        baseline = str(frame["baseline"].iloc[0]) if "baseline" in frame.columns and len(frame) else strategies[0]
    verdicts: list[Verdict] = []
    for strategy in strategies:
        harm_metric = "harm_rate" if _row(frame, strategy, "harm_rate") is not None else "violation_rate"
        harm_high = _high(frame, strategy, harm_metric)
        error_high = _high(frame, strategy, "error_rate")
        burn_high = error_high / allowed
        page_share = _value(frame, strategy, "page_rule")
        worst = _value(frame, strategy, "worst_hour_budget")
        unstable = _value(frame, strategy, "unstable")
        unstable = unstable if math.isfinite(unstable) else 0.0
        added = 0.0 if strategy == baseline else _value(frame, strategy, "latency_p99_ms", "diff")
        turned_away = _value(frame, strategy, "turned_away_duplicate_rate")
        # Duplicate deliveries turned away (an idempotency 409) are the mitigation working, not a cost.
        aborts = _value(frame, strategy, "abort_rate") - (turned_away if math.isfinite(turned_away) else 0.0)
        failures: dict[str, str] = {}
        caveats: dict[str, str] = {}
        none_seen = _value(frame, strategy, harm_metric) == 0
        if not harm_high <= harm_allowed and none_seen:
            operations = _value(frame, strategy, "operations") * _value(frame, strategy, "operations", "n_reps")
            caveats["harm"] = (
                f"no {harm} seen in {operations:,.0f} operations, but samples this size only bound the rate "
                f"below {_per_million(harm_high)} (95%, replication-level), far above the budget of "
                f"{_per_million(harm_allowed)}; a structural guarantee needs a proof in a small scope "
                f"(toctou-sim explore MODEL --strategy {strategy})"
            )
        elif not harm_high <= harm_allowed:
            failures["harm"] = (
                f"{harm} rate up to {_per_million(harm_high)} of operations exceeds {budget_name} of "
                f"{_per_million(harm_allowed)} (about {_value(frame, strategy, 'harms_per_day'):,.0f} per day "
                "at the modelled load)"
            )
        if not burn_high <= 1.0 and _value(frame, strategy, "error_rate") == 0:
            operations = _value(frame, strategy, "operations") * _value(frame, strategy, "operations", "n_reps")
            caveats["burn"] = (
                f"no error seen in {operations:,.0f} operations; samples this size only bound the burn below "
                f"{burn_high:.3g}x (95%, replication-level)"
            )
        elif not burn_high <= 1.0:
            parts = ", ".join(
                f"{label} {_value(frame, strategy, metric):.3g}"
                for label, metric in (
                    (f"{harm}s", harm_metric),
                    ("aborts", "abort_rate"),
                    ("latency breaches", "latency_breach_rate"),
                    ("unfinished", "unfinished_rate"),
                )
                if _row(frame, strategy, metric) is not None
            )
            failures["burn"] = (
                f"burns the error budget {_value(frame, strategy, 'burn_rate'):.3g}x "
                f"(up to {burn_high:.3g}x; {parts} per operation)"
            )
        if page_share > 0:
            failures["page"] = (
                f"the guide would page: the worst hour spends {worst:.1%} of the budget "
                f"(> {slo.page_budget_fraction:.0%}) in {page_share:.0%} of replications"
            )
        if unstable >= 0.5:
            growth = _value(frame, strategy, "backlog_growth_per_s")
            failures["stable"] = (
                f"unstable: no steady state, latency grows with the horizon (the backlog grows by "
                f"{growth:.3g} operations/s in {unstable:.0%} of replications)"
            )
        low = 0.0 if strategy == baseline else _value(frame, strategy, "latency_p99_ms", "diff_low")
        high = 0.0 if strategy == baseline else _value(frame, strategy, "latency_p99_ms", "diff_high")
        verdicts.append(Verdict(strategy, harm_high, burn_high, page_share, added, aborts, failures, low, high,
                                unstable, _value(frame, strategy, "harms_per_day"), caveats))

    qualifying = sorted((v for v in verdicts if v.qualifies), key=lambda v: v.cost)
    others = sorted((v for v in verdicts if not v.qualifies),
                    key=lambda v: (v.unstable, len(v.failures), v.burn_high))
    chosen = qualifying[0].strategy if qualifying else None
    runner_up = qualifying[1].strategy if len(qualifying) > 1 else None
    lines: list[str] = []
    binding: str | None = None
    if qualifying:
        best = qualifying[0]
        kept = (f"no {harm} was seen" if "harm" in best.caveats else
                f"it keeps {harm}s within {budget_name} (at most {_per_million(best.harm_high)} operations, "
                f"allowed {_per_million(harm_allowed)})")
        burn = ("no SLO error was seen" if "burn" in best.caveats else
                f"it burns at most {best.burn_high:.2g}x the error budget")
        lines.append(
            f"Recommended: {best.strategy}. {kept[0].upper()}{kept[1:]}; {burn}, "
            f"for {_ms(best.added_p99_ms)} of added p99 latency vs {baseline} and an abort rate of "
            f"{best.abort_rate:.3g}."
        )
        if best.caveats:
            lines.append("Caveat: " + "; ".join(best.caveats.values()) + ".")
        if runner_up is not None:
            second = qualifying[1]
            lines.append(
                f"Runner-up: {second.strategy}, also within the SLO ("
                + ("no error seen" if "burn" in second.caveats else f"burn at most {second.burn_high:.2g}x") + "), "
                f"at {_ms(second.added_p99_ms)} added p99 latency and abort rate {second.abort_rate:.3g}."
            )
            if _overlap(best, second):
                lines.append(
                    f"Note: the added p99 latencies of {best.strategy} and {second.strategy} are not distinguishable "
                    f"at 95% ([{_ms(best.added_low)}, {_ms(best.added_high)}] vs "
                    f"[{_ms(second.added_low)}, {_ms(second.added_high)}]): run more replications, or let the "
                    "abort rate and operational cost decide."
                )
        else:
            lines.append("No runner-up: no other strategy qualifies.")
    else:
        closest = others[0]
        binding = next(iter(closest.failures))
        lines.append(
            f"No strategy qualifies. The binding constraint is {CONSTRAINTS[binding]}: even the closest "
            f"candidate, {closest.strategy}, fails it ({closest.failures[binding]})."
        )
        counts = {name: sum(name in v.failures for v in verdicts) for name in CONSTRAINTS}
        lines.append(
            "Constraints failed: "
            + "; ".join(f"{CONSTRAINTS[name]}: {count} of {len(verdicts)} strategies"
                        for name, count in counts.items() if count)
        )
    for verdict in others:
        lines.append(f"{verdict.strategy} fails: " + "; ".join(verdict.failures.values()) + ".")
    ordered = qualifying + others
    return Recommendation(chosen, runner_up, ordered, binding, lines)


def candidate_strategies(model: ModelSpec) -> dict[str, StrategySpec]:
    """The registered mitigations, with their defaults, that apply to ``model``'s invariant and
    read path: what a review tries when none of the model's own strategies qualifies.

    The conditional write (``cas`` with ``compare = "predicate"``) is tried beside the version CAS;
    idempotency only where a request can be delivered twice; strategies that need parts the model
    does not have (a lease's replicas, a reconciler's repair) are left out.
    """
    from toctou_sim.spec.model import STRATEGY_SPECS

    candidates: dict[str, StrategySpec] = {}
    duplicates = model.clients.redelivery is not None or model.clients.timeout is not None
    wanted: list[tuple[str, dict[str, Any]]] = [
        ("recheck", {"kind": "recheck"}),
        ("cas", {"kind": "cas"}),
        ("conditional_write", {"kind": "cas", "compare": "predicate"}),
        ("lock", {"kind": "lock", "wait_timeout": 1.0}),
        ("reservation", {"kind": "reservation"}),
        ("token", {"kind": "token"}),
    ]
    if duplicates:
        wanted += [
            ("idempotency", {"kind": "idempotency"}),
            ("idempotency_conditional", {"kind": "idempotency", "inner": {"kind": "cas", "compare": "predicate"}}),
        ]
    for name, data in wanted:
        if data["kind"] not in STRATEGY_SPECS:
            continue
        spec = StrategySpec.parse(data)
        assert isinstance(spec, StrategySpec)
        if spec.check_model(model) is None:
            candidates[name] = spec.model_copy(update={"label": name})
    return candidates


def _what_would_pass(spec: ModelSpec, tried: Sequence[str], recommendation: Recommendation, *, reps: int, seed: int,
                     executor: Executor | None, progress: bool) -> Recommendation:
    """None of ``tried`` qualifies: run the applicable registered mitigations not tried yet and say
    which would qualify ("what would make it pass")."""
    tried_specs = [spec.resolve_strategy(name).model_dump(exclude={"label"}) for name in tried]
    extra = {name: candidate for name, candidate in candidate_strategies(spec).items()
             if name not in tried and candidate.model_dump(exclude={"label"}) not in tried_specs}
    if not extra:
        return recommendation
    widened = spec.model_copy(update={"strategies": {**spec.strategies, **extra}})
    widened._source, widened._text = spec.source, spec.text
    alternative = compare(widened, ["none", *extra], reps=reps, seed=seed, baseline="none", executor=executor,
                          progress=progress)
    verdicts = recommend(alternative.to_frame(), spec.slo, "none", harm=spec.harm)
    passing = [v for v in verdicts.verdicts if v.qualifies and v.strategy != "none"]
    lines = list(recommendation.lines)
    if passing:
        described = "; ".join(
            f"{v.strategy} ({spec_summary(extra[v.strategy])}: {v.strategy} keeps {spec.harm}s at most "
            f"{_per_million(v.harm_high)}, burn at most {v.burn_high:.2g}x, {_ms(v.added_p99_ms)} p99)"
            for v in passing
        )
        lines.insert(1, f"What would make it pass: of the registered mitigations not in the model, these qualify "
                        f"on the same workload: {described}. Add the first as a [strategies.*] entry to review it.")
    else:
        lines.insert(1, "What would make it pass: none of the registered mitigations with default settings "
                        f"qualifies either ({', '.join(extra)} tried); the constraint is in the workload or the SLO.")
    return Recommendation(recommendation.chosen, recommendation.runner_up, recommendation.verdicts,
                          recommendation.binding, lines, [v.strategy for v in passing])


def spec_summary(strategy: StrategySpec) -> str:
    """A strategy's settings in model-file form, e.g. ``kind = "cas", compare = "predicate"``."""
    data = strategy.model_dump(mode="json", exclude_defaults=True, exclude={"label"})
    data = {"kind": strategy.kind, **data}
    return ", ".join(f"{key} = {value!r}" if not isinstance(value, dict) else f"{key} = {{...}}"
                     for key, value in data.items()).replace("'", '"')


def _overlap(first: Verdict, second: Verdict) -> bool:
    """Whether two strategies' added-latency intervals overlap (both known)."""
    bounds = (first.added_low, first.added_high, second.added_low, second.added_high)
    if not all(math.isfinite(b) for b in bounds):
        return False
    return first.added_high >= second.added_low and second.added_high >= first.added_low


def _ms(value: float) -> str:
    """A signed latency given in ms, in ms or s with 3 significant digits (``+21.5 ms``, ``+16.1 s``)."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value / 1e3:+.3g} s" if abs(value) >= 1e3 else f"{value:+.3g} ms"


def budget_table(frame: pd.DataFrame, slo: SloSpec) -> pd.DataFrame:
    """One row per strategy: the error budget in the guide's terms (estimates over replications)."""
    rows = []
    for strategy in dict.fromkeys(frame["strategy"]):

        def cell(metric: str, strategy: str = strategy) -> str:
            row = _row(frame, strategy, metric)
            if row is None:
                return "n/a"
            return format_value(row["estimate"], row["ci_low"], row["ci_high"], bool(row.get("upper_bound", False)),
                                metric)

        burn = _value(frame, strategy, "burn_rate")
        exhausted = slo.period / burn if burn > 0 else math.inf
        page = _value(frame, strategy, "page_rule")
        harm_cost = _value(frame, strategy, "harm_cost_per_day")
        rows.append(
            {
                "strategy": strategy,
                "harms / op": cell("harm_rate") if _row(frame, strategy, "harm_rate") is not None
                else cell("violation_rate"),
                "harms / day": cell("harms_per_day"),
                **({f"harm cost / month ({slo.currency})": f"{harm_cost * 30:,.0f}"}
                   if math.isfinite(harm_cost) else {}),
                "aborts / op": cell("abort_rate"),
                "latency breaches / op": cell("latency_breach_rate"),
                "unfinished / op": cell("unfinished_rate"),
                "unstable": "yes" if _value(frame, strategy, "unstable") >= 0.5 else "no",
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
    value = _value(frame, strategy, metric)
    if not math.isfinite(value):
        return "n/a"
    low, high = _value(frame, strategy, metric, "ci_low"), _value(frame, strategy, metric, "ci_high")
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


# --------------------------------------------------------------------------------------------
# Grids: a small sweep run through compare, one configuration at a time.


def _numeric(text: Any) -> Any:
    """A grid value as a number when it is one (durations in seconds), else as given."""
    from toctou_sim.core.units import parse_duration
    from toctou_sim.spec.model import parse_override_value as _parse_override_value

    value = _parse_override_value(text) if isinstance(text, str) else text
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    try:
        return parse_duration(value)
    except (ValueError, TypeError):
        return value


def _axis_label(path: str, values: Sequence[str]) -> str:
    """``path (s)`` when the grid's values are durations with a unit, else the path."""
    from toctou_sim.spec.model import parse_override_value as _parse_override_value

    texts = [v for v in values if isinstance(_parse_override_value(v), str)]
    return f"{path} (s)" if texts and all(isinstance(_numeric(v), float) for v in texts) else path


def run_grid(
    model: ModelSpec,
    grid: Mapping[str, Sequence[str]],
    strategies: Sequence[str],
    *,
    reps: int,
    seed: int,
    executor: Executor | None = None,
    max_ops: float | None = None,
    max_memory: float | None = None,
) -> pd.DataFrame:
    """The tidy sweep frame (a column per swept parameter), from :func:`toctou_sim.sweeps.driver.sweep`."""
    from toctou_sim.sweeps.driver import sweep

    frame = sweep(model, grid=dict(grid), strategies=list(strategies), reps=reps, seed=seed,
                  executor=executor, max_ops=max_ops, max_memory=max_memory).to_frame()
    for path in grid:
        frame[path] = [_numeric(v) for v in frame[path]]
    return pd.DataFrame(frame)


# --------------------------------------------------------------------------------------------
# The bundle.


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


def _merged_histograms(result: ComparisonResult) -> dict[str, dict[str, Histogram]]:
    merged: dict[str, dict[str, Histogram]] = {}
    for strategy, simulation in result.results.items():
        hists: dict[str, Histogram] = {}
        for replication in simulation.replications:
            for name, histogram in replication.histograms.items():
                hists.setdefault(name, Histogram()).merge(histogram)
        merged[strategy] = hists
    return merged


def _timelines(result: ComparisonResult) -> dict[str, list[TimelineBudget]]:
    views: dict[str, list[TimelineBudget]] = {}
    for strategy, simulation in result.results.items():
        model = simulation.model
        views[strategy] = [
            analyse_model_timeline(r.timeline, model)
            for r in simulation.replications
            if r.timeline is not None
        ]
    return views


_HEADLINE = tuple(dict.fromkeys([*(m for m in HEADLINE_METRICS if m != "latency_p999_ms"), "error_rate", "burn_rate"]))
"""The report's results table: the terminal's headline metrics and the error budget."""


def results_table(frame: pd.DataFrame, metrics: Sequence[str] = _HEADLINE,
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
            row = _row(frame, strategy, metric)
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
            format_difference("latency_p99_ms", _value(frame, s, "latency_p99_ms", "diff"),
                              _value(frame, s, "latency_p99_ms", "diff_low"),
                              _value(frame, s, "latency_p99_ms", "diff_high"))
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


def _ci(frame: pd.DataFrame, strategy: str) -> str:
    low = _value(frame, strategy, "latency_p99_ms", "diff_low")
    high = _value(frame, strategy, "latency_p99_ms", "diff_high")
    return f" [{low:+.3g}, {high:+.3g}]" if math.isfinite(low) and math.isfinite(high) and low != high else ""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; max-width: 1180px;
       margin: 2em auto; padding: 0 1em; color: #1d1d1f; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
.meta { color: #555; } .verdict { background: #eef6ee; border-left: 6px solid #2e7d32; padding: 0.8em 1em; }
.verdict.none { background: #fdecea; border-left-color: #c62828; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; } th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.92em; } pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
ul.rec li { margin-bottom: 0.4em; } .scroll { overflow-x: auto; max-width: 100%; }
td { white-space: nowrap; }
"""


def _html_table(frame: pd.DataFrame, index: bool = False) -> str:
    """A table in a box that scrolls sideways on a narrow screen (the page itself never does)."""
    return '<div class="scroll">' + frame.to_html(index=index, border=0, escape=True, na_rep="") + "</div>"


def _render(
    *,
    model: ModelSpec,
    result: ComparisonResult,
    frame: pd.DataFrame,
    recommendation: Recommendation,
    budget: pd.DataFrame,
    alerts: pd.DataFrame,
    figures: list[tuple[str, Path, str]],
    reps: int,
    seed: int,
    version: str,
    files: list[Path],
    headroom: Mapping[str, HeadroomResult] | None = None,
    sensitivity_html: str = "",
) -> str:
    slo = model.slo
    verdict_class = "verdict" if recommendation.chosen else "verdict none"
    headline = recommendation.lines[0]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>toctou-sim report: {html.escape(model.model.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Design review: {html.escape(model.model.name)}</h1>",
        f'<p class="meta">{html.escape(model.model.description)}</p>',
        f'<p class="meta">Strategies {html.escape(", ".join(result.strategies))} on common random numbers; '
        f"{reps} replications each of {format_duration(model.model.horizon)} simulated "
        f"(warm-up {format_duration(model.model.warmup)}); seed {seed}; toctou-sim {html.escape(version)}; "
        f"model hash {model.content_hash()}. SLO: {slo.target:.4g} over {format_duration(slo.period)}"
        + (f", latency threshold {format_duration(slo.latency_threshold)}" if slo.latency_threshold else "")
        + ".</p>",
        f'<p class="meta">The harm: {html.escape(model.harm)}. Harm budget: '
        + (f"{slo.harm_budget.per_million:g} per million operations" if slo.harm_budget is not None
           else f"none set (held to the SLO's allowance, {1 - slo.target:.2g} per operation)")
        + (f"; each costs {html.escape(slo.currency)}{slo.harm_cost:,.2f}" if slo.harm_cost is not None else "")
        + ".</p>",
        f'<div class="{verdict_class}"><strong>{html.escape(headline)}</strong>'
        + "".join(f"<br>{html.escape(line)}" for line in recommendation.lines[1:3])
        + (f"<br>{html.escape(headroom_line(headroom, model.clients.arrival.poisson.rate))}" if headroom else "")
        + "</div>",
        "<h2>Results</h2>",
        "<p>Estimates are means over replications with 95% Student-t intervals (± relative half-width); "
        "a rate never observed shows its 95% upper bound (from the replications, not the rule of three: "
        "harms come in bursts). The last row is the p99 latency "
        f"paired against {html.escape(result.baseline)} on the same random numbers.</p>",
        _html_table(results_table(frame, headroom=headroom), index=True),
        "<h2>Error budget</h2>",
        "<p>Errors are harmful operations + aborted ones + ok ones slower than the latency threshold + "
        "operations still unfinished when the run ended (charged as timeouts). "
        "Burn rate = error rate / (1 − target): 1× spends the budget exactly over the period, so the "
        "budget consumed over the period if this rate persisted is the burn rate itself. "
        "The race share counts violations and aborts after a caught race. The worst hour is read from "
        "the simulated error timeline; the guide pages when one hour spends more than "
        f"{slo.page_budget_fraction:.0%} of the budget, else tickets.</p>",
        _html_table(budget),
        "<h2>Burn-rate alerts</h2>",
        "<p>Multi-window alerts evaluated on each replication's error timeline: an alert fires while the "
        "burn over its long window and over its short window both reach its factor, evaluated once its long "
        "window is full of measured data. A page is false when no long window of it spent the share of the "
        "budget its definition promises (factor × long window / period: 2% for 14.4× over 1 h); the guide's "
        "rule is a separate column: pages after which no hour spent more than the guide's paging share.</p>",
        _alerts_html(alerts, model),
        *(_headroom_html(headroom, model) if headroom else []),
        sensitivity_html,
        "<h2>Charts</h2>",
    ]
    for title, path, caption in figures:
        svg = path.with_suffix(".svg").name
        parts.append(
            f"<figure>{_img(path, title)}<figcaption><strong>{html.escape(title)}.</strong> "
            f'{html.escape(caption)} (<a href="{svg}">SVG</a>)</figcaption></figure>'
        )
    parts += [
        "<h2>Recommendation</h2>",
        "<p>The guide's decision checklist, applied to the numbers: a strategy qualifies when (1) its "
        "harm rate's 95% upper bound (from the effect ledger) is within the harm budget, (2) its error "
        "rate's upper bound burns at most 1× the error budget, (3) no replication has an hour the guide "
        "would page for, and (4) it reaches a steady state (a strategy whose backlog grows for the whole "
        "run is never recommended). A strategy with no harm seen but too few operations to bound it below "
        "the budget qualifies with a caveat, after those that demonstrate it. The cheapest "
        "qualifying strategy (least added p99 latency, then fewest aborts) is recommended; when none "
        "qualifies, the registered mitigations that apply to the model are tried on the same workload.</p>",
        '<ul class="rec">' + "".join(f"<li>{html.escape(line)}</li>" for line in recommendation.lines) + "</ul>",
        "<h2>Model</h2>",
        f"<p>As given ({html.escape(model.source or 'built in code')}):</p>",
        f"<pre>{html.escape(model.text or _dump_model(model))}</pre>",
        "<h2>Files</h2><ul>"
        + "".join(f'<li><a href="{html.escape(p.name)}">{html.escape(p.name)}</a></li>' for p in files)
        + "</ul>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _sensitivity_html(analysed: Sequence[SensitivityResult], out: Path, files: list[Path]) -> str:
    """The sensitivity section: the method, the chart, one ranked table per strategy."""
    import toctou_sim.reporting.plots as plots

    paths = plots.save(plots.plot_sensitivity(analysed), out / "sensitivity", close=True)
    files.extend(paths)
    first = analysed[0]
    parts = [
        "<h2>Sensitivity</h2>",
        f"<p>Which parameters matter most for the harm and the error budget: {first.n} Latin hypercube points "
        "over the parameters' ranges (multipliers of today's values), one run each on the same seed, and each "
        "parameter's PAWN index (SALib): the median Kolmogorov-Smirnov distance between the output's "
        "distribution when the parameter is held within a slice of its range and over the whole sample "
        "(0: no effect, 1: decisive). A parameter without any effect still scores above 0 by chance: the "
        "dashed line is the score it reaches in 95% of random orderings of the same outputs.</p>",
        f'<figure>{_img(paths[0], "Sensitivity")}<figcaption><strong>Which parameters matter.</strong> '
        "Bars in each strategy's colour; the dashed line is what chance reaches (95%) "
        f'(<a href="{paths[1].name}">SVG</a>).'
        "</figcaption></figure>",
    ]
    for result in analysed:
        parts += [f"<h3>{html.escape(result.strategy)}</h3>", _html_table(result.table())]
    return "\n".join(parts)


def _headroom_html(headroom: Mapping[str, HeadroomResult], model: ModelSpec) -> list[str]:
    """The headroom section: the criteria, then one row per strategy."""
    first = next(iter(headroom.values()))
    limit = "none" if math.isinf(first.p99_limit_ms) else format_duration(first.p99_limit_ms / 1e3)
    return [
        "<h2>Headroom</h2>",
        f"<p>How far each strategy's load can grow before the run turns unhealthy: every client arrival rate "
        f"is multiplied (today's load is {model.clients.arrival.poisson.rate:.4g} ops/s) and a load is healthy "
        f"when, averaged over its replications, the p99 latency is at most {html.escape(limit)}, the error rate "
        f"at most the error budget ({first.error_budget:.2g}), no operation is left unfinished and no finite "
        "service is saturated. A coarse sweep: today's load is judged on the comparison above, other loads on "
        "2 replications each of the same seed, doubling (up to 8x) while healthy or halving (down to 1/16) "
        "while not, then two bisections; a run above today's load is shortened to about half of today's "
        "operations (unless the model has a rate profile or faults), and a strategy's sweep costs at most 6 "
        "replications of today's model (a cell marked 'sweep budget' stopped there). The knee is the highest "
        "healthy load found; below 1x the strategy is already past its knee. Means, not the verdict's 95% bounds: a "
        "strategy can fail the verdict yet show headroom above 1x.</p>",
        _html_table(headroom_table(headroom)),
    ]


def _alerts_html(alerts: pd.DataFrame, model: ModelSpec) -> str:
    """The alert table, or one sentence when the run is too short for every alert."""
    if not len(alerts):
        return "<p>No alerts configured.</p>"
    if alerts["fired in"].str.startswith("not evaluable").all():
        windows = ", ".join(format_duration(a.long_window) for a in model.slo.alerts)
        span = format_duration(model.model.horizon - model.model.warmup)
        return (
            f"<p><strong>No alert can be evaluated:</strong> the run measures about {span}, shorter than every "
            f"alert's long window ({html.escape(windows)}). Give the model a longer horizon or a load profile "
            "(<code>clients.arrival.profile</code>) to see when alerts would fire.</p>"
        )
    return _html_table(alerts)


def _dump_model(model: ModelSpec) -> str:
    import json

    return json.dumps(model.model_dump(mode="json", by_alias=True), indent=2)


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
            error rate (:func:`toctou_sim.sensitivity.sensitivity`, ``sensitivity_n`` Latin
            hypercube samples, the recommended strategy or else the baseline), as a chart.
        on_verdict: called with the recommendation as soon as it is decided, before the headroom
            sweep, the charts and the page (which take most of a report's time): the command line
            prints the verdict then.
    """
    import toctou_sim.reporting.plots as plots
    from toctou_sim.experiment.montecarlo import _as_model
    from toctou_sim.version import __version__
    from toctou_sim.world.tracing import trace_replication

    spec = _as_model(model if isinstance(model, ModelSpec) else load_model(model), overrides)
    names = unique_strategies(strategies or spec.default_strategies())
    base = baseline if baseline is not None else ("none" if "none" in names else names[0])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = compare(spec, names, reps=reps, seed=seed, baseline=base, executor=executor, progress=progress,
                     max_ops=max_ops, max_memory=max_memory)
    frame = result.to_frame()
    files: list[Path] = []
    csv = out / "results.csv"
    csv_safe(frame).to_csv(csv, index=False)
    files.append(csv)

    recommendation = recommend(frame, spec.slo, base, harm=spec.harm)
    if recommendation.chosen is None:
        recommendation = _what_would_pass(spec, names, recommendation, reps=reps, seed=seed, executor=executor,
                                          progress=progress)
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
    analysed = None
    sensitivity_html = ""
    if sensitivity:
        from toctou_sim.capacity.sensitivity import sensitivity as analyse

        focus = list(dict.fromkeys([base, *([recommendation.chosen] if recommendation.chosen else [])]))
        analysed = [analyse(spec, name, n=sensitivity_n, seed=seed, executor=executor) for name in focus]
        sensitivity_csv = out / "sensitivity.csv"
        csv_safe(pd.concat([a.to_frame() for a in analysed], ignore_index=True)).to_csv(sensitivity_csv, index=False)
        files.append(sensitivity_csv)
        with plots.strategy_palette(sorted(set(names) | set(frame["strategy"].astype(str)))):  # as the charts below
            sensitivity_html = _sensitivity_html(analysed, out, files)
    views = _timelines(result)
    budget = budget_table(frame, spec.slo)
    alerts = alert_table(views)
    figures: list[tuple[str, Path, str]] = []

    with plots.strategy_palette(sorted(set(names) | set(frame["strategy"].astype(str)))):
        def add(name: str, title: str, figure: Any, caption: str) -> None:
            paths = plots.save(figure, out / name, close=True)
            files.extend(paths)
            figures.append((title, paths[0], caption))

        sweep_frame = None
        if grid:
            sweep_frame = run_grid(spec, grid, names, reps=grid_reps or reps, seed=seed, executor=executor,
                                   max_ops=max_ops, max_memory=max_memory)
            sweep_csv = out / "sweep.csv"
            csv_safe(sweep_frame).to_csv(sweep_csv, index=False)
            files.append(sweep_csv)
            parameter = next(iter(grid))
            add(
                "sweep",
                f"Against {parameter}",
                plots.plot_sweep(sweep_frame, parameter, metrics=plots.SWEEP_METRICS,
                                 x_label=_axis_label(parameter, grid[parameter])),
                "Violation and abort rate per operation and p99 latency, one line per strategy with 95% CI bands "
                "(a column of panels per value of a second parameter; with three or more, the best strategy per "
                "configuration); ▼ marks a 95% upper bound where no event was seen.",
            )
        add(
            "verdict",
            "What the verdict judges",
            plots.plot_verdict(frame, spec.slo, spec.harm),
            f"Left: the {spec.harm} rate's 95% upper bound (from the effect ledger) against the harm budget (red); "
            "right: the error-budget burn's upper bound (harms, aborts, latency breaches, unfinished operations) "
            "against 1 (red), both against the added p99 latency paired against the baseline. ▼: none seen, drawn "
            "at the bound. A strategy qualifies below both lines, and when it reaches a steady state.",
        )
        add(
            "errors",
            "Where the error budget goes",
            plots.plot_error_causes(frame, spec.slo, spec.harm),
            "Errors per operation by cause, stacked: harms, aborts by reason, latency breaches and operations "
            "still unfinished when the run ended; the red line is the SLO's allowance.",
        )
        add(
            "burn",
            "Error-budget burn over time",
            plots.plot_burn({s: v for s, v in views.items() if v}, spec.slo),
            "All replications of each strategy: the median burn over the first alert's long window with the band "
            "from the lowest to the highest replication, the per-bin burn (log); dashed lines are alert factors; "
            "the lane under each panel shows when each alert fires (filled to the share of replications firing).",
        )
        add(
            "cdfs",
            "Window, latency and lock-wait distributions",
            plots.plot_cdfs(_merged_histograms(result)),
            "Cumulative distributions from the streaming histograms of all replications (log time axis).",
        )
        if trace_ops > 0:
            import json

            trace = trace_replication(spec.with_strategy(base), seed=seed, max_ops=trace_ops)
            trace_path = out / "trace.json"
            trace_path.write_text(json.dumps(trace.to_chrome(__version__)), encoding="utf-8")
            files.append(trace_path)
            chosen = recommendation.chosen
            if chosen is not None and chosen != base:
                chosen_trace = trace_replication(spec.with_strategy(chosen), seed=seed, max_ops=trace_ops)
                add(
                    "trace_recommended",
                    f"The same operations under the recommended strategy ({chosen})",
                    plots.plot_trace(chosen_trace),
                    f"The traced run of {chosen} on the same seed (common random numbers: the same arrivals, keys "
                    f"and windows as the {base} trace below).",
                )
            add(
                "trace",
                f"A short traced run ({base})",
                plots.plot_trace(trace),
                "One row per operation (60 consecutive ones after the warm-up, around the first violation when "
                "there is one): check, window and use bars, lock waits, mutations of "
                "the key as ticks; violations (red ✖), caught conflicts (red ×) and other rejected uses (grey ×) are "
                "marked. Open trace.json in Perfetto "
                "(ui.perfetto.dev) for the same run.",
            )

    page = _render(
        model=spec,
        result=result,
        frame=frame,
        recommendation=recommendation,
        budget=budget,
        alerts=alerts,
        figures=figures,
        reps=reps,
        seed=seed,
        version=__version__,
        files=files,
        headroom=headrooms,
        sensitivity_html=sensitivity_html,
    )
    html_path = out / "report.html"
    html_path.write_text(page, encoding="utf-8")
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
