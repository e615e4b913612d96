"""Exhaustive exploration of a small scope of a model: every ordering, not a sample of them.

Monte Carlo says how often; it cannot say never. :func:`explore` takes the same model file,
shrinks it to a small **scope** (a few operations and background writes on one or two keys,
each fault at most once) and runs the *same world* (:class:`~toctou_sim.world.engine.World`
with the model's strategy, read path, invariant and faults) under a controlled scheduler, once
for every combination of its choices:

- every duration the world draws (read and write latency, window, lease and lock calls, dedupe
  lag, arrival and mutation gaps, ...) takes each of a few representative values of its
  distribution (by default its 0.1%, 50% and 99.9% quantiles: "min, median, max"), for the
  first draws of each source (one per operation in scope); later draws take the median;
- every fault begins at each step boundary of the operations (arrival, after the check, after
  the window, before the use, after a mutation) or not at all, and lasts each representative
  duration;
- simultaneous events happen in every order (a tie between two timeouts is a choice).

The choices form a tree, enumerated depth first by re-execution (stateless model checking:
each path is one deterministic run). Every step boundary is a **state** (time, the store's
values, versions and fencing watermarks, each operation's step); a state already reached by
another path is counted once (state hashing), and the search stops at ``max_states`` distinct
states. The invariant is checked at every use by the engine itself (the harm hook): a use
that takes effect while the precondition is false, or a second effect of one request, is a
violation. Each kind of violation is reported with its shortest counterexample, as a timeline
of steps.

What it proves is bounded: "no violation in N states" holds for this scope (the operations,
keys, values and faults listed), not beyond it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from heapq import heapify
from typing import Any

import numpy as np
import simpy

from toctou_sim.core.distributions import Constant, Distribution, RandomStreams
from toctou_sim.spec.model import ModelSpec, SpecError
from toctou_sim.world.engine import Flow, Operation, World
from toctou_sim.world.observer import HarmListener

__all__ = ["Counterexample", "ExploreResult", "Scope", "Step", "explore"]

QUANTILES = {"min": 0.001, "median": 0.5, "max": 0.999}
"""The representative values of a distribution, as quantiles (heavy tails have no maximum)."""


@dataclass(frozen=True)
class Scope:
    """How far the model is shrunk for exhaustive exploration.

    Attributes:
        ops: client operations (the arrivals stop after this many).
        keys: keys (the model's key count is cut to this).
        mutations: background writes per mutator (each mutator stops after this many).
        values: which representative values each duration takes (some of ``min``, ``median``,
            ``max``; the extremes by default: orderings come from short-versus-long, and each
            value added multiplies the paths).
        overrides: durations given explicitly, by stream name (``window``, ``read_latency``,
            ``fault.0.duration``, ...) -> the values to try.
        faults: whether faults are injected (each scheduled fault at most once, at a step
            boundary); ``False`` explores without them.
        ties: whether simultaneous events are explored in every order.
        horizon: the scoped run's horizon (default: the model's).
    """

    ops: int = 2
    keys: int = 1
    mutations: int = 1
    values: tuple[str, ...] = ("min", "max")
    overrides: dict[str, tuple[float, ...]] = field(default_factory=dict)
    faults: bool = True
    ties: bool = True
    horizon: float | None = None

    def __post_init__(self) -> None:
        if self.ops < 1:
            raise SpecError(f"ops: must be >= 1, got {self.ops}")
        if self.keys < 1:
            raise SpecError(f"keys: must be >= 1, got {self.keys}")
        if self.mutations < 0:
            raise SpecError(f"mutations: must be >= 0, got {self.mutations}")
        unknown = [v for v in self.values if v not in QUANTILES]
        if unknown or not self.values:
            raise SpecError(f"values: expected some of {', '.join(QUANTILES)}, got {','.join(self.values) or 'none'}")

    def describe(self) -> str:
        """One line: what the scope covers."""
        parts = [f"{self.ops} operation{'s' * (self.ops != 1)}", f"{self.keys} key{'s' * (self.keys != 1)}",
                 f"{self.mutations} mutation{'s' * (self.mutations != 1)} per mutator",
                 f"durations at {'/'.join(self.values)}"]
        parts.append("each fault once at any step boundary" if self.faults else "no faults")
        if self.ties:
            parts.append("ties in every order")
        return ", ".join(parts)


@dataclass(frozen=True)
class Step:
    """One step of a counterexample's timeline."""

    time: float
    actor: str
    what: str


