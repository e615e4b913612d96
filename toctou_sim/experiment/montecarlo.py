"""Monte Carlo: replications, common random numbers, confidence intervals and stopping rules.

One ``seed`` per run; replication ``i`` draws every random source from
``SeedSequence(seed, spawn_key=(i, crc32(source)))``. The same seed therefore gives the same
numbers whatever executes the replications, and replication ``i`` of every strategy in a
comparison sees the same arrivals, keys and windows (common random numbers), which is what makes
paired differences precise.

Rates are estimated as the mean of per-replication rates with a Student-t interval (honest when
events inside a run are correlated); a rate with no events at all is reported as a 95% upper
bound, never as a bare 0, taken from replication-level data (:mod:`toctou_sim.stats.bounds`: events
come in bursts, so ``3 / operations`` is not a bound); pooled Wilson intervals are shown beside
rates as a cross-check.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.engines.fastpath import FastPathError, resolve_engine, run_fast
from toctou_sim.experiment import executors
from toctou_sim.experiment.settings import PRIMARY_METRIC, RunSettings, check_stopping, replication_limit
from toctou_sim.measure.budget import budget_metrics
from toctou_sim.measure.guide import guide_metrics
from toctou_sim.measure.metrics import ReplicationResult
from toctou_sim.spec.model import ModelSpec, SpecError
from toctou_sim.stats.bounds import DOMINATING, zero_bound
from toctou_sim.stats.intervals import t_interval, wilson_interval
from toctou_sim.world import World

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ComparisonResult",
    "Estimate",
    "SimulationResult",
    "StoppingRule",
    "compare",
    "estimate",
    "run_replication",
    "simulate",
]

RATE_EVENTS = {
    "violation_rate": "violations",
    "mismatch_rate": "mismatches",
    "conflict_rate": "conflicts",
    "abort_rate": "aborts",
}
"""Rates whose event counts are kept, for pooled Wilson intervals and the rule of three."""

RATE_TRIALS = {"ordering_error_rate": "events"}
"""Rates whose denominator is not the counted operations (for the rule-of-three bound)."""

MIN_PRECISION_REPS = 10
"""The fewest replications a precision target is accepted on (see :class:`StoppingRule`)."""

NOT_PROPORTIONS = frozenset({"burn_rate", "race_burn_rate"})
"""Metrics named ``*_rate`` that are not per-operation proportions (no rule-of-three bound)."""


def _version() -> str:
    from toctou_sim.version import __version__

    return __version__


@dataclass(frozen=True)
class Estimate:
    """A metric estimated across replications.

    Attributes:
        metric: the metric's name.
        estimate: mean of the per-replication values (0.0 when no event was seen at all).
        ci_low, ci_high: 95% Student-t interval; for a rate with zero events, ``[0, bound]``
            with the honest replication-level bound of :func:`toctou_sim.stats.bounds.zero_bound`.
        n_reps: replications.
        upper_bound: True when the rate saw no event and only an upper bound is known.
        events: total events behind a rate, where counted.
        bound_method: for an upper bound, what it rests on (``dominating``, ``replications``
            or ``episodes``, see :mod:`toctou_sim.stats.bounds`).
        rule_of_three: for an upper bound, ``3 / operations`` (valid only if operations were
            independent; shown for comparison, never as the bound).
    """

    metric: str
    estimate: float
    ci_low: float
    ci_high: float
    n_reps: int
    upper_bound: bool = False
    events: float | None = None
    wilson_low: float | None = None
    wilson_high: float | None = None
    bound_method: str | None = None
    rule_of_three: float | None = None

    @property
    def half_width(self) -> float:
        """Half the interval's width."""
        return (self.ci_high - self.ci_low) / 2

    @property
    def relative_half_width(self) -> float:
        """Half-width over the estimate (``inf`` when the estimate is 0 or unknown)."""
        if self.upper_bound or not self.estimate or math.isnan(self.estimate):
            return math.inf
        return abs(self.half_width / self.estimate)

    def __str__(self) -> str:
        if self.upper_bound:
            how = f"; bound: {self.bound_method}" if self.bound_method else ""
            return f"< {self.ci_high:.3g} (0 events{how})"
        if math.isnan(self.ci_low):
            return f"{self.estimate:.4g}"
        return f"{self.estimate:.4g} [{self.ci_low:.4g}, {self.ci_high:.4g}]"


