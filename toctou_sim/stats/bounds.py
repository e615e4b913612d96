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

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DOMINATING",
    "NORMAL_975",
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


# Student-t quantiles for 1-100 degrees of freedom at 0.975 (the two-sided 95% interval) and
# 0.95 (the one-sided 95% bound), exactly as scipy.special.stdtrit gives them (a test checks
# every one): the common case needs no scipy, whose import (half a second, numpy.f2py included)
# was a sixth of the Quickstart's wall time.
_T_975 = (
    12.706204736174694, 4.302652729749462, 3.1824463052837078, 2.7764451051977934, 2.5705818356363146,
    2.4469118511449786, 2.364624251592784, 2.306004135204166, 2.262157162798205, 2.228138851986274, 2.200985160091639,
    2.1788128296672284, 2.1603686564627913, 2.144786687917804, 2.131449545559776, 2.1199052992212546,
    2.1098155778333156, 2.1009220402410382, 2.0930240544083087, 2.085963447265864, 2.0796138447276795,
    2.0738730679040254, 2.0686576104190486, 2.0638985616280245, 2.0595385527532972, 2.0555294386428735,
    2.0518305164802846, 2.0484071417952454, 2.045229642132703, 2.0422724563012378, 2.039513446396408,
    2.0369333434601016, 2.0345152974493383, 2.0322445093177186, 2.030107928250343, 2.0280940009804502,
    2.0261924630291093, 2.0243941639119694, 2.022690920036761, 2.021075390306273, 2.019540970441376,
    2.0180817028184443, 2.016692199227824, 2.0153675744437636, 2.014103388880846, 2.012895598919429,
    2.0117405137297655, 2.010634757624232, 2.0095752371292392, 2.008559112100761, 2.007583770315836,
    2.006646805061688, 2.0057459953178687, 2.0048792881880564, 2.0040447832891455, 2.003240718847872,
    2.002465459291007, 2.0017174841452356, 2.000995378088267, 2.0002978220142604, 1.999623584994939,
    1.9989715170333788, 1.998340542520741, 1.997729654317693, 1.9971379083920038, 1.9965644189523117,
    1.996008354025296, 1.9954689314298435, 1.9949454151072374, 1.994437111771186, 1.9939433678456255,
    1.9934635666618719, 1.992997125889855, 1.992543495180932, 1.9921021540022417, 1.9916726096446642,
    1.9912543953883846, 1.9908470688116906, 1.9904502102301285, 1.990063421254446, 1.9896863234569029,
    1.989318557136572, 1.9889597801751624, 1.9886096669757083, 1.9882679074772216, 1.98793420623902,
    1.9876082815890708, 1.9872898648311692, 1.986978699506281, 1.9866745407037683, 1.9863771544186177,
    1.98608631695113, 1.9858018143458227, 1.985523441866604, 1.9852510035054978, 1.984984311522457,
    1.9847231860139845, 1.9844674545084815, 1.9842169515864174, 1.9839715185235518,
)
_T_95 = (
    6.313751514675037, 2.9199855803537242, 2.3533634348018233, 2.1318467863266495, 2.0150483733330233,
    1.9431802805153042, 1.8945786050900062, 1.8595480375308973, 1.833112932656237, 1.8124611228116756,
    1.7958848187040433, 1.782287555649319, 1.7709333959868725, 1.761310135774891, 1.753050355692572,
    1.7458836762762495, 1.7396067260750725, 1.7340636066175388, 1.7291328115213682, 1.7247182429207866,
    1.720742902811878, 1.7171443743802424, 1.713871527747048, 1.710882079909428, 1.7081407612518986,
    1.7056179197592727, 1.7032884457221265, 1.7011309342659313, 1.6991270265334972, 1.697260886593957,
    1.6955187825458649, 1.6938887483837102, 1.6923603090303438, 1.6909242551868546, 1.6895724577802655,
    1.6882977141168156, 1.6870936195962631, 1.6859544601667371, 1.6848751217112248, 1.683851013335652,
    1.682878002132708, 1.6819523574675337, 1.681070703202519, 1.6802299765721167, 1.6794273926523544,
    1.678660413556865, 1.6779267216418607, 1.6772241961243388, 1.6765508926168535, 1.675905025163097,
    1.67528495042491, 1.6746891537260253, 1.6741162367031004, 1.6735649063521605, 1.673033965289911,
    1.6725223030755771, 1.6720288884609522, 1.6715527624548587, 1.6710930321038946, 1.6706488649046363,
    1.6702194837737365, 1.6698041625120112, 1.6694022217068127, 1.6690130250240895, 1.6686359758475524,
    1.6682705142276324, 1.6679161141074244, 1.667572280796708, 1.6672385486685526, 1.6669144790559562,
    1.6665996583285334, 1.6662936961315349, 1.6659962237714312, 1.6657068927340233, 1.6654253733225628,
    1.6651513534046944, 1.6648845372582053, 1.6646246445066148, 1.6643714091365505, 1.6641245785896672,
    1.6638839129226004, 1.663649184029077, 1.6634201749188848, 1.663196679048909, 1.662978499701904,
    1.6627654494090705, 1.6625573494128771, 1.6623540291668955, 1.6621553258697, 1.6619610840301615,
    1.6617711550616947, 1.6615853969032335, 1.6614036736648987, 1.6612258552965113, 1.661051817277241,
    1.6608814403248375, 1.6607146101230246, 1.660551217065733, 1.6603911560169906, 1.6602343260853392,
)
_T_TABLES = {(1 + 0.95) / 2: _T_975, 1.0 - (1.0 - 0.95): _T_95}
NORMAL_975 = 1.959963984540054
"""scipy.special.ndtri(0.975), the normal quantile of two-sided 95% intervals (tested)."""


def t_quantile(probability: float, dof: int) -> float:
    """The Student-t quantile: from the table above, else scipy's (the same values)."""
    table = _T_TABLES.get(probability)
    if table is not None and 1 <= dof <= len(table):
        return table[dof - 1]
    return _scipy_t_quantile(probability, dof)


@functools.lru_cache(maxsize=1024)
def _scipy_t_quantile(probability: float, dof: int) -> float:
    # scipy.special's inverse Student-t CDF is what scipy.stats.t.ppf evaluates (the same
    # values), without importing scipy.stats (a second of CPU at start-up); imported lazily: a
    # worker that only simulates stays small
    from scipy.special import stdtrit

    return float(stdtrit(dof, probability))


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
