"""The fast engine: which models qualify, which engine runs a model, and the vectorized path.

The fast engine is the event kernel (:mod:`toctou_sim.engines.kernel`, driven by
:mod:`toctou_sim.engines.kernel_driver`): the DES engine's event loop specialised to strategies none,
recheck, cas (with write guards), reservation, lock and idempotency on every invariant, direct and
cache reads, mutators, redeliveries, client timeouts and partial failures, and no faults; it gives the DES engine's
numbers exactly (:func:`qualifies`, :func:`resolve_engine`).

The rest of this module is the older vectorized path, kept for the ``conditional`` estimator
(:func:`vector_qualifies`, :func:`run_vector`). When no operation's outcome can change another
operation's timing or effect, the whole replication is a function of arrays: arrival times,
keys, latencies and windows are sampled as numpy arrays from the same named streams the
discrete-event engine uses (so the workload of a replication is identical, value for value),
the background mutations are Poisson arrays, and each use is judged against the authoritative
state at its instant by sorting and searching.

Which models qualify (:func:`qualifies` says why or why not):

- strategy ``none``, invariant ``version``: the check always holds and every use writes, so the
  write times of the uses do not depend on any outcome. A use is a lost update exactly when some
  other write (a mutator's or another use's) to its key lands strictly inside its
  ``(check, use)`` window. The fast path gives the same counts as the DES engine for the same
  seed.
- strategy ``none`` or ``recheck`` (without retries), invariant ``grant`` or ``unchanged``: uses
  do not write, so the state of a key is the mutators' alone (the last grant/revoke; the bumps),
  whatever the clients do. Same counts as the DES engine for ``none``; for ``recheck`` the
  re-check latencies are drawn in arrival order (the DES engine draws them in re-check order), so
  the two agree in distribution, not value for value.
- the read path is ``direct``, there are no faults, and the model sets no field the fast path
  does not know (a field added by a later feature disqualifies the model until the fast path
  learns it).

Which do not: ``counter`` and ``exists`` (whether a use writes depends on what its check saw, and
that depends on the uses before it: the state depends on the order of uses, so the arrays would
need a sequential scan), ``version`` with ``recheck`` (a use writes only if its re-check passed,
the same feedback), ``cas`` and ``lock`` (retries and queues are interactions), and every model
with faults or another read path.

Estimators: ``plain`` counts 0/1 outcomes like the DES engine. ``conditional`` (conditional Monte
Carlo) replaces each use's 0/1 mismatch by its exact probability given everything except the
mutations of its key during its own window, which are Poisson at a known rate λ_k (the mutators'
rates times the key's probability): for ``version`` with ``none``, ``1 - [no other use wrote in
the window] * exp(-λ_k w)``; for ``unchanged``, ``1 - exp(-λ_k w)``; for ``grant``, the
two-state probability of being revoked at the end of the window (``1 - exp(-λw)`` when there are
only revokes); with ``recheck``, the same split at the re-check instant into conflict and
violation. By the tower property the expected rates are unchanged; the variance is far smaller
when mismatches come from the mutators and are rare (it can be no better when other clients'
writes dominate, as they stay 0/1).

Time stamps are computed with the same floating-point operations in the same order as the event
loop, and the per-key ordering of event times uses an exact (key, time) sort, so ties are resolved
exactly as the event loop would, except between events at the very same instant (probability 0
with continuous distributions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from toctou_sim.core.distributions import Exponential, KeyChooser, RandomStreams, VariateStream
from toctou_sim.measure.metrics import Recorder, ReplicationResult
from toctou_sim.spec.model import ModelSpec, SpecError, Zipf

if TYPE_CHECKING:
    from toctou_sim.world.invariants import Invariant

__all__ = ["ENGINES", "ESTIMATORS", "FastPathError", "qualifies", "resolve_engine", "run_fast", "run_vector",
           "vector_qualifies"]

ENGINES = ("des", "fast", "auto")
"""Engine names: the discrete-event engine, the vectorized fast path, or fast when it qualifies."""

ESTIMATORS = ("plain", "conditional")
"""Estimators of the mismatch, conflict and violation counts (see the module docstring)."""

_CHUNK = 1 << 16
"""Operations generated per step: memory stays flat in the number of operations."""

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

# Fields of the model each part of the fast path understands. A field outside these sets that a
# model sets explicitly (a feature added after the fast path was written) disqualifies the model.
_KNOWN_FIELDS: dict[str, frozenset[str]] = {
    "": frozenset({"model", "keys", "store", "read_path", "clients", "mutators", "strategy", "strategies",
                   "faults", "slo"}),
    "model": frozenset({"name", "description", "harm", "horizon", "warmup"}),
    "keys": frozenset({"count", "popularity", "invariant", "initial"}),
    "store": frozenset({"read_latency", "write_latency"}),
    "clients": frozenset({"arrival", "window"}),
    "arrival": frozenset({"poisson"}),
    "mutators": frozenset({"action", "rate", "amount", "popularity"}),
    "read_path": frozenset({"kind"}),
    "none": frozenset({"kind", "label", "guard"}),
    "recheck": frozenset({"kind", "label", "retry", "guard"}),
}


class FastPathError(SpecError):
    """``engine="fast"`` was asked for a model that does not qualify (bad input: exit 2)."""


def _unknown_fields(model: ModelSpec) -> str | None:
    parts: list[tuple[str, Any]] = [("", model), ("model", model.model), ("keys", model.keys),
                                    ("store", model.store), ("clients", model.clients),
                                    ("arrival", model.clients.arrival),
                                    ("read_path", model.read_path)]
    parts += [("mutators", m) for m in model.mutators]
    parts.append((model.strategy.kind, model.strategy))
    for name, part in parts:
        known = _KNOWN_FIELDS.get(name, frozenset())
        extra = sorted(set(part.model_fields_set) - known)
        if extra:
            where = f"{name}." if name else ""
            return f"{where}{extra[0]} is not understood by the fast path"
    return None


_KERNEL_FIELDS: dict[str, frozenset[str]] = {
    **_KNOWN_FIELDS,
    "clients": frozenset({"arrival", "window", "redelivery", "timeout", "partial_failure"}),
    "redelivery": frozenset({"probability", "delay"}),
    "timeout": frozenset({"after", "max_retries"}),
    "dedupe": frozenset({"consistency", "ttl", "visibility_lag", "lookup_latency"}),
    "arrival": frozenset({"poisson", "profile"}),
    "read_path": frozenset({"kind", "ttl", "capacity", "write_policy", "invalidation", "negative_caching",
                            "read_latency", "fill_delay", "on_miss"}),
    "none": frozenset({"kind", "label", "guard"}),
    "recheck": frozenset({"kind", "label", "retry", "guard"}),
    "cas": frozenset({"kind", "label", "retry", "compare", "guard"}),  # guard: "none" (its compare guards)
    "reservation": frozenset({"kind", "label", "retry", "guard", "ttl"}),
    "lock": frozenset({"kind", "label", "retry", "guard", "acquire_latency", "lease_ttl", "fencing", "wait_timeout",
                       "mutators_take_lock"}),
    "idempotency": frozenset({"kind", "label", "retry", "guard", "dedupe", "inner", "record_with_effect"}),
}


def _unknown_kernel_fields(model: ModelSpec) -> str | None:
    parts: list[tuple[str, Any]] = [("", model), ("model", model.model), ("keys", model.keys),
                                    ("store", model.store), ("clients", model.clients),
                                    ("arrival", model.clients.arrival), ("read_path", model.read_path)]
    parts += [("mutators", m) for m in model.mutators]
    parts.append((model.strategy.kind, model.strategy))
    inner = getattr(model.strategy, "inner", None)
    if inner is not None:
        parts.append((inner.kind, inner))
    for name in ("redelivery", "timeout"):
        if getattr(model.clients, name) is not None:
            parts.append((name, getattr(model.clients, name)))
    dedupe = getattr(model.strategy, "dedupe", None)
    if dedupe is not None:
        parts.append(("dedupe", dedupe))
    for name, part in parts:
        extra = sorted(set(part.model_fields_set) - _KERNEL_FIELDS.get(name, frozenset()))
        if extra:
            where = f"{name}." if name else ""
            return f"{where}{extra[0]} is not understood by the fast engine"
    return None


def qualifies(model: ModelSpec, estimator: str = "plain") -> tuple[bool, str]:
    """Whether the fast engine reproduces the DES engine on ``model``, and why (one phrase).

    With the ``plain`` estimator the fast engine is the event kernel (:mod:`toctou_sim.engines.kernel`):
    strategies none, recheck, cas, reservation, lock and idempotency on every invariant, direct or
    cache reads, mutators, redeliveries, client timeouts and partial failures; no faults and no
    background actors. The
    ``conditional`` estimator needs the vectorized path, which qualifies fewer models
    (:func:`vector_qualifies`).
    """
    if estimator == "conditional":
        return vector_qualifies(model)
    from toctou_sim.engines.kernel_driver import KERNEL_STRATEGIES
    from toctou_sim.plugins.read_paths.cache import CacheRead
    from toctou_sim.plugins.read_paths.direct import DirectRead
    from toctou_sim.plugins.strategies.cas import CompareAndSwap
    from toctou_sim.plugins.strategies.idempotency import Idempotency
    from toctou_sim.plugins.strategies.lock import Lock
    from toctou_sim.plugins.strategies.none import NoMitigation
    from toctou_sim.plugins.strategies.recheck import Recheck
    from toctou_sim.plugins.strategies.reservation import Reservation
    from toctou_sim.world import READ_PATHS, STRATEGIES

    kind = model.strategy.kind
    if model.faults:
        return False, "the model has faults (the fast engine has none)"
    if model.actors:
        return False, "the model has background actors (the fast engine has mutators only)"
    if READ_PATHS[model.read_path.kind] not in (DirectRead, CacheRead):
        return False, f"read path {model.read_path.kind!r} (the fast engine knows direct and cache reads)"
    classes = {"none": NoMitigation, "recheck": Recheck, "cas": CompareAndSwap, "reservation": Reservation,
               "lock": Lock, "idempotency": Idempotency}
    known = "none, recheck, cas, reservation, lock and idempotency around one of them"
    if kind not in classes or STRATEGIES[kind] is not classes[kind]:
        return False, f"strategy {kind!r} (the fast engine knows {known})"
    inner: Any = getattr(model.strategy, "inner", None)
    if kind == "idempotency" and (inner.kind not in KERNEL_STRATEGIES
                                  or STRATEGIES[inner.kind] is not classes[inner.kind]):
        return False, f"idempotency around {inner.kind!r} (the fast engine knows {known})"
    for part in (model.strategy, inner):
        retry = getattr(part, "retry", None)
        if retry is not None and retry.budget is not None:
            return False, "a retry budget (the fast engine has none)"
    unknown = _unknown_kernel_fields(model)
    if unknown:
        return False, unknown
    return True, f"{kind} with {model.read_path.kind} reads and no faults"


def vector_qualifies(model: ModelSpec) -> tuple[bool, str]:
    """Whether the vectorized path (the ``conditional`` estimator) applies to ``model``, and why."""
    from toctou_sim.plugins.read_paths.direct import DirectRead
    from toctou_sim.plugins.strategies.none import NoMitigation
    from toctou_sim.plugins.strategies.recheck import Recheck
    from toctou_sim.world import INVARIANTS, READ_PATHS, STRATEGIES
    from toctou_sim.world.invariants import Grant, Unchanged, Version

    kind = model.strategy.kind
    if model.faults:
        return False, "the model has faults (they interact with operations)"
    if READ_PATHS[model.read_path.kind] is not DirectRead:
        return False, f"read path {model.read_path.kind!r} (the vectorized path knows the direct read)"
    strategy = STRATEGIES[kind]
    invariant = INVARIANTS[model.keys.invariant]
    if strategy not in (NoMitigation, Recheck):
        return False, f"strategy {kind!r} has retries or queues (operations interact)"
    unknown = _unknown_fields(model)
    if unknown:
        return False, unknown
    if model.strategy.write_guard() != "none":
        return False, f"a write guard ({model.strategy.write_guard()}): whether a use writes depends on the state"
    readonly = invariant in (Grant, Unchanged)
    if strategy is Recheck:
        retry = getattr(model.strategy, "retry", None)
        if retry is not None and retry.max_retries > 0 and not invariant.refusal_is_answer:
            return False, "recheck with retries (a retry's timing depends on the outcome)"
        if not readonly:
            return False, (f"recheck on invariant {model.keys.invariant!r}: a use writes only if its "
                           "re-check passed, so uses depend on each other")
        return True, f"recheck on {model.keys.invariant}: uses do not write, the state is the mutators' alone"
    if invariant is Version:
        return True, "none on version: every use writes at a time no outcome can change"
    if readonly:
        return True, f"none on {model.keys.invariant}: uses do not write, the state is the mutators' alone"
    return False, (f"invariant {model.keys.invariant!r}: whether a use writes depends on what its check "
                   "saw, so the state depends on the order of uses")


def resolve_engine(model: ModelSpec, engine: str, estimator: str = "plain") -> tuple[str, str]:
    """The engine that will run ``model`` (``des`` or ``fast``) and why.

    ``auto`` takes the fast engine when the model qualifies and the kernel is compiled (numba,
    the ``fast`` extra, is installed); without numba the kernel runs as plain Python, which is
    exact but slower than the DES engine, so ``auto`` keeps the DES engine then.

    Raises:
        FastPathError: ``engine`` is ``fast`` and the model does not qualify, or is unknown.
    """
    if engine not in ENGINES:
        raise FastPathError(f"engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "des":
        return "des", "asked for"
    ok, why = qualifies(model, estimator)
    if engine == "fast" and not ok:
        label = model.strategy.label or model.strategy.kind
        raise FastPathError(f"engine fast: strategy {label!r} does not qualify: {why}")
    if engine == "auto" and ok and estimator == "plain":
        from toctou_sim.engines.kernel import COMPILED

        if not COMPILED:
            return "des", "numba is not installed (pip install 'toctou-sim[fast]' for the fast engine)"
    return ("fast" if ok else "des"), why


# --------------------------------------------------------------------------------------------
# Exact per-key ordering.


def _key_time_order(keys: Ints, times: Floats, scale: float) -> Ints:
    """Indices sorting events by (key, time), exactly.

    The sort runs on one float per event, ``key * scale + time`` with ``scale`` a power of two
    above every time: rounding is monotone, so within a key the order is right except among
    times that round to the same float; those (rare) runs are re-sorted by their exact times.
    """
    composite = keys * scale + times
    order = np.argsort(composite)
    sorted_composite = composite[order]
    ties = np.flatnonzero(sorted_composite[1:] == sorted_composite[:-1])
    if ties.size:
        runs: list[tuple[int, int]] = []
        # group consecutive tie positions into runs [first, last + 1]
        run_start = int(ties[0])
        previous = int(ties[0])
        for index in map(int, ties[1:]):
            if index != previous + 1:
                runs.append((run_start, previous + 1))
                run_start = index
            previous = index
        runs.append((run_start, previous + 1))
        for first, last in runs:
            segment = order[first : last + 1]
            order[first : last + 1] = segment[np.argsort(times[segment], kind="stable")]
    return order


def _exponential(mean: float) -> Exponential:
    return Exponential.model_validate({"mean": mean})


def _scale(horizon: float) -> float:
    return float(2.0 ** math.ceil(math.log2(4.0 * horizon + 1.0)))


# --------------------------------------------------------------------------------------------
# Sources of events.


class _Mutations:
    """The background mutations of every mutator, generated in time order chunk by chunk."""

    def __init__(self, model: ModelSpec, streams: RandomStreams, invariant: Invariant, end: float) -> None:
        self.end = end
        self._sources: list[tuple[VariateStream, KeyChooser, float, int]] = []
        self._clock: list[float] = []
        self._done: list[bool] = []
        count = model.keys.count
        self.bumps = model.keys.invariant in ("version", "unchanged")
        """Mutations bump the version (each gets a unique increasing id as its value) rather than
        set the value."""
        self._next_id = 0
        self.rate_to: dict[int, Floats] = {}
        """Per resulting value (for set-actions) or -1 (for version bumps): per-key Poisson rate."""
        for index, mutator in enumerate(model.mutators):
            popularity = mutator.popularity if mutator.popularity is not None else model.keys.popularity
            zipf = popularity.zipf if isinstance(popularity, Zipf) else None
            gaps = streams.variates(f"mutator.{index}.arrivals", _exponential(1.0 / mutator.rate))
            keys = streams.keys(f"mutator.{index}.keys", count, zipf)
            action = invariant.actions[mutator.action]
            result = -1 if self.bumps else int(action(0, mutator.amount))
            self._sources.append((gaps, keys, mutator.rate, result))
            self._clock.append(0.0)
            self._done.append(False)
            per_key = mutator.rate * keys.probabilities
            self.rate_to[result] = self.rate_to.get(result, np.zeros(count)) + per_key
        self.times: Floats = np.empty(0)
        self.keys: Ints = np.empty(0, dtype=np.int64)
        self.values: Ints = np.empty(0, dtype=np.int64)
        self.generated_until = 0.0

    def generate_until(self, limit: float) -> None:
        """Make every mutation before ``limit`` (and before the end) present in the buffer."""
        limit = min(limit, self.end)
        if limit <= self.generated_until:
            return
        new_t, new_k, new_v = [self.times], [self.keys], [self.values]
        for index, (gaps, keys, rate, result) in enumerate(self._sources):
            while not self._done[index] and self._clock[index] < limit:
                n = max(4096, int((limit - self._clock[index]) * rate * 1.1) + 64)
                times = np.cumsum(np.concatenate(([self._clock[index]], gaps.take(n))))[1:]
                valid = int(np.searchsorted(times, self.end, side="left"))
                if valid < n:
                    self._done[index] = True
                times = times[:valid]
                if valid:
                    self._clock[index] = float(times[-1])
                new_t.append(times)
                new_k.append(keys.take(valid))
                if self.bumps:
                    new_v.append(np.arange(self._next_id, self._next_id + valid, dtype=np.int64))
                    self._next_id += valid
                else:
                    new_v.append(np.full(valid, result, dtype=np.int64))
        self.times = np.concatenate(new_t)
        self.keys = np.concatenate(new_k)
        self.values = np.concatenate(new_v)
        self.generated_until = limit

    def drop_before(self, limit: float) -> tuple[Floats, Ints, Ints]:
        """Remove and return the mutations strictly before ``limit``."""
        old = self.times < limit
        out = (self.times[old], self.keys[old], self.values[old])
        keep = ~old
        self.times, self.keys, self.values = self.times[keep], self.keys[keep], self.values[keep]
        return out


class _Arrivals:
    """Client operations in arrival order, ``_CHUNK`` at a time, from the DES engine's streams."""

    def __init__(self, model: ModelSpec, streams: RandomStreams, recheck: bool) -> None:
        spec = model
        self.horizon = spec.model.horizon
        zipf = spec.keys.popularity.zipf if isinstance(spec.keys.popularity, Zipf) else None
        self._gaps = streams.variates("arrivals", _exponential(1.0 / spec.clients.arrival.poisson.rate))
        self._keys = streams.keys("keys", spec.keys.count, zipf)
        self._window = streams.variates("window", spec.clients.window)
        self._read = streams.variates("read_latency", spec.store.read_latency)
        self._write = streams.variates("write_latency", spec.store.write_latency)
        self._recheck = streams.variates("recheck.read_latency", spec.store.read_latency) if recheck else None
        self.clock = 0.0
        self.done = False

    def next_chunk(self) -> dict[str, NDArray[Any]] | None:
        """The next operations: arrival, key, check time t1, window end tw, and the latencies."""
        if self.done:
            return None
        gaps = self._gaps.take(_CHUNK)
        arrival = np.cumsum(np.concatenate(([self.clock], gaps)))[1:]
        n = int(np.searchsorted(arrival, self.horizon, side="left"))
        if n < _CHUNK:
            self.done = True
        arrival = arrival[:n]
        if n:
            self.clock = float(arrival[-1])
        chunk: dict[str, NDArray[Any]] = {
            "arrival": arrival,
            "key": self._keys.take(n),
            "window": self._window.take(n),
            "read": self._read.take(n),
            "write": self._write.take(n),
        }
        if self._recheck is not None:
            chunk["recheck"] = self._recheck.take(n)
        return chunk