def _zero(metric: str, replications: Sequence[ReplicationResult], n: int, trials: float,
          confidence: float) -> tuple[float, str, float]:
    """The honest bound of a rate with no event, its method, and the rule of three beside it."""
    bigger = DOMINATING.get(metric)
    dominating = None
    if bigger is not None:
        dominating = np.array([r.metrics.get(bigger, math.nan) for r in replications], dtype=np.float64)
    bound = zero_bound(n, dominating=dominating, dominating_name=bigger or "", confidence=confidence)
    return bound.value, bound.method, 3.0 / trials


def estimate(metric: str, replications: Sequence[ReplicationResult], confidence: float = 0.95) -> Estimate:
    """Estimate ``metric`` from replications (see the module docstring for the rules)."""
    values = np.array([r.metrics.get(metric, math.nan) for r in replications], dtype=np.float64)
    mean, low, high = t_interval(values, confidence)
    n = int(np.sum(~np.isnan(values)))
    count_name = RATE_EVENTS.get(metric)
    if count_name is None:
        proportion = metric.endswith("_rate") and metric not in NOT_PROPORTIONS
        if proportion and n and np.all(values[~np.isnan(values)] == 0):
            denominator = RATE_TRIALS.get(metric, "operations")
            trials = sum(r.metrics.get(denominator, 0.0) for r in replications)
            if trials > 0:
                bound, method, three = _zero(metric, replications, n, trials, confidence)
                return Estimate(metric, 0.0, 0.0, bound, n, upper_bound=True, bound_method=method,
                                rule_of_three=three)
        return Estimate(metric, mean, low, high, n)
    events = float(sum(r.metrics.get(count_name, 0.0) for r in replications))
    trials = float(sum(r.metrics.get("operations", 0.0) for r in replications))
    w_low, w_high = wilson_interval(events, trials, confidence)
    if events == 0 and trials > 0:
        bound, method, three = _zero(metric, replications, n, trials, confidence)
        return Estimate(metric, 0.0, 0.0, bound, n, True, events, w_low, w_high, method, three)
    return Estimate(metric, mean, low, high, n, False, events, w_low, w_high)


def run_replication(
    model: ModelSpec, replication: int, seed: int, engine: str = "auto", estimator: str = "plain"
) -> ReplicationResult:
    """Simulate one replication of ``model`` (with its own strategy). A pure function of its
    arguments: the unit of work of every executor.

    ``engine`` is ``des`` (the SimPy event loop), ``fast`` (the event kernel, the same numbers; the
    model must qualify) or ``auto`` (fast when the model qualifies). ``estimator`` ``conditional``
    (conditional Monte Carlo) needs the fast engine.
    """
    if estimator == "episodes":
        from toctou_sim.experiment.episodes import run_episode_replication

        result = run_episode_replication(model, replication, seed)
        result.metrics.update(budget_metrics(result.metrics, result.timeline, model))
        result.metrics.update(guide_metrics(model.keys.invariant, result.metrics))
        return result
    chosen, why = resolve_engine(model, engine, estimator)
    if chosen == "fast":
        result = run_fast(model, replication, seed, estimator)
    else:
        if estimator != "plain":
            reason = 'use engine="fast" or "auto"' if engine == "des" else f"the model does not qualify: {why}"
            raise FastPathError(f"estimator {estimator}: needs the fast engine; {reason}")
        world = World(model, RandomStreams(seed, replication))
        world.run()
        measured = model.model.horizon - model.model.warmup
        result = ReplicationResult.from_recorder(
            world.recorder,
            replication=replication,
            seed=seed,
            strategy=model.strategy.label or model.strategy.kind,
            measured_time=measured,
            extra=world.extra_metrics(),
        )
    result.metrics.update(budget_metrics(result.metrics, result.timeline, model))
    result.metrics.update(guide_metrics(model.keys.invariant, result.metrics))
    return result


