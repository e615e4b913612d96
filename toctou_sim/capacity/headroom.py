"""Capacity answers: load over time (retry storms) and headroom (the knee of a load sweep).

- :func:`load_timeline` runs one replication of each strategy and returns, per bin of simulated
  time, the calls offered to a finite service, how many were retries, how many it served in time
  (goodput) or wasted, and the operations that succeeded or failed. It is what shows a metastable
  failure: a load spike ends, yet the offered load stays above capacity because every call times
  out and is retried.
- :func:`headroom` finds, for a model and a strategy, the highest arrival rate at which the run is
  still healthy: the p99 latency under its limit, the error rate under the SLO's error budget, and
  no finite service saturated or operation left unfinished. It scales every client arrival rate
  by a multiplier, walks up (or down) in geometric steps until the first unhealthy load, then
  bisects between the last healthy and the first unhealthy load.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.experiment.settings import RunSettings
from toctou_sim.spec.model import ModelSpec, SpecError, parse_model

if TYPE_CHECKING:
    import pandas as pd

    from toctou_sim.experiment.montecarlo import ComparisonResult, SimulationResult

__all__ = [
    "HeadroomPoint",
    "HeadroomResult",
    "headroom",
    "judge",
    "load_spikes",
    "load_timeline",
    "report_headroom",
    "scale_load",
    "service_capacity",
    "shorten",
]


def scale_load(model: ModelSpec, multiplier: float) -> ModelSpec:
    """A copy of ``model`` whose client arrival rates (the Poisson rate and every phase of the
    rate profile) are multiplied by ``multiplier``; background mutators are unchanged."""
    if not multiplier > 0:
        raise SpecError(f"load multiplier: must be > 0, got {multiplier!r}")
    data = model.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    arrival = data["clients"]["arrival"]
    arrival["poisson"]["rate"] = model.clients.arrival.poisson.rate * multiplier
    if model.clients.arrival.profile:
        arrival["profile"] = [{"until": phase.until, "rate": phase.rate * multiplier}
                              for phase in model.clients.arrival.profile]
    scaled = parse_model(data, source=model.source or "<model>", text=model.text)
    return scaled.model_copy(update={"strategy": model.strategy})


def service_capacity(model: ModelSpec, service: str = "store") -> float | None:
    """Calls per second the finite ``service`` can serve (servers over the mean service time), or
    ``None`` when it is unbounded."""
    capacity = model.capacity.get(service)
    if capacity is None:
        return None
    mean = float(capacity.service_time.mean)
    return capacity.servers / mean if mean > 0 else math.inf


def load_spikes(model: ModelSpec) -> list[tuple[float, float]]:
    """The phases of the arrival profile whose rate is above the base Poisson rate, as
    ``(start, end)`` seconds (the spikes a load chart shades)."""
    base = model.clients.arrival.poisson.rate
    spikes = []
    start = 0.0
    for phase in model.clients.arrival.profile:
        if phase.rate > base:
            spikes.append((start, phase.until))
        start = phase.until
    return spikes


# --------------------------------------------------------------------------------------------
# Load over time.


def load_timeline(
    model: ModelSpec,
    strategies: Iterable[str] | None = None,
    *,
    service: str = "store",
    seed: int = 0,
    replication: int = 0,
) -> pd.DataFrame:
    """Per bin of simulated time, for one replication of each strategy (common random numbers).

    Columns: ``strategy``, ``time_s`` (start of the bin), ``offered_per_s`` (calls arriving at the
    finite ``service``: first attempts and retries), ``retries_per_s`` (of those, retried
    attempts), ``goodput_per_s`` (calls served while their caller still waited), ``wasted_per_s``
    (calls served after their caller gave up), ``refused_per_s`` (429s and timeouts),
    ``ok_per_s`` and ``errors_per_s`` (counted operations that ended in the bin, by SLO outcome)
    and ``error_rate``. Bins are the SLO timeline's (``slo.timeline_bin``); operations that
    arrive during the warm-up are not counted in ``ok_per_s`` and ``errors_per_s``.

    Raises:
        SpecError: ``service`` is not declared in the model's ``[capacity]``.
    """
    import numpy as np
    import pandas as pd

    from toctou_sim.world import World

    if service not in model.capacity:
        declared = ", ".join(model.capacity) or "none"
        raise SpecError(f"{model.source or 'model'}: capacity.{service}: not declared (finite services: {declared})")
    names = list(dict.fromkeys(strategies)) if strategies is not None else [model.strategy.label or
                                                                           model.strategy.kind]
    frames = []
    for name in names:
        spec = model.with_strategy(name)
        world = World(spec, RandomStreams(seed, replication))
        world.run()
        finite = world.finite_service(service)
        if finite is None:  # e.g. the lock service under a strategy that takes no lock
            continue
        line = finite.timeline
        width = line.width
        bins = math.ceil(spec.model.horizon / width)
        ops, errors = world.recorder.timeline.arrays()

        def rate(series: Sequence[int], bins: int = bins, width: float = width) -> Any:
            values = np.zeros(bins)
            head = np.asarray(series[:bins], dtype=np.float64)
            values[: head.size] = head
            return values / width

        ok = rate(list(ops - errors))
        failed = rate(list(errors))
        total = ok + failed
        frames.append(pd.DataFrame({
            "strategy": name,
            "time_s": np.arange(bins) * width,
            "offered_per_s": rate(line.offered),
            "retries_per_s": rate(line.retries),
            "goodput_per_s": rate(line.good),
            "wasted_per_s": rate(line.wasted),
            "refused_per_s": rate(line.refused),
            "ok_per_s": ok,
            "errors_per_s": failed,
            "error_rate": np.divide(failed, total, out=np.full(bins, np.nan), where=total > 0),
        }))
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Headroom.


@dataclass(frozen=True)
class HeadroomPoint:
    """One load of the sweep and whether the run was healthy there."""

    multiplier: float
    arrival_rate: float
    latency_p99_ms: float
    error_rate: float
    utilization: float
    """The busiest finite service's utilization (nan without finite services)."""
    unfinished: float
    healthy: bool
    broke_by: str
    """Why the load is unhealthy: ``p99``, ``error budget``, ``unstable`` or ``""``."""
    cause: str = ""
    """What broke, in words (``"p99 4.05 s > 1 s; lock waits up to 1 s"``); ``""`` when healthy."""


