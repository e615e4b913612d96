"""Estimates, stopping rules and common random numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import MODELS, model
from scipy import stats

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.experiment.montecarlo import compare, simulate
from toctou_sim.measure.metrics import Histogram
from toctou_sim.spec.model import StrategySpec, load_model
from toctou_sim.stats.intervals import t_interval
from toctou_sim.world import World

SMALL = {"model.horizon": "10s", "model.warmup": "1s"}


def test_t_interval_matches_scipy() -> None:
    values = np.array([0.1, 0.12, 0.09, 0.11, 0.13])
    mean, low, high = t_interval(values)
    expected = stats.t.interval(0.95, 4, loc=values.mean(), scale=stats.sem(values))
    assert (low, high) == pytest.approx(expected)
    assert mean == pytest.approx(values.mean())


def test_zero_events_are_an_upper_bound_never_zero() -> None:
    result = simulate(str(MODELS / "flash_sale.toml"), reps=3, seed=1, strategy="cas", overrides=SMALL)
    est = result.estimate("violation_rate")
    operations = sum(r.metrics["operations"] for r in result.replications)
    assert est.upper_bound and est.rule_of_three == pytest.approx(3 / operations)
    # The honest bound: at most CAS's mismatch rate (every violation is an accepted mismatch).
    assert est.bound_method == "dominating" and est.ci_high > est.rule_of_three
    assert str(est).startswith("< ")


def test_precision_stops_on_target_or_limit() -> None:
    spec = model(model={"horizon": 20}, keys={"count": 1},
                 clients={"arrival": {"poisson": {"rate": 20}}, "window": 0.05},
                 mutators=[{"action": "bump", "rate": 5}])
    reached = simulate(spec, reps=3, seed=2, precision=0.2, max_reps=200)
    assert reached.stopped_by == "precision"
    assert reached.estimate("violation_rate").relative_half_width <= 0.2
    limited = simulate(spec, reps=3, seed=2, precision=0.001, max_reps=6)
    assert limited.stopped_by == "max_reps" and limited.n_reps == 6


def test_same_seed_same_numbers_and_replications_are_independent() -> None:
    a = simulate(str(MODELS / "flash_sale.toml"), reps=2, seed=5, overrides=SMALL).to_frame()
    b = simulate(str(MODELS / "flash_sale.toml"), reps=2, seed=5, overrides=SMALL).to_frame()
    assert a.equals(b)
    c = simulate(str(MODELS / "flash_sale.toml"), reps=2, seed=6, overrides=SMALL).to_frame()
    assert not a["estimate"].equals(c["estimate"])


class ArrivalLog(World):
    def submit(self, key, **kw):  # type: ignore[override]
        op = super().submit(key, **kw)
        self.seen = getattr(self, "seen", [])
        self.seen.append((op.arrival, key, kw["window"], kw["read_latency"]))
        return op


@pytest.mark.parametrize("strategy", ["recheck", "cas", "lock"])
def test_changing_strategy_keeps_the_workload(strategy: str) -> None:
    """Common random numbers: replication i of every strategy sees the same arrivals, keys,
    windows and latencies, whatever the strategy does with them."""
    from toctou_sim.spec.model import load_model

    spec = load_model(MODELS / "flash_sale.toml", SMALL)
    logs = []
    for name in ("none", strategy):
        world = ArrivalLog(spec.with_strategy(name), RandomStreams(9, 4))
        world.run()
        logs.append(world.seen)
    assert logs[0] == logs[1] and len(logs[0]) > 1000


def test_paired_difference_is_tighter_than_independent_estimates() -> None:
    """Recheck's latency shares every window and latency with none's in the same replication, so
    the paired difference is far tighter than the two estimates' intervals combined."""
    spec = load_model(MODELS / "f1_stale_validation.toml", SMALL)
    once = StrategySpec.parse({"kind": "recheck", "retry": {"max_retries": 0}})  # no retries: same work as none
    spec = spec.model_copy(update={"strategies": {**spec.strategies, "recheck": once}})
    result = compare(spec, ["none", "recheck"], reps=5, seed=3)
    diff = result.difference("recheck", "latency_mean_ms")
    single = result.results["recheck"].estimate("latency_mean_ms")
    base = result.results["none"].estimate("latency_mean_ms")
    assert diff.half_width < math.hypot(base.half_width, single.half_width) / 3
    assert diff.estimate == pytest.approx(single.estimate - base.estimate)
    frame = result.to_frame()
    assert {"strategy", "metric", "estimate", "ci_low", "ci_high", "n_reps", "diff"} <= set(frame.columns)


def test_histogram_quantiles_are_within_bin_resolution() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(-4, 1, 100_000)
    h = Histogram()
    for v in values:
        h.add(float(v))
    for q in (0.5, 0.9, 0.99, 0.999):
        assert h.quantile(q) == pytest.approx(np.quantile(values, q), rel=0.015)
    assert h.mean == pytest.approx(values.mean())
    assert math.isnan(Histogram().quantile(0.5))


def test_precision_in_compare_is_not_held_back_by_a_strategy_without_events() -> None:
    spec = model(model={"horizon": 20}, keys={"count": 1},
                 clients={"arrival": {"poisson": {"rate": 20}}, "window": 0.05},
                 mutators=[{"action": "bump", "rate": 5}])
    result = compare(spec, ["none", "cas"], reps=3, seed=2, precision=0.2, max_reps=200)
    assert result.results["none"].stopped_by == "precision"
    assert result.results["cas"].estimate("violation_rate").upper_bound


def _progress_run(executor) -> tuple[list[tuple[float, int]], int]:
    """Run 2 DES replications with a recording progress callback; returns (amount, results seen
    so far) per call, and the results count."""
    from toctou_sim.experiment.montecarlo import _map

    spec = load_model(MODELS / "payment_webhook.toml", {"model.horizon": "3s", "model.warmup": "0.5s"})
    calls: list[tuple[float, int]] = []
    results: list[object] = []
    tasks = [(spec, i, 1, "des", "plain") for i in range(2)]
    for result in _map(tasks, executor, lambda amount: calls.append((amount, len(results)))):
        results.append(result)
    return calls, len(results)


def test_the_progress_bar_moves_within_a_replication() -> None:
    calls, n = _progress_run(None)
    assert n == 2
    assert math.isclose(sum(amount for amount, _ in calls), 2.0)
    # the first replication reported its 20 stretches of simulated time before it returned
    before_first = [amount for amount, seen in calls if seen == 0]
    assert len(before_first) >= 20 and all(0 < a <= 0.05 + 1e-12 for a in before_first[:20])


def test_a_local_pool_reports_progress_through_its_shared_counter() -> None:
    from toctou_sim.experiment.executors import local_pool

    with local_pool(2) as pool:
        calls, n = _progress_run(pool)
    assert n == 2
    assert math.isclose(sum(amount for amount, _ in calls), 2.0)  # every share, flushed at the end
