"""Tests of the analytic oracles in :mod:`toctou_sim.analytic.closed_forms`.

Every comparison against a Monte Carlo estimate uses a tolerance derived from that estimate's own
standard error (a 99% normal or Student-t interval, Bonferroni-corrected when several points of
one curve are checked at once); every seed is fixed, so the suite is deterministic.
"""

from __future__ import annotations

import itertools
import math
from decimal import Decimal, localcontext
from typing import TypedDict

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from toctou_sim.analytic import closed_forms as an

Z99 = float(stats.norm.ppf(0.995))  # two-sided 99% normal quantile

FAST = settings(max_examples=60, deadline=None)

rates = st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False)
positive_rates = st.floats(min_value=1e-6, max_value=1e4, allow_nan=False, allow_infinity=False)
durations = st.floats(min_value=0.0, max_value=1e3, allow_nan=False, allow_infinity=False)
positive_durations = st.floats(min_value=1e-6, max_value=1e3, allow_nan=False, allow_infinity=False)


class Means(TypedDict):
    """Mean WARS delays (seconds), passed as keyword arguments to the PBS functions."""

    w_mean: float
    a_mean: float
    r_mean: float
    s_mean: float


MEANS_EQUAL = Means(w_mean=1.0, a_mean=1.0, r_mean=1.0, s_mean=1.0)
MEANS_MIXED = Means(w_mean=2.0, a_mean=0.5, r_mean=1.3, s_mean=0.7)


def _bonferroni_z(points: int, level: float = 0.99) -> float:
    """Two-sided normal quantile giving family-wise ``level`` over ``points`` comparisons."""
    return float(stats.norm.ppf(1.0 - (1.0 - level) / (2.0 * points)))


def test_public_names_exist() -> None:
    for name in an.__all__:
        assert callable(getattr(an, name)), name


# --------------------------------------------------------------------------------------------------
# Mismatch probability
# --------------------------------------------------------------------------------------------------


def test_constant_window_known_values() -> None:
    assert an.mismatch_probability_constant(0.0, 5.0) == 0.0
    assert an.mismatch_probability_constant(3.0, 0.0) == 0.0
    assert an.mismatch_probability_constant(1.0, 1.0) == pytest.approx(1.0 - math.exp(-1.0), rel=1e-15)
    assert an.mismatch_probability_constant(2.0, 0.5) == pytest.approx(0.6321205588285577, rel=1e-15)
    # full relative precision for tiny products (naive 1 - exp(-x) would return 0 here)
    assert an.mismatch_probability_constant(1e-20, 1.0) == pytest.approx(1e-20, rel=1e-12)


def test_exponential_window_known_values() -> None:
    assert an.mismatch_probability_exponential(1.0, 1.0) == 0.5
    assert an.mismatch_probability_exponential(3.0, 1.0) == 0.75
    assert an.mismatch_probability_exponential(0.0, 1.0) == 0.0


@FAST
@given(rate=rates, mean=durations)
def test_exponential_equals_laplace_form(rate: float, mean: float) -> None:
    via_laplace = an.mismatch_probability_from_laplace(rate, lambda s: 1.0 / (1.0 + s * mean))
    assert an.mismatch_probability_exponential(rate, mean) == pytest.approx(via_laplace, rel=1e-12, abs=1e-15)


@FAST
@given(rate=rates, window=durations)
def test_constant_equals_laplace_form(rate: float, window: float) -> None:
    via_laplace = an.mismatch_probability_from_laplace(rate, lambda s: math.exp(-s * window))
    assert an.mismatch_probability_constant(rate, window) == pytest.approx(via_laplace, abs=1e-15)


@FAST
@given(rate=positive_rates, mean=positive_durations)
def test_jensen_exponential_below_constant_with_same_mean(rate: float, mean: float) -> None:
    # 1 - exp(-λw) is concave in w, so any random window does no worse than its mean.
    p_exp = an.mismatch_probability_exponential(rate, mean)
    p_const = an.mismatch_probability_constant(rate, mean)
    assert 0.0 <= p_exp <= p_const + 1e-15 <= 1.0 + 1e-15


@FAST
@given(rate=rates, w1=durations, w2=durations)
def test_constant_monotone_in_window(rate: float, w1: float, w2: float) -> None:
    lo, hi = sorted((w1, w2))
    assert an.mismatch_probability_constant(rate, lo) <= an.mismatch_probability_constant(rate, hi)


