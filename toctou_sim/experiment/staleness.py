"""Staleness curves of a quorum store: PBS t-visibility, k-staleness, time to consistency.

For a model whose read path is ``replica``, :func:`staleness` estimates

- **t-visibility**: ``P(a read started t after a write commits returns that write or newer)``
  over a grid of ``t``, with a confidence interval at each point;
- **⟨k, t⟩-staleness**: the same for "one of the last ``k`` versions" when ``k`` writes were
  issued ``write_gap`` apart (``k = 1`` is t-visibility);
- **time to consistency**: the smallest ``t`` at which 99% / 99.9% of reads are consistent.

Each trial is one write followed by one read in the WARS model with the model's own delay
distributions (any family): the write reaches replica ``i`` after ``W_i`` and commits at the
``W``-th smallest ``W_i + A_i``; the read issued ``t`` after commit reaches replica ``j`` after
``R_j`` and the coordinator keeps the ``R`` smallest ``R_j + S_j``. The read is consistent iff
``D = min_{j∈Q}(W_j - C - R_j) <= t``, so one draw of ``D`` per trial answers every ``t`` at once
(the estimated curve is monotone). Trials are vectorized with numpy; the interval at each ``t``
is the Student-t interval over independent replications (each ``trials`` draws, from the
replication's named random streams), as everywhere else in the package.
:func:`probe_visibility` measures the same quantity through the SimPy read path itself (one
write, then reads at ``commit + t``); the oracles check that both agree with theory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

import toctou_sim.analytic.closed_forms as analytic
from toctou_sim.core.distributions import Constant, Distribution, Exponential, RandomStreams
from toctou_sim.core.limits import RunEstimate, check_budget, check_limit, check_seed
from toctou_sim.experiment.montecarlo import _as_model, _version
from toctou_sim.plugins.read_paths.replica import ReplicaSpec
from toctou_sim.spec.model import ModelSpec, SpecError
from toctou_sim.stats.intervals import t_interval

__all__ = ["StalenessResult", "probe_visibility", "staleness", "staleness_slack"]

FloatArray = npt.NDArray[np.float64]
TARGETS = (0.99, 0.999)
"""Consistency probabilities whose time is reported."""


def _draw(dist: Distribution, rng: np.random.Generator, shape: tuple[int, int]) -> FloatArray:
    values: FloatArray = np.asarray(dist.sample(rng, shape[0] * shape[1]), dtype=np.float64)
    return values.reshape(shape)


def _draw_leg(spec: ReplicaSpec, leg: str, streams: RandomStreams, name: str, trials: int) -> FloatArray:
    """``(trials, n)`` draws of one WARS leg; a regional store draws each region's columns from
    its own distribution and stream (``<name>.<region>``)."""
    if not spec.regions:
        return _draw(spec.leg(leg), streams.generator(name), (trials, spec.n))
    return np.hstack([_draw(dist, streams.generator(f"{name}.{region}"), (trials, count))
                      for region, dist, count in spec.columns(leg)])


def staleness_slack(
    spec: ReplicaSpec, streams: RandomStreams, trials: int, *, k_max: int = 1, write_gap: float = 0.0
) -> FloatArray:
    """Draws of the staleness slack ``D_k`` for ``k = 1..k_max``: shape ``(k_max, trials)``.

    Write ``m`` (``m = 0`` the newest) is issued ``m · write_gap`` before the newest; the read
    starts ``t`` after the newest commit and returns one of the last ``k`` versions iff
    ``D_k = min_{m<k, j∈Q} (-m·gap + W_{m,j} - C - R_j) <= t``.
    """
    n, r, w = spec.n, spec.r, spec.w
    writes = [_draw_leg(spec, "write_delay", streams, f"staleness.write_delay.{m}", trials) for m in range(k_max)]
    acks = _draw_leg(spec, "ack_delay", streams, "staleness.ack_delay", trials)
    requests = _draw_leg(spec, "request_delay", streams, "staleness.request_delay", trials)
    responses = _draw_leg(spec, "response_delay", streams, "staleness.response_delay", trials)
    commit = np.partition(writes[0] + acks, w - 1, axis=1)[:, w - 1]
    quorum = np.argpartition(requests + responses, r - 1, axis=1)[:, :r] if r < n else None
    out = np.empty((k_max, trials), dtype=np.float64)
    best = np.full(trials, np.inf)
    for m in range(k_max):
        slack = writes[m] - m * write_gap - commit[:, None] - requests
        if quorum is not None:
            slack = np.take_along_axis(slack, quorum, axis=1)
        best = np.minimum(best, slack.min(axis=1))
        out[m] = best
    return out


def _all_exponential(spec: ReplicaSpec) -> bool:
    return all(isinstance(d, Exponential) for d in (spec.write_delay, spec.ack, spec.request, spec.response))


def _zero_delay_exponential(spec: ReplicaSpec) -> bool:
    zero = all(isinstance(d, Constant) and d.value == 0 for d in (spec.ack, spec.request, spec.response))
    return zero and isinstance(spec.write_delay, Exponential)


def _theory_visibility(spec: ReplicaSpec, grid: FloatArray) -> FloatArray:
    """The exact t-visibility where a closed form applies (a regional store: when every region
    has the same delays), else NaN."""
    uniform = spec.uniform()
    if uniform is None:
        return np.ones_like(grid) if spec.r + spec.w > spec.n else np.full_like(grid, math.nan)
    spec = uniform
    if _all_exponential(spec):
        return analytic.pbs_t_visibility_exact(
            spec.n, spec.r, spec.w, grid, w_mean=spec.write_delay.mean, a_mean=spec.ack.mean,
            r_mean=spec.request.mean, s_mean=spec.response.mean)
    if _zero_delay_exponential(spec):
        return analytic.quorum_zero_delay_visibility(spec.n, spec.r, spec.w, grid,
                                                     w_rate=1 / spec.write_delay.mean)
    if spec.r + spec.w > spec.n:
        return np.ones_like(grid)
    return np.full_like(grid, math.nan)


def _theory_time(spec: ReplicaSpec, prob: float) -> float:
    uniform = spec.uniform()
    if uniform is None:
        return 0.0 if spec.r + spec.w > spec.n else math.nan
    spec = uniform
    if _all_exponential(spec):
        return analytic.pbs_time_to_consistency(
            spec.n, spec.r, spec.w, prob, w_mean=spec.write_delay.mean, a_mean=spec.ack.mean,
            r_mean=spec.request.mean, s_mean=spec.response.mean)
    if _zero_delay_exponential(spec):
        return analytic.quorum_zero_delay_time_to_consistency(spec.n, spec.r, spec.w, prob,
                                                              w_rate=1 / spec.write_delay.mean)
    return 0.0 if spec.r + spec.w > spec.n else math.nan


def _nice_grid(upper: float, points: int = 21) -> FloatArray:
    """``points`` evenly spaced instants from 0 to a round number at or above ``upper``."""
    if not upper > 0:
        return np.array([0.0])
    exponent = math.floor(math.log10(upper))
    for step in (1, 2, 2.5, 5, 10):
        top = step * 10.0**exponent
        if top >= upper:
            break
    return np.linspace(0.0, top, points)


@dataclass(frozen=True)
class StalenessResult:
    """Staleness estimates of one model; :meth:`to_frame` gives the tidy table.

    Attributes:
        curve: one row per ``(k, t)``: ``estimate``, ``ci_low``, ``ci_high`` of the probability of
            a consistent read, and ``theory`` where a closed form applies (NaN otherwise).
        times: one row per target probability: time to consistency in ms with CI and theory.
    """

    model: ModelSpec
    seed: int
    n_reps: int
    trials: int
    write_gap: float
    curve: pd.DataFrame
    times: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """Tidy rows: ``metric`` is ``t_visibility`` (k = 1), ``k_staleness`` (k > 1) or
        ``time_to_consistency_ms``; with ``k``, ``t_ms``, ``target`` and the model's identity."""
        curve = self.curve.assign(metric=np.where(self.curve["k"] == 1, "t_visibility", "k_staleness"),
                                  target=math.nan)
        times = self.times.assign(metric="time_to_consistency_ms", k=1, t_ms=math.nan)
        frame = pd.concat([curve, times], ignore_index=True)
        frame.insert(0, "model", self.model.model.name)
        frame["n_reps"] = self.n_reps
        frame["trials"] = self.n_reps * self.trials
        frame["write_gap_ms"] = self.write_gap * 1e3
        frame["seed"] = self.seed
        frame["model_hash"] = self.model.content_hash()
        frame["version"] = _version()
        columns = ["model", "metric", "k", "t_ms", "target", "estimate", "ci_low", "ci_high", "theory",
                   "n_reps", "trials", "write_gap_ms", "seed", "model_hash", "version"]
        return frame[columns]


