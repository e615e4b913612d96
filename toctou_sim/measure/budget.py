"""Error budgets (the guide's M9) and burn-rate alerts, from counts and the error timeline.

An SLO with target ``τ`` (say 99.9%) over a period ``P`` (say 30 days) allows a share ``1 − τ``
of operations to fail: that allowance is the **error budget**. Errors are violated operations,
aborted ones and, when the SLO has a latency threshold, ok ones slower than it (each operation
counted once, each part shown).

- error rate ``e`` = errors / operations.
- burn rate ``b = e / (1 − τ)``: 1 spends the budget exactly over the period; 10 spends it in a
  tenth of it.
- budget consumed over the period if the simulated rate persisted: ``b`` (as a fraction; 1.0 =
  the whole budget). The time to exhaust it is ``P / b``.
- share attributable to check-use races: (violations + aborts after a caught race) / errors.
- the worst hour: over the simulated error timeline, the largest share of the period's budget
  spent in any one hour. The budget in errors is ``(1 − τ)`` times the operations expected over
  the period under the model's **load profile** (its phases once, then the base rate for the
  rest of the period), not the run's mean load: a run built around a one-off burst would
  otherwise credit the whole month with the burst's traffic. The guide's rule pages when the
  worst hour exceeds 20%, else tickets.
- multi-window burn-rate alerts (SRE workbook): an alert fires while the burn over its long
  window and over its short window are both at least its factor. It is evaluated only once its
  long window is full of measured data (a window truncated at the start of the run would fire
  on a few bins). A page is judged against the alert's own definition: a factor ``f`` over a
  long window ``L`` promises that ``f · L / P`` of the period's budget was spent in that window
  (14.4x over 1 h: 2%); a page is **false** when no long window of its episode spent that
  much (the error ratio burned, but on too little traffic to matter to the period). Separately,
  a page is **below the guide's rule** when, from its firing until one page window after it
  stops, no trailing page window spends more than the guide's paging share (20%): the workbook
  pages earlier and on smaller burns than the guide, by design.

Windows are whole numbers of timeline bins (rounded, at least one). When the measured span is
shorter than the page window, the worst-hour figures are extrapolated from the whole span and
say so (``window_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from toctou_sim.measure.metrics import ErrorTimeline
from toctou_sim.spec.model import ArrivalSpec, ModelSpec, SloSpec
from toctou_sim.spec.slo import BurnAlertSpec

__all__ = [
    "AlertEvaluation",
    "ErrorBudget",
    "TimelineBudget",
    "analyse_model_timeline",
    "analyse_timeline",
    "budget_metrics",
    "evaluate_alert",
    "harm_metrics",
    "period_load_factor",
    "trailing_sum",
]


@dataclass(frozen=True)
class ErrorBudget:
    """Error-budget arithmetic for counted operations under one SLO.

    Attributes:
        operations: counted operations.
        violations, aborts, latency_breaches, unfinished: the kinds of error (disjoint).
        race_errors: errors caused by a check-use race (violations + aborts after a caught race).
        target: the SLO target (e.g. 0.999).
        period: the SLO period in seconds.
    """

    operations: float
    violations: float
    aborts: float
    latency_breaches: float
    target: float
    period: float
    race_errors: float = 0.0
    unfinished: float = 0.0
    """Operations still running when the run ended (charged as timeouts)."""

    @property
    def errors(self) -> float:
        """All errors charged to the SLO."""
        return self.violations + self.aborts + self.latency_breaches + self.unfinished

    @property
    def error_rate(self) -> float:
        """Errors per operation (``nan`` with no operations)."""
        return self.errors / self.operations if self.operations else math.nan

    @property
    def allowed_rate(self) -> float:
        """The error rate the SLO allows, ``1 − target``."""
        return 1.0 - self.target

    @property
    def burn_rate(self) -> float:
        """Error rate over the allowed rate: 1 spends the budget exactly over the period."""
        return self.error_rate / self.allowed_rate

    @property
    def budget_consumed(self) -> float:
        """Share of the period's budget spent over the period if this rate persisted (= burn rate)."""
        return self.burn_rate

    @property
    def exhausted_after(self) -> float:
        """Seconds until the budget is gone at this rate (``inf`` when nothing burns)."""
        burn = self.burn_rate
        return self.period / burn if burn > 0 else math.inf

    @property
    def race_share(self) -> float:
        """Share of the errors caused by check-use races (``nan`` with no errors)."""
        return self.race_errors / self.errors if self.errors else math.nan