@dataclass(frozen=True)
class HeadroomResult:
    """The highest sustainable load of a strategy, as a multiple of the model's load.

    Attributes:
        strategy: the strategy's label.
        arrival_rate: the model's client arrival rate (operations per second).
        headroom: the highest healthy multiplier found (``knee_rate / arrival_rate``); ``0`` when
            no load down to ``min_multiplier`` was healthy.
        knee_rate: ``headroom * arrival_rate``.
        broke_by: what broke at the first unhealthy load above the knee (``p99``, ``error budget``
            or ``unstable``), or ``not reached`` when ``max_multiplier`` was still healthy.
        points: every load simulated, in the order they were run.
    """

    strategy: str
    arrival_rate: float
    headroom: float
    knee_rate: float
    broke_by: str
    p99_limit_ms: float
    error_budget: float
    points: list[HeadroomPoint] = field(default_factory=list)
    budget_stopped: bool = False
    """The sweep stopped at its cost budget before finding the knee (``not reached`` then means
    "not reached within the budget")."""

    def summary(self) -> str:
        """One line: ``cas: 1.7x today's load (85 ops/s), then unstable``."""
        if self.broke_by == "not reached":
            return (f"{self.strategy}: healthy up to {self.headroom:.3g}x today's load "
                    f"({self.knee_rate:.4g} ops/s), the highest load tried")
        if self.headroom == 0:
            return f"{self.strategy}: unhealthy at every load tried ({self.broke_by})"
        return (f"{self.strategy}: {self.headroom:.3g}x today's load ({self.knee_rate:.4g} ops/s), "
                f"then {self.broke_by}")

    @property
    def max_multiplier(self) -> float:
        """The highest load simulated, x today's."""
        return max((point.multiplier for point in self.points), default=1.0)

    @property
    def min_multiplier(self) -> float:
        """The lowest load simulated, x today's."""
        return min((point.multiplier for point in self.points), default=1.0)

    @property
    def cause(self) -> str:
        """What broke at the first unhealthy load above the knee, in words (``""`` when none)."""
        above = [p for p in self.points if not p.healthy and p.multiplier > self.headroom]
        return min(above, key=lambda p: p.multiplier).cause if above else ""

    def cell(self) -> str:
        """The headroom as a table cell: ``1.7x (p99)``, ``>= 8x (not reached)``, ``< 0.0625x (error
        budget)``."""
        if self.broke_by == "not reached":
            return f">= {self.headroom:.3g}x (not reached{'; sweep budget' if self.budget_stopped else ''})"
        if self.headroom == 0:
            return f"< {self.min_multiplier:.3g}x ({self.broke_by})"
        return f"{self.headroom:.2g}x ({self.broke_by})"

    def sentence(self) -> str:
        """One sentence for a report: how much more load the strategy takes and what breaks first."""
        cause = f": {self.cause}" if self.cause else ""
        if self.broke_by == "not reached":
            limit = ("; the sweep's budget stopped it there: toctou-sim headroom goes further"
                     if self.budget_stopped else "")
            return (f"{self.strategy} sustains >= {self.headroom:.3g}x today's load (not reached: healthy at every "
                    f"load tried{limit}).")
        if self.headroom == 0 and self.budget_stopped:
            return (f"{self.strategy} is already past its knee, below {self.min_multiplier:.3g}x today's load "
                    f"({self.broke_by}{cause}; the sweep's budget stopped it there).")
        if self.headroom == 0:
            today = next((p for p in self.points if p.multiplier == 1), None)
            now = f"; at today's load {today.broke_by}: {today.cause}" if today is not None and today.cause else ""
            return (f"{self.strategy} is already past its knee: unhealthy at every load down to "
                    f"{self.min_multiplier:.3g}x today's ({self.broke_by}{cause}{now}).")
        if self.headroom < 1:
            return (f"{self.strategy}: {self.headroom:.2g}x: already past its knee ({self.broke_by} breaks first"
                    f"{cause}).")
        return f"{self.strategy} sustains {self.headroom:.2g}x today's load ({self.broke_by} breaks first{cause})."

    def to_frame(self) -> pd.DataFrame:
        """One row per load simulated."""
        import pandas as pd

        return pd.DataFrame([{"strategy": self.strategy, **point.__dict__} for point in self.points])