Task = tuple[ModelSpec, int, int, str, str]
"""One replication: model, replication index, seed, engine, estimator."""


def _run_task(task: Task) -> ReplicationResult:
    """One replication. Where a progress counter is listening (the calling process's bar, or a
    local pool's shared counter), it moves by the share of simulated time done and reaches exactly
    one more when the replication ends, whatever engine ran it."""
    add = executors.progress_sink()
    if add is None:
        return run_replication(*task)
    from toctou_sim.world import engine

    done = 0.0

    def tick(fraction: float) -> None:
        nonlocal done
        done += fraction
        add(fraction)

    engine.PROGRESS = tick
    try:
        result = run_replication(*task)
    finally:
        engine.PROGRESS = None
    add(1.0 - done)
    return result


def _map(
    tasks: list[Task],
    executor: Executor | None,
    progress: Callable[[float], None] | None,
) -> Iterator[ReplicationResult]:
    """Run ``tasks``; ``progress`` hears of the replications done, fractions included (within a
    replication in this process, or through a local pool's shared counter; other executors
    report whole replications as they return)."""
    if progress is None:
        yield from (map(_run_task, tasks) if executor is None else executor.map(_run_task, tasks))
        return
    with executors.listening(executor, progress) as whole:
        for result in (map(_run_task, tasks) if executor is None else executor.map(_run_task, tasks)):
            if whole:
                progress(1.0)
            yield result


@dataclass
class SimulationResult:
    """Replications of one model and strategy, and their estimates."""

    model: ModelSpec
    strategy: str
    seed: int
    replications: list[ReplicationResult] = field(default_factory=list)
    stopped_by: str = "reps"
    """Why replications stopped: ``reps`` (as asked), ``precision`` (target reached) or
    ``max_reps`` (limit reached before the target)."""
    engine: str = "des"
    """The engine that ran the replications: ``des`` or ``fast``."""
    engine_reason: str = ""
    """Why that engine (with ``auto``: why the model does or does not qualify for the fast path)."""
    estimator: str = "plain"
    """``plain`` (0/1 outcomes) or ``conditional`` (conditional Monte Carlo)."""
    _model_hash: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def model_hash(self) -> str:
        """The model's content hash, computed once (every row of the tidy frame carries it)."""
        if self._model_hash is None:
            self._model_hash = self.model.content_hash()
        return self._model_hash

    @property
    def n_reps(self) -> int:
        """Number of replications."""
        return len(self.replications)

    @property
    def metric_names(self) -> list[str]:
        """Every metric present in some replication, in first-seen order."""
        names: dict[str, None] = {}
        for replication in self.replications:
            names.update(dict.fromkeys(replication.metrics))
        return list(names)

    def estimate(self, metric: str) -> Estimate:
        """The estimate of one metric."""
        if metric not in self.metric_names:
            raise KeyError(f"unknown metric {metric!r}; expected one of {', '.join(self.metric_names)}")
        return estimate(metric, self.replications)

    @property
    def unstable(self) -> bool:
        """At least half of the replications had no steady state (a backlog that grew for the whole
        run): latency then grows with the horizon, and its estimates describe nothing."""
        values = [r.metrics.get("unstable", 0.0) for r in self.replications]
        return bool(values) and sum(values) >= 0.5 * len(values)

    def to_rows(self) -> list[dict[str, Any]]:
        """The rows of :meth:`to_frame` as plain dictionaries, without pandas (what ``run`` prints
        its table and ``--json`` from): ``to_frame()`` is ``pandas.DataFrame(to_rows())``."""
        common = self._common()
        return [self._row(estimate(name, self.replications), common) for name in self.metric_names]

    def to_frame(self) -> pd.DataFrame:
        """Tidy estimates: one row per metric (each row says the harm and whether the run was
        unstable)."""
        import pandas as pd

        return pd.DataFrame(self.to_rows())

    def replications_frame(self) -> pd.DataFrame:
        """One row per replication and metric (seed and replication on every row)."""
        import pandas as pd

        rows = [
            {"strategy": self.strategy, "replication": r.replication, "seed": r.seed, "metric": k, "value": v}
            for r in self.replications
            for k, v in r.metrics.items()
        ]
        return pd.DataFrame(rows)

    def _common(self) -> tuple[str, str, bool]:
        """What every row of this result repeats and takes a moment to find: the model's name, the
        harm, whether the run was unstable (computed once per table, not once per row)."""
        return self.model.model.name, self.model.harm, self.unstable

    def _row(self, est: Estimate, common: tuple[str, str, bool] | None = None) -> dict[str, Any]:
        name, harm, unstable = common or self._common()
        return {
            "model": name,
            "strategy": self.strategy,
            "harm": harm,
            "unstable": unstable,
            "metric": est.metric,
            "estimate": est.estimate,
            "ci_low": est.ci_low,
            "ci_high": est.ci_high,
            "n_reps": est.n_reps,
            "upper_bound": est.upper_bound,
            "events": est.events,
            "wilson_low": est.wilson_low,
            "wilson_high": est.wilson_high,
            "bound_method": est.bound_method,
            "rule_of_three": est.rule_of_three,
            "seed": self.seed,
            "engine": self.engine,
            "estimator": self.estimator,
            "model_hash": self.model_hash,
            "version": _version(),
        }


