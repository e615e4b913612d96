"""The one implementation of the confidence intervals (``toctou_sim.stats.intervals``), checked
against independent records: ``scipy.stats`` for the Student-t interval, and the Wilson interval
of 5 events in 10 trials as printed in the literature (Newcombe 1998, Table I: 0.2366-0.7634).
The closed forms' checked versions and the estimates agree with it to the last bit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from toctou_sim.analytic import closed_forms
from toctou_sim.experiment.montecarlo import estimate
from toctou_sim.measure.metrics import ReplicationResult
from toctou_sim.stats.intervals import t_interval, wilson_interval


@pytest.mark.parametrize("confidence", [0.5, 0.95, 0.99])
def test_t_interval_is_scipy_stats_t_interval(confidence: float) -> None:
    values = np.random.default_rng(3).exponential(2.0, size=12)
    mean, low, high = t_interval(values, confidence)
    expected = scipy.stats.t.interval(confidence, df=11, loc=values.mean(), scale=scipy.stats.sem(values))
    assert mean == values.mean()
    assert (low, high) == pytest.approx(expected, rel=1e-12)


def test_t_interval_edge_cases() -> None:
    assert all(math.isnan(x) for x in t_interval(np.array([math.nan])))
    assert t_interval(np.array([4.0, math.nan]))[0] == 4.0 and math.isnan(t_interval(np.array([4.0]))[1])
    assert t_interval(np.array([2.0, 2.0, 2.0])) == (2.0, 2.0, 2.0)


def test_wilson_interval_matches_the_published_value() -> None:
    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert all(math.isnan(x) for x in wilson_interval(3, 0)) and all(math.isnan(x) for x in wilson_interval(4, 3))


def test_the_closed_forms_and_the_estimates_use_it() -> None:
    for k, n in [(1, 10), (17, 12345), (9, 10)]:
        assert closed_forms.wilson_interval(k, n, 0.9) == wilson_interval(k, n, 0.9)
    values = np.random.default_rng(5).normal(size=7)
    assert closed_forms.t_interval(values, 0.9) == t_interval(values, 0.9)
    reps = [ReplicationResult(i, 0, "none", {"violation_rate": v / 100, "violations": float(v), "operations": 100.0},
                              {}) for i, v in enumerate([1, 4, 2, 0, 3])]
    est = estimate("violation_rate", reps)
    assert (est.estimate, est.ci_low, est.ci_high) == t_interval(np.array([0.01, 0.04, 0.02, 0.0, 0.03]))
    assert (est.wilson_low, est.wilson_high) == wilson_interval(10, 500)