MIN_MEASURED_SPAN = 10.0
"""Seconds: :func:`shorten` never measures less than this (or the warm-up, if longer)."""


def shorten(model: ModelSpec, multiplier: float, ops_fraction: float) -> ModelSpec:
    """``model`` (already at ``multiplier`` x today's load) with its measured span cut so that a
    replication simulates about ``ops_fraction`` of today's operations; unchanged at or below
    today's load, with a rate profile (a shorter run would leave phases out) or with faults (a
    crash or a pause leaves a backlog that takes longer than a short run to drain)."""
    if multiplier <= 1:
        return model
    if model.clients.arrival.profile or model.faults:
        return model
    meta = model.model
    span = meta.horizon - meta.warmup
    floor = min(span, max(meta.warmup, MIN_MEASURED_SPAN))  # a very short run is all edge effects
    horizon = meta.warmup + max(floor, span * min(1.0, ops_fraction / multiplier))
    return model.model_copy(update={"model": meta.model_copy(update={"horizon": horizon})})


def _point(model: ModelSpec, multiplier: float, *, reps: int, seed: int, p99_limit_ms: float,
           error_budget: float, error_metric: str, saturation: float, executor: Any,
           today: SimulationResult | None = None, ops_fraction: float | None = None) -> HeadroomPoint:
    from toctou_sim.experiment.montecarlo import simulate

    scaled = scale_load(model, multiplier)
    if ops_fraction is not None:
        scaled = shorten(scaled, multiplier, ops_fraction)
    result = today if today is not None and multiplier == 1.0 else simulate(scaled, reps=reps, seed=seed,
                                                                            executor=executor)
    return judge(result, multiplier, scaled.clients.arrival.poisson.rate, p99_limit_ms=p99_limit_ms,
                 error_budget=error_budget, error_metric=error_metric, saturation=saturation)


def _seconds(ms: float) -> str:
    from toctou_sim.core.units import format_duration

    return format_duration(ms / 1e3)