def trailing_sum(values: NDArray[np.int64], bins: int) -> NDArray[np.int64]:
    """Sum of each value and the ``bins − 1`` before it (fewer at the start)."""
    cumulative = np.concatenate(([0], np.cumsum(values)))
    index = np.arange(values.size)
    return cumulative[index + 1] - cumulative[np.maximum(index + 1 - bins, 0)]


@dataclass(frozen=True)
class AlertEvaluation:
    """When one multi-window burn-rate alert fired on a timeline.

    Attributes:
        alert: the alert's spec.
        long_burn, short_burn: burn rate over the long and short window at the end of each bin.
        firing: whether the alert fires at the end of each bin.
        episodes: ``(fires, resolves)`` simulated seconds of each firing episode (evaluated at
            the end of every bin).
        false_pages: episodes (of a paging alert) in which no long window spent the share of the
            budget the alert's definition promises (``factor · long_window / period``).
        evaluable: the timeline is at least one long window long (otherwise it never fires).
        below_guide: episodes (of a paging alert) the guide's 20%-per-hour rule would not have
            paged for.
    """

    alert: BurnAlertSpec
    long_burn: NDArray[np.float64] = field(repr=False)
    short_burn: NDArray[np.float64] = field(repr=False)
    firing: NDArray[np.bool_] = field(repr=False)
    episodes: tuple[tuple[float, float], ...]
    false_pages: int
    evaluable: bool = True
    below_guide: int = 0

    @property
    def first_fire(self) -> float:
        """Simulated second the alert first fires (``nan`` if never)."""
        return self.episodes[0][0] if self.episodes else math.nan


@dataclass(frozen=True)
class TimelineBudget:
    """The error timeline of one replication read against the SLO.

    Attributes:
        times: end of each bin (simulated seconds), measured span only.
        ops, errors: counts per bin.
        burn: burn rate per bin (``nan`` where no operation ended).
        hour_spend: share of the period's budget spent over the trailing page window at each bin.
        window_s: the page window actually used (shorter when the run is shorter; then
            ``hour_spend`` is extrapolated to a full page window).
        worst_hour_burn: the highest burn rate over any full page window.
        worst_hour_budget: the highest share of the budget spent in any page window.
        page: the guide's rule: ``worst_hour_budget > page_budget_fraction``.
        alerts: each alert's evaluation.
    """

    times: NDArray[np.float64] = field(repr=False)
    ops: NDArray[np.int64] = field(repr=False)
    errors: NDArray[np.int64] = field(repr=False)
    burn: NDArray[np.float64] = field(repr=False)
    hour_spend: NDArray[np.float64] = field(repr=False)
    window_s: float
    worst_hour_burn: float
    worst_hour_budget: float
    page: bool
    alerts: tuple[AlertEvaluation, ...]

    @property
    def pages(self) -> int:
        """Firing episodes of paging alerts."""
        return sum(len(a.episodes) for a in self.alerts if a.alert.severity == "page")

    @property
    def false_pages(self) -> int:
        """Paging episodes that did not spend what the alert's own definition promises."""
        return sum(a.false_pages for a in self.alerts)

    @property
    def pages_below_guide(self) -> int:
        """Paging episodes the guide's 20%-per-hour rule would not have paged for."""
        return sum(a.below_guide for a in self.alerts)

    @property
    def tickets(self) -> int:
        """Firing episodes of ticket alerts."""
        return sum(len(a.episodes) for a in self.alerts if a.alert.severity == "ticket")


def _burn(errors: NDArray[np.int64], ops: NDArray[np.int64], allowed: float) -> NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ops > 0, errors / np.maximum(ops, 1) / allowed, np.nan)


def _episodes(firing: NDArray[np.bool_], times: NDArray[np.float64], width: float) -> list[tuple[int, int]]:
    """Index ranges ``[first, last]`` of consecutive firing bins."""
    runs: list[tuple[int, int]] = []
    start = -1
    for index, on in enumerate(firing.tolist()):
        if on and start < 0:
            start = index
        elif not on and start >= 0:
            runs.append((start, index - 1))
            start = -1
    if start >= 0:
        runs.append((start, firing.size - 1))
    return runs


