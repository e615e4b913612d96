"""The verdict: which strategy a design review recommends, and why every other one fails.

Decision logic only, on numbers: no HTML and no charts (:mod:`toctou_sim.reporting.page` and
:mod:`toctou_sim.reporting.plots` present what is decided here).

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
mitigations that apply to the model (:func:`what_would_pass`), saying which would qualify.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from toctou_sim.experiment.montecarlo import compare
from toctou_sim.reporting.estimates import estimate, find_row, upper
from toctou_sim.spec.model import STRATEGY_SPECS, ModelSpec, SloSpec, StrategySpec

__all__ = [
    "CONSTRAINTS",
    "Recommendation",
    "Verdict",
    "candidate_strategies",
    "format_signed_ms",
    "per_million",
    "recommend",
    "spec_summary",
    "what_would_pass",
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


def per_million(rate: float) -> str:
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
        harm_metric = "harm_rate" if find_row(frame, strategy, "harm_rate") is not None else "violation_rate"
        harm_high = upper(frame, strategy, harm_metric)
        error_high = upper(frame, strategy, "error_rate")
        burn_high = error_high / allowed
        page_share = estimate(frame, strategy, "page_rule")
        worst = estimate(frame, strategy, "worst_hour_budget")
        unstable = estimate(frame, strategy, "unstable")
        unstable = unstable if math.isfinite(unstable) else 0.0
        added = 0.0 if strategy == baseline else estimate(frame, strategy, "latency_p99_ms", "diff")
        turned_away = estimate(frame, strategy, "turned_away_duplicate_rate")
        # Duplicate deliveries turned away (an idempotency 409) are the mitigation working, not a cost.
        aborts = estimate(frame, strategy, "abort_rate") - (turned_away if math.isfinite(turned_away) else 0.0)
        failures: dict[str, str] = {}
        caveats: dict[str, str] = {}
        none_seen = estimate(frame, strategy, harm_metric) == 0
        if not harm_high <= harm_allowed and none_seen:
            operations = estimate(frame, strategy, "operations") * estimate(frame, strategy, "operations", "n_reps")
            caveats["harm"] = (
                f"no {harm} seen in {operations:,.0f} operations, but samples this size only bound the rate "
                f"below {per_million(harm_high)} (95%, replication-level), far above the budget of "
                f"{per_million(harm_allowed)}; a structural guarantee needs a proof in a small scope "
                f"(toctou-sim explore MODEL --strategy {strategy})"
            )
        elif not harm_high <= harm_allowed:
            failures["harm"] = (
                f"{harm} rate up to {per_million(harm_high)} of operations exceeds {budget_name} of "
                f"{per_million(harm_allowed)} (about {estimate(frame, strategy, 'harms_per_day'):,.0f} per day "
                "at the modelled load)"
            )
        if not burn_high <= 1.0 and estimate(frame, strategy, "error_rate") == 0:
            operations = estimate(frame, strategy, "operations") * estimate(frame, strategy, "operations", "n_reps")
            caveats["burn"] = (
                f"no error seen in {operations:,.0f} operations; samples this size only bound the burn below "
                f"{burn_high:.3g}x (95%, replication-level)"
            )
        elif not burn_high <= 1.0:
            parts = ", ".join(
                f"{label} {estimate(frame, strategy, metric):.3g}"
                for label, metric in (
                    (f"{harm}s", harm_metric),
                    ("aborts", "abort_rate"),
                    ("latency breaches", "latency_breach_rate"),
                    ("unfinished", "unfinished_rate"),
                )
                if find_row(frame, strategy, metric) is not None
            )
            failures["burn"] = (
                f"burns the error budget {estimate(frame, strategy, 'burn_rate'):.3g}x "
                f"(up to {burn_high:.3g}x; {parts} per operation)"
            )
        if page_share > 0:
            failures["page"] = (
                f"the guide would page: the worst hour spends {worst:.1%} of the budget "
                f"(> {slo.page_budget_fraction:.0%}) in {page_share:.0%} of replications"
            )
        if unstable >= 0.5:
            growth = estimate(frame, strategy, "backlog_growth_per_s")
            failures["stable"] = (
                f"unstable: no steady state, latency grows with the horizon (the backlog grows by "
                f"{growth:.3g} operations/s in {unstable:.0%} of replications)"
            )
        low = 0.0 if strategy == baseline else estimate(frame, strategy, "latency_p99_ms", "diff_low")
        high = 0.0 if strategy == baseline else estimate(frame, strategy, "latency_p99_ms", "diff_high")
        verdicts.append(Verdict(strategy, harm_high, burn_high, page_share, added, aborts, failures, low, high,
                                unstable, estimate(frame, strategy, "harms_per_day"), caveats))

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
                f"it keeps {harm}s within {budget_name} (at most {per_million(best.harm_high)} operations, "
                f"allowed {per_million(harm_allowed)})")
        burn = ("no SLO error was seen" if "burn" in best.caveats else
                f"it burns at most {best.burn_high:.2g}x the error budget")
        lines.append(
            f"Recommended: {best.strategy}. {kept[0].upper()}{kept[1:]}; {burn}, "
            f"for {_added(best, baseline)} and an abort rate of {best.abort_rate:.3g}."
        )
        if best.caveats:
            lines.append("Caveat: " + "; ".join(best.caveats.values()) + ".")
        if runner_up is not None:
            second = qualifying[1]
            lines.append(
                f"Runner-up: {second.strategy}, also within the SLO ("
                + ("no error seen" if "burn" in second.caveats else f"burn at most {second.burn_high:.2g}x") + "), "
                f"at {_added(second, baseline)} and abort rate {second.abort_rate:.3g}."
            )
            if _overlap(best, second):
                lines.append(
                    f"Note: the added p99 latencies of {best.strategy} and {second.strategy} are not distinguishable "
                    f"at 95% ([{format_signed_ms(best.added_low)}, {format_signed_ms(best.added_high)}] vs "
                    f"[{format_signed_ms(second.added_low)}, {format_signed_ms(second.added_high)}]): run more "
                    "replications, or let the abort rate and operational cost decide."
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


def what_would_pass(spec: ModelSpec, tried: Sequence[str], recommendation: Recommendation, *, reps: int, seed: int,
                    executor: Executor | None, progress: bool) -> Recommendation:
    """None of ``tried`` qualifies: run the applicable registered mitigations not tried yet (on the
    same seed, so the same workload) and say which would qualify ("what would make it pass").

    Returns ``recommendation`` with that sentence as its second line and ``would_qualify`` filled;
    unchanged when every applicable mitigation was already tried.
    """
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
            f"{per_million(v.harm_high)}, burn at most {v.burn_high:.2g}x, {format_signed_ms(v.added_p99_ms)} p99)"
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


def _added(verdict: Verdict, baseline: str) -> str:
    """The strategy's added p99 latency against ``baseline`` in words: its paired estimate, or, when
    the 95% interval holds 0 (the two are not told apart), that it adds none measurable."""
    added = format_signed_ms(verdict.added_p99_ms)
    low, high = verdict.added_low, verdict.added_high
    if math.isfinite(low) and math.isfinite(high) and low < high and low <= 0 <= high:
        return (f"no added p99 latency measurable vs {baseline} ({added}, 95% CI "
                f"[{format_signed_ms(low)}, {format_signed_ms(high)}])")
    return f"{added} of added p99 latency vs {baseline}"


def format_signed_ms(value: float) -> str:
    """A signed latency given in ms, in ms or s with 3 significant digits (``+21.5 ms``, ``+16.1 s``)."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value / 1e3:+.3g} s" if abs(value) >= 1e3 else f"{value:+.3g} ms"