@FAST
@given(
    rate=positive_rates,
    mu=st.floats(min_value=-12.0, max_value=5.0),
    sigma=st.floats(min_value=0.0, max_value=4.0),
)
def test_lognormal_bounds_and_jensen(rate: float, mu: float, sigma: float) -> None:
    p = an.mismatch_probability_lognormal(rate, mu, sigma)
    mean_window = math.exp(mu + 0.5 * sigma * sigma)
    assert 0.0 <= p <= 1.0
    assert p <= an.mismatch_probability_constant(rate, mean_window) + 1e-12


def test_lognormal_sigma_zero_is_constant_and_small_sigma_converges() -> None:
    rate, mu = 3.0, math.log(0.2)
    constant = an.mismatch_probability_constant(rate, 0.2)
    assert an.mismatch_probability_lognormal(rate, mu, 0.0) == pytest.approx(constant, rel=1e-14)
    gaps = [abs(an.mismatch_probability_lognormal(rate, mu, s) - constant) for s in (1e-1, 1e-2, 1e-3)]
    # The bias is second order in sigma: E[f(e^{mu + sigma Z})] - f(e^mu) = O(sigma^2).
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[1] / gaps[0] < 0.02
    assert gaps[2] < 1e-6
    assert abs(an.mismatch_probability_lognormal(rate, mu, 1e-6) - constant) < 1e-11


@pytest.mark.parametrize(("rate", "mu", "sigma"), [(10.0, math.log(0.05), 0.8), (0.5, 0.0, 1.5), (200.0, -7.0, 2.5)])
def test_lognormal_matches_monte_carlo_within_its_ci(rate: float, mu: float, sigma: float) -> None:
    rng = np.random.default_rng(12345)
    windows = rng.lognormal(mu, sigma, size=2_000_000)
    hits = -np.expm1(-rate * windows)
    estimate = float(hits.mean())
    se = float(hits.std(ddof=1)) / math.sqrt(hits.size)
    exact = an.mismatch_probability_lognormal(rate, mu, sigma)
    assert abs(estimate - exact) <= Z99 * se, (estimate, exact, se)


@pytest.mark.parametrize(("rate", "mu", "sigma"), [(2.0, -1.0, 0.7), (1e-3, -4.0, 3.0), (50.0, -6.0, 0.05)])
def test_lognormal_agrees_with_generic_quantile_integration(rate: float, mu: float, sigma: float) -> None:
    frozen = stats.lognorm(s=sigma, scale=math.exp(mu))
    generic = an.mismatch_probability(rate, frozen)
    assert an.mismatch_probability_lognormal(rate, mu, sigma) == pytest.approx(generic, abs=1e-9)