def evaluate_alert(
    alert: BurnAlertSpec,
    ops: NDArray[np.int64],
    errors: NDArray[np.int64],
    width: float,
    target: float,
    hour_spend: NDArray[np.float64] | None = None,
    page_fraction: float = 0.2,
    page_bins: int = 1,
    start: float = 0.0,
    budget_errors: float | None = None,
    period: float = 30 * 86400.0,
) -> AlertEvaluation:
    """Evaluate one multi-window alert at the end of every bin of a timeline.

    Args:
        alert: factor, windows and severity.
        ops, errors: counts per bin (bin ``i`` ends at ``start + (i + 1) * width``).
        width: bin width in seconds.
        target: the SLO target.
        hour_spend: budget share spent over the trailing page window at each bin (for the guide's rule).
        page_fraction: the guide's paging share.
        page_bins: the page window in bins (a page is judged up to this long after it stops).
        start: simulated time at the start of bin 0.
        budget_errors: the period's budget in errors (for false pages; none judged without it).
        period: the SLO period in seconds.
    """
    allowed = 1.0 - target
    long_bins = max(1, round(alert.long_window / width))
    short_bins = max(1, round(alert.short_window / width))
    long_burn = _burn(trailing_sum(errors, long_bins), trailing_sum(ops, long_bins), allowed)
    short_burn = _burn(trailing_sum(errors, short_bins), trailing_sum(ops, short_bins), allowed)
    with np.errstate(invalid="ignore"):
        firing = (long_burn >= alert.factor) & (short_burn >= alert.factor)
    firing[: long_bins - 1] = False  # not before a full long window of measured data exists
    times = start + width * np.arange(1, ops.size + 1, dtype=np.float64)
    runs = _episodes(firing, times, width)
    false_pages = below_guide = 0
    if alert.severity == "page":
        promised = alert.factor * long_bins * width / period  # e.g. 14.4 x 1 h / 30 d = 2%
        long_errors = trailing_sum(errors, long_bins)
        for first, last in runs:
            if budget_errors is not None and budget_errors > 0:
                spent = float(long_errors[first : last + 1].max()) / budget_errors
                if spent < promised * (1 - 1e-9):
                    false_pages += 1
            if hour_spend is not None:
                upto = min(hour_spend.size, last + page_bins + 1)
                if not np.nanmax(hour_spend[first:upto], initial=0.0) > page_fraction:
                    below_guide += 1
    # An alert is evaluated at the end of each bin: it fires at the end of its first firing bin and
    # resolves at the end of the first bin after its last one.
    episodes = tuple((float(times[first]), float(times[last] + width)) for first, last in runs)
    return AlertEvaluation(alert, long_burn, short_burn, firing, episodes, false_pages, ops.size >= long_bins,
                           below_guide)


def period_load_factor(arrival: ArrivalSpec, start: float, end: float, period: float) -> float:
    """Mean arrival rate over an SLO period over the mean rate over the measured span ``[start, end)``.

    The period runs the model's load profile once from time 0 (its phases, then the base
    ``poisson.rate`` for the rest of the period); 1.0 for a constant rate. The period's budget
    in errors is the measured rate times this factor times the period.
    """
    if not arrival.profile or end <= start:
        return 1.0

    def load(upto: float) -> float:  # expected arrivals in [0, upto)
        total, begin = 0.0, 0.0
        for phase in arrival.profile:
            stop = min(phase.until, upto)
            if stop > begin:
                total += phase.rate * (stop - begin)
            begin = phase.until
            if begin >= upto:
                return total
        return total + arrival.poisson.rate * max(0.0, upto - begin)

    run_rate = (load(end) - load(start)) / (end - start)
    period_rate = load(period) / period
    return period_rate / run_rate if run_rate > 0 else 1.0


def analyse_timeline(timeline: ErrorTimeline, slo: SloSpec, start: float = 0.0, load_factor: float = 1.0
                     ) -> TimelineBudget:
    """Read an error timeline against an SLO: burn per bin, worst hour, the guide's rule, alerts.

    Args:
        timeline: the replication's bins.
        slo: target, period, page rule and alerts.
        start: beginning of the measured span (the warm-up); earlier bins are ignored.
        load_factor: the period's mean load over the measured span's (:func:`period_load_factor`).
    """
    ops_all, errors_all = timeline.arrays()
    width = timeline.width
    first = math.floor(start / width + 1e-9)
    nonempty = np.flatnonzero(ops_all)
    last = int(nonempty[-1]) + 1 if nonempty.size else first + 1
    ops = ops_all[first:last]
    errors = errors_all[first:last]
    begin = first * width
    times = begin + width * np.arange(1, ops.size + 1, dtype=np.float64)
    allowed = 1.0 - slo.target
    span = ops.size * width
    window = min(slo.page_window, span)
    window_bins = max(1, round(window / width))
    window = window_bins * width
    mean_rate = float(ops.sum()) / span if span > 0 else 0.0
    budget_errors = allowed * mean_rate * load_factor * slo.period
    window_errors = trailing_sum(errors, window_bins)
    window_ops = trailing_sum(ops, window_bins)
    scale = slo.page_window / window
    hour_spend: NDArray[np.float64] = np.zeros(ops.size, dtype=np.float64)
    if budget_errors > 0:
        hour_spend = window_errors.astype(np.float64) * (scale / budget_errors)
    full = np.arange(ops.size) >= window_bins - 1
    window_burn = _burn(window_errors, window_ops, allowed)
    worst_burn = float(np.nanmax(window_burn[full], initial=0.0)) if full.any() else math.nan
    worst_budget = float(np.nanmax(hour_spend[full], initial=0.0)) if full.any() else math.nan
    alerts = tuple(
        evaluate_alert(alert, ops, errors, width, slo.target, hour_spend, slo.page_budget_fraction, window_bins, begin,
                       budget_errors, slo.period)
        for alert in slo.alerts
    )
    return TimelineBudget(
        times=times,
        ops=ops,
        errors=errors,
        burn=_burn(errors, ops, allowed),
        hour_spend=hour_spend,
        window_s=window,
        worst_hour_burn=worst_burn,
        worst_hour_budget=worst_budget,
        page=bool(worst_budget > slo.page_budget_fraction),
        alerts=alerts,
    )