@dataclass
class ComparisonResult:
    """Several strategies run on common random numbers, with paired differences to a baseline."""

    model: ModelSpec
    baseline: str
    results: dict[str, SimulationResult]
    seed: int

    @property
    def strategies(self) -> list[str]:
        """Strategy labels in the order given."""
        return list(self.results)

    def difference(self, strategy: str, metric: str) -> Estimate:
        """Paired difference ``strategy - baseline`` of a metric, replication by replication."""
        base = {r.replication: r.metrics.get(metric, math.nan) for r in self.results[self.baseline].replications}
        diffs = np.array(
            [r.metrics.get(metric, math.nan) - base.get(r.replication, math.nan)
             for r in self.results[strategy].replications],
            dtype=np.float64,
        )
        mean, low, high = t_interval(diffs)
        return Estimate(f"{metric}_diff", mean, low, high, int(np.sum(~np.isnan(diffs))))

    def latency_added(self, strategy: str, metric: str = "request_latency_mean_ms") -> Estimate:
        """Guide M8: latency added by a mitigation, paired against ``none`` on common random
        numbers (``strategy - none`` replication by replication). The mean is over the same
        requests under both (first deliveries, whatever their outcome), so it is the mean of the
        per-request differences, not a difference between two outcome mixes."""
        if "none" not in self.results:
            raise KeyError("latency added is measured against 'none': include it in the strategies")
        base = {r.replication: r.metrics.get(metric, math.nan) for r in self.results["none"].replications}
        diffs = np.array(
            [r.metrics.get(metric, math.nan) - base.get(r.replication, math.nan)
             for r in self.results[strategy].replications],
            dtype=np.float64,
        )
        mean, low, high = t_interval(diffs)
        name = ("latency_added_mean_ms" if metric == "request_latency_mean_ms"
                else metric.replace("latency_", "latency_added_"))
        return Estimate(name, mean, low, high, int(np.sum(~np.isnan(diffs))))

    def _blocks(self) -> Iterator[list[dict[str, Any]]]:
        """The tidy rows in the blocks :meth:`to_frame` builds a frame of each: per strategy, its
        metrics with the paired differences, then (with ``none`` among the strategies) its M8 rows,
        whose differences are NaN. Every row has the same keys, in the same order."""
        nan = math.nan
        for label, result in self.results.items():
            rows = result.to_rows()
            for row in rows:
                diff = self.difference(label, row["metric"])
                row.update(baseline=self.baseline, diff=diff.estimate, diff_low=diff.ci_low, diff_high=diff.ci_high)
            yield rows
            if "none" in self.results:
                added = [self.latency_added(label, m) for m in ("request_latency_mean_ms", "latency_p99_ms")]
                yield [{**result._row(est), "baseline": "none", "diff": nan, "diff_low": nan, "diff_high": nan}
                       for est in added]

    def to_rows(self) -> list[dict[str, Any]]:
        """The rows of :meth:`to_frame` as plain dictionaries, without pandas (what ``compare``
        prints its table and ``--json`` from); a difference the frame holds as NaN is NaN here."""
        return [row for block in self._blocks() for row in block]

    def to_frame(self) -> pd.DataFrame:
        """Tidy rows: strategy x metric, with the paired difference against the baseline.

        When ``none`` is among the strategies, each strategy also gets the guide's M8 rows
        ``latency_added_mean_ms`` and ``latency_added_p99_ms`` (paired against ``none``).
        """
        import pandas as pd

        return pd.concat([pd.DataFrame(block) for block in self._blocks()], ignore_index=True)

    def replications_frame(self) -> pd.DataFrame:
        """Per-replication rows of every strategy."""
        import pandas as pd

        return pd.concat([r.replications_frame() for r in self.results.values()], ignore_index=True)