def judge(result: SimulationResult, multiplier: float, arrival_rate: float, *, p99_limit_ms: float,
          error_budget: float, error_metric: str = "error_rate", saturation: float = 0.98) -> HeadroomPoint:
    """Whether the replications in ``result`` (run at ``multiplier`` x today's load) are healthy,
    and if not, what broke (see :func:`headroom` for the criteria)."""
    metrics = result.metric_names

    def mean(name: str) -> float:
        return result.estimate(name).estimate if name in metrics else math.nan

    p99 = mean("latency_p99_ms")
    errors = mean(error_metric)
    unfinished = mean("unfinished")
    busiest = max(((mean(f"{name}_utilization"), name) for name in result.model.capacity
                   if f"{name}_utilization" in metrics), default=(math.nan, ""))
    utilization = busiest[0]
    broke_by = cause = ""
    if unfinished > 0 or utilization >= saturation:
        broke_by = "unstable"
        cause = (f"the {busiest[1]} at {utilization:.0%} utilisation" if utilization >= saturation else
                 f"{unfinished:.3g} operations per run still unfinished at the end")
    elif p99 > p99_limit_ms:
        broke_by = "p99"
        cause = f"p99 {_seconds(p99)} > {_seconds(p99_limit_ms)}"
    elif errors > error_budget:
        broke_by = "error budget"
        cause = f"{error_metric.replace('_', ' ')} {errors:.2g} > {error_budget:.2g}"
        shares = {label: mean(metric) for metric, label in _ERROR_CAUSES if metric in metrics}
        shares = {label: value for label, value in shares.items() if value > 0}
        if shares and error_metric == "error_rate":
            top = max(shares, key=lambda label: shares[label])
            cause += f", mostly {top}"
    if broke_by and broke_by != "unstable":
        if mean("lock_wait_timeouts") > 0 or mean("lock_wait_p99_ms") >= 0.5 * p99:
            cause += f"; the lock queue (lock waits up to {_seconds(mean('lock_wait_p99_ms'))} at p99)"
        elif utilization >= 0.8:
            cause += f"; the {busiest[1]} at {utilization:.0%} utilisation"
    return HeadroomPoint(multiplier, arrival_rate, p99, errors, utilization, unfinished, not broke_by, broke_by,
                         cause)


_ERROR_CAUSES = (
    ("harm_rate", "harms"),
    ("abort_rate", "aborts"),
    ("latency_breach_rate", "latency breaches"),
    ("unfinished_rate", "unfinished operations"),
)
"""The error-rate causes :func:`judge` names (metric, words)."""