def _replica_spec(model: ModelSpec) -> ReplicaSpec:
    spec = model.read_path
    if not isinstance(spec, ReplicaSpec):
        raise SpecError(f"{model.source or 'model'}: read_path.kind: staleness needs 'replica', "
                        f"got {spec.kind!r}")
    return spec


def staleness(
    model: ModelSpec | str,
    *,
    t_grid: Sequence[float] | None = None,
    reps: int = 20,
    trials: int = 20_000,
    seed: int = 0,
    k_max: int = 3,
    write_gap: float = 0.0,
    confidence: float = 0.95,
    overrides: dict[str, Any] | None = None,
    max_ops: float | None = None,
    max_memory: float | None = None,
) -> StalenessResult:
    """Estimate t-visibility, ⟨k, t⟩-staleness and time to consistency of a replica model.

    Args:
        model: a validated model or a model file whose ``read_path.kind`` is ``replica``.
        t_grid: instants after commit, seconds (default: 21 points from 0 to a round number
            above the 99.9% time to consistency).
        reps: independent replications (the CI is a t interval over them).
        trials: write/read pairs per replication.
        seed: the run's seed.
        k_max: the largest ``k`` of ⟨k, t⟩-staleness.
        write_gap: time between the ``k`` writes, seconds.
        confidence: two-sided confidence of the intervals.
        overrides: field values by dotted path, applied before validation.
        max_ops, max_memory: the budget (see :func:`toctou_sim.core.limits.check_budget`): delay
            draws (``reps x trials x n x (k_max + 3)``) and the arrays they fill.

    Raises:
        SpecError: not a replica model, a bad argument, or a run past the budget.
    """
    spec = _as_model(model, overrides)
    replica = _replica_spec(spec)
    if reps < 2:
        raise SpecError(f"--reps: must be >= 2 for a confidence interval, got {reps}")
    if trials < 100:
        raise SpecError(f"--trials: must be >= 100, got {trials}")
    if k_max < 1:
        raise SpecError(f"--k-max: must be >= 1, got {k_max}")
    if not write_gap >= 0 or not math.isfinite(write_gap):
        raise SpecError(f"--write-gap: must be a finite duration >= 0, got {write_gap}")
    if not 0 < confidence < 1:
        raise SpecError(f"confidence: must be between 0 and 1, got {confidence}")
    check_seed(seed)
    check_limit(max_ops, "max_ops")
    check_limit(max_memory, "max_memory")
    draws = float(reps) * trials * replica.n * (k_max + 3)
    memory = 8.0 * (float(reps) * k_max * trials + 2.0 * (k_max + 5) * trials * replica.n)
    memory += 8.0 * reps * len(t_grid or ()) * k_max
    check_budget(RunEstimate(draws, draws, memory, reps), max_ops, max_memory)
    slacks = [staleness_slack(replica, RandomStreams(seed, rep), trials, k_max=k_max, write_gap=write_gap)
              for rep in range(reps)]
    if t_grid is None:
        grid = _nice_grid(float(np.quantile(slacks[0][0], TARGETS[-1])))
    else:
        grid = np.asarray(sorted(float(t) for t in t_grid), dtype=np.float64)
        if grid.size == 0 or np.any(grid < 0) or not np.all(np.isfinite(grid)):
            raise SpecError("--t: expected durations >= 0")
    theory = _theory_visibility(replica, grid)
    rows = []
    for k in range(1, k_max + 1):
        sorted_slack = [np.sort(s[k - 1]) for s in slacks]
        per_rep = np.array([np.searchsorted(s, grid, side="right") / s.size for s in sorted_slack])
        for index, t in enumerate(grid):
            mean, low, high = t_interval(per_rep[:, index], confidence)
            rows.append({"k": k, "t_ms": t * 1e3, "estimate": mean, "ci_low": low, "ci_high": high,
                         "theory": theory[index] if k == 1 else math.nan})
    times = []
    for target in TARGETS:
        per_rep_t = np.array([max(0.0, float(np.quantile(s[0], target, method="inverted_cdf")))
                              for s in slacks])
        mean, low, high = t_interval(per_rep_t * 1e3, confidence)
        times.append({"target": target, "estimate": mean, "ci_low": low, "ci_high": high,
                      "theory": _theory_time(replica, target) * 1e3})
    return StalenessResult(model=spec, seed=seed, n_reps=reps, trials=trials, write_gap=write_gap,
                           curve=pd.DataFrame(rows), times=pd.DataFrame(times))