@dataclass(frozen=True)
class Counterexample:
    """The shortest path found to one kind of violation."""

    kind: str
    key: int
    steps: tuple[Step, ...]
    run: int
    """Which run (in search order) found it."""

    def timeline(self) -> str:
        """The steps as a text timeline (simulated milliseconds)."""
        lines = [f"violation: {self.kind} on key {self.key} ({len(self.steps)} steps)"]
        width = max((len(s.actor) for s in self.steps), default=0)
        for step in self.steps:
            lines.append(f"  t={step.time * 1e3:>10.3f} ms  {step.actor:<{width}}  {step.what}")
        return "\n".join(lines)


@dataclass
class ExploreResult:
    """What an exhaustive exploration found."""

    model: str
    strategy: str
    scope: Scope
    states: int
    runs: int
    complete: bool
    """Whether every path of the scope was explored (False: stopped at ``max_states``)."""
    seconds: float
    counterexamples: list[Counterexample]

    @property
    def safe(self) -> bool:
        """No violation was found (in the explored part of the scope)."""
        return not self.counterexamples

    def summary(self) -> str:
        """The verdict, then each counterexample's timeline."""
        head = f"{self.model} / {self.strategy}: "
        scope = f"(scope: {self.scope.describe()})"
        searched = "" if self.complete else f"; stopped at the {self.states}-state limit, scope NOT exhausted"
        if self.safe:
            lines = [f"{head}no violation in {self.states} states, {self.runs} runs {scope}{searched}"]
        else:
            kinds = ", ".join(c.kind for c in self.counterexamples)
            lines = [f"{head}{len(self.counterexamples)} kind(s) of violation ({kinds}) in {self.states} states, "
                     f"{self.runs} runs {scope}{searched}"]
            for example in self.counterexamples:
                lines.append("")
                lines.append(example.timeline())
        return "\n".join(lines)


class _Exhausted(Exception):
    """Raised inside a run when the state limit is reached."""


class _Chooser:
    """The choices of one run: replays ``prefix``, then takes the first option of each new choice."""

    def __init__(self, prefix: list[int]) -> None:
        self.prefix = prefix
        self.trail: list[tuple[int, int]] = []

    def choose(self, options: int) -> int:
        if options <= 1:
            return 0
        position = len(self.trail)
        pick = self.prefix[position] if position < len(self.prefix) else 0
        self.trail.append((pick, options))
        return pick


def _next_prefix(trail: list[tuple[int, int]]) -> list[int] | None:
    """The next path of the depth-first enumeration (an odometer on the choice trail)."""
    for position in range(len(trail) - 1, -1, -1):
        pick, options = trail[position]
        if pick + 1 < options:
            return [p for p, _ in trail[:position]] + [pick + 1]
    return None


def representative(distribution: Distribution, names: tuple[str, ...]) -> tuple[float, ...]:
    """The distribution's representative values (quantiles estimated from a fixed large sample,
    so every family, mixtures and empirical ones included, is handled alike)."""
    if isinstance(distribution, Constant):
        return (float(distribution.value),)
    sample = distribution.sample(np.random.default_rng(20260), 20_001)
    values = [float(np.quantile(sample, QUANTILES[name])) for name in names]
    rounded = [float(f"{v:.3g}") if v > 0 else 0.0 for v in values]
    return tuple(dict.fromkeys(rounded))