def test_generic_mismatch_dispatch() -> None:
    rate, mean = 2.0, 0.3
    exact = an.mismatch_probability_exponential(rate, mean)
    # float -> constant window
    assert an.mismatch_probability(rate, 0.3) == an.mismatch_probability_constant(rate, 0.3)
    # frozen distribution -> quantile integration
    assert an.mismatch_probability(rate, stats.expon(scale=mean)) == pytest.approx(exact, abs=1e-10)
    # callable -> density on [0, inf)
    gamma = stats.gamma(2.0, scale=0.1)
    assert an.mismatch_probability(rate, lambda w: float(gamma.pdf(w))) == pytest.approx(
        1.0 - (1.0 + rate * 0.1) ** -2, abs=1e-10
    )
    # explicit samples and sampler -> Monte Carlo mean, within its own 99% CI

    def sampler(rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
        return rng.exponential(mean, n)

    n = 400_000
    est = an.mismatch_probability(rate, sampler, kind="sampler", n_samples=n, seed=3)
    samples = np.random.default_rng(3).exponential(mean, n)
    assert an.mismatch_probability(rate, samples) == pytest.approx(est, rel=1e-12)
    se = float(np.std(-np.expm1(-rate * samples), ddof=1)) / math.sqrt(n)
    assert abs(est - exact) <= Z99 * se


def test_mismatch_input_validation() -> None:
    with pytest.raises(ValueError):
        an.mismatch_probability_constant(-1.0, 1.0)
    with pytest.raises(ValueError):
        an.mismatch_probability_constant(1.0, float("nan"))
    with pytest.raises(ValueError):
        an.mismatch_probability_exponential(1.0, -2.0)
    with pytest.raises(ValueError):
        an.mismatch_probability_lognormal(1.0, 0.0, -0.1)
    with pytest.raises(ValueError):
        an.mismatch_probability_from_laplace(1.0, lambda s: 1.5)
    with pytest.raises(ValueError):
        an.mismatch_probability(1.0, np.array([0.1, -0.2]))
    with pytest.raises(ValueError):
        an.mismatch_probability(1.0, lambda w: 1.0, kind="bogus")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# TTL cache
# --------------------------------------------------------------------------------------------------


def _ttl_reference(x: float) -> float:
    """1 - (1 - e^{-x})/x in 60-digit decimal arithmetic."""
    with localcontext() as ctx:
        ctx.prec = 60
        d = Decimal(x)
        return float(1 - (1 - (-d).exp()) / d)


def test_ttl_known_values_and_limits() -> None:
    assert an.ttl_stale_read_probability(0.0, 10.0) == 0.0
    assert an.ttl_stale_read_probability(10.0, 0.0) == 0.0
    assert an.ttl_stale_read_probability(1.0, 1.0) == pytest.approx(math.exp(-1.0), rel=1e-15)
    assert an.ttl_stale_read_probability(1e6, 1.0) == pytest.approx(1.0 - 1e-6, rel=1e-15)
    # leading term x/2 for tiny x, without cancellation
    assert an.ttl_stale_read_probability(1e-300, 1.0) == pytest.approx(5e-301, rel=1e-12)
    assert an.ttl_stale_read_probability(1e-9, 1.0) == pytest.approx(5e-10, rel=1e-8)


@settings(max_examples=200, deadline=None)
@given(log_x=st.floats(min_value=-14.0, max_value=2.0))
def test_ttl_full_relative_precision(log_x: float) -> None:
    x = 10.0**log_x
    assert an.ttl_stale_read_probability(x, 1.0) == pytest.approx(_ttl_reference(x), rel=1e-13)


def test_ttl_small_x_branch_continuous_with_regular_branch() -> None:
    threshold = 0.1
    below = an.ttl_stale_read_probability(threshold * (1.0 - 1e-12), 1.0)
    at = an.ttl_stale_read_probability(threshold, 1.0)
    above = an.ttl_stale_read_probability(threshold * (1.0 + 1e-12), 1.0)
    assert below <= at <= above
    assert above - below == pytest.approx(0.0, abs=1e-13)
    # series and the closed form agree over a band around the switch
    for x in np.linspace(0.02, 0.3, 57):
        series_or_closed = an.ttl_stale_read_probability(float(x), 1.0)
        closed = (x + math.expm1(-x)) / x
        assert series_or_closed == pytest.approx(closed, rel=1e-12)


@FAST
@given(rate=positive_rates, ttl=positive_durations, factor=st.floats(min_value=1.0, max_value=10.0))
def test_ttl_bounds_and_monotone(rate: float, ttl: float, factor: float) -> None:
    p = an.ttl_stale_read_probability(rate, ttl)
    x = rate * ttl
    assert 0.0 <= p <= min(1.0, x / 2.0) + 1e-15
    assert an.ttl_stale_read_probability(rate * factor, ttl) >= p - 1e-15
    assert an.ttl_stale_read_probability(rate, ttl * factor) >= p - 1e-15
    # a uniform age has mean T/2: by Jensen, no worse than a constant window of T/2
    assert p <= an.mismatch_probability_constant(rate, ttl / 2.0) + 1e-15


@pytest.mark.parametrize(("rate", "ttl"), [(0.02, 0.5), (1.0, 0.7), (4.0, 1.0)])
def test_ttl_matches_direct_simulation(rate: float, ttl: float) -> None:
    # Each trial: the entry is fetched at 0, the next write of the Poisson process comes an
    # Exp(λ) gap later, a hit arrives at a uniform age in [0, T); stale iff the write came first.
    rng = np.random.default_rng(2024)
    n = 1_000_000
    age = rng.uniform(0.0, ttl, size=n)
    first_write = rng.exponential(1.0 / rate, size=n)
    stale = first_write <= age
    p_hat = float(stale.mean())
    se = math.sqrt(p_hat * (1.0 - p_hat) / n)
    exact = an.ttl_stale_read_probability(rate, ttl)
    assert abs(p_hat - exact) <= Z99 * se, (p_hat, exact, se)


# --------------------------------------------------------------------------------------------------
# M/M/1
# --------------------------------------------------------------------------------------------------


def test_mm1_known_values() -> None:
    assert an.mm1_mean_wait(1.0, 2.0) == 0.5
    assert an.mm1_mean_sojourn(1.0, 2.0) == 1.0
    assert an.mm1_wait_probability(1.0, 2.0) == 0.5
    assert an.mm1_mean_wait(0.0, 2.0) == 0.0
    assert an.mm1_mean_wait(9.0, 10.0) == pytest.approx(0.9)


@FAST
@given(lam=st.floats(min_value=0.0, max_value=100.0), mu=st.floats(min_value=1e-3, max_value=100.0))
def test_mm1_identities(lam: float, mu: float) -> None:
    assume(lam / mu < 0.999)
    wq = an.mm1_mean_wait(lam, mu)
    w = an.mm1_mean_sojourn(lam, mu)
    assert w == pytest.approx(wq + 1.0 / mu, rel=1e-9)
    # Little's law for the queue: Lq = λ Wq = ρ² / (1 - ρ)
    rho = an.mm1_wait_probability(lam, mu)
    assert lam * wq == pytest.approx(rho * rho / (1.0 - rho), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(("lam", "mu"), [(1.0, 1.0), (2.0, 1.0), (1.0, 0.5)])
def test_mm1_unstable_raises(lam: float, mu: float) -> None:
    for fn in (an.mm1_mean_wait, an.mm1_mean_sojourn, an.mm1_wait_probability):
        with pytest.raises(ValueError, match="unstable"):
            fn(lam, mu)


@pytest.mark.parametrize(("lam", "mu"), [(1.0, 2.0), (4.0, 5.0)])
def test_mm1_against_lindley_recursion(lam: float, mu: float) -> None:
    # Waits follow Lindley's recursion W_{n} = max(0, W_{n-1} + S_{n-1} - A_n), whose solution is
    # W_n = P_n - min(-W_0, P_1..P_n) with P the partial sums of S_{k-1} - A_k. Each replication
    # starts from the stationary law (W_0 = 0 w.p. 1-ρ, else Exp(μ-λ)), so every customer's wait is
    # stationary and the replication means are iid unbiased: a Student-t interval applies.
    rng = np.random.default_rng(7)
    reps, customers = 400, 2_500
    rho = lam / mu
    w0 = np.where(rng.uniform(size=reps) < rho, rng.exponential(1.0 / (mu - lam), size=reps), 0.0)
    service = rng.exponential(1.0 / mu, size=(reps, customers))
    gaps = rng.exponential(1.0 / lam, size=(reps, customers))
    partial = np.cumsum(service[:, :-1] - gaps[:, 1:], axis=1)
    floor = np.minimum.accumulate(np.concatenate([-w0[:, None], partial], axis=1), axis=1)
    waits = np.concatenate([w0[:, None], partial], axis=1) - floor
    q = float(stats.t.ppf(0.995, reps - 1))
    for per_rep, exact in (
        (waits.mean(axis=1), an.mm1_mean_wait(lam, mu)),
        ((waits + service).mean(axis=1), an.mm1_mean_sojourn(lam, mu)),
        ((waits > 0.0).mean(axis=1), an.mm1_wait_probability(lam, mu)),
    ):
        mean = float(per_rep.mean())
        half = q * float(per_rep.std(ddof=1)) / math.sqrt(reps)
        assert abs(mean - exact) <= half, (mean, exact, half)


# --------------------------------------------------------------------------------------------------
# PBS
# --------------------------------------------------------------------------------------------------

small_quorums = st.integers(min_value=1, max_value=5).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(1, n), st.integers(1, n))
)


