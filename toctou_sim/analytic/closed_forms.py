"""Closed-form and numerically integrated oracles the simulator is validated against.

Every function here is pure numpy/scipy: no SimPy, no import from the rest of the package, no
state, no import-time side effects. Times are seconds (floats) and rates are per second.

The module covers five families of results:

* **Check-then-use mismatch.** Writes to a key arrive as a Poisson process of rate ``λ``. A reader
  checks the key and uses it ``W`` seconds later. The use acts on a stale check iff at least one
  write lands in the window; given ``W = w`` that happens with probability ``1 - exp(-λw)``, so
  for a random window ``P(mismatch) = E[1 - exp(-λW)] = 1 - L_W(λ)`` where ``L_W(s) = E[exp(-sW)]``
  is the Laplace transform of the window distribution.
* **TTL caches** without invalidation: probability that a cache hit serves a stale value.
* **M/M/1 queues**: waiting time, sojourn time and probability of waiting.
* **Probabilistically Bounded Staleness** (Bailis, Venkataraman, Franklin, Hellerstein and
  Stoica, *Probabilistically Bounded Staleness for Practical Partial Quorums*, VLDB 2012): the
  WARS model of an ``N/R/W`` quorum store, its ``k``-staleness closed form, an exact
  ``t``-visibility formula for exponential write delays (derived in
  :func:`pbs_t_visibility_exact`) and an independent vectorized Monte Carlo.
* **Interval estimates** used to compare simulator output with the oracles: rule of three,
  Wilson score interval and Student-t interval.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from scipy import integrate

from toctou_sim.stats import intervals
from toctou_sim.stats.intervals import check_confidence

__all__ = [
    "mismatch_probability",
    "mismatch_probability_constant",
    "mismatch_probability_exponential",
    "mismatch_probability_from_laplace",
    "mismatch_probability_lognormal",
    "mm1_mean_sojourn",
    "mm1_mean_wait",
    "mm1_wait_probability",
    "pbs_k_staleness",
    "pbs_quorum_miss_probability",
    "pbs_t_visibility",
    "pbs_t_visibility_exact",
    "pbs_time_to_consistency",
    "quorum_zero_delay_time_to_consistency",
    "quorum_zero_delay_visibility",
    "rule_of_three",
    "t_interval",
    "ttl_stale_read_probability",
    "wilson_interval",
]

FloatArray = npt.NDArray[np.float64]

# Absolute/relative tolerances handed to scipy.integrate.quad. The integrands are bounded by one and
# smooth on every piece we hand to quad, so these are attainable and give ~1e-12 absolute accuracy.
_EPSABS = 1e-14
_EPSREL = 1e-12
_QUAD_LIMIT = 200

# Below this value of x = λT the TTL formula switches to its Taylor series (see
# ttl_stale_read_probability); the two branches agree to ~1e-15 relative at the switch.
_TTL_SERIES_THRESHOLD = 0.1
_TTL_SERIES_TERMS = 12


# --------------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------------


def _check_nonnegative(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


# --------------------------------------------------------------------------------------------------
# Check-then-use mismatch
# --------------------------------------------------------------------------------------------------


def mismatch_probability_constant(rate: float, window: float) -> float:
    """Probability that a Poisson write lands inside a constant check-then-use window.

    Writes to the key form a Poisson process of intensity ``rate``; the number of writes in any
    interval of length ``window`` is Poisson with mean ``rate * window``, so the probability of at
    least one write (the check is stale by the time of use) is ``1 - exp(-rate * window)``. It is
    evaluated as ``-expm1(-rate * window)`` to keep full relative precision for tiny products.

    Args:
        rate: Write rate on the key, per second (``>= 0``).
        window: Time between check and use, seconds (``>= 0``).

    Returns:
        ``P(at least one write in the window)`` in ``[0, 1]``.

    Raises:
        ValueError: If an argument is negative or not finite.
    """
    rate = _check_nonnegative("rate", rate)
    window = _check_nonnegative("window", window)
    return -math.expm1(-rate * window)


def mismatch_probability_exponential(rate: float, mean_window: float) -> float:
    """Mismatch probability when the check-then-use window is exponentially distributed.

    With ``W ~ Exp(mean m)`` the Laplace transform is ``E[exp(-sW)] = 1 / (1 + s m)``, hence
    ``P(mismatch) = 1 - 1 / (1 + λm) = λm / (1 + λm)``. Equivalently: the window ends at rate
    ``1/m`` and the next write arrives at rate ``λ``; the write wins the race with probability
    ``λ / (λ + 1/m)``.

    Args:
        rate: Write rate on the key, per second (``>= 0``).
        mean_window: Mean of the exponential window, seconds (``>= 0``).

    Returns:
        ``λm / (1 + λm)``.

    Raises:
        ValueError: If an argument is negative or not finite.
    """
    rate = _check_nonnegative("rate", rate)
    mean_window = _check_nonnegative("mean_window", mean_window)
    x = rate * mean_window
    return x / (1.0 + x)


def mismatch_probability_from_laplace(rate: float, laplace: Callable[[float], float]) -> float:
    """Mismatch probability from the Laplace transform of the window distribution.

    For a window ``W`` independent of the Poisson write process,
    ``P(mismatch) = E[1 - exp(-λW)] = 1 - E[exp(-λW)] = 1 - L_W(λ)``: the Laplace transform
    evaluated at the write rate is exactly the probability that *no* write hits the window. Many
    families have closed-form transforms (exponential ``1/(1+sm)``, gamma ``(1+sθ)^-k``, uniform
    on ``[0, b]`` ``(1-e^{-sb})/(sb)``, constant ``e^{-sw}``).

    Args:
        rate: Write rate on the key, per second (``>= 0``).
        laplace: Callable ``s -> E[exp(-s W)]`` for ``s >= 0``.

    Returns:
        ``1 - laplace(rate)``.

    Raises:
        ValueError: If ``rate`` is invalid or the transform value is outside ``[0, 1]``.
    """
    rate = _check_nonnegative("rate", rate)
    value = float(laplace(rate))
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"a Laplace transform of a non-negative variable lies in [0, 1], got {value!r}")
    return 1.0 - value


def mismatch_probability_lognormal(rate: float, mu: float, sigma: float) -> float:
    """Mismatch probability for a log-normal check-then-use window, by quadrature.

    ``W = exp(mu + sigma Z)`` with ``Z`` standard normal (``mu``, ``sigma`` are the mean and standard
    deviation of ``ln W`` with ``W`` in seconds). The log-normal Laplace transform has no closed
    form, so ``E[1 - exp(-λW)]`` is integrated in the standard-normal variable::

        P = ∫ φ(z) (1 - exp(-λ e^{mu + sigma z})) dz.

    In ``z`` the integrand is a smooth step: ``~λe^{mu+sigma z}`` far left, ``1`` far right, with
    the transition at ``z0 = (-ln λ - mu) / sigma`` and width ``~1/sigma``. The integral is split at
    ``z0`` and at ``z0 ± {1, 3, 10}/sigma`` (and at a few fixed points of the Gaussian weight)
    and each piece is integrated by adaptive Gauss-Kronrod (``scipy.integrate.quad``) with
    ``epsabs=1e-14``, ``epsrel=1e-12``; the Gaussian weight vanishes (below 1e-300) outside
    ``|z| <= 38``. Accuracy is ~1e-12 absolute, well inside the 1e-9 contract. ``sigma = 0``
    returns the constant-window value ``1 - exp(-λe^{mu})`` exactly.

    Args:
        rate: Write rate on the key, per second (``>= 0``).
        mu: Mean of ``ln W``.
        sigma: Standard deviation of ``ln W`` (``>= 0``).

    Returns:
        ``E[1 - exp(-rate W)]``.

    Raises:
        ValueError: If an argument is out of range or not finite.
    """
    rate = _check_nonnegative("rate", rate)
    sigma = _check_nonnegative("sigma", sigma)
    mu = float(mu)
    if not math.isfinite(mu):
        raise ValueError(f"mu must be finite, got {mu!r}")
    if rate == 0.0:
        return 0.0
    if sigma == 0.0:
        return -math.expm1(-rate * math.exp(min(mu, 700.0)))

    log_rate = math.log(rate)

    def integrand(z: float) -> float:
        exponent = log_rate + mu + sigma * z  # ln(λW)
        x = math.exp(min(exponent, 700.0))
        return math.exp(-0.5 * z * z) * -math.expm1(-x)

    z_lim = 38.5
    z0 = (-log_rate - mu) / sigma
    points = {-z_lim, z_lim, -8.0, -4.0, 0.0, 4.0, 8.0}
    for k in (0.0, 1.0, 3.0, 10.0):
        for sign in (-1.0, 1.0):
            z = z0 + sign * k / sigma
            if -z_lim < z < z_lim:
                points.add(z)
    edges = sorted(points)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        value, _ = integrate.quad(integrand, lo, hi, epsabs=_EPSABS, epsrel=_EPSREL, limit=_QUAD_LIMIT)
        total += float(value)
    return min(1.0, max(0.0, total / math.sqrt(2.0 * math.pi)))


@runtime_checkable
class _HasPpf(Protocol):
    """Anything with a quantile function, e.g. a frozen ``scipy.stats`` distribution."""

    def ppf(self, q: Any) -> Any: ...  # pragma: no cover - protocol


WindowSpec = float | _HasPpf | Callable[..., Any] | npt.ArrayLike
"""What :func:`mismatch_probability` accepts as a description of the window distribution."""


def mismatch_probability(
    rate: float,
    window: WindowSpec,
    *,
    kind: Literal["pdf", "sampler"] = "pdf",
    n_samples: int = 1_000_000,
    seed: int = 0,
) -> float:
    """General mismatch probability ``E[1 - exp(-λW)]`` for an arbitrary window distribution.

    Conditioning on the window length ``W = w``, the probability that a Poisson(``λ``) write lands
    in the window is ``1 - exp(-λw)``; averaging over the window distribution gives
    ``E[1 - exp(-λW)] = 1 - L_W(λ)``. How the expectation is computed depends on ``window``:

    * a ``float``: a constant window, :func:`mismatch_probability_constant`;
    * an object with a ``ppf`` method (a frozen ``scipy.stats`` distribution): quadrature in
      probability space, ``∫_0^1 (1 - exp(-λ F^{-1}(u))) du``, which needs no knowledge of the
      distribution's scale because the integrand is bounded and monotone on ``[0, 1]``;
    * a callable with ``kind="pdf"`` (default): the density ``f(w)`` on ``[0, ∞)``, integrated by
      ``quad`` split at multiples of ``1/λ`` (the density should have most of its mass within a few
      decades of ``1/λ``; otherwise pass a frozen distribution instead);
    * a callable with ``kind="sampler"``: called as ``sampler(rng, n_samples)`` with
      ``rng = numpy.random.default_rng(seed)``, returning window samples; the result is the Monte
      Carlo average (standard error ``<= 0.5 / sqrt(n_samples)``);
    * anything else array-like: samples of the window; returns their Monte Carlo average.

    Args:
        rate: Write rate on the key, per second (``>= 0``).
        window: Window description as listed above.
        kind: How a callable ``window`` is interpreted: ``"pdf"`` or ``"sampler"``.
        n_samples: Number of samples requested from a sampler.
        seed: Seed of the Generator handed to a sampler.

    Returns:
        The mismatch probability (exact up to quadrature error, or a Monte Carlo estimate for
        samples/samplers).

    Raises:
        ValueError: On a negative rate, negative window samples, or an unknown ``kind``.
    """
    rate = _check_nonnegative("rate", rate)
    if isinstance(window, int | float):
        return mismatch_probability_constant(rate, float(window))
    if rate == 0.0:
        return 0.0
    if isinstance(window, _HasPpf):
        dist = window

        def quantile_integrand(u: float) -> float:
            w = float(dist.ppf(u))
            return -math.expm1(-rate * w) if math.isfinite(w) else 1.0

        value, _ = integrate.quad(quantile_integrand, 0.0, 1.0, epsabs=_EPSABS, epsrel=_EPSREL, limit=_QUAD_LIMIT)
        return min(1.0, max(0.0, float(value)))
    if callable(window):
        if kind == "pdf":
            pdf = window

            def pdf_integrand(w: float) -> float:
                return float(pdf(w)) * -math.expm1(-rate * w)

            scale = 1.0 / rate
            return min(1.0, max(0.0, _integrate_half_line(pdf_integrand, [scale])))
        if kind == "sampler":
            rng = np.random.default_rng(seed)
            samples = np.asarray(window(rng, n_samples), dtype=np.float64)
            return _mismatch_from_samples(rate, samples)
        raise ValueError(f"kind must be 'pdf' or 'sampler', got {kind!r}")
    return _mismatch_from_samples(rate, np.asarray(window, dtype=np.float64))


def _mismatch_from_samples(rate: float, samples: FloatArray) -> float:
    if samples.size == 0:
        raise ValueError("need at least one window sample")
    if np.any(samples < 0.0) or not np.all(np.isfinite(samples)):
        raise ValueError("window samples must be finite and >= 0")
    return float(np.mean(-np.expm1(-rate * samples)))


def _integrate_half_line(f: Callable[[float], float], scales: Sequence[float]) -> float:
    """Integrate a smooth, decaying ``f`` over ``[0, ∞)``.

    The half-line is cut at ``{0.1, 1, 10, 100} x`` each characteristic time scale so that
    ``quad`` sees every scale on which the integrand varies, whatever the units; the remaining
    tail is handed to ``quad``'s infinite-range transform.
    """
    points = sorted({s * k for s in scales for k in (0.1, 1.0, 10.0, 100.0)})
    edges = [0.0, *points]
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        value, _ = integrate.quad(f, lo, hi, epsabs=_EPSABS, epsrel=_EPSREL, limit=_QUAD_LIMIT)
        total += float(value)
    tail, _ = integrate.quad(f, edges[-1], math.inf, epsabs=_EPSABS, epsrel=_EPSREL, limit=_QUAD_LIMIT)
    return total + float(tail)


# --------------------------------------------------------------------------------------------------
# TTL cache
# --------------------------------------------------------------------------------------------------


def ttl_stale_read_probability(rate: float, ttl: float) -> float:
    """Probability that a TTL-cache hit returns a stale value.

    The origin value is overwritten by a Poisson process of rate ``λ`` and the cache is never
    invalidated, only expired after ``T = ttl`` seconds. A hit sees an entry of age ``a`` that is
    uniform on ``[0, T)`` (reads arriving at a constant rate over the entry's life). The entry is
    stale iff a write happened during its age, with probability ``1 - exp(-λa)``; averaging over
    ``a``::

        P(stale) = 1 - (1/T) ∫_0^T exp(-λa) da = 1 - (1 - exp(-λT)) / (λT).

    With ``x = λT`` this is ``(x + expm1(-x)) / x``, which loses relative precision as ``x -> 0``
    (the numerator is ``~x²/2``). For ``x < 0.1`` the Taylor series
    ``Σ_{k>=1} (-1)^{k+1} x^k / (k+1)! = x/2 - x²/6 + x³/24 - ...`` is used instead (12 terms,
    truncation below 1e-20 relative); the two branches agree to ~1e-15 at the switch.

    Args:
        rate: Write rate on the origin key, per second (``>= 0``).
        ttl: Cache time-to-live, seconds (``>= 0``).

    Returns:
        ``P(stale hit)`` in ``[0, 1)``; ``0`` when ``λT = 0``.

    Raises:
        ValueError: If an argument is negative or not finite.
    """
    rate = _check_nonnegative("rate", rate)
    ttl = _check_nonnegative("ttl", ttl)
    x = rate * ttl
    if x < _TTL_SERIES_THRESHOLD:
        # Horner evaluation of Σ_{k=1}^{K} (-1)^{k+1} x^k / (k+1)!.
        acc = 0.0
        for k in range(_TTL_SERIES_TERMS, 0, -1):
            acc = x * ((-1.0) ** (k + 1) / math.factorial(k + 1) + acc)
        return acc
    return (x + math.expm1(-x)) / x


# --------------------------------------------------------------------------------------------------
# M/M/1
# --------------------------------------------------------------------------------------------------


def _mm1_rho(arrival_rate: float, service_rate: float) -> float:
    arrival_rate = _check_nonnegative("arrival_rate", arrival_rate)
    service_rate = _check_positive("service_rate", service_rate)
    rho = arrival_rate / service_rate
    if rho >= 1.0:
        raise ValueError(f"unstable: utilisation rho = {rho:.6g} >= 1 (λ={arrival_rate!r}, μ={service_rate!r})")
    return rho


def mm1_mean_wait(arrival_rate: float, service_rate: float) -> float:
    """Mean time an M/M/1 customer waits in queue before service starts.

    Poisson arrivals at ``λ``, exponential service at ``μ``, one FIFO server, ``ρ = λ/μ < 1``.
    The number in system is geometric, ``P(n) = (1-ρ)ρ^n``; an arrival (PASTA) finding ``n``
    customers waits ``n`` exponential service times (memorylessness of the one in service), so
    ``Wq = E[n]/μ = ρ / (μ(1-ρ)) = ρ / (μ - λ)``.

    Args:
        arrival_rate: ``λ`` per second (``>= 0``).
        service_rate: ``μ`` per second (``> 0``).

    Returns:
        ``Wq = ρ / (μ - λ)`` seconds.

    Raises:
        ValueError: ``"unstable: ..."`` if ``ρ >= 1``; also on invalid rates.
    """
    rho = _mm1_rho(arrival_rate, service_rate)
    return rho / (service_rate - arrival_rate)


def mm1_mean_sojourn(arrival_rate: float, service_rate: float) -> float:
    """Mean time an M/M/1 customer spends in the system (wait plus service).

    ``W = Wq + 1/μ = ρ/(μ-λ) + 1/μ = 1/(μ-λ)``; the sojourn time is in fact ``Exp(μ - λ)``.

    Args:
        arrival_rate: ``λ`` per second (``>= 0``).
        service_rate: ``μ`` per second (``> 0``).

    Returns:
        ``1 / (μ - λ)`` seconds.

    Raises:
        ValueError: ``"unstable: ..."`` if ``ρ >= 1``; also on invalid rates.
    """
    _mm1_rho(arrival_rate, service_rate)
    return 1.0 / (service_rate - arrival_rate)


def mm1_wait_probability(arrival_rate: float, service_rate: float) -> float:
    """Probability that an M/M/1 arrival has to wait (finds the server busy).

    By PASTA an arrival sees the time-stationary state, in which the server is busy with
    probability ``1 - P(0) = ρ``.

    Args:
        arrival_rate: ``λ`` per second (``>= 0``).
        service_rate: ``μ`` per second (``> 0``).

    Returns:
        ``ρ = λ/μ``.

    Raises:
        ValueError: ``"unstable: ..."`` if ``ρ >= 1``; also on invalid rates.
    """
    return _mm1_rho(arrival_rate, service_rate)


# --------------------------------------------------------------------------------------------------
# Probabilistically Bounded Staleness (PBS)
# --------------------------------------------------------------------------------------------------


def _check_quorum(n: int, r: int, w: int) -> None:
    for name, value in (("n", n), ("r", r), ("w", w)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 1 <= r <= n:
        raise ValueError(f"r must satisfy 1 <= r <= n={n}, got {r}")
    if not 1 <= w <= n:
        raise ValueError(f"w must satisfy 1 <= w <= n={n}, got {w}")


def pbs_quorum_miss_probability(n: int, r: int, w: int) -> float:
    """Probability that a random read quorum misses every replica of the latest write quorum.

    Without timing, a read contacts ``R`` of ``N`` replicas uniformly at random; the last write is
    on some ``W`` of them. The read is stale iff all ``R`` read replicas are among the ``N - W``
    that lack the write: ``p_s = C(N-W, R) / C(N, R)`` (zero when ``R + W > N``: the quorums must
    intersect). This is the quorum-miss probability of Bailis et al. (VLDB 2012).

    Args:
        n: Replication factor ``N``.
        r: Read quorum size ``R``.
        w: Write quorum size ``W``.

    Returns:
        ``p_s``.
    """
    _check_quorum(n, r, w)
    return math.comb(n - w, r) / math.comb(n, r)


def pbs_k_staleness(n: int, r: int, w: int, k: int = 1) -> float:
    """PBS ``k``-staleness: probability that a read is at most ``k`` versions stale.

    Each of the last ``k`` writes lands on an independent uniformly random write quorum; the read
    returns a value older than all of them only if its quorum misses each one, which happens with
    probability ``p_s^k`` (``p_s`` from :func:`pbs_quorum_miss_probability`). Hence
    ``P(k-staleness) = 1 - p_s^k`` (the k-staleness closed form of Bailis et al., VLDB 2012).
    ``k = 1`` is the probability of reading the latest committed value.

    Args:
        n: Replication factor ``N``.
        r: Read quorum size ``R``.
        w: Write quorum size ``W``.
        k: Staleness tolerance in versions (``>= 1``).

    Returns:
        ``1 - p_s**k``.

    Raises:
        ValueError: On inconsistent quorum sizes or ``k < 1``.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    p_s = pbs_quorum_miss_probability(n, r, w)
    return 1.0 - p_s ** int(k)


def _pbs_rates(w_mean: float, a_mean: float, r_mean: float, s_mean: float) -> tuple[float, float, float, float]:
    return (
        1.0 / _check_positive("w_mean", w_mean),
        1.0 / _check_positive("a_mean", a_mean),
        1.0 / _check_positive("r_mean", r_mean),
        1.0 / _check_positive("s_mean", s_mean),
    )


def _exp_diff(a: float, b: float, v: float) -> float:
    """``(exp(-a v) - exp(-b v)) / (b - a)`` for ``a, b > 0``, ``v >= 0``, stable as ``a -> b``.

    Equals ``exp(-min(a,b) v) · v · ψ(|b-a| v)`` with ``ψ(z) = (1 - e^{-z})/z``, ``ψ(0) = 1``;
    symmetric in ``a`` and ``b``.
    """
    z = abs(b - a) * v
    psi = 1.0 if z == 0.0 else -math.expm1(-z) / z
    return math.exp(-min(a, b) * v) * v * psi


def _hypoexp_pdf(a: float, b: float, u: float) -> float:
    """Density of ``Exp(rate a) + Exp(rate b)`` at ``u``."""
    return a * b * _exp_diff(a, b, u)


def _hypoexp_sf(a: float, b: float, u: float) -> float:
    """Survival function ``P(Exp(a) + Exp(b) > u)``: ``e^{-au} + a (e^{-au} - e^{-bu}) / (a - b)``."""
    return math.exp(-a * u) + a * _exp_diff(a, b, u)


def _hypoexp_cdf(a: float, b: float, u: float) -> float:
    """CDF ``P(Exp(a) + Exp(b) <= u)``."""
    return max(0.0, -math.expm1(-a * u) - a * _exp_diff(a, b, u))


def _order_statistic_laplace(m: int, k: int, s: float, a: float, b: float) -> float:
    """``E[exp(-s X_(k:m))]``: Laplace transform of the k-th smallest of ``m`` iid ``Exp(a)+Exp(b)``.

    The k-th order statistic has density ``m!/((k-1)!(m-k)!) F^{k-1} G^{m-k} g``.
    """
    coeff = math.factorial(m) / (math.factorial(k - 1) * math.factorial(m - k))

    def integrand(c: float) -> float:
        return (
            coeff
            * math.exp(-s * c)
            * _hypoexp_cdf(a, b, c) ** (k - 1)
            * _hypoexp_sf(a, b, c) ** (m - k)
            * _hypoexp_pdf(a, b, c)
        )

    return _integrate_half_line(integrand, [1.0 / a, 1.0 / b])


def _read_quorum_laplace(n: int, r: int, s: float, lam_r: float, lam_s: float) -> float:
    """``E[exp(-s Σ_{j in Q} R_j)]`` over the ``r`` fastest read responders ``Q``.

    Replica ``i`` answers after ``U_i = R_i + S_i``; ``Q`` holds the ``r`` smallest ``U_i``. By
    symmetry ``Q = {1..r}`` with probability ``1/C(n, r)``; conditioning on ``V = min_{i>r} U_i``
    (density ``(n-r) g_U G_U^{n-r-1}``) the ``r`` members are independent and each only has to
    satisfy ``U_j < V``::

        E = C(n, r) ∫ (n-r) g_U(v) G_U(v)^{n-r-1} φ(v)^r dv,
        φ(v) = E[e^{-s R} 1{R + S < v}]
             = λr/(λr+s) (1 - e^{-(λr+s) v}) - λr (e^{-λs v} - e^{-(λr+s) v}) / (λr + s - λs).
    """
    if r == n:
        # Every replica answers eventually; the read waits for all of them.
        return (lam_r / (lam_r + s)) ** n
    lam_rs = lam_r + s
    coeff = math.comb(n, r) * (n - r)

    def phi(v: float) -> float:
        return lam_r / lam_rs * -math.expm1(-lam_rs * v) - lam_r * _exp_diff(lam_s, lam_rs, v)

    def integrand(v: float) -> float:
        return (
            coeff * _hypoexp_pdf(lam_r, lam_s, v) * _hypoexp_sf(lam_r, lam_s, v) ** (n - r - 1) * max(0.0, phi(v)) ** r
        )

    return _integrate_half_line(integrand, [1.0 / lam_r, 1.0 / lam_s])


def _pbs_inconsistency_amplitude(
    n: int, r: int, w: int, w_mean: float, a_mean: float, r_mean: float, s_mean: float
) -> tuple[float, float]:
    """Return ``(B, decay)`` with ``P(inconsistent read at t) = B · exp(-decay · t)`` for ``t >= 0``."""
    _check_quorum(n, r, w)
    lam_w, lam_a, lam_r, lam_s = _pbs_rates(w_mean, a_mean, r_mean, s_mean)
    decay = r * lam_w
    if r + w > n:
        return 0.0, decay
    write_part = _order_statistic_laplace(n - r, w, decay, lam_w, lam_a)
    read_part = _read_quorum_laplace(n, r, lam_w, lam_r, lam_s)
    amplitude = min(1.0, max(0.0, write_part * read_part))
    return amplitude, decay


def _as_time_grid(t: float | npt.ArrayLike) -> FloatArray:
    grid = np.asarray(t, dtype=np.float64)
    if np.any(np.isnan(grid)):
        raise ValueError("t must not contain NaN")
    return grid


def pbs_t_visibility_exact(
    n: int,
    r: int,
    w: int,
    t: float | npt.ArrayLike,
    *,
    w_mean: float,
    a_mean: float,
    r_mean: float,
    s_mean: float,
) -> FloatArray:
    """Exact PBS ``t``-visibility of the WARS model with exponential delays.

    **Model** (the WARS model of Bailis et al., VLDB 2012). A write goes to all ``N`` replicas;
    replica ``i`` gets it after ``W_i`` and its ack reaches the coordinator after a further ``A_i``; the write
    commits at ``C``, the ``W``-th smallest ``X_i = W_i + A_i``. A read starts ``t`` seconds after
    commit; replica ``i`` gets the request after ``R_i`` and its answer takes ``S_i`` more; the
    coordinator keeps the ``R`` first answers, the set ``Q`` of the ``R`` smallest
    ``U_i = R_i + S_i``. Replica ``i`` answers fresh iff ``W_i <= C + t + R_i``; the read is
    consistent iff some ``j ∈ Q`` is fresh. All delays are independent exponentials.

    **Derivation.** The read is inconsistent on ``E = ∩_{j∈Q} {W_j > C + t + R_j}``.

    1. If ``R + W > N``, ``Q`` meets the write quorum: a replica ``j`` with ``X_j <= C`` has
       ``W_j <= C``, so it is fresh. Hence ``P(consistent) = 1``.
    2. Otherwise, on ``E`` every ``j ∈ Q`` has ``X_j >= W_j > C`` (``t, R_j >= 0``), so the
       ``W`` fastest acks all come from outside ``Q`` and ``C = C'``, the ``W``-th smallest of the
       ``M = N - R`` values ``X_i``, ``i ∉ Q``. Conversely on ``E' = ∩_{j∈Q}{W_j > C' + t + R_j}``
       we get ``C = C'``. So ``E = E'``, and ``C'`` involves only replicas outside ``Q``.
    3. ``Q`` and ``(R_j)`` depend on the read-side delays only, ``C'`` on the write delays of other
       replicas, and the ``W_j`` (``j ∈ Q``) are independent ``Exp(λw)`` of both. Conditioning on
       everything but the ``W_j``::

           P(E | ·) = Π_{j∈Q} exp(-λw (C' + t + R_j)) = e^{-Rλw t} e^{-Rλw C'} e^{-λw Σ_{j∈Q} R_j}.

    4. Taking expectations, the write and read sides factor::

           P(consistent at t) = 1 - B e^{-R λw t},
           B = E[e^{-Rλw C'}] · E[e^{-λw Σ_{j∈Q} R_j}].

       The first factor is the Laplace transform of the ``W``-th order statistic of ``N-R`` iid
       hypoexponentials ``Exp(λw) + Exp(λa)`` (density ``M!/((W-1)!(M-W)!) F^{W-1} G^{M-W} g``).
       The second conditions on ``V = min_{i∉Q} U_i``, given which the members of ``Q`` are
       independent with ``U_j < V``:
       ``C(N,R) ∫ (N-R) g_U(v) G_U(v)^{N-R-1} φ(v)^R dv`` with
       ``φ(v) = E[e^{-λw R} 1{R + S < v}]`` in closed form (see ``_read_quorum_laplace``).
       For ``R = W = 1`` this reduces to ``1 - e^{-λw t} E[e^{-λw M}] E[e^{-λw R*}]`` with ``M`` the
       fastest write-ack among the other ``N-1`` replicas and ``R*`` the request delay of the fastest
       read responder.

    Only the exponential law of the write delays ``W_i`` is used in step 3 (so the formula is exact
    for any ack-delay law, but only exponential ``A``, ``R``, ``S`` are implemented). Both factors
    are one-dimensional integrals of smooth, exponentially decaying functions, evaluated with
    ``quad`` to ~1e-12, so the result is exact to that precision for any ``N``. A consequence
    worth noting: the inconsistency probability decays *exactly* exponentially in ``t`` with rate
    ``R λw`` (so :func:`pbs_time_to_consistency` has a closed form).

    Args:
        n: Replication factor ``N``.
        r: Read quorum size ``R``.
        w: Write quorum size ``W``.
        t: Time(s) since commit, seconds, ``>= 0``; scalar or array.
        w_mean: Mean write-propagation delay ``E[W_i]``.
        a_mean: Mean write-ack delay ``E[A_i]``.
        r_mean: Mean read-request delay ``E[R_i]``.
        s_mean: Mean read-response delay ``E[S_i]``.

    Returns:
        ``P(consistent read at t)`` with the shape of ``t`` (0-d array for scalar ``t``).

    Raises:
        ValueError: On invalid quorum sizes, non-positive means or negative ``t`` (the formula
            assumes the read starts after commit).
    """
    grid = _as_time_grid(t)
    if np.any(grid < 0.0):
        raise ValueError("t must be >= 0 (the read starts after the write commits)")
    amplitude, decay = _pbs_inconsistency_amplitude(n, r, w, w_mean, a_mean, r_mean, s_mean)
    result: FloatArray = 1.0 - amplitude * np.exp(-decay * grid)
    return result


def _pbs_staleness_slack(
    n: int,
    r: int,
    w: int,
    *,
    w_mean: float,
    a_mean: float,
    r_mean: float,
    s_mean: float,
    samples: int,
    seed: int,
    chunk: int = 100_000,
) -> FloatArray:
    """Monte Carlo draws of ``D = min_{j∈Q} (W_j - C - R_j)``; the read at ``t`` is consistent iff ``D <= t``."""
    _check_quorum(n, r, w)
    _pbs_rates(w_mean, a_mean, r_mean, s_mean)
    if isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples < 1:
        raise ValueError(f"samples must be an int >= 1, got {samples!r}")
    rng = np.random.default_rng(seed)
    out = np.empty(samples, dtype=np.float64)
    start = 0
    while start < samples:
        size = min(chunk, samples - start)
        w_del = rng.exponential(w_mean, size=(size, n))
        a_del = rng.exponential(a_mean, size=(size, n))
        r_del = rng.exponential(r_mean, size=(size, n))
        s_del = rng.exponential(s_mean, size=(size, n))
        commit = np.partition(w_del + a_del, w - 1, axis=1)[:, w - 1]
        slack = w_del - commit[:, None] - r_del
        if r < n:
            quorum = np.argpartition(r_del + s_del, r - 1, axis=1)[:, :r]
            slack = np.take_along_axis(slack, quorum, axis=1)
        out[start : start + size] = slack.min(axis=1)
        start += size
    return out


def pbs_t_visibility(
    n: int,
    r: int,
    w: int,
    t: float | npt.ArrayLike,
    *,
    w_mean: float,
    a_mean: float,
    r_mean: float,
    s_mean: float,
    samples: int = 200_000,
    seed: int = 0,
) -> FloatArray:
    """PBS ``t``-visibility of the WARS model by vectorized Monte Carlo (numpy only).

    Simulates ``samples`` independent writes-then-reads with exponential delays (model as in
    :func:`pbs_t_visibility_exact`). For each draw it computes the *staleness slack*
    ``D = min_{j∈Q} (W_j - C - R_j)``: the read issued ``t`` after commit is consistent iff some
    ``j ∈ Q`` has ``W_j <= C + t + R_j``, i.e. iff ``D <= t``. The answer for a whole ``t`` grid is
    therefore the empirical CDF of ``D``, from one set of draws (so the curve is monotone in
    ``t``). Each value has binomial standard error ``sqrt(p(1-p)/samples)``. Unlike the exact
    formula, any real ``t`` is accepted (``t < 0``: read started before commit).

    Args:
        n: Replication factor ``N``.
        r: Read quorum size ``R``.
        w: Write quorum size ``W``.
        t: Time(s) since commit, seconds; scalar or array.
        w_mean: Mean write-propagation delay.
        a_mean: Mean write-ack delay.
        r_mean: Mean read-request delay.
        s_mean: Mean read-response delay.
        samples: Number of simulated write/read pairs.
        seed: Seed of ``numpy.random.default_rng``.

    Returns:
        Estimated ``P(consistent read at t)`` with the shape of ``t``.
    """
    grid = _as_time_grid(t)
    slack = np.sort(
        _pbs_staleness_slack(
            n, r, w, w_mean=w_mean, a_mean=a_mean, r_mean=r_mean, s_mean=s_mean, samples=samples, seed=seed
        )
    )
    counts = np.searchsorted(slack, grid, side="right")
    result: FloatArray = np.asarray(counts, dtype=np.float64) / float(slack.size)
    return result


def pbs_time_to_consistency(
    n: int,
    r: int,
    w: int,
    prob: float,
    *,
    w_mean: float,
    a_mean: float,
    r_mean: float,
    s_mean: float,
    t_max: float = math.inf,
    method: Literal["exact", "monte_carlo"] = "exact",
    samples: int = 200_000,
    seed: int = 0,
) -> float:
    """Smallest time after commit at which a read is consistent with probability ``>= prob``.

    With ``method="exact"`` this inverts :func:`pbs_t_visibility_exact` in closed form: since
    ``P(consistent at t) = 1 - B e^{-Rλw t}``, the answer is
    ``t* = max(0, ln(B / (1 - prob)) / (R λw))`` (``0`` if ``R + W > N``). With
    ``method="monte_carlo"`` it is the empirical ``prob``-quantile of the staleness slack ``D``
    of :func:`pbs_t_visibility` (the smallest ``t`` whose estimated visibility is ``>= prob``),
    clipped at ``0``.

    Args:
        n: Replication factor ``N``.
        r: Read quorum size ``R``.
        w: Write quorum size ``W``.
        prob: Target probability of a consistent read, in ``(0, 1]``.
        w_mean: Mean write-propagation delay.
        a_mean: Mean write-ack delay.
        r_mean: Mean read-request delay.
        s_mean: Mean read-response delay.
        t_max: Horizon; if the target is not reached by ``t_max`` the result is ``inf``.
        method: ``"exact"`` or ``"monte_carlo"``.
        samples: Monte Carlo sample count (``method="monte_carlo"`` only).
        seed: Monte Carlo seed (``method="monte_carlo"`` only).

    Returns:
        The time in seconds, or ``math.inf`` if it exceeds ``t_max`` (or ``prob = 1`` is never
        reached).

    Raises:
        ValueError: On ``prob`` outside ``(0, 1]`` or an unknown method.
    """
    prob = float(prob)
    if not 0.0 < prob <= 1.0:
        raise ValueError(f"prob must lie in (0, 1], got {prob!r}")
    if method == "exact":
        amplitude, decay = _pbs_inconsistency_amplitude(n, r, w, w_mean, a_mean, r_mean, s_mean)
        miss = 1.0 - prob
        if amplitude <= miss:
            t_star = 0.0
        elif miss == 0.0:
            t_star = math.inf
        else:
            t_star = math.log(amplitude / miss) / decay
    elif method == "monte_carlo":
        slack = np.sort(
            _pbs_staleness_slack(
                n, r, w, w_mean=w_mean, a_mean=a_mean, r_mean=r_mean, s_mean=s_mean, samples=samples, seed=seed
            )
        )
        # Smallest order statistic D_(k) with k / samples >= prob (guard against prob*samples rounding up).
        k = max(1, math.ceil(prob * slack.size - 1e-9))
        t_star = max(0.0, float(slack[k - 1]))
    else:
        raise ValueError(f"method must be 'exact' or 'monte_carlo', got {method!r}")
    return t_star if t_star <= t_max else math.inf


# --------------------------------------------------------------------------------------------------
# Interval estimates
# --------------------------------------------------------------------------------------------------


def rule_of_three(n: int) -> float:
    """Approximate 95% upper confidence bound for a rate when zero events were seen in ``n`` trials.

    The exact one-sided Clopper-Pearson bound solves ``(1 - p)^n = 0.05``, i.e.
    ``p = 1 - 0.05^{1/n} ≈ -ln(0.05)/n ≈ 2.996/n``; rounding up gives ``3/n`` (Hanley and
    Lippman-Hand, 1983), conservative for every ``n``.

    Args:
        n: Number of trials (``>= 1``).

    Returns:
        ``3 / n``.

    Raises:
        ValueError: If ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    return 3.0 / n


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    The interval is :func:`toctou_sim.stats.intervals.wilson_interval` (the one implementation,
    where the roots are derived), with the counts checked and the bounds pinned to ``p̂ = k/n``'s
    side: exactly 0 at ``k = 0`` and exactly 1 at ``k = n``. Unlike the Wald interval it never
    leaves ``[0, 1]``, is non-degenerate at ``k = 0`` or ``k = n`` and has close to nominal
    coverage even for small ``n``; it always contains ``k/n``.

    Args:
        k: Number of successes, ``0 <= k <= n``.
        n: Number of trials, ``>= 1``.
        confidence: Two-sided confidence level in ``(0, 1)``.

    Returns:
        ``(low, high)``.

    Raises:
        ValueError: On invalid counts or confidence.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    if not 0 <= k <= n:
        raise ValueError(f"k must satisfy 0 <= k <= n={n}, got {k!r}")
    low, high = intervals.wilson_interval(k, n, check_confidence(confidence))
    p_hat = k / n  # the roots bracket p̂ exactly, and reach 0 and 1 exactly at k = 0 and k = n
    low = 0.0 if k == 0 else max(0.0, min(p_hat, low))
    high = 1.0 if k == n else min(1.0, max(p_hat, high))
    return low, high


def t_interval(samples: npt.ArrayLike, confidence: float = 0.95) -> tuple[float, float, float]:
    """Student-t confidence interval for a mean.

    :func:`toctou_sim.stats.intervals.t_interval` (the one implementation), with the input
    checked. For ``n`` iid (approximately) normal observations with sample mean ``x̄`` and sample standard
    deviation ``s`` (``ddof=1``), ``(x̄ - μ) / (s/√n)`` has a Student t distribution with ``n - 1``
    degrees of freedom, giving ``x̄ ± t_{n-1, (1+c)/2} s/√n``. For independent replications of a
    simulation this is the standard interval on the mean output.

    Args:
        samples: Observations (flattened to one dimension).
        confidence: Two-sided confidence level in ``(0, 1)``.

    Returns:
        ``(mean, low, high)``; ``(mean, nan, nan)`` for a single sample and ``(mean, mean, mean)``
        when all samples are equal.

    Raises:
        ValueError: On an empty sample or an invalid confidence.
    """
    confidence = check_confidence(confidence)
    x = np.asarray(samples, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("need at least one sample")
    if x.size > 1 and bool(np.all(x == x[0])):  # no spread (the sample sd may round to a hair above 0)
        mean = float(np.mean(x))
        return mean, mean, mean
    return intervals.t_interval(x, confidence)


# --------------------------------------------------------------------------------------------------
# Quorum store with zero ack, request and response delays (derived for the read-path oracles)
# --------------------------------------------------------------------------------------------------


def quorum_zero_delay_visibility(n: int, r: int, w: int, t: float | npt.ArrayLike, *, w_rate: float) -> FloatArray:
    """``t``-visibility of an ``N/R/W`` quorum whose only delay is the write delay ``W ~ Exp(λ)``.

    **Derivation.** With zero ack delay the write commits at the ``W``-th smallest write delay
    ``C``; at that instant exactly ``W`` replicas hold it, and by symmetry of iid delays they are a
    uniformly random ``W``-subset. By memorylessness each of the other ``N - W`` replicas receives
    it after a further, independent ``Exp(λ)``. With zero request and response delays a read
    issued at ``C + t`` queries ``R`` replicas at that very instant (the tie between responses is
    broken without regard to which replica holds what). It is stale iff all ``R`` are among the
    ``N - W`` that lacked the write at commit, probability ``C(N-W, R) / C(N, R)`` (the
    probabilistic quorum formula), *and* none of those ``R`` received it within ``t``, probability
    ``e^{-Rλt}``, independently. Hence::

        P(consistent at t) = 1 - C(N-W, R) / C(N, R) · e^{-R λ t}.

    At ``t = 0`` this is the probabilistic-quorum formula; the exponential decay at rate ``Rλ``
    is the zero-delay limit of :func:`pbs_t_visibility_exact`, derived here independently.

    Args:
        n: Replication factor ``N``.
        r: Read quorum size ``R``.
        w: Write quorum size ``W``.
        t: Time(s) since commit, seconds, ``>= 0``.
        w_rate: ``λ``, the rate of the exponential write delay, per second.

    Returns:
        ``P(consistent read at t)`` with the shape of ``t``.
    """
    rate = _check_positive("w_rate", w_rate)
    grid = _as_time_grid(t)
    if np.any(grid < 0.0):
        raise ValueError("t must be >= 0 (the read starts after the write commits)")
    p_s = pbs_quorum_miss_probability(n, r, w)
    result: FloatArray = 1.0 - p_s * np.exp(-r * rate * grid)
    return result


def quorum_zero_delay_time_to_consistency(n: int, r: int, w: int, prob: float, *, w_rate: float) -> float:
    """Time after commit until a read is consistent with probability ``prob`` (zero-delay quorum).

    Inverting :func:`quorum_zero_delay_visibility`: ``1 - p_s e^{-Rλt} >= prob`` iff
    ``t >= ln(p_s / (1 - prob)) / (Rλ)``; ``0`` when ``p_s <= 1 - prob`` (in particular when
    ``R + W > N``, where ``p_s = 0``).

    Args:
        n: Replication factor ``N``.
        r: Read quorum size ``R``.
        w: Write quorum size ``W``.
        prob: Target probability in ``(0, 1)``.
        w_rate: ``λ`` of the exponential write delay, per second.

    Returns:
        Seconds.
    """
    rate = _check_positive("w_rate", w_rate)
    prob = float(prob)
    if not 0.0 < prob < 1.0:
        raise ValueError(f"prob must lie in (0, 1), got {prob!r}")
    p_s = pbs_quorum_miss_probability(n, r, w)
    miss = 1.0 - prob
    if p_s <= miss:
        return 0.0
    return math.log(p_s / miss) / (r * rate)
