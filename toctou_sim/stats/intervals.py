"""Confidence intervals: the one implementation the estimates, the oracles and the closed forms share.

Two intervals, each computed one way only:

- :func:`t_interval`, the Student-t interval of a mean over independent replications. Replications
  of a simulation are the independent unit (operations inside one replication are not: faults
  and overloads harm them in bursts), so every per-replication rate, latency or count is estimated
  as ``mean ± t_{n-1, (1+c)/2} · sd / √n``.
- :func:`wilson_interval`, the Wilson score interval of a pooled proportion ``events / trials``.
  It inverts the score test ``|p̂ - p| <= z sqrt(p(1-p)/n)`` for ``p``; its roots are::

      (p̂ + z²/(2n) ± z sqrt(p̂(1-p̂)/n + z²/(4n²))) / (1 + z²/n).

  Unlike the Wald interval it never leaves ``[0, 1]`` and is not degenerate at ``k = 0`` or
  ``k = n``. Pooled over operations it assumes independent operations, so the estimates show it
  as a cross-check beside the replication-level t interval, never instead of it.

The quantiles come from ``scipy.special`` (``stdtrit``, ``ndtri``: what ``scipy.stats.t.ppf`` and
``scipy.stats.norm.ppf`` evaluate, to the last bit) without importing ``scipy.stats``, a second of
CPU at start-up; they are imported on first use, so a worker that only simulates stays small, and
cached, since stopping rules and sweeps ask for the same few quantiles many times.

The arithmetic is fixed: the golden fingerprints of the bundled models hold these intervals to
the last bit.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["check_confidence", "normal_quantile", "t_interval", "t_quantile", "wilson_interval"]


@functools.lru_cache(maxsize=4096)
def t_quantile(probability: float, dof: int) -> float:
    """The ``probability`` quantile of Student's t distribution with ``dof`` degrees of freedom."""
    from scipy.special import stdtrit

    return float(stdtrit(dof, probability))


@functools.lru_cache(maxsize=64)
def normal_quantile(probability: float) -> float:
    """The ``probability`` quantile of the standard normal distribution."""
    from scipy.special import ndtri

    return float(ndtri(probability))


def check_confidence(confidence: float) -> float:
    """``confidence`` as a float strictly between 0 and 1.

    Raises:
        ValueError: otherwise (the message names ``confidence``).
    """
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    return confidence


def t_interval(values: npt.ArrayLike, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t interval of independent observations (NaNs are ignored).

    Returns:
        ``(mean, low, high)``: ``(nan, nan, nan)`` with no observation, ``(mean, nan, nan)`` with
        one, and ``(mean, mean, mean)`` when the sample standard deviation is zero.
    """
    data: np.ndarray[Any, Any] = np.asarray(values, dtype=np.float64).ravel()
    data = data[~np.isnan(data)]
    n = data.size
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(data.mean())
    if n == 1:
        return mean, math.nan, math.nan
    sd = float(data.std(ddof=1))
    if sd == 0:
        return mean, mean, mean
    half = t_quantile((1 + confidence) / 2, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def wilson_interval(events: float, trials: float, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided Wilson score interval of the proportion ``events / trials``, within ``[0, 1]``.

    Returns:
        ``(low, high)``; ``(nan, nan)`` when ``trials <= 0`` or ``events > trials``.
    """
    if trials <= 0 or events > trials:
        return math.nan, math.nan
    z = normal_quantile((1 + confidence) / 2)
    p = events / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
