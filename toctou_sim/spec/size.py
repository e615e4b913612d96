"""How big a run of a model will be: operations, events and memory, from the model's rates x
horizon x replications, its per-key state, its timeline bins and its replicas. The budget check
itself (:func:`toctou_sim.core.limits.check_budget`) knows nothing of models."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from toctou_sim.core.errors import SpecError
from toctou_sim.core.limits import CLOCK_RESOLUTION, RunEstimate
from toctou_sim.spec.model import ModelSpec

__all__ = ["estimate_run"]

_PERIOD_KEYS = ("retry_period", "period")


def _rates(node: Any, path: str = "") -> Iterable[tuple[str, float]]:
    """Every ``rate`` (per second) anywhere in the dumped model with its path, and the inverse of
    every period of a periodic actor (a lease renewal, a reconciler). The arrival ``profile`` is
    left to the caller."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if key == "rate" and number:
                yield where, float(value)
            elif key in _PERIOD_KEYS and number and value > 0 and path != "slo":
                yield where, 1.0 / float(value)
            elif key != "profile":
                yield from _rates(value, where)
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from _rates(value, f"{path}.{index}")


def estimate_run(model: ModelSpec, replications: float = 1.0) -> RunEstimate:
    """Estimate operations, events and memory of ``replications`` replications of ``model``.

    Every ``rate`` in the model (arrivals, mutators, fault onsets, background actors) counts
    ``rate x horizon`` operations; an arrival profile counts each phase's ``rate x length``;
    periodic actors (``retry_period``) count ``horizon / period`` per replica. Each client
    operation is about 4 events, plus 2 per replica with a quorum read path.

    Raises:
        SpecError: a rate so high that simulated time would stop advancing (its mean interval is
            below ``1e-12 x horizon``): refused whatever the budget.
    """
    data = model.model_dump(mode="json", by_alias=True)
    horizon = model.model.horizon
    read_path = data.get("read_path", {})
    replicas = int(read_path.get("n", 1)) if read_path.get("kind") == "replica" else 1
    controllers = 1
    strategy = data.get("strategy", {})
    if isinstance(strategy, Mapping) and strategy.get("kind") == "lease":
        controllers = int(strategy.get("replicas", 1))
    operations = 0.0
    for where, rate in _rates(data):
        if rate * CLOCK_RESOLUTION * horizon > 1:
            raise SpecError(
                f"{model.source or 'model'}: {where}: {rate:g} per second is too fast for a {horizon:g}s "
                f"horizon (simulated time would stop advancing); at most {1 / (CLOCK_RESOLUTION * horizon):g}"
            )
        scale = controllers if where.startswith("strateg") and not where.endswith(".rate") else 1
        operations += rate * horizon * scale
    arrival = model.clients.arrival
    if arrival.profile:
        start = 0.0
        for phase in arrival.profile:
            end = min(phase.until, horizon)
            if end > start:
                operations += (phase.rate - arrival.poisson.rate) * (end - start)
            start = max(start, end)
        operations = max(0.0, operations)
    events = operations * (4 + 2 * replicas)
    bins = 2 * horizon / model.slo.timeline_bin if model.slo.timeline_bin else 200.0
    events += bins
    keys = model.keys.count
    # Measured: ~190 MB for the interpreter and libraries, ~48 bytes per key of per-key state;
    # a replica store holds a version per replica for every key it has written.
    memory = 200e6 + keys * 48.0 + bins * 16.0
    if replicas > 1:
        memory += min(float(keys), operations) * replicas * 48.0
    if read_path.get("kind") == "cache":
        cache = read_path.get("capacity")
        memory += 64.0 * min(keys, cache or keys)
    # With a quorum store every operation sends a message to (and draws delays for) each replica;
    # every key's state is built once per replication.
    work = operations * replicas + keys
    return RunEstimate(work * replications, events * replications, memory, replications)
