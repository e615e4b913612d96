"""Honest upper bounds for rates that saw no event, when events come in bursts.

The rule of three (``3 / n`` over ``n`` operations) is a 95% bound only if operations are
independent. Harms are not: one pause of a lease holder loses 25-50 updates at once, one
overloaded minute oversells a dozen items. A model whose true rate is 2.8e-3, in bursts of
25-50, shows no harm at all in about a third of its 3-replication runs, and ``3 / n`` then
claims a bound eight times below the truth.

The replication is the independent unit (the same argument as the Student-t interval of the
per-replication rates), so a zero is bounded from replication-level data. Three bounds, each
valid without assuming anything about how the events inside a replication cluster:

- **dominating** (``dominating``): every event of the rate is also an event of a larger,
  observed rate (a violation is a mismatch the strategy accepted: ``violation_rate <=
  mismatch_rate`` in every replication). The one-sided Student-t upper bound of the larger rate
  over the replications bounds the zero one. Tight when the mitigation catches most mismatches
  but not all could be told apart from the ones it caught.
- **replications** (``replications``): every replication is one independent trial whose rate
  lies in ``[0, cap]`` (``cap`` = 1 for a per-operation proportion: in the worst case a burst
  takes a whole replication). By Markov's inequality a mean rate ``r`` makes a replication show
  an event with probability at least ``r / cap``, so ``n`` clean replications bound
  ``r <= cap * (1 - alpha ** (1 / n))`` (about ``3 cap / n``). Always valid; loose.
- **episodes** (``episodes``): when the harm is driven by fault episodes (a pause, a crash)
  and one episode can harm at most ``harm_cap`` operations, the same argument over the ``E``
  independent episodes gives harms per episode at most ``harm_cap * (1 - alpha ** (1 / E))``,
  and the rate at most that times episodes per operation (harms per episode x episodes per
  hour / operations per hour).

:func:`zero_bound` takes every bound that the data allow, each at confidence ``1 - alpha / k``
for ``k`` candidates (Bonferroni), and reports the smallest and which one it was: the result
keeps its nominal confidence whichever wins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from toctou_sim.stats.intervals import t_quantile

__all__ = [
    "DOMINATING",
    "ZeroBound",
    "dominating_bound",
    "episode_bound",
    "replication_bound",
    "rule_of_three_bound",
    "t_quantile",
    "zero_bound",
]

DOMINATING: dict[str, str] = {
    "violation_rate": "attempt_mismatch_rate",
    "harm_rate": "attempt_mismatch_rate",
    "precondition_violation_rate": "attempt_mismatch_rate",
}
"""Rate -> a rate that is at least as large in every replication (a violation, and a harm the
ledger records, is an accepted mismatch), whose interval bounds the first when the first saw no
event. A dominating rate that saw no event either bounds nothing (it is not used)."""


@dataclass(frozen=True)
class ZeroBound:
    """A one-sided upper bound for a rate that saw no event.

    Attributes:
        value: the bound (events per trial).
        method: ``dominating``, ``replications`` or ``episodes`` (see the module docstring).
        detail: one line saying what the bound rests on, for reports.
        confidence: the bound's confidence (e.g. 0.95).
    """

    value: float
    method: str
    detail: str
    confidence: float = 0.95


def _check(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must be between 0 and 1, got {confidence}")
    return 1.0 - confidence


def rule_of_three_bound(trials: float, confidence: float = 0.95) -> float:
    """The independent-trials bound ``1 - alpha ** (1 / trials)`` (~``3 / trials``): valid only
    when the trials are independent. Kept for comparison; never the reported bound."""
    alpha = _check(confidence)
    if trials <= 0:
        return math.nan
    return 1.0 - float(alpha ** (1.0 / trials))


def replication_bound(n_reps: int, cap: float = 1.0, confidence: float = 0.95) -> float:
    """Upper bound of a mean rate bounded by ``cap`` when none of ``n_reps`` replications saw an event.

    Each replication's rate ``R`` lies in ``[0, cap]``, so ``P(R > 0) >= E[R] / cap``; all ``n``
    zero has probability at most ``(1 - E[R] / cap) ** n``, which is ``alpha`` at the bound.
    """
    alpha = _check(confidence)
    if n_reps < 1:
        return math.nan
    return cap * (1.0 - float(alpha ** (1.0 / n_reps)))


def episode_bound(episodes: float, harm_cap: float, trials: float, confidence: float = 0.95) -> float:
    """Upper bound of a per-trial rate driven by ``episodes`` independent fault episodes, none of
    which harmed, when one episode harms at most ``harm_cap`` trials; ``trials`` is the number
    of trials (operations) the episodes fell among."""
    alpha = _check(confidence)
    if episodes < 1 or trials <= 0:
        return math.nan
    per_episode = harm_cap * (1.0 - float(alpha ** (1.0 / episodes)))
    return float(per_episode * episodes / trials)


def dominating_bound(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> float:
    """One-sided Student-t upper bound of the mean of per-replication ``values`` of a dominating
    rate (``nan`` with fewer than two replications; the mean itself when they are all equal)."""
    alpha = _check(confidence)
    data = np.asarray(values, dtype=np.float64)
    data = data[~np.isnan(data)]
    n = data.size
    if n < 2:
        return math.nan
    mean = float(data.mean())
    if mean <= 0:
        return math.nan  # the dominating rate saw nothing either: it bounds nothing
    sd = float(data.std(ddof=1))
    if sd == 0:
        return mean
    return mean + t_quantile(1.0 - alpha, n - 1) * sd / math.sqrt(n)


def zero_bound(
    n_reps: int,
    *,
    dominating: Sequence[float] | np.ndarray | None = None,
    dominating_name: str = "",
    episodes: float | None = None,
    harm_cap: float | None = None,
    trials: float | None = None,
    cap: float = 1.0,
    confidence: float = 0.95,
) -> ZeroBound:
    """The tightest honest bound the data allow for a rate with no event in ``n_reps`` replications.

    Args:
        n_reps: replications, none of which saw an event.
        dominating: per-replication values of a rate at least as large in every replication
            (``dominating_name`` names it in the detail).
        episodes, harm_cap, trials: fault episodes over all replications, the most operations one
            episode can harm, and the operations they fell among (all three, or none).
        cap: the largest value the rate can take in one replication (1 for a proportion).
        confidence: the confidence of the returned bound.
    """
    alpha = _check(confidence)
    have_dominating = (dominating is not None and bool(np.any(np.asarray(dominating, dtype=np.float64) > 0))
                       and not math.isnan(dominating_bound(dominating, confidence)))
    have_episodes = episodes is not None and harm_cap is not None and trials is not None and episodes >= 1
    level = 1.0 - alpha / (1 + have_dominating + have_episodes)  # Bonferroni over the usable bounds
    candidates: list[tuple[str, str, float]] = [
        ("replications", f"no event in {n_reps} replications (the replication is the unit)",
         replication_bound(n_reps, cap, level)),
    ]
    if have_dominating:
        assert dominating is not None
        name = dominating_name or "a dominating rate"
        candidates.append(("dominating", f"at most {name}, bounded over {n_reps} replications",
                           dominating_bound(dominating, level)))
    if have_episodes:
        assert episodes is not None and harm_cap is not None and trials is not None
        candidates.append(("episodes", f"no harm in {episodes:g} fault episodes of at most {harm_cap:g} harms each",
                           episode_bound(episodes, harm_cap, trials, level)))
    usable = [c for c in candidates if not math.isnan(c[2])]
    method, detail, value = min(usable, key=lambda c: c[2])
    return ZeroBound(min(value, cap), method, detail, confidence)