def _progress_bar(total: int, enabled: bool, description: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="rep", leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total_fmt} [{elapsed}<{remaining}]")


def _advance(bar: Any) -> Callable[[float], None]:
    """Move ``bar`` by a share of a replication, never past its total (shares are floats)."""

    def advance(amount: float) -> None:
        bar.update(max(0.0, min(amount, bar.total - bar.n)))

    return advance


@dataclass(frozen=True)
class StoppingRule:
    """When to stop adding replications: after ``reps``, or, with ``precision``, once the primary
    ``metric`` of every strategy has a relative 95% half-width of at most ``precision`` (checked
    after ``reps``, then after each projected count, up to ``max_reps``, default 1000).
    A strategy that has seen no event only has an upper bound (which shrinks as replications are
    added); it does not hold the others back once they are precise.

    The next count is projected from the interval so far: a half-width shrinks as 1/sqrt(n), so
    about ``n * (width / precision)**2`` replications are needed (for a rare rate, the count of
    events the target needs, ``(z / precision)**2`` ≈ 384 for ±10%, over the events per
    replication seen so far), at most 8x at once, 4x while no event has been seen.

    A target is accepted only after at least :data:`MIN_PRECISION_REPS` replications: with fewer,
    the interval's width is itself too noisy, and stopping when it happens to look narrow
    under-covers (88% for a nominal 95% at ``precision`` 0.3 from 3 replications; >= 93% with
    the minimum, measured in ``tests/unit/test_bounds.py``).

    The rule depends only on the replications' values, never on timing or on which executor ran
    them, so the same seed gives the same number of replications everywhere: ``simulate``,
    ``compare`` and each configuration of a sweep apply this one rule.
    """

    reps: int = 10
    precision: float | None = None
    max_reps: int | None = None
    metric: str = PRIMARY_METRIC

    def __post_init__(self) -> None:
        check_stopping(self.reps, self.precision, self.max_reps, self.metric)

    @property
    def limit(self) -> int:
        """The most replications the rule will ever ask for."""
        return replication_limit(self.reps, self.precision, self.max_reps)

    def next_target(self, target: int, done: Mapping[str, Sequence[ReplicationResult]]) -> tuple[int | None, str]:
        """After ``target`` replications of each strategy are ``done``: ``(None, stopped_by)`` to
        stop (``reps``, ``precision`` or ``max_reps``), or ``(new_target, "")`` to run more."""
        seen = {name for results in done.values() for r in results for name in r.metrics}
        if seen and self.metric not in seen:
            names = sorted(n for n in seen if n.endswith("_rate"))
            raise SpecError(f"metric: unknown metric {self.metric[:60]!r}; expected one of {', '.join(names[:12])}"
                            + (", ..." if len(names) > 12 else ""))
        if self.precision is None:
            return None, "reps"
        estimates = [estimate(self.metric, results) for results in done.values()]
        widths = [e.relative_half_width for e in estimates if not e.upper_bound]
        if widths and max(widths) <= self.precision and target >= min(MIN_PRECISION_REPS, self.limit):
            return None, "precision"
        if target >= self.limit:
            return None, "max_reps"
        projected = _next_target(target, max(widths, default=math.inf), self.precision)
        return min(self.limit, max(projected, MIN_PRECISION_REPS)), ""


