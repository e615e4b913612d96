"""Tracing one short replication: every operation's check, window and use as spans.

Tracing is an observer that costs nothing when it is off: :class:`TracedWorld` is a subclass of
:class:`~toctou_sim.world.engine.World` that overrides the steps strategies call (``check``,
``wait_window``, ``decide``, ``finish``) and wraps the strategy's ``operate`` and ``mutate``
once at construction. The plain ``World`` is untouched, so untraced runs pay nothing.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import simpy

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.measure.metrics import OUTCOMES
from toctou_sim.spec.model import ModelSpec
from toctou_sim.world.engine import Flow, Operation, World

__all__ = ["Instant", "OpTrace", "Span", "Trace", "TracedWorld", "trace_replication"]


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


class TracedWorld(World):
    """A world that records the first ``max_ops`` operations arriving at or after ``start``."""

    def __init__(self, spec: ModelSpec, streams: RandomStreams, max_ops: int = 200, start: float = 0.0) -> None:
        self.traced: list[OpTrace] = []
        self.instants: list[Instant] = []
        self._by_process: dict[simpy.Process | None, OpTrace] = {}
        self._max_ops = max_ops
        self._trace_start = start
        self._finished = 0
        super().__init__(spec, streams)
        self._wait_label = "lock wait" if self.spec.strategy.kind == "lock" else "wait"
        operate = self.strategy.operate
        mutate = self.strategy.mutate

        def traced_operate(op: Operation) -> Flow:
            if op.arrival >= self._trace_start and len(self.traced) < self._max_ops:
                record = OpTrace(len(self.traced), op.key, op.arrival, attempt_start=op.arrival)
                self.traced.append(record)
                self._by_process[self.env.active_process] = record
            return (yield from operate(op))

        def traced_mutate(key: int, apply: Callable[[], None]) -> None:
            def applied() -> None:
                apply()
                if self.env.now >= self._trace_start:
                    self.instants.append(
                        Instant(
                            "mutation",
                            self.env.now,
                            key,
                            {"version": self.store.version[key], "value": self.store.value[key]},
                        )
                    )

            mutate(key, applied)

        self.strategy.operate = traced_operate  # type: ignore[method-assign]
        self.strategy.mutate = traced_mutate  # type: ignore[method-assign]
        for fault in self.faults:
            self._trace_fault(fault)

    def _trace_fault(self, fault: Any) -> None:
        """Record a fault's interval starts and ends as instants (faults with ``begin``/``end``
        hooks, i.e. every scheduled fault); other faults are not traced."""
        begin = getattr(fault, "begin", None)
        end = getattr(fault, "end", None)
        if begin is None or end is None:
            return
        kind = getattr(fault.spec, "kind", type(fault).__name__)

        def traced_begin(actor: Any, duration: float, first: bool) -> None:
            begin(actor, duration, first)
            if first:
                self.instants.append(
                    Instant(
                        f"{kind} begins",
                        self.env.now,
                        None,
                        {"target": getattr(actor, "name", "?"), "duration_ms": duration * 1e3},
                    )
                )

        def traced_end(actor: Any, last: bool) -> None:
            end(actor, last)
            if last:
                self.instants.append(
                    Instant(f"{kind} ends", self.env.now, None, {"target": getattr(actor, "name", "?")})
                )

        fault.begin = traced_begin
        fault.end = traced_end

    def _record(self) -> OpTrace | None:
        return self._by_process.get(self.env.active_process)

    def check(self, op: Operation, latency: float) -> Flow:
        record = self._record()
        if record is None:
            return (yield from super().check(op, latency))
        start = self.env.now
        if start > record.attempt_start:
            label = self._wait_label if op.retries == 0 else "retry wait"
            record.spans.append(Span(label, record.attempt_start, start, {"attempt": op.retries + 1}))
        held = yield from super().check(op, latency)
        record.check_end = self.env.now
        record.window_end = math.nan
        record.spans.append(
            Span(
                "check",
                start,
                self.env.now,
                {
                    "attempt": op.retries + 1,
                    "seen_version": op.seen_version,
                    "seen_value": op.seen_value,
                    "precondition_held": bool(held),
                    "stale": op.stale,
                },
            )
        )
        if not held:
            record.attempt_start = self.env.now
        return held

    def wait_window(self, window: float) -> Flow:
        yield from super().wait_window(window)
        record = self._record()
        if record is not None:
            record.window_end = self.env.now
            record.spans.append(Span("window", record.check_end, self.env.now, {"window_ms": window * 1e3}))

    def decide(self, op: Operation, accepted: bool) -> int:
        record = self._record()
        if record is None:
            return super().decide(op, accepted)
        holds = self.store.holds(op.key, op.seen_version)
        outcome = super().decide(op, accepted)
        accepted = self.last_accepted
        begin = record.window_end if not math.isnan(record.window_end) else record.check_end
        record.spans.append(
            Span(
                "use",
                begin,
                self.env.now,
                {
                    "attempt": op.retries + 1,
                    "accepted": accepted,
                    "mismatch": not holds,
                    "violation": accepted and not holds,
                    "conflict": (not accepted) and not holds,
                    "version_now": self.store.version[op.key],
                    "seen_version": op.seen_version,
                },
            )
        )
        record.attempt_start = self.env.now
        return outcome

    def finish(self, op: Operation, outcome: int) -> None:
        record = self._by_process.pop(self.env.active_process, None)
        super().finish(op, outcome)
        if record is None:
            return
        now = self.env.now
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
    world = TracedWorld(model, RandomStreams(seed, replication), max_ops=max_ops, start=begin)
    with contextlib.suppress(_TraceComplete):
        world.run()
    return Trace(
        model=model.model.name,
        strategy=model.strategy.label or model.strategy.kind,
        seed=seed,
        replication=replication,
        start=begin,
        ops=world.traced,
        instants=world.instants,
    )