def probe_visibility(
    replica: ReplicaSpec,
    t_grid: Sequence[float],
    *,
    trials: int,
    seed: int,
    replication: int = 0,
) -> FloatArray:
    """t-visibility measured through the SimPy quorum read path itself.

    Builds a one-key world with ``replica`` as its read path, then for each trial writes the key
    (through :meth:`QuorumRead.replicate`) and starts one quorum read at ``commit + t`` for every
    ``t`` of the grid. Trials are spaced far enough apart (40 mean delays plus the largest ``t``)
    that they practically never overlap; a read that returns a newer trial's version would still
    count as consistent, as the definition says ("that write or newer").

    Returns:
        The fraction of consistent reads at each ``t``.
    """
    from toctou_sim.plugins.read_paths.replica import QuorumRead
    from toctou_sim.spec.model import parse_model
    from toctou_sim.world import World

    grid = [float(t) for t in t_grid]
    from toctou_sim.plugins.read_paths.replica import LEGS

    delays = sum(max(float(column[1].mean) for column in replica.columns(leg)) for leg in LEGS)
    spacing = 40.0 * delays + max(grid) + 1e-9
    model = parse_model({
        "model": {"name": "probe", "horizon": spacing * (trials + 2)},
        "keys": {"count": 1, "invariant": "version"},
        "read_path": replica.model_dump(mode="json", by_alias=True, exclude_none=True),
        "clients": {"arrival": {"poisson": {"rate": 1.0}}},
    }, source="<probe>")
    world = World(model, RandomStreams(seed, replication))
    store = world.store
    path = world.read_path
    assert isinstance(path, QuorumRead)
    env = world.env
    hits = [0] * len(grid)

    def probe(at: float, version: int, index: int) -> Any:
        if at > env.now:
            yield env.timeout(at - env.now)
        seen, _ = yield from path.quorum_read(0, -1)
        if seen >= version:
            hits[index] += 1

    def driver() -> Any:
        for _ in range(trials):
            store.write(0, store.value[0])
            record = path.replicate(0, -1)
            for index, t in enumerate(grid):
                env.process(probe(record.commit + t, record.version, index))
            yield env.timeout(spacing)

    env.process(driver())
    env.run()
    return np.asarray(hits, dtype=np.float64) / trials