class _ChoiceStream:
    """A stream whose first ``branch`` draws are choices among ``values``; later ones the middle
    value, and after ``limit`` draws ``inf`` (a source that stops)."""

    def __init__(self, chooser: Callable[[int], int], values: tuple[float, ...], branch: int,
                 limit: int | None = None) -> None:
        self._choose = chooser
        self._values = values
        self._branch = branch
        self._limit = limit
        self._drawn = 0
        self.constant = None

    def __call__(self) -> float:
        drawn = self._drawn
        self._drawn += 1
        if self._limit is not None and drawn >= self._limit:
            return math.inf
        values = self._values
        if drawn < self._branch and len(values) > 1:
            return values[self._choose(len(values))]
        return values[len(values) // 2]


class _ChoiceKeys:
    def __init__(self, chooser: Callable[[int], int], count: int) -> None:
        self._choose = chooser
        self._count = count

    def __call__(self) -> int:
        return self._choose(self._count)


class _ReplayedSource:
    """A source's ``random(size)`` blocks, drawn once per exploration: every world of an
    exploration starts the source afresh and draws the same numbers, and a fresh generator costs
    more than a short run's use of it. Each block is the one a fresh generator gives after the
    same earlier draws (a new sequence of sizes draws again from a fresh generator)."""

    def __init__(self, fresh: Callable[[], np.random.Generator], blocks: dict[tuple[int | None, ...], Any]) -> None:
        self._fresh = fresh
        self._blocks = blocks
        self._sizes: tuple[int | None, ...] = ()

    def random(self, size: int | None = None) -> Any:
        sizes = self._sizes = (*self._sizes, size)
        block = self._blocks.get(sizes)
        if block is None:
            generator = self._fresh()
            for earlier in sizes[:-1]:
                generator.random(earlier)
            block = self._blocks[sizes] = generator.random(size)
            if isinstance(block, np.ndarray):
                block.flags.writeable = False
        return block


_REPLAYED = frozenset({"retry.jitter"})
"""Sources the world draws from only with ``random(size)`` (:meth:`World.uniform`): replayed."""


class _ExploreStreams(RandomStreams):
    """Random sources replaced by choices (see :class:`Scope`)."""

    def __init__(self, scope: Scope, chooser: _Chooser, cache: dict[Any, Any]) -> None:
        super().__init__(0, 0)
        self.scope = scope
        self.chooser = chooser
        self.cache = cache

    def generator(self, name: str) -> Any:
        if name not in _REPLAYED:
            return super().generator(name)
        blocks = self.cache.setdefault(("generator", name), {})
        return _ReplayedSource(partial(RandomStreams.generator, self, name), blocks)

    def values(self, name: str, distribution: Distribution) -> tuple[float, ...]:
        """The values a draw of ``name`` may take (computed once per exploration)."""
        values = self.cache.get(name)
        if values is None:
            values = self.cache[name] = tuple(
                self.scope.overrides.get(name) or representative(distribution, self.scope.values))
        return values

    def variates(self, name: str, distribution: Distribution) -> Any:
        scope = self.scope
        values = self.values(name, distribution)
        limit = None
        if name == "arrivals":
            limit = scope.ops
        elif name.startswith("mutator.") and name.endswith(".arrivals"):
            limit = scope.mutations
        return _ChoiceStream(self.chooser.choose, tuple(values), scope.ops, limit)

    def keys(self, name: str, count: int, zipf: float | None) -> Any:
        return _ChoiceKeys(self.chooser.choose, min(count, self.scope.keys))


class _ExploreWorld(World):
    """The model's world with a step log, fault injection at step boundaries, state hashing and
    (optionally) every order of simultaneous events."""

    backlog_samples = 1  # no metrics are reported: one stop at the horizon (each is a SimPy run)

    def __init__(self, spec: ModelSpec, streams: _ExploreStreams, seen: set[int], max_states: int) -> None:
        self.log: list[Step] = []
        self.harms: list[tuple[str, int, int]] = []
        self._seen = seen
        self._max_states = max_states
        self._names: dict[Any, int] = {}
        self._phase: dict[str, str] = {}
        self._labels: dict[Any, str] = {}
        self._writers: set[Any] = set()
        self._chooser = streams.chooser
        self._scope = streams.scope
        super().__init__(spec, streams, observers=(HarmListener(self._harm),))
        from toctou_sim.world.faults import ScheduledFault

        scheduled = [f for f in self.faults if isinstance(f, ScheduledFault)]
        self._pending_faults: list[ScheduledFault | None] = list(scheduled) if self._scope.faults else []
        self._fault_durations = [streams.values(f"{f.stream}.duration", f.spec.duration) for f in scheduled]
        for fault in scheduled if self._scope.faults else []:
            fault.start = lambda: None  # type: ignore[method-assign]  # injected at step boundaries instead
        mutate = self.strategy.mutate
        self.strategy.mutate = partial(self._mutate, mutate)  # type: ignore[method-assign]
        service = getattr(self.strategy, "service", None)
        if service is not None and hasattr(service, "transitions") and hasattr(service, "call"):
            service.__class__ = self._logged_lease(type(service))
        locks = getattr(self.strategy, "locks", None)
        if locks is not None and hasattr(locks, "_grant") and hasattr(locks, "_expire"):
            locks.__class__ = self._logged_locks(type(locks))
        if self._scope.ties:
            self.env.step = partial(self._step, self.env.step)  # type: ignore[method-assign]

    # -------------------------------------------------------------- labels and the step log

    def _actor(self, op: Operation | None = None) -> str:
        process = self.env.active_process
        label = ""
        if op is not None:
            name: Any = op.request_id if op.request_id >= 0 else ("arrival", op.arrival)
            index = self._names.get(name)
            if index is None:
                index = self._names[name] = 1 + max(self._names.values(), default=-1)
            label = f"op{index}" + (" (copy)" if op.duplicate else "")
        frame = getattr(getattr(process, "_generator", None), "gi_frame", None)
        replica = frame.f_locals.get("replica") if frame is not None else None
        if replica is not None and hasattr(replica, "actor"):
            label = f"{label} {replica.actor.name}".strip()
        return label or "world"

    def _note(self, actor: str, what: str) -> None:
        self.log.append(Step(self.env.now, actor, what))
        self._phase[actor] = what.split(":")[0]
        self._state()
        self._maybe_fault()

    def _state(self) -> None:
        store = self.store
        key = hash((round(self.env.now, 9), tuple(store.value), tuple(store.version), tuple(store.fence),
                    tuple(sorted(self._phase.items())), len(self.harms)))
        if key not in self._seen:
            if len(self._seen) >= self._max_states:
                raise _Exhausted
            self._seen.add(key)

    def _maybe_fault(self) -> None:
        for index, fault in enumerate(self._pending_faults):
            if fault is None:
                continue
            if not self._chooser.choose(2):
                continue
            durations = self._fault_durations[index]
            duration = durations[self._chooser.choose(len(durations))]
            actor = self.resolve(fault.spec.target)
            self._pending_faults[index] = None
            if actor is None:
                continue
            fault.onsets += 1
            fault.hits += 1
            fault._active[actor.name] = fault._active.get(actor.name, 0) + 1
            fault.begin(actor, duration, first=True)
            self.log.append(Step(self.env.now, "fault",
                                 f"{fault.spec.kind} begins on {actor.name} for {duration * 1e3:g} ms"))
            self.env.timeout(duration).callbacks.append(partial(self._fault_ends, fault, actor))

    def _fault_ends(self, fault: Any, actor: Any, _event: object) -> None:
        fault._end(actor)
        self.log.append(Step(self.env.now, "fault", f"{fault.spec.kind} ends on {actor.name}"))

    def _logged_lease(self, base: type) -> type:
        """The lease service's class with acquisitions logged: a change of holder is a step."""
        world = self

        class LoggedLease(base):  # type: ignore[misc]
            __slots__ = ()

            def call(self, caller: tuple[int, int], *args: Any) -> int | None:
                before = self.holder
                token: int | None = base.call(self, caller, *args)  # type: ignore[attr-defined]
                if token is not None and before != caller:
                    world._note(f"controller.{caller[0]}", f"lease: takes the lease (fencing token {token})")
                return token

        return LoggedLease

    def _logged_locks(self, base: type) -> type:
        """The per-key locks' class with grants and lease expiries in the timeline (log lines
        only: not step boundaries, so they add no states and no fault points)."""
        world = self

        class LoggedLocks(base):  # type: ignore[misc]
            __slots__ = ()

            def _grant(self, key: int, event: simpy.Event) -> None:
                world.log.append(Step(world.env.now, "lock", f"key {key}: granted, token {self.next_token}"))
                super()._grant(key, event)

            def _expire(self, key: int, token: int, event: simpy.Event) -> None:
                if self.holder.get(key) == token:
                    world.log.append(Step(world.env.now, "lock",
                                          f"key {key}: lease of token {token} expires (its holder may still act)"))
                super()._expire(key, token, event)

        return LoggedLocks

    @staticmethod
    def _token(op: Operation) -> str:
        return (f" (retry {op.retries})" if op.retries else "") + (f" (token {op.token})" if op.token else "")

    def _harm(self, op: Operation, kind: str) -> None:
        if kind == "orphan":
            return
        self.harms.append((kind, op.key, len(self.log)))

    # -------------------------------------------------------------- the steps

    def submit(self, key: int, **kwargs: Any) -> Operation:
        op = super().submit(key, **kwargs)
        index = 1 + max(self._names.values(), default=-1)
        self._names[op.request_id] = self._names[("arrival", op.arrival)] = index
        self._note(f"op{index}", f"arrives: key {key}")
        return op

    def check(self, op: Operation, latency: float) -> Flow:
        held = yield from super().check(op, latency)
        label = self._labels[self.env.active_process] = self._actor(op)
        self._note(label, f"check{self._token(op)}: saw version {op.seen_version} value {op.seen_value}, "
                                    f"precondition {'holds' if held else 'false (declines)'}")
        return held

    def wait_window(self, window: float, op: Operation | None = None) -> Flow:
        yield from super().wait_window(window, op)
        self._note(self._labels.get(self.env.active_process, "world"), "window ends")

    def decide(self, op: Operation, accepted: bool) -> int:
        actor = self._actor(op)
        holds = self.store.holds(op.key, op.seen_version)
        harms = len(self.harms)
        outcome = super().decide(op, accepted)
        if len(self.harms) > harms:
            what = f"use: VIOLATION ({self.harms[-1][0]})"
        elif accepted:
            what = "use: applied" + ("" if holds else " (precondition false)")
            if op.partial:
                what += ", then the request fails (partial failure: the effect stays)"
        else:
            what = "use: rejected" + (" (race caught)" if not holds else "")
        store = self.store
        self._note(actor, f"{what}{self._token(op)}; key {op.key} now version {store.version[op.key]} "
                          f"value {store.value[op.key]}")
        return outcome

    def _mutate(self, mutate: Callable[[int, Callable[[], None]], None], key: int, apply: Callable[[], None]) -> None:
        self._writers.add(self.env.active_process)

        def applied() -> None:
            apply()
            self._note("mutator", f"mutation: key {key} now version {self.store.version[key]} "
                                  f"value {self.store.value[key]}")

        mutate(key, applied)

    def _stepping(self, event: simpy.Event) -> bool:
        """Whether ``event`` resumes an operation or a background writer (ties between the
        periodic loops of electors or reconcilers are left in their FIFO order: they would
        multiply the paths without new orderings of the steps)."""
        for callback in event.callbacks or ():
            process = getattr(callback, "__self__", None)
            if process in self._labels or process in self._writers:
                return True
        return False

    def _step(self, step: Callable[[], None]) -> None:
        """Process the next event, choosing among simultaneous timeouts which comes first."""
        queue = self.env._queue
        size = len(queue)
        if size > 1 and (queue[1][:2] == queue[0][:2] or (size > 2 and queue[2][:2] == queue[0][:2])):
            first = queue[0]
            tied = [entry for entry in queue if entry[0] == first[0] and entry[1] == first[1]
                    and isinstance(entry[3], simpy.Timeout) and self._stepping(entry[3])]
            if len(tied) > 1:
                pick = tied[self._chooser.choose(len(tied))]
                if pick is not first:
                    queue.remove(pick)
                    queue.append((pick[0], pick[1], -1, pick[3]))
                    heapify(queue)
        step()


def _scoped(model: ModelSpec, scope: Scope) -> ModelSpec:
    """The model cut to the scope: fewer keys, no warm-up, the scope's horizon."""
    from toctou_sim.spec.model import parse_model

    data = model.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    overrides: dict[str, Any] = {"keys.count": min(model.keys.count, scope.keys), "model.warmup": 0}
    if scope.horizon is not None:
        overrides["model.horizon"] = scope.horizon
    keys = data.get("keys", {})
    keys.pop("popularity", None)
    data["keys"] = keys
    return parse_model(data, source=model.source or "<model>", overrides=overrides, text=model.text)


def _paths(model: ModelSpec, scope: Scope, max_states: int, seen: set[int]) -> Iterator[tuple[int, _ExploreWorld]]:
    prefix: list[int] | None = []
    run = 0
    cache: dict[Any, Any] = {}
    while prefix is not None:
        chooser = _Chooser(prefix)
        world = _ExploreWorld(model, _ExploreStreams(scope, chooser, cache), seen, max_states)
        try:
            world.run()
        finally:
            run += 1
        yield run, world
        prefix = _next_prefix(chooser.trail)


def explore(
    model: ModelSpec | str,
    *,
    strategy: str | None = None,
    scope: Scope | None = None,
    max_states: int = 200_000,
    overrides: dict[str, Any] | None = None,
    progress: bool = False,
) -> ExploreResult:
    """Explore every ordering of a small scope of ``model`` (see the module docstring).

    Args:
        model: a validated model or a model file's path.
        strategy: explore this strategy instead of the model's own (a ``[strategies]`` name or a kind).
        scope: how far to shrink the model (default :class:`Scope`).
        max_states: stop after this many distinct states (the result then says the scope was
            not exhausted).
        overrides: field values by dotted path, applied before validation.
        progress: show a progress bar (runs and states).
    """
    from toctou_sim.experiment.montecarlo import _as_model

    spec = _as_model(model, overrides)
    if strategy is not None:
        spec = spec.with_strategy(strategy)
    scope = scope or Scope()
    scoped = _scoped(spec, scope)
    label = spec.strategy.label or spec.strategy.kind
    seen: set[int] = set()
    found: dict[str, Counterexample] = {}
    started = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="explore", unit="run", leave=False)
    runs = 0
    complete = True
    try:
        for runs, world in _paths(scoped, scope, max_states, seen):
            if bar is not None:
                bar.update(1)
                bar.set_postfix(states=len(seen), refresh=False)
            for kind, key, at in world.harms:
                steps = tuple(world.log[:at + 1])
                known = found.get(kind)
                if known is None or len(steps) < len(known.steps):
                    found[kind] = Counterexample(kind, key, steps, runs)
    except _Exhausted:
        complete = False
        runs += 1
    finally:
        if bar is not None:
            bar.close()
    return ExploreResult(
        model=spec.model.name,
        strategy=label,
        scope=scope,
        states=len(seen),
        runs=runs,
        complete=complete,
        seconds=time.perf_counter() - started,
        counterexamples=sorted(found.values(), key=lambda c: c.kind),
    )
