"""Tracing one short replication: every operation's check, window and use as spans.

Tracing is an observer of the world (:class:`Tracer`, a
:class:`~toctou_sim.world.observer.WorldObserver`) that costs nothing when it is off: a world
nobody traces binds no tracing hook, and a traced world gives the same numbers.

Spans of an operation (on its own track):

- ``lock wait`` / ``retry wait``: from the start of an attempt (arrival, or the end of the
  previous attempt) to the start of its check: lock acquisition and queueing, or backoff.
- ``check``: the read through the read path, ending when the observation is made.
- ``window``: from the check's answer to the end of the window (including any client pause).
- ``use``: from the end of the window to the instant the use is judged (write latency,
  re-check); its args say ``mismatch`` (precondition false on the truth then), ``violation``
  (accepted anyway) and ``conflict`` (rejected).

Instants: background ``mutation`` of a key (on the key's track), the start and end of each fault
interval (``pause begins`` ... on the faults track, with its target), and the operation's final
``outcome``.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

import simpy

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.measure.metrics import OUTCOMES
from toctou_sim.spec.model import ModelSpec
from toctou_sim.world.engine import World
from toctou_sim.world.observer import WorldObserver
from toctou_sim.world.operation import Operation

__all__ = ["Instant", "OpTrace", "Span", "Trace", "Tracer", "trace_replication", "traced_world"]


@dataclass
class Span:
    """A named interval of one operation (simulated seconds)."""

    name: str
    start: float
    end: float
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Instant:
    """A point event: a mutation, a fault, an outcome."""

    name: str
    time: float
    key: int | None = None
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class OpTrace:
    """Everything traced about one operation."""

    index: int
    key: int
    arrival: float
    spans: list[Span] = field(default_factory=list)
    outcome: str = "unfinished"
    end: float = math.nan
    attempt_start: float = 0.0
    window_end: float = math.nan
    check_end: float = math.nan

    @property
    def mismatch(self) -> bool:
        """Some use of this operation met a false precondition."""
        return any(s.args.get("mismatch") for s in self.spans)

    @property
    def violation(self) -> bool:
        """The operation ended in a violation."""
        return self.outcome == "violated"


@dataclass
class Trace:
    """A traced replication: its operations (arrival order) and instants."""

    model: str
    strategy: str
    seed: int
    replication: int
    start: float
    ops: list[OpTrace]
    instants: list[Instant]

    def to_chrome(self, version: str = "") -> dict[str, Any]:
        """The trace as Chrome trace-event JSON (opens in Perfetto and chrome://tracing).

        Process 1 "operations" has one thread per operation; process 2 "store" one thread per
        key touched, carrying mutations; process 3 "faults". Timestamps are microseconds of
        simulated time, sorted per track.
        """
        events: list[dict[str, Any]] = [
            _meta("process_name", 1, 0, f"operations ({self.strategy})"),
            _meta("process_name", 2, 0, "store keys"),
            _meta("process_name", 3, 0, "faults"),
        ]
        keys = sorted({op.key for op in self.ops})
        for op in self.ops:
            tid = op.index + 1
            events.append(_meta("thread_name", 1, tid, f"op {op.index} key {op.key}"))
            events.append(
                {
                    "name": "thread_sort_index",
                    "ph": "M",
                    "pid": 1,
                    "tid": tid,
                    "args": {"sort_index": op.index},
                }
            )
            track: list[dict[str, Any]] = []
            for span in op.spans:
                track.append(
                    {
                        "name": span.name,
                        "cat": "violation" if span.args.get("violation") else span.name,
                        "ph": "X",
                        "ts": _us(span.start),
                        "dur": round(_us(span.end) - _us(span.start), 3),
                        "pid": 1,
                        "tid": tid,
                        "args": span.args,
                    }
                )
            if not math.isnan(op.end):
                track.append(
                    {
                        "name": op.outcome,
                        "cat": "outcome",
                        "ph": "i",
                        "s": "t",
                        "ts": _us(op.end),
                        "pid": 1,
                        "tid": tid,
                        "args": {"outcome": op.outcome, "mismatch": op.mismatch, "key": op.key},
                    }
                )
            track.sort(key=lambda e: e["ts"])
            events.extend(track)
        touched = set(keys)
        for key in keys:
            events.append(_meta("thread_name", 2, key + 1, f"key {key}"))
        store: list[dict[str, Any]] = []
        faults: list[dict[str, Any]] = []
        for instant in self.instants:
            if instant.key is not None:
                if instant.key in touched:
                    store.append(
                        {
                            "name": instant.name,
                            "cat": "mutation",
                            "ph": "i",
                            "s": "t",
                            "ts": _us(instant.time),
                            "pid": 2,
                            "tid": instant.key + 1,
                            "args": instant.args,
                        }
                    )
            else:
                faults.append(
                    {
                        "name": instant.name,
                        "cat": "fault",
                        "ph": "i",
                        "s": "p",
                        "ts": _us(instant.time),
                        "pid": 3,
                        "tid": 1,
                        "args": instant.args,
                    }
                )
        store.sort(key=lambda e: (e["tid"], e["ts"]))
        faults.sort(key=lambda e: e["ts"])
        events.extend(store)
        events.extend(faults)
        return {
            "traceEvents": events,
            "displayTimeUnit": "ms",
            "otherData": {
                "model": self.model,
                "strategy": self.strategy,
                "seed": self.seed,
                "replication": self.replication,
                "version": version,
                "time": "simulated; ts are microseconds since the start of the replication",
            },
        }


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


def _meta(name: str, pid: int, tid: int, label: str) -> dict[str, Any]:
    return {"name": name, "ph": "M", "pid": pid, "tid": tid, "args": {"name": label}}


class _TraceComplete(Exception):
    """Raised inside the simulation once every traced operation has ended."""


class Tracer(WorldObserver):
    """Listens to a world and records the first ``max_ops`` operations arriving at or after
    ``start`` as spans, and mutations and fault intervals as instants."""

    def __init__(self, world: World, max_ops: int = 200, start: float = 0.0) -> None:
        self.world = world
        self.traced: list[OpTrace] = []
        self.instants: list[Instant] = []
        self._records: dict[Operation, OpTrace] = {}
        self._by_process: dict[simpy.Process | None, OpTrace] = {}
        self._check_start: dict[Operation, float] = {}
        self._max_ops = max_ops
        self._start = start
        self._finished = 0
        self._wait_label = "lock wait" if world.spec.strategy.kind == "lock" else "wait"

    def began(self, op: Operation) -> None:
        if op.arrival >= self._start and len(self.traced) < self._max_ops:
            record = OpTrace(len(self.traced), op.key, op.arrival, attempt_start=op.arrival)
            self.traced.append(record)
            self._records[op] = record

    def check_began(self, op: Operation) -> None:
        record = self._records.get(op)
        if record is None:
            return
        now = self.world.env.now
        self._check_start[op] = now
        self._by_process[self.world.env.active_process] = record
        if now > record.attempt_start:
            label = self._wait_label if op.retries == 0 else "retry wait"
            record.spans.append(Span(label, record.attempt_start, now, {"attempt": op.retries + 1}))

    def checked(self, op: Operation, held: bool, outdated: bool) -> None:
        record = self._records.get(op)
        if record is None:
            return
        now = self.world.env.now
        record.check_end = now
        record.window_end = math.nan
        args = {"attempt": op.retries + 1, "seen_version": op.seen_version, "seen_value": op.seen_value,
                "precondition_held": bool(held), "stale": op.stale}
        record.spans.append(Span("check", self._check_start.pop(op, now), now, args))
        if not held:
            record.attempt_start = now

    def window_ended(self, op: Operation | None, window: float) -> None:
        record = (self._records.get(op) if op is not None
                  else self._by_process.get(self.world.env.active_process))
        if record is None:
            return
        record.window_end = self.world.env.now
        record.spans.append(Span("window", record.check_end, record.window_end, {"window_ms": window * 1e3}))

    def judged(self, op: Operation, now: float, accepted: bool, holds: bool, duplicate: bool) -> None:
        record = self._records.get(op)
        if record is None:
            return
        begin = record.window_end if not math.isnan(record.window_end) else record.check_end
        args = {
            "attempt": op.retries + 1,
            "accepted": accepted,
            "mismatch": not holds,
            "violation": accepted and not holds,
            "conflict": (not accepted) and not holds,
            "version_now": self.world.store.version[op.key],
            "seen_version": op.seen_version,
        }
        record.spans.append(Span("use", begin, now, args))
        record.attempt_start = now

    def finished(self, op: Operation, outcome: int, now: float) -> None:
        record = self._records.pop(op, None)
        if record is None:
            return
        if now > record.attempt_start:
            record.spans.append(
                Span(
                    self._wait_label if op.retries == 0 else "retry wait",
                    record.attempt_start,
                    now,
                    {"attempt": op.retries + 1, "gave_up": True},
                )
            )
        record.outcome = OUTCOMES[outcome]
        record.end = now
        self._finished += 1
        if self._finished >= self._max_ops:
            raise _TraceComplete

    def mutated(self, key: int) -> None:
        now = self.world.env.now
        if now >= self._start:
            store = self.world.store
            self.instants.append(Instant("mutation", now, key, {"version": store.version[key],
                                                                "value": store.value[key]}))

    def fault_began(self, kind: str, target: str, duration: float) -> None:
        self.instants.append(Instant(f"{kind} begins", self.world.env.now, None,
                                     {"target": target, "duration_ms": duration * 1e3}))

    def fault_ended(self, kind: str, target: str) -> None:
        self.instants.append(Instant(f"{kind} ends", self.world.env.now, None, {"target": target}))


def traced_world(spec: ModelSpec, streams: RandomStreams, max_ops: int = 200,
                 start: float = 0.0) -> tuple[World, Tracer]:
    """A world with a :class:`Tracer` listening (the same numbers as an untraced world)."""
    world = World(spec, streams)
    tracer = Tracer(world, max_ops=max_ops, start=start)
    world.listen(tracer)
    return world, tracer


def trace_replication(
    model: ModelSpec,
    *,
    seed: int = 0,
    replication: int = 0,
    max_ops: int = 200,
    start: float | None = None,
) -> Trace:
    """Simulate one replication of ``model`` with tracing on, recording ``max_ops`` operations.

    Args:
        model: the model (its own strategy runs; use ``model.with_strategy(name)`` for another).
        seed, replication: which replication (the same numbers as an untraced run).
        max_ops: operations to record; the simulation stops once they have all ended.
        start: record operations arriving at or after this instant (default: the warm-up, when
            the system has left its initial state).
    """
    begin = model.model.warmup if start is None else start
    world, tracer = traced_world(model, RandomStreams(seed, replication), max_ops=max_ops, start=begin)
    with contextlib.suppress(_TraceComplete):
        world.run()
    return Trace(
        model=model.model.name,
        strategy=model.strategy.label or model.strategy.kind,
        seed=seed,
        replication=replication,
        start=begin,
        ops=tracer.traced,
        instants=tracer.instants,
    )