# --------------------------------------------------------------------------------------------
# Accounting.


@dataclass
class _Tally:
    """Per-replication accumulators (floats: the conditional estimator adds probabilities)."""

    operations: int = 0
    ok: float = 0.0
    declined: int = 0
    aborted: float = 0.0
    violated: float = 0.0
    attempts: int = 0
    mismatches: float = 0.0
    conflicts: float = 0.0
    violations: float = 0.0
    unfinished: int = 0


def _p_switch(rate_to_bad: Floats, rate_to_good: Floats, keys: Ints, duration: Floats) -> Floats:
    """P(state bad at the end | good at the start) for a two-state key flipped by Poisson set-actions."""
    bad = rate_to_bad[keys]
    total = bad + rate_to_good[keys]
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(total > 0, bad / np.where(total > 0, total, 1.0) * -np.expm1(-total * duration), 0.0)
    return np.asarray(p, dtype=np.float64)


def run_fast(model: ModelSpec, replication: int, seed: int, estimator: str = "plain") -> ReplicationResult:
    """Simulate one replication of a qualifying ``model`` on the fast engine: the event kernel
    for the ``plain`` estimator (the DES engine's numbers), the vectorized path for
    ``conditional``.

    Raises:
        FastPathError: the model does not qualify, or ``estimator`` is unknown.
    """
    if estimator not in ESTIMATORS:
        raise FastPathError(f"estimator: expected one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    ok, why = qualifies(model, estimator)
    if not ok:
        raise FastPathError(f"engine fast: {why}")
    if estimator == "plain":
        from toctou_sim.engines.kernel_driver import run_kernel

        return run_kernel(model, replication, seed)
    return run_vector(model, replication, seed, estimator)


def run_vector(model: ModelSpec, replication: int, seed: int, estimator: str = "plain") -> ReplicationResult:
    """One replication on the vectorized path (see the module docstring; the model must pass
    :func:`vector_qualifies`)."""
    from toctou_sim.world import INVARIANTS

    invariant = INVARIANTS[model.keys.invariant]()
    streams = RandomStreams(seed, replication)
    recorder = Recorder.for_model(model)
    tally = _Tally()
    if model.keys.invariant == "version":
        _run_version(model, streams, invariant, recorder, tally, estimator == "conditional")
    else:
        _run_readonly(model, streams, invariant, recorder, tally, estimator == "conditional")
    recorder.operations = tally.operations + recorder.unfinished
    recorder.declined = tally.declined
    recorder.attempts = tally.attempts
    # The conditional estimator yields expected counts (floats); the recorder's fields hold them.
    recorder.ok = tally.ok  # type: ignore[assignment]
    recorder.aborted = tally.aborted  # type: ignore[assignment]
    recorder.violated = tally.violated  # type: ignore[assignment]
    recorder.mismatches = tally.mismatches  # type: ignore[assignment]
    recorder.operations_mismatched = tally.mismatches  # type: ignore[assignment]  # one attempt each
    recorder.conflicts = tally.conflicts  # type: ignore[assignment]
    recorder.violations = tally.violations  # type: ignore[assignment]
    recorder.race_aborts = tally.aborted  # type: ignore[assignment]  # every abort is a caught race here
    return ReplicationResult.from_recorder(
        recorder,
        replication=replication,
        seed=seed,
        strategy=model.strategy.label or model.strategy.kind,
        measured_time=model.model.horizon - model.model.warmup,
        extra={
            "unfinished": float(tally.unfinished),
            # Uses never repeat a request and never fail half-way here, so every harm is a
            # violation, and no use waits for another, so no backlog builds.
            "harms": float(tally.violations),
            "harm_rate": tally.violations / tally.operations if tally.operations else math.nan,
            "orphan_rate": 0.0 if tally.operations else math.nan,
            "unstable": 0.0,
        },
    )


def _charge_unfinished(recorder: Recorder, arrivals: Floats, end: float) -> None:
    """Counted operations still running when the run ends: charged as the DES engine charges them
    (unfinished, an error at the end, their age as latency)."""
    ages = end - arrivals
    recorder.unfinished += int(ages.size)
    recorder.requests += int(ages.size)
    recorder.request_latency_total += float(ages.sum())
    recorder.latency.add_many(ages)
    timeline = recorder.timeline
    index = int(end * timeline.inverse_width)
    timeline.grow(index)
    timeline.ops[index] += int(ages.size)
    timeline.errors[index] += int(ages.size)


def _record(recorder: Recorder, counted: NDArray[np.bool_], finish: Floats, decide: Floats,
            latency: Floats, window: Floats, end: float, failed: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Feed the histograms, the SLO counters and the error timeline with the counted operations
    that finished; return that mask.

    ``decide`` is ``inf`` for operations that never reached a use (declined); ``failed`` marks the
    operations that ended violated or aborted on the sampled path (the others ended ok, and are
    errors only when slower than the SLO's latency threshold). The values go in arrival order,
    not in the order the event loop records them: the bins, counts and quantiles are the same,
    and the exact mean may differ from the event loop's in the last bits (the sum is taken in
    another order), which is not worth a sort per operation.
    """
    finished = counted & (finish < end)
    unfinished = counted & (finish >= end)
    if unfinished.any():
        _charge_unfinished(recorder, (finish - latency)[unfinished], end)
    recorder.latency.add_many(latency[finished])
    recorder.requests += int(finished.sum())
    recorder.request_latency_total += float(latency[finished].sum())
    recorder.window.add_many(window[finished & (decide < end)])
    slow = finished & ~failed & (latency > recorder.latency_threshold)
    recorder.slow += int(slow.sum())
    timeline = recorder.timeline
    index = (finish[finished] * timeline.inverse_width).astype(np.int64)
    if index.size:
        timeline.grow(int(index.max()))
        size = len(timeline.ops)
        ops = np.bincount(index, minlength=size)
        errors = np.bincount(index, weights=(failed | slow)[finished], minlength=size).astype(np.int64)
        timeline.ops = (np.asarray(timeline.ops, dtype=np.int64) + ops).tolist()
        timeline.errors = (np.asarray(timeline.errors, dtype=np.int64) + errors).tolist()
    return finished


def _run_version(model: ModelSpec, streams: RandomStreams, invariant: Invariant, recorder: Recorder,
                 tally: _Tally, conditional: bool) -> None:
    """Strategy none on a version invariant: lost update iff another write lands inside the window."""
    horizon = model.model.horizon
    end = 2 * horizon
    scale = _scale(horizon)
    warmup = model.model.warmup
    arrivals = _Arrivals(model, streams, recheck=False)
    mutations = _Mutations(model, streams, invariant, end)
    bump_rate = mutations.rate_to.get(-1, np.zeros(model.keys.count))
    empty_f, empty_i = np.empty(0), np.empty(0, dtype=np.int64)
    # Operations not yet judged (their window may still receive writes).
    p_arrival, p_key, p_t1, p_t2 = empty_f, empty_i, empty_f, empty_f
    # Writes already judged-against that may still fall in a pending window: time, key, client?
    w_time, w_key, w_client = empty_f, empty_i, np.empty(0, dtype=bool)
    while True:
        chunk = arrivals.next_chunk()
        if chunk is not None and chunk["arrival"].size:
            t1 = chunk["arrival"] + chunk["read"]
            t2 = (t1 + chunk["window"]) + chunk["write"]
            p_arrival = np.concatenate((p_arrival, chunk["arrival"]))
            p_key = np.concatenate((p_key, chunk["key"]))
            p_t1 = np.concatenate((p_t1, t1))
            p_t2 = np.concatenate((p_t2, t2))
        frontier = math.inf if arrivals.done else arrivals.clock
        mutations.generate_until(frontier)
        ready = p_t2 < frontier
        # Writes: kept writes, mutations, and the uses of every pending operation that finishes.
        m_time, m_key, _ = mutations.drop_before(math.inf if arrivals.done else frontier)
        writes = p_t2 < end
        all_time = np.concatenate((w_time, m_time, p_t2[writes]))
        all_key = np.concatenate((w_key, m_key, p_key[writes]))
        all_client = np.concatenate(
            (w_client, np.zeros(m_time.size, dtype=bool), np.ones(int(writes.sum()), dtype=bool))
        )
        base = w_time.size + m_time.size
        judge = ready & writes
        if judge.any():
            order = _key_time_order(all_key, all_time, scale)
            position = np.empty(order.size, dtype=np.int64)
            position[order] = np.arange(order.size)
            own = position[base + np.flatnonzero(judge[writes])]
            previous = own - 1
            s_key, s_time = all_key[order], all_time[order]
            safe = np.maximum(previous, 0)
            k, t1 = p_key[judge], p_t1[judge]
            hit = (previous >= 0) & (s_key[safe] == k) & (s_time[safe] > t1)
            if conditional:
                client_order = order[all_client[order]]
                c_position = np.empty(all_time.size, dtype=np.int64)
                c_position[client_order] = np.arange(client_order.size)
                c_prev = c_position[base + np.flatnonzero(judge[writes])] - 1
                c_safe = np.maximum(c_prev, 0)
                c_key, c_time = all_key[client_order], all_time[client_order]
                client_hit = (c_prev >= 0) & (c_key[c_safe] == k) & (c_time[c_safe] > t1)
                duration = p_t2[judge] - t1
                mismatch = 1.0 - np.where(client_hit, 0.0, np.exp(-bump_rate[k] * duration))
            else:
                mismatch = hit.astype(np.float64)
            counted = p_arrival[judge] >= warmup
            finish = p_t2[judge]
            finished = _record(recorder, counted, finish, finish, finish - p_arrival[judge], finish - t1, end,
                               hit)
            tally.operations += int(finished.sum())
            tally.attempts += int(finished.sum())
            lost = float(mismatch[finished].sum())
            tally.mismatches += lost
            tally.violations += lost
            tally.violated += lost
            tally.ok += float(finished.sum()) - lost
        if arrivals.done:
            gone = ~(ready & writes)
            counted = p_arrival[gone] >= warmup
            tally.attempts += int((counted & (p_t1[gone] < end)).sum())
            tally.unfinished += int(gone.sum())
            if counted.any():
                _charge_unfinished(recorder, p_arrival[gone][counted], end)
            return
        keep = ~ready
        p_arrival, p_key, p_t1, p_t2 = p_arrival[keep], p_key[keep], p_t1[keep], p_t2[keep]
        # A write can matter only to a window that is still open: keep those at or after the
        # earliest pending check (new operations check after the frontier).
        horizon_of_need = min(float(p_t1.min()) if p_t1.size else frontier, frontier)
        stay = all_time >= horizon_of_need
        w_time, w_key, w_client = all_time[stay], all_key[stay], all_client[stay]
        # The pending operations' own writes are re-added from p_t2 next step: drop them here.
        own_pending = np.zeros(all_time.size, dtype=bool)
        own_pending[base + np.flatnonzero(keep[writes])] = True
        own_pending = own_pending[stay]
        w_time, w_key, w_client = w_time[~own_pending], w_key[~own_pending], w_client[~own_pending]


def _run_readonly(model: ModelSpec, streams: RandomStreams, invariant: Invariant, recorder: Recorder,
                  tally: _Tally, conditional: bool) -> None:
    """Strategies none/recheck on an invariant whose uses do not write (grant, unchanged).

    The state of a key is then the mutators' alone. For ``grant`` the value is that of the last
    grant/revoke before the instant; for ``unchanged`` each bump carries a unique id, and the key
    changed between two instants iff the last id before each differs.
    """
    from toctou_sim.plugins.strategies.recheck import Recheck
    from toctou_sim.world import STRATEGIES

    horizon = model.model.horizon
    end = 2 * horizon
    scale = _scale(horizon)
    warmup = model.model.warmup
    recheck = STRATEGIES[model.strategy.kind] is Recheck
    answer = invariant.refusal_is_answer
    arrivals = _Arrivals(model, streams, recheck=recheck)
    mutations = _Mutations(model, streams, invariant, end)
    count = model.keys.count
    zeros = np.zeros(count)
    bumps = mutations.bumps
    if bumps:
        to_bad, to_good = mutations.rate_to.get(-1, zeros), zeros
        state = np.full(count, -1, dtype=np.int64)
    else:
        to_bad = mutations.rate_to.get(0, zeros)
        to_good = sum((r for v, r in mutations.rate_to.items() if v != 0), zeros)
        state = np.full(count, model.keys.initial_value, dtype=np.int64)
    """Value of each key just before the earliest instant still to be queried."""

    def value_at(keys: Ints, times: Floats, sorted_mutations: tuple[Floats, Floats, Ints, Ints]) -> Ints:
        """The value of each key at each instant (after every mutation strictly before it)."""
        s_comp, s_time, s_key, s_val = sorted_mutations
        result = state[keys]
        if not s_comp.size:
            return result
        query = keys * scale + times
        # searchsorted is several times faster on sorted needles
        needles = np.argsort(query)
        last = np.empty(query.size, dtype=np.int64)
        last[needles] = np.searchsorted(s_comp, query[needles], side="left") - 1
        # Mutations whose composite equals the query's need the exact comparison (rare).
        nxt = np.minimum(last + 1, s_comp.size - 1)
        tied = np.flatnonzero((last + 1 < s_comp.size) & (s_comp[nxt] == query))
        for i in map(int, tied):
            j = int(last[i]) + 1
            while j < s_comp.size and s_comp[j] == query[i] and s_time[j] < times[i]:
                j += 1
            last[i] = j - 1
        found = (last >= 0) & (s_key[np.maximum(last, 0)] == keys)
        result[found] = s_val[last[found]]
        return result

    while True:
        chunk = arrivals.next_chunk()
        if chunk is None or not chunk["arrival"].size:
            return
        a, k = chunk["arrival"], chunk["key"]
        # Apply every mutation before this chunk's first arrival to the state (in time order).
        old_t, old_k, old_v = mutations.drop_before(float(a[0]))
        if old_t.size:
            order = np.argsort(old_t, kind="stable")[::-1]
            latest_keys, first = np.unique(old_k[order], return_index=True)
            state[latest_keys] = old_v[order][first]
        t1 = a + chunk["read"]
        tw = t1 + chunk["window"]
        if recheck:
            tr = tw + chunk["recheck"]
            t2 = tr + chunk["write"]
        else:
            tr = tw
            t2 = tw + chunk["write"]
        mutations.generate_until(float(t2.max()) if t2.size else 0.0)
        order = _key_time_order(mutations.keys, mutations.times, scale)
        m_key, m_time = mutations.keys[order], mutations.times[order]
        sorted_mutations = (m_key * scale + m_time, m_time, m_key, mutations.values[order])
        n = a.size
        if recheck:
            values = value_at(np.concatenate((k, k, k)), np.concatenate((t1, t2, tr)), sorted_mutations)
        else:
            values = value_at(np.concatenate((k, k)), np.concatenate((t1, t2)), sorted_mutations)
        at_check = values[:n]
        if bumps:
            passed = np.ones(n, dtype=bool)
            bad_at_decide = values[n : 2 * n] != at_check
            bad_at_recheck = values[2 * n :] != at_check if recheck else None
        else:
            passed = at_check == 1
            bad_at_decide = values[n : 2 * n] != 1
            bad_at_recheck = values[2 * n :] != 1 if recheck else None
        caught = passed & bad_at_recheck if bad_at_recheck is not None else np.zeros(n, dtype=bool)
        used = passed & ~caught
        decide = np.where(caught, tr, np.where(used, t2, np.inf))
        finish = np.where(passed, decide, t1)
        counted = a >= warmup
        window = decide - t1
        # A caught revocation is the answer (declined); a caught change of an unchanged-key
        # precondition gives up (no retries qualify here).
        failed = (used & bad_at_decide) if answer else caught | (used & bad_at_decide)
        finished = _record(recorder, counted, finish, decide, finish - a, window, end, failed)
        tally.operations += int(finished.sum())
        tally.declined += int((finished & ~passed).sum())
        tally.attempts += int((counted & (t1 < end)).sum())
        tally.unfinished += int((finish >= end).sum())
        judged = finished & passed
        if conditional:
            kk = k[judged]
            if recheck:
                p_conflict = _p_switch(to_bad, to_good, kk, (tr - t1)[judged])
                p_violation = (1.0 - p_conflict) * _p_switch(to_bad, to_good, kk, (t2 - tr)[judged])
            else:
                p_conflict = np.zeros(kk.size)
                p_violation = _p_switch(to_bad, to_good, kk, (t2 - t1)[judged])
            conflicts = float(p_conflict.sum())
            violations = float(p_violation.sum())
        else:
            conflicts = float((judged & caught).sum())
            violations = float((judged & used & bad_at_decide).sum())
        tally.conflicts += conflicts
        tally.violations += violations
        tally.mismatches += conflicts + violations
        tally.violated += violations
        if answer:
            tally.declined += conflicts  # type: ignore[assignment]
            tally.ok += float(judged.sum()) - violations + float((finished & ~passed).sum())
        else:
            tally.aborted += conflicts
            tally.ok += float(judged.sum()) - conflicts - violations + float((finished & ~passed).sum())
        if arrivals.done:
            return