def test_k_staleness_known_values() -> None:
    assert an.pbs_quorum_miss_probability(3, 1, 1) == pytest.approx(2.0 / 3.0)
    assert an.pbs_k_staleness(3, 1, 1) == pytest.approx(1.0 / 3.0)
    assert an.pbs_k_staleness(3, 1, 1, 1) == pytest.approx(1.0 / 3.0)
    assert an.pbs_k_staleness(3, 1, 1, 2) == pytest.approx(1.0 - 4.0 / 9.0)
    assert an.pbs_k_staleness(3, 1, 1, 5) == pytest.approx(1.0 - (2.0 / 3.0) ** 5)
    assert an.pbs_k_staleness(3, 2, 2) == 1.0
    assert an.pbs_quorum_miss_probability(5, 2, 2) == pytest.approx(3.0 / 10.0)
    with pytest.raises(ValueError):
        an.pbs_k_staleness(3, 1, 1, 0)
    with pytest.raises(ValueError):
        an.pbs_k_staleness(3, 4, 1)


@settings(max_examples=80, deadline=None)
@given(
    quorum=st.integers(min_value=1, max_value=7).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(1, n), st.integers(1, n))
    )
)
def test_quorum_miss_probability_by_enumeration(quorum: tuple[int, int, int]) -> None:
    n, r, w = quorum
    write_quorum = set(range(w))
    read_quorums = list(itertools.combinations(range(n), r))
    misses = sum(1 for q in read_quorums if write_quorum.isdisjoint(q))
    assert an.pbs_quorum_miss_probability(n, r, w) == pytest.approx(misses / len(read_quorums), abs=1e-15)
    assert (an.pbs_quorum_miss_probability(n, r, w) == 0.0) == (r + w > n)