def headroom(
    model: ModelSpec,
    strategy: str | None = None,
    *,
    p99_limit: float | None = None,
    error_budget: float | None = None,
    error_metric: str = "error_rate",
    saturation: float = 0.98,
    step: float = 1.25,
    max_multiplier: float = 8.0,
    min_multiplier: float = 0.125,
    refine: int = 3,
    reps: int = 3,
    seed: int = 0,
    executor: Any = None,
    today: SimulationResult | None = None,
    ops_fraction: float | None = None,
    cost_budget: float | None = None,
    settings: RunSettings | None = None,
) -> HeadroomResult:
    """The highest arrival rate ``strategy`` sustains on ``model`` (see the module docstring).

    A load is healthy when, averaged over ``reps`` replications, the p99 latency is at most
    ``p99_limit`` (seconds; default the SLO's ``latency_threshold``, else no limit), the
    ``error_metric`` (default ``error_rate``: every SLO error, violations included; ``abort_rate``
    counts only operations that gave up) at most ``error_budget`` (default ``1 - slo.target``), no
    operation is left unfinished and
    no finite service is busier than ``saturation``. The sweep starts at today's load (multiplier
    1), multiplies it by ``step`` while healthy (up to ``max_multiplier``) or divides it while
    not (down to ``min_multiplier``), then bisects the bracket ``refine`` times. Every load runs on
    the same seed (common random numbers), so the knee moves little between neighbouring loads
    for reasons of noise alone. ``today``: replications of the strategy already run at today's load
    (e.g. the report's comparison), used for the first point instead of running it again.
    ``ops_fraction``: above today's load, shorten each run to about this share of today's
    operations (see :func:`shorten`), so a load of 8x costs no more than today's.
    ``cost_budget``: the most the sweep may simulate, in replications of today's model (a run at
    2x for the full horizon costs 2); a load that would exceed it is not run, and the sweep stops
    there (``budget_stopped``).
    ``settings``: ``reps``, ``seed`` and ``executor`` in one
    :class:`~toctou_sim.experiment.settings.RunSettings` (give it or those keywords, not both);
    the sweep reads nothing else from it, and refuses settings it would ignore.

    Raises:
        SpecError: a bad parameter (``step <= 1``, limits out of order, ``reps < 1``).
    """
    run_settings = RunSettings.resolve(settings, headroom, reps=reps, seed=seed, executor=executor)
    run_settings.refuse("headroom", "precision", "max_reps", "metric", "engine", "estimator", "progress",
                        "max_ops", "max_memory")
    reps, seed, executor = run_settings.reps, run_settings.seed, run_settings.executor
    if not step > 1:
        raise SpecError(f"headroom step: must be > 1, got {step!r}")
    if not 0 < min_multiplier <= 1 <= max_multiplier:
        raise SpecError(f"headroom: expected 0 < min_multiplier <= 1 <= max_multiplier, got "
                        f"{min_multiplier!r} and {max_multiplier!r}")
    spec = model.with_strategy(strategy) if strategy is not None else model
    label = spec.strategy.label or spec.strategy.kind
    if p99_limit is None:
        p99_limit = spec.slo.latency_threshold
    limit_ms = p99_limit * 1e3 if p99_limit is not None else math.inf
    budget = error_budget if error_budget is not None else 1 - spec.slo.target

    def cost(multiplier: float) -> float:
        if multiplier == 1.0 and today is not None:
            return 0.0
        shortened = shorten(spec, multiplier, ops_fraction) if ops_fraction is not None else spec
        span = spec.model.horizon - spec.model.warmup
        share = (shortened.model.horizon - shortened.model.warmup) / span if span > 0 else 1.0
        return reps * multiplier * share

    spent = 0.0
    stopped = False

    def affordable(multiplier: float) -> bool:
        nonlocal stopped
        if cost_budget is not None and spent + cost(multiplier) > cost_budget:
            stopped = True
        return not stopped

    def run(multiplier: float) -> HeadroomPoint:
        nonlocal spent
        spent += cost(multiplier)
        point = _point(spec, multiplier, reps=reps, seed=seed, p99_limit_ms=limit_ms, error_budget=budget,
                       error_metric=error_metric, saturation=saturation, executor=executor, today=today,
                       ops_fraction=ops_fraction)
        points.append(point)
        return point

    points: list[HeadroomPoint] = []
    first = run(1.0)
    good: HeadroomPoint | None = first if first.healthy else None
    bad: HeadroomPoint | None = None if first.healthy else first
    multiplier = 1.0
    if first.healthy:
        while multiplier < max_multiplier:
            multiplier = min(multiplier * step, max_multiplier)
            if not affordable(multiplier):
                break
            point = run(multiplier)
            if not point.healthy:
                bad = point
                break
            good = point
    else:
        while multiplier > min_multiplier:
            multiplier = max(multiplier / step, min_multiplier)
            if not affordable(multiplier):
                break
            point = run(multiplier)
            if point.healthy:
                good = point
                break
            bad = point
    if good is not None and bad is not None:
        for _ in range(refine):
            middle = math.sqrt(good.multiplier * bad.multiplier)
            if cost_budget is not None and spent + cost(middle) > cost_budget:
                break  # the bracket is known; a coarser knee, not a stopped sweep
            point = run(middle)
            if point.healthy:
                good = point
            else:
                bad = point
    rate = spec.clients.arrival.poisson.rate
    knee = good.multiplier if good is not None else 0.0
    broke_by = bad.broke_by if bad is not None else "not reached"
    return HeadroomResult(label, rate, knee, knee * rate, broke_by, limit_ms, budget, points,
                          budget_stopped=stopped and (bad is None or good is None))


REPORT_HEADROOM = {"reps": 2, "step": 2.0, "refine": 2, "max_multiplier": 8.0, "min_multiplier": 1 / 16,
                   "ops_fraction": 0.5, "cost_budget": 6.0}
"""The report's cheap headroom sweep: 2 replications per load, loads x2 apart (1, 2, 4, 8 up; 1/2 to
1/16 down), two bisections, runs above today's load shortened to half of today's operations, at
most 6 replications' worth of today's model per strategy, and today's load taken from the
comparison already run."""


def report_headroom(comparison: ComparisonResult, *, executor: Any = None, **options: Any) -> dict[str, HeadroomResult]:
    """Every compared strategy's headroom, cheaply (:data:`REPORT_HEADROOM`, overridden by
    ``options``, passed to :func:`headroom`): the comparison's own replications judge today's
    load, and the sweep runs on the comparison's seed, so it is deterministic for that seed."""
    settings = {**REPORT_HEADROOM, **options}
    return {name: headroom(comparison.model, name, seed=comparison.seed, executor=executor, today=result,
                           **settings)
            for name, result in comparison.results.items()}
