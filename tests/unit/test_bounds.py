"""Honest statistics for rare, clustered harms: zero-event bounds and the precision stopping rule.

Both are checked by coverage on models whose truth is known, simulated directly at the level the
estimators see (per-replication counts), seeded:

- clustered harms: fault episodes arrive as a Poisson process, each harms a burst of 25-50
  operations out of 10,000 per replication. The true rate is ``episodes * 37.5 / 10,000``.
  Whenever no replication saw a harm, the reported bound must be at least the true rate in >= 93%
  of runs (nominal 95%); the independent-operations rule of three (``3 / operations``) does not.
- the stopping rule: Poisson events at a known rate per operation; the interval it stops on must
  cover the truth at nominal 95% at a loose and a tight precision.
"""

from __future__ import annotations

import numpy as np
import pytest

from toctou_sim.experiment.montecarlo import MIN_PRECISION_REPS, StoppingRule, estimate
from toctou_sim.measure.metrics import ReplicationResult
from toctou_sim.stats.bounds import (
    dominating_bound,
    episode_bound,
    replication_bound,
    rule_of_three_bound,
    zero_bound,
)

OPS = 10_000


def _clustered(rng: np.random.Generator, reps: int, episodes: float, trials: int, accept: float = 1.0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per trial and replication: harms, mismatches (every burst), episodes. A harm is a mismatch
    the strategy accepted, with probability ``accept`` each."""
    count = rng.poisson(episodes, (trials, reps))
    bursts = np.zeros((trials, reps))
    harms = np.zeros((trials, reps))
    for index in zip(*np.nonzero(count), strict=True):
        sizes = rng.integers(25, 51, count[index])
        bursts[index] = sizes.sum()
        harms[index] = rng.binomial(sizes, accept).sum()
    return harms, bursts, count


@pytest.mark.parametrize(("reps", "episodes"), [(3, 0.3), (3, 0.75), (10, 0.1)])
def test_zero_bound_covers_clustered_harms_where_the_rule_of_three_does_not(reps: int, episodes: float) -> None:
    rng = np.random.default_rng(13)
    trials = 3000
    truth = episodes * 37.5 / OPS
    harms, _, _ = _clustered(rng, reps, episodes, trials)
    zero = harms.sum(axis=1) == 0
    assert zero.mean() > 0.05  # the setting produces clean runs: the bound is exercised
    bound = zero_bound(reps)
    assert bound.method == "replications"
    misses = zero & (bound.value < truth)
    naive = zero & (rule_of_three_bound(OPS * reps) < truth)
    assert 1 - misses.mean() >= 0.93
    assert 1 - naive.mean() < 0.93  # the old bound fails here: the test could fail


def test_dominating_bound_covers_when_most_mismatches_are_caught() -> None:
    # The strategy catches 99.7% of the mismatches: harms are rare, their bursts are the mismatches'.
    rng = np.random.default_rng(14)
    reps, trials = 5, 2000
    harms, bursts, _ = _clustered(rng, reps, 2.0, trials, accept=0.003)
    truth = 2.0 * 37.5 * 0.003 / OPS
    misses = 0
    used = 0
    for h, m in zip(harms, bursts, strict=True):
        if h.sum() == 0:
            bound = zero_bound(reps, dominating=m / OPS, dominating_name="mismatch_rate")
            used += bound.method == "dominating"
            misses += bound.value < truth
    assert used > 100
    assert 1 - misses / trials >= 0.93


def test_episode_bound_covers_fault_driven_harm() -> None:
    # Harm happens only in an episode, at most 50 per episode: E clean episodes bound the rate.
    rng = np.random.default_rng(15)
    reps, trials, episodes, p_harm = 3, 3000, 4.0, 0.05
    truth = episodes * p_harm * 37.5 / OPS
    count = rng.poisson(episodes, (trials, reps))
    misses = clean = 0
    for row in count:
        harmed = rng.random(row.sum()) < p_harm
        if not harmed.any():
            clean += 1
            bound = zero_bound(reps, episodes=float(row.sum()), harm_cap=50, trials=OPS * reps)
            misses += bound.value < truth
    assert clean > 300
    assert 1 - misses / trials >= 0.93


def test_bound_arithmetic() -> None:
    assert replication_bound(3) == pytest.approx(1 - 0.05 ** (1 / 3))
    assert episode_bound(10, 50, 1000) == pytest.approx(50 * (1 - 0.05 ** 0.1) * 10 / 1000)
    values = [0.01, 0.02, 0.03]
    from scipy import stats

    assert dominating_bound(values) == pytest.approx(0.02 + stats.t.ppf(0.95, 2) * 0.01 / np.sqrt(3))
    assert np.isnan(dominating_bound([0.0, 0.0]))  # a dominating rate that saw nothing bounds nothing
    # Two candidates: each at 97.5%, the smaller reported.
    both = zero_bound(3, dominating=values)
    assert both.method == "dominating" and both.value == pytest.approx(dominating_bound(values, 0.975))


def _rep(index: int, events: float, operations: float, mismatches: float | None = None) -> ReplicationResult:
    metrics = {"violation_rate": events / operations, "violations": events, "operations": operations}
    if mismatches is not None:
        metrics["attempt_mismatch_rate"] = mismatches / operations  # every violation is a mismatched attempt
    return ReplicationResult(index, 0, "x", metrics, {})


def test_estimate_reports_which_bound() -> None:
    caught = [_rep(i, 0, OPS, m) for i, m in enumerate((40, 55, 47))]
    est = estimate("violation_rate", caught)
    assert est.upper_bound and est.bound_method == "dominating" and est.ci_high < 0.01
    assert est.rule_of_three == pytest.approx(3 / (3 * OPS))
    assert "bound: dominating" in str(est)
    blind = estimate("violation_rate", [_rep(i, 0, OPS, 0) for i in range(3)])
    assert blind.bound_method == "replications" and blind.ci_high == pytest.approx(replication_bound(3))


@pytest.mark.parametrize("precision", [0.3, 0.1])
def test_precision_rule_keeps_nominal_coverage(precision: float) -> None:
    # Poisson events, 3 per replication of 10,000 operations on average: rate 3e-4. Started from
    # 3 replications; without the minimum the loose setting covered 88%.
    rng = np.random.default_rng(int(precision * 100))
    truth, trials, covered, sizes = 3.0 / OPS, 300, 0, []
    for _ in range(trials):
        rule = StoppingRule(reps=3, precision=precision, max_reps=2000)
        done: list[ReplicationResult] = []
        target: int | None = 3
        while target is not None:
            done += [_rep(len(done) + i, float(e), OPS) for i, e in enumerate(rng.poisson(3.0, target - len(done)))]
            target, _ = rule.next_target(len(done), {"x": done})
        est = estimate("violation_rate", done)
        covered += est.ci_low <= truth <= est.ci_high
        sizes.append(len(done))
    assert min(sizes) >= MIN_PRECISION_REPS
    assert covered / trials >= 0.91  # nominal 95%; 300 runs have a standard error of 1.3%


def test_t_quantile_table_is_scipys() -> None:
    """The Student-t and normal quantiles the estimates use without importing scipy are, to the
    last bit, scipy.special's (an independent record: scipy computes them now)."""
    from scipy.special import ndtri, stdtrit

    from toctou_sim.stats.intervals import NORMAL_975, t_quantile

    for probability in ((1 + 0.95) / 2, 1.0 - (1.0 - 0.95)):
        for dof in range(1, 121):  # past the table's end too: scipy answers there
            assert t_quantile(probability, dof) == float(stdtrit(dof, probability)), (probability, dof)
    assert t_quantile(0.995, 7) == float(stdtrit(7, 0.995))
    assert float(ndtri(0.975)) == NORMAL_975