@settings(max_examples=25, deadline=None)
@given(quorum=small_quorums)
def test_strict_quorum_always_consistent(quorum: tuple[int, int, int]) -> None:
    n, r, w = quorum
    assume(r + w > n)
    t = np.array([0.0, 0.01, 1.0, 10.0])
    np.testing.assert_array_equal(an.pbs_t_visibility_exact(n, r, w, t, **MEANS_MIXED), 1.0)
    np.testing.assert_array_equal(an.pbs_t_visibility(n, r, w, t, samples=2_000, **MEANS_MIXED), 1.0)
    assert an.pbs_time_to_consistency(n, r, w, 0.999, **MEANS_MIXED) == 0.0


@settings(max_examples=25, deadline=None)
@given(quorum=small_quorums)
def test_t_visibility_increasing_and_tends_to_one(quorum: tuple[int, int, int]) -> None:
    n, r, w = quorum
    assume(r + w <= n)
    t = np.linspace(0.0, 60.0, 121)
    exact = an.pbs_t_visibility_exact(n, r, w, t, **MEANS_MIXED)
    assert np.all(np.diff(exact) >= 0.0)
    unsaturated = exact[1:] < 1.0 - 1e-9  # strictly increasing until it rounds to 1 in float64
    assert np.all(np.diff(exact)[unsaturated] > 0.0)
    assert 0.0 < exact[0] < 1.0
    assert exact[-1] == pytest.approx(1.0, abs=1e-9)
    mc = an.pbs_t_visibility(n, r, w, t, samples=5_000, **MEANS_MIXED)
    assert np.all(np.diff(mc) >= 0.0)
    assert mc[-1] == 1.0


def _exact_n3_r1_w1_closed_form(
    t: npt.NDArray[np.float64], w_mean: float, a_mean: float, r_mean: float, s_mean: float
) -> npt.NDArray[np.float64]:
    """Fully closed form for N=3, R=W=1, pairwise distinct rates (independent of the quadrature).

    P = 1 - e^{-λw t} E[e^{-λw M}] E[e^{-λw R*}], M the min of two Exp(λw)+Exp(λa), R* the request
    delay of the fastest of three Exp(λr)+Exp(λs) responders; both transforms expand into sums of
    exponentials because G(u)^2 is one.
    """
    a, b, p, q = 1.0 / w_mean, 1.0 / a_mean, 1.0 / r_mean, 1.0 / s_mean
    s = a
    # Survival of X = Exp(a)+Exp(b): G = (b e^{-au} - a e^{-bu})/(b-a); G² = Σ c_k e^{-k u}.
    g2 = [(b * b, 2 * a), (-2 * a * b, a + b), (a * a, 2 * b)]
    integral = sum(c / (s + k) for c, k in g2) / (b - a) ** 2
    laplace_m = 1.0 - s * integral
    # E[e^{-sR*}] = 3 ∫ G_U(u)² p q e^{-qu} (1 - e^{-cu})/c du, c = p + s - q
    #            = 3 p q Σ c_k / ((k + q)(k + p + s)) / (q - p)².
    gu2 = [(q * q, 2 * p), (-2 * p * q, p + q), (p * p, 2 * q)]
    laplace_r = 3 * p * q * sum(c / ((k + q) * (k + p + s)) for c, k in gu2) / (q - p) ** 2
    result: npt.NDArray[np.float64] = 1.0 - np.exp(-a * t) * laplace_m * laplace_r
    return result