def _run_until(
    models: dict[str, ModelSpec], run: RunSettings, engines: dict[str, str]
) -> tuple[dict[str, list[ReplicationResult]], str]:
    """Run ``run.reps`` replications of each model, then more until ``run.metric`` reaches
    ``run.precision``. The budget is checked first, for the most replications the rule may ask for."""
    rule = StoppingRule(run.reps, run.precision, run.max_reps, run.metric)
    seed, executor, estimator = run.seed, run.executor, run.estimator
    budget_check(models.values(), rule.limit, run.max_ops, run.max_memory)
    done: dict[str, list[ReplicationResult]] = {label: [] for label in models}
    bar = _progress_bar(rule.limit * len(models), run.progress, "replications")
    update = _advance(bar) if bar is not None else None
    target: int | None = rule.reps
    stopped_by = "reps"
    try:
        while target is not None:
            tasks: list[Task] = [
                (model, i, seed, engines.get(label, "des"), estimator)
                for label, model in models.items()
                for i in range(len(done[label]), target)
            ]
            labels = [label for label, model in models.items() for _ in range(len(done[label]), target)]
            for label, result in zip(labels, _map(tasks, executor, update), strict=True):
                done[label].append(result)
            target, stopped_by = rule.next_target(target, done)
    finally:
        if bar is not None:
            bar.close()
    return done, stopped_by


def check_metric(models: Iterable[ModelSpec], metric: str) -> None:
    """Refuse an unknown ``metric`` before a long run: one replication of each model over a
    horizon of at most 0.2 s (no warm-up) lists the metric names a run of the model reports.

    Raises:
        SpecError: no model reports ``metric``.
    """
    if metric == PRIMARY_METRIC:
        return
    seen: set[str] = set()
    for model in models:
        short = min(model.model.horizon, 0.2)
        probe = model.model_copy(update={"model": model.model.model_copy(update={"horizon": short, "warmup": 0.0})})
        seen.update(run_replication(probe, 0, 0).metrics)
        if metric in seen:
            return
    names = sorted(n for n in seen if n.endswith("_rate"))
    raise SpecError(f"metric: unknown metric {metric[:60]!r}; expected one of {', '.join(names[:12])}"
                    + (", ..." if len(names) > 12 else ""))


def budget_check(models: Iterable[ModelSpec], replications: int, max_ops: float | None,
                 max_memory: float | None) -> None:
    """Refuse to run ``replications`` of each model past the operation or memory budget."""
    from toctou_sim.core.limits import RunEstimate, check_budget, check_limit
    from toctou_sim.spec.size import estimate_run

    check_limit(max_ops, "max_ops")
    check_limit(max_memory, "max_memory")
    total = RunEstimate(0.0, 0.0, 0.0, 0.0)
    for model in models:
        one = estimate_run(model, replications)
        total = RunEstimate(total.operations + one.operations, total.events + one.events,
                            max(total.memory, one.memory), total.replications + one.replications)
    check_budget(total, max_ops, max_memory)


def _next_target(done: int, width: float, precision: float) -> int:
    """Replications to aim for next, projected from the relative half-width ``width`` after ``done``."""
    if not math.isfinite(width):
        return done * 4
    needed = math.ceil(done * (width / precision) ** 2 * 1.1)
    return max(done + 2, min(needed, done * 8))