def analyse_model_timeline(timeline: ErrorTimeline, model: ModelSpec) -> TimelineBudget:
    """:func:`analyse_timeline` with the model's SLO, warm-up and load profile."""
    slo = model.slo
    factor = period_load_factor(model.clients.arrival, model.model.warmup, model.model.horizon, slo.period)
    return analyse_timeline(timeline, slo, model.model.warmup, factor)


def harm_metrics(metrics: dict[str, float], model: ModelSpec) -> dict[str, float]:
    """The harm held to its own budget and priced, from the ledger's ``harm_rate``.

    ``harms_per_day``: harms per day at the modelled load (the counted operations per second of
    the measured span, kept up for a day); ``harm_budget_burn``: the harm rate over the harm
    budget (1 spends it exactly); ``harm_cost_per_day`` (with ``slo.harm_cost``): the expected
    cost of a day's harms.
    """
    rate = metrics.get("harm_rate", metrics.get("violation_rate", math.nan))
    span = model.model.horizon - model.model.warmup
    load = metrics.get("operations", 0.0) / span if span > 0 else math.nan
    per_day = rate * load * 86400.0
    out = {"harms_per_day": per_day, "harm_budget_burn": rate / model.slo.harm_allowed
           if model.slo.harm_allowed > 0 else (math.inf if rate > 0 else 0.0)}
    if model.slo.harm_cost is not None:
        out["harm_cost_per_day"] = per_day * model.slo.harm_cost
    return out


def budget_metrics(metrics: dict[str, float], timeline: ErrorTimeline | None, model: ModelSpec) -> dict[str, float]:
    """Per-replication error-budget metrics from the counts in ``metrics`` and the timeline.

    Adds ``burn_rate``, ``error_budget_consumed``, ``race_error_share``, ``race_burn_rate``,
    ``worst_hour_burn``, ``worst_hour_budget``, ``page_rule`` (1 when the guide's rule pages),
    ``alert_pages``, ``alert_false_pages`` (pages that did not spend what their definition
    promises), ``alert_pages_below_guide_rule`` and ``alert_tickets``.
    """
    slo = model.slo
    operations = metrics.get("operations", 0.0)
    budget = ErrorBudget(
        operations=operations,
        violations=metrics.get("violation_rate", math.nan) * operations,
        aborts=(metrics.get("abort_rate", math.nan) - metrics.get("turned_away_duplicate_rate", 0.0)) * operations,
        latency_breaches=metrics.get("latency_breach_rate", math.nan) * operations,
        race_errors=metrics.get("race_error_rate", math.nan) * operations,
        target=slo.target,
        period=slo.period,
        unfinished=metrics.get("unfinished_rate", 0.0) * operations,
    )
    out = {
        "burn_rate": budget.burn_rate,
        "error_budget_consumed": budget.budget_consumed,
        "race_error_share": budget.race_share,
        "race_burn_rate": metrics.get("race_error_rate", math.nan) / budget.allowed_rate,
    }
    out.update(harm_metrics(metrics, model))
    if timeline is not None:
        view = analyse_model_timeline(timeline, model)
        out.update(
            {
                "worst_hour_burn": view.worst_hour_burn,
                "worst_hour_budget": view.worst_hour_budget,
                "page_rule": float(view.page),
                "alert_pages": float(view.pages),
                "alert_false_pages": float(view.false_pages),
                "alert_pages_below_guide_rule": float(view.pages_below_guide),
                "alert_tickets": float(view.tickets),
            }
        )
    return out