def test_exact_n3_r1_w1_matches_independent_closed_form() -> None:
    t = np.array([0.0, 0.1, 0.5, 1.0, 3.0, 10.0])
    for means in (MEANS_MIXED, Means(w_mean=0.003, a_mean=0.001, r_mean=0.0007, s_mean=0.002)):
        quadrature = an.pbs_t_visibility_exact(3, 1, 1, t * means["w_mean"], **means)
        closed = _exact_n3_r1_w1_closed_form(t * means["w_mean"], **means)
        np.testing.assert_allclose(quadrature, closed, rtol=0.0, atol=1e-11)


@pytest.mark.parametrize(
    ("n", "r", "w", "means"),
    [
        (3, 1, 1, MEANS_EQUAL),
        (3, 1, 1, MEANS_MIXED),
        (5, 2, 2, Means(w_mean=1.0, a_mean=2.0, r_mean=0.5, s_mean=0.3)),
        (5, 1, 3, Means(w_mean=0.01, a_mean=0.02, r_mean=0.005, s_mean=0.003)),
        (4, 1, 2, MEANS_EQUAL),
    ],
)
def test_t_visibility_monte_carlo_matches_exact(n: int, r: int, w: int, means: Means) -> None:
    t = means["w_mean"] * np.array([0.0, 0.1, 0.3, 1.0, 2.0, 4.0])
    samples = 200_000
    mc = an.pbs_t_visibility(n, r, w, t, samples=samples, seed=11, **means)
    exact = an.pbs_t_visibility_exact(n, r, w, t, **means)
    se = np.sqrt(exact * (1.0 - exact) / samples)
    z = _bonferroni_z(t.size)
    assert np.all(np.abs(mc - exact) <= z * se + 1.0 / samples), (mc, exact, se)


def test_t_visibility_scalar_and_shape() -> None:
    scalar = an.pbs_t_visibility_exact(3, 1, 1, 0.5, **MEANS_EQUAL)
    assert scalar.shape == ()
    grid = np.zeros((2, 3))
    assert an.pbs_t_visibility(3, 1, 1, grid, samples=1_000, **MEANS_EQUAL).shape == (2, 3)
    with pytest.raises(ValueError):
        an.pbs_t_visibility_exact(3, 1, 1, -1.0, **MEANS_EQUAL)
    with pytest.raises(ValueError):
        an.pbs_t_visibility_exact(3, 1, 1, 1.0, w_mean=0.0, a_mean=1.0, r_mean=1.0, s_mean=1.0)
    with pytest.raises(ValueError):
        an.pbs_t_visibility(3, 0, 1, 1.0, **MEANS_EQUAL)


@pytest.mark.parametrize("prob", [0.9, 0.99, 0.999])
def test_time_to_consistency(prob: float) -> None:
    n, r, w = 3, 1, 1
    t_star = an.pbs_time_to_consistency(n, r, w, prob, **MEANS_MIXED)
    assert t_star > 0.0
    assert float(an.pbs_t_visibility_exact(n, r, w, t_star, **MEANS_MIXED)) == pytest.approx(prob, abs=1e-12)
    assert float(an.pbs_t_visibility_exact(n, r, w, t_star * (1 - 1e-6), **MEANS_MIXED)) < prob
    # Monte Carlo quantile: the exact visibility at the estimated time lies within the binomial
    # sampling error of the target probability.
    samples = 200_000
    t_mc = an.pbs_time_to_consistency(n, r, w, prob, method="monte_carlo", samples=samples, **MEANS_MIXED)
    at_mc = float(an.pbs_t_visibility_exact(n, r, w, t_mc, **MEANS_MIXED))
    assert abs(at_mc - prob) <= Z99 * math.sqrt(prob * (1 - prob) / samples) + 1.0 / samples
    # horizon and degenerate targets
    assert an.pbs_time_to_consistency(n, r, w, prob, t_max=t_star / 2, **MEANS_MIXED) == math.inf
    assert an.pbs_time_to_consistency(n, r, w, 1.0, **MEANS_MIXED) == math.inf
    assert an.pbs_time_to_consistency(n, r, w, 0.5, **MEANS_MIXED) == 0.0  # already > 0.5 at t=0