def _engines(models: dict[str, ModelSpec], engine: str, estimator: str) -> dict[str, tuple[str, str]]:
    """The engine each model runs on, and why; checks the estimator can be used."""
    from toctou_sim.engines.fastpath import ESTIMATORS

    if estimator == "episodes":  # conditioning on a fault episode: two DES runs per replication
        from toctou_sim.experiment.episodes import episode_fault

        if engine == "fast":
            raise SpecError('estimator episodes: runs on the DES engine (engine="des" or "auto")')
        for model in models.values():
            episode_fault(model)
        return {label: ("des", "the episode estimator runs on the DES engine") for label in models}
    if estimator not in ESTIMATORS:  # pragma: no cover - RunSettings refuses it first
        raise SpecError(f"estimator: expected one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    chosen = {label: resolve_engine(model, engine, estimator) for label, model in models.items()}
    if any(name == "fast" for name, _ in chosen.values()):
        from toctou_sim.engines.kernel_driver import warm_up

        warm_up()  # load the compiled kernel once, before worker processes are forked
    if estimator != "plain":
        for label, (name, why) in chosen.items():
            if name != "fast" and engine == "des":
                raise SpecError(f'estimator {estimator}: needs the fast engine (engine="fast" or "auto")')
            if name != "fast":
                raise SpecError(f"estimator {estimator}: needs the fast engine, and strategy {label!r} "
                                f"does not qualify: {why}")
    return chosen


def unique_strategies(strategies: Iterable[str]) -> list[str]:
    """The strategy names, refusing none at all, an empty name or one given twice."""
    names = [strategies] if isinstance(strategies, str) else list(strategies)
    if not names:
        raise SpecError("strategies: give at least one strategy")
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not name:
            raise SpecError(f"strategies: expected strategy names, got {name!r}")
        if name in seen:
            raise SpecError(f"strategies: {name[:60]!r} is given twice")
        seen.add(name)
    return names


def _as_model(model: ModelSpec | str, overrides: dict[str, Any] | None) -> ModelSpec:
    from toctou_sim.spec.model import load_model

    if isinstance(model, ModelSpec):
        if overrides:
            from toctou_sim.spec.model import parse_model

            data = model.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            base_dir = Path(model.source).parent if model.source else Path(".")
            return parse_model(data, source=model.source or "<model>", base_dir=base_dir, overrides=overrides,
                               text=model.text, data_dirs=model.data_dirs)
        return model
    return load_model(model, overrides)


def simulate(
    model: ModelSpec | str,
    *,
    settings: RunSettings | None = None,
    reps: int = 10,
    seed: int = 0,
    strategy: str | None = None,
    overrides: dict[str, Any] | None = None,
    precision: float | None = None,
    max_reps: int | None = None,
    metric: str = PRIMARY_METRIC,
    executor: Executor | None = None,
    progress: bool = False,
    engine: str = "auto",
    estimator: str = "plain",
    max_ops: float | None = None,
    max_memory: float | None = None,
) -> SimulationResult:
    """Run replications of a model and estimate every metric.

    Args:
        model: a validated model or the path of a model file.
        settings: how to run, in one validated object (:class:`~toctou_sim.experiment.settings.RunSettings`:
            ``reps`` to ``max_memory`` below); give it or those keywords, not both.
        reps: replications (the minimum when ``precision`` is given).
        seed: the run's seed; the same seed gives the same numbers on any executor.
        strategy: run this strategy instead of the model's own (a name from ``[strategies]`` or a kind).
        overrides: field values by dotted path, applied before validation.
        precision: keep adding replications until the relative 95% half-width of ``metric`` is at
            most this, or ``max_reps`` is reached (``stopped_by`` says which).
        max_reps: the limit for ``precision`` (default 1000).
        metric: the primary metric for ``precision``.
        executor: any ``concurrent.futures.Executor`` to run replications on (default: in process).
        progress: show a progress bar.
        engine: ``des`` (SimPy event loop), ``fast`` (the compiled event kernel, identical numbers;
            the model must qualify, see :func:`toctou_sim.engines.fastpath.qualifies`) or ``auto`` (the
            default: fast whenever the model qualifies).
        estimator: ``plain``, ``conditional`` (conditional Monte Carlo; needs the fast engine) or
            ``episodes`` (per fault episode, on the DES engine: :mod:`toctou_sim.experiment.episodes`).
        max_ops, max_memory: the run's budget (default :data:`toctou_sim.core.limits.DEFAULT_MAX_OPS`
            operations and half the machine's memory); a run estimated past it is refused before
            it starts (:func:`toctou_sim.spec.size.estimate_run`).
    """
    run = RunSettings.resolve(settings, simulate, reps=reps, seed=seed, precision=precision, max_reps=max_reps,
                              metric=metric, engine=engine, estimator=estimator, executor=executor,
                              progress=progress, max_ops=max_ops, max_memory=max_memory)
    spec = _as_model(model, overrides)
    if strategy is not None:
        spec = spec.with_strategy(strategy)
    label = spec.strategy.label or spec.strategy.kind
    chosen = _engines({label: spec}, run.engine, run.estimator)
    done, stopped_by = _run_until({label: spec}, run, {label: chosen[label][0]})
    return SimulationResult(model=spec, strategy=label, seed=run.seed, replications=done[label],
                            stopped_by=stopped_by, engine=chosen[label][0], engine_reason=chosen[label][1],
                            estimator=run.estimator)


def compare(
    model: ModelSpec | str,
    strategies: Iterable[str] | None = None,
    *,
    settings: RunSettings | None = None,
    reps: int = 10,
    seed: int = 0,
    baseline: str | None = None,
    overrides: dict[str, Any] | None = None,
    precision: float | None = None,
    max_reps: int | None = None,
    metric: str = PRIMARY_METRIC,
    executor: Executor | None = None,
    progress: bool = False,
    engine: str = "auto",
    estimator: str = "plain",
    max_ops: float | None = None,
    max_memory: float | None = None,
) -> ComparisonResult:
    """Run several strategies on common random numbers and compare them to a baseline.

    Replication ``i`` of every strategy sees the same arrivals, keys and windows, so the paired
    difference ``strategy - baseline`` has a far narrower interval than either estimate alone.
    ``strategies`` defaults to the model's own set (:meth:`ModelSpec.default_strategies`: ``none``,
    the model's ``[strategy]`` and its ``[strategies.*]``); ``baseline`` defaults to the first
    strategy. ``settings`` (or the keywords ``reps`` to ``max_memory``), ``engine`` and
    ``estimator`` are as in :func:`simulate`; with ``auto`` each strategy runs on the fast path
    only if it qualifies (the fast path draws the same streams, so the pairing holds across
    engines). A strategy named twice is an error (it would only be compared with itself).
    """
    run = RunSettings.resolve(settings, compare, reps=reps, seed=seed, precision=precision, max_reps=max_reps,
                              metric=metric, engine=engine, estimator=estimator, executor=executor,
                              progress=progress, max_ops=max_ops, max_memory=max_memory)
    spec = _as_model(model, overrides)
    names = unique_strategies(strategies if strategies is not None else spec.default_strategies())
    models = {name: spec.with_strategy(name) for name in names}
    base = baseline if baseline is not None else names[0]
    if base not in models:
        raise SpecError(f"baseline: {base!r} is not among the strategies {', '.join(names)}")
    chosen = _engines(models, run.engine, run.estimator)
    done, stopped_by = _run_until(models, run, {k: v[0] for k, v in chosen.items()})
    results = {
        name: SimulationResult(model=models[name], strategy=name, seed=run.seed, replications=done[name],
                               stopped_by=stopped_by, engine=chosen[name][0], engine_reason=chosen[name][1],
                               estimator=run.estimator)
        for name in names
    }
    return ComparisonResult(model=spec, baseline=base, results=results, seed=run.seed)
