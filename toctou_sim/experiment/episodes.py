"""The episode estimator: rare harms driven by faults, estimated per fault episode.

When a fault drives a rare harm (a pause of a lock holder, a crash after a vote), plain Monte
Carlo spends almost all of its time between episodes: a fault-driven rate of 1e-5 per operation
needs hundreds of episodes, each hours of simulated traffic apart. The episode estimator
conditions on the episode instead. Replication ``i`` of a model whose fault ``F`` arrives as a
Poisson process of ``rate`` onsets per second runs the same world twice, on the same random
streams (common random numbers):

- **with one episode**: ``F`` has exactly one onset, at a uniform instant of the first half of
  the measured span (so the episode's harms, which may come after it ends, fall inside the run);
- **without**: ``F`` never starts (every other fault as in the model).

The difference of the two runs' counts is the harm one episode caused (the rest of the two runs
is the same traffic), and the run without the fault is the baseline. Per replication:

    harms_per_episode   = harms(with) - harms(without)
    episodes_per_op     = rate * measured span / operations(without)
    rate                = rate(without) + harms_per_episode * episodes_per_op

for every per-operation rate (``harm_rate``, ``violation_rate``, ``mismatch_rate``, ...). Each is a
mean over independent replications with its Student-t interval, as for plain Monte Carlo, and
``--precision`` stops on it; ``harms_per_episode`` and ``episodes_per_op`` are reported beside it.

Assumptions (stated in the output): episodes are rare enough not to overlap (the effect of two
is the sum of their effects), and an episode's harms end within half the measured span. The
other metrics (latency, the error budget) are those of the run without the fault.
"""

from __future__ import annotations

import math
from typing import Any

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.measure.metrics import ReplicationResult
from toctou_sim.spec.model import ModelSpec, SpecError

__all__ = ["EPISODE_METRICS", "episode_fault", "run_episode_replication"]

EPISODE_METRICS = ("harms_per_episode", "episodes_per_op", "baseline_harm_rate")
"""The metrics the episode estimator adds to each replication."""

_NOT_PROPORTIONS = frozenset({"burn_rate", "race_burn_rate"})


def episode_fault(model: ModelSpec) -> int:
    """The index of the one fault with a Poisson ``rate`` that drives the episodes.

    Raises:
        SpecError: the model has no such fault, or more than one.
    """
    driving = [index for index, fault in enumerate(model.faults) if getattr(fault, "rate", None) is not None]
    if len(driving) != 1:
        found = "none" if not driving else f"{len(driving)} ({', '.join(f'faults[{i}]' for i in driving)})"
        raise SpecError(f"{model.source or 'model'}: estimator episodes: needs exactly one fault with a rate "
                        f"(onsets per second) to condition on; found {found}")
    return driving[0]


def _with_schedule(model: ModelSpec, index: int, at: tuple[float, ...]) -> ModelSpec:
    faults = list(model.faults)
    faults[index] = faults[index].model_copy(update={"rate": None, "at": at})
    return model.model_copy(update={"faults": tuple(faults)})


def _run(model: ModelSpec, replication: int, seed: int) -> ReplicationResult:
    from toctou_sim.world import World

    world = World(model, RandomStreams(seed, replication))
    world.run()
    return ReplicationResult.from_recorder(
        world.recorder,
        replication=replication,
        seed=seed,
        strategy=model.strategy.label or model.strategy.kind,
        measured_time=model.model.horizon - model.model.warmup,
        extra=world.extra_metrics(),
    )


def run_episode_replication(model: ModelSpec, replication: int, seed: int) -> ReplicationResult:
    """One replication of the episode estimator (see the module docstring): the run without the
    driving fault, its per-operation rates corrected by one episode's harms times the episodes
    per operation, and :data:`EPISODE_METRICS` added."""
    index = episode_fault(model)
    rate = float(model.faults[index].rate)  # type: ignore[attr-defined]
    warmup, horizon = model.model.warmup, model.model.horizon
    measured = horizon - warmup
    onset_draw = RandomStreams(seed, replication).generator("episodes.onset").random()
    onset = warmup + onset_draw * measured / 2
    with_episode = _run(_with_schedule(model, index, (onset,)), replication, seed)
    without = _run(_with_schedule(model, index, ()), replication, seed)
    ops_with = with_episode.metrics.get("operations", 0.0)
    ops = without.metrics.get("operations", 0.0)
    per_op = rate * measured / ops if ops else math.nan
    metrics: dict[str, float] = dict(without.metrics)
    for name, base in without.metrics.items():
        if not name.endswith("_rate") or name in _NOT_PROPORTIONS:
            continue
        episode = with_episode.metrics.get(name, math.nan)
        if math.isnan(base) or math.isnan(episode):
            continue
        extra = episode * ops_with - base * ops  # the events one episode added
        metrics[name] = max(0.0, base + extra * per_op)
    harms_with = with_episode.metrics.get("harms", math.nan)
    harms_without = without.metrics.get("harms", math.nan)
    metrics["harms_per_episode"] = harms_with - harms_without
    metrics["episodes_per_op"] = per_op
    metrics["baseline_harm_rate"] = without.metrics.get("harm_rate", math.nan)
    return ReplicationResult(replication, seed, without.strategy, metrics, without.histograms, without.timeline)


def describe(estimates: dict[str, Any], metric: str = "harm_rate") -> str:
    """One line: the rate as harms per episode x episodes per operation (+ the baseline).

    ``estimates`` maps metric names to :class:`~toctou_sim.experiment.montecarlo.Estimate`.
    """
    rate, per_episode, per_op = (estimates.get(name) for name in (metric, "harms_per_episode", "episodes_per_op"))
    if rate is None or per_episode is None or per_op is None:
        return ""
    base = estimates.get("baseline_harm_rate")
    baseline = f" + {base.estimate:.2g} without the fault" if base is not None and metric == "harm_rate" else ""
    return (f"{metric} {rate.estimate:.2g} [{rate.ci_low:.2g}, {rate.ci_high:.2g}] = "
            f"{per_episode.estimate:.2g} [{per_episode.ci_low:.2g}, {per_episode.ci_high:.2g}] harms/episode x "
            f"{per_op.estimate:.2g} episodes/op{baseline} (per fault episode; assumes episodes do not overlap)")