# --------------------------------------------------------------------------------------------------
# Interval estimates
# --------------------------------------------------------------------------------------------------


def test_rule_of_three() -> None:
    assert an.rule_of_three(1) == 3.0
    assert an.rule_of_three(300) == pytest.approx(0.01)
    for n in (1, 10, 100, 10_000):
        exact = 1.0 - 0.05 ** (1.0 / n)  # one-sided 95% Clopper-Pearson bound for 0 events
        assert exact <= an.rule_of_three(n)
    assert an.rule_of_three(10_000) == pytest.approx(1.0 - 0.05 ** (1.0 / 10_000), rel=2e-3)
    with pytest.raises(ValueError):
        an.rule_of_three(0)


def test_wilson_known_value() -> None:
    low, high = an.wilson_interval(5, 10)
    assert low == pytest.approx(0.2365931, abs=1e-6)
    assert high == pytest.approx(0.7634069, abs=1e-6)
    assert an.wilson_interval(0, 10)[0] == 0.0
    assert an.wilson_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError):
        an.wilson_interval(11, 10)
    with pytest.raises(ValueError):
        an.wilson_interval(0, 0)


@settings(max_examples=200, deadline=None)
@given(
    data=st.integers(min_value=1, max_value=10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    confidence=st.floats(min_value=0.5, max_value=0.999),
)
def test_wilson_properties(data: tuple[int, int], confidence: float) -> None:
    k, n = data
    low, high = an.wilson_interval(k, n, confidence)
    assert 0.0 <= low <= k / n <= high <= 1.0
    assert low < high
    wide_low, wide_high = an.wilson_interval(k, n, min(0.9999, confidence + 0.0005))
    assert wide_low <= low + 1e-15 and high <= wide_high + 1e-15
    mirror_low, mirror_high = an.wilson_interval(n - k, n, confidence)
    assert mirror_low == pytest.approx(1.0 - high, abs=1e-12)
    assert mirror_high == pytest.approx(1.0 - low, abs=1e-12)


def test_t_interval_known_values_and_degenerate_cases() -> None:
    mean, low, high = an.t_interval(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    half = 2.7764451051977987 * math.sqrt(2.5 / 5)
    assert mean == 3.0
    assert low == pytest.approx(3.0 - half, rel=1e-12)
    assert high == pytest.approx(3.0 + half, rel=1e-12)
    single = an.t_interval(np.array([4.2]))
    assert single[0] == 4.2 and math.isnan(single[1]) and math.isnan(single[2])
    flat = an.t_interval(np.full(10, 0.1))
    assert flat[0] == flat[1] == flat[2]
    assert flat[0] == pytest.approx(0.1)
    with pytest.raises(ValueError):
        an.t_interval(np.array([]))
    with pytest.raises(ValueError):
        an.t_interval(np.array([1.0, 2.0]), confidence=1.0)


@FAST
@given(
    values=st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=2, max_size=40),
    shift=st.floats(min_value=-1e3, max_value=1e3),
)
def test_t_interval_ordering_and_equivariance(values: list[float], shift: float) -> None:
    x = np.array(values)
    mean, low, high = an.t_interval(x)
    assert low <= mean <= high
    narrow = an.t_interval(x, confidence=0.5)
    assert low <= narrow[1] + 1e-9 and narrow[2] <= high + 1e-9
    assume(np.ptp(x) > 1e-3)
    s_mean, s_low, s_high = an.t_interval(x + shift)
    scale = max(1.0, float(np.max(np.abs(x))))
    assert s_mean == pytest.approx(mean + shift, abs=1e-9 * scale)
    assert s_high - s_low == pytest.approx(high - low, rel=1e-6, abs=1e-9 * scale)


def test_t_interval_coverage() -> None:
    rng = np.random.default_rng(99)
    trials, n = 4_000, 8
    data = rng.normal(loc=2.0, scale=3.0, size=(trials, n))
    covered = 0
    for row in data:
        _, low, high = an.t_interval(row, confidence=0.95)
        covered += low <= 2.0 <= high
    coverage = covered / trials
    se = math.sqrt(0.95 * 0.05 / trials)
    assert abs(coverage - 0.95) <= Z99 * se, coverage
