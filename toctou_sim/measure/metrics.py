"""Counters and streaming histograms of one replication.

Memory does not grow with the number of operations: durations are buffered in a short Python
list and folded into a fixed array of log-spaced bins (about 0.5% relative resolution from 1 µs
to 10^6 s) whenever the buffer fills.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from toctou_sim.spec.model import ModelSpec

__all__ = ["OUTCOMES", "ErrorTimeline", "Histogram", "Recorder", "ReplicationResult", "TimeWeighted"]



class Operation(Protocol):
    """What the recorder reads of an operation (the world's
    :class:`~toctou_sim.world.operation.Operation`, one layer up, has these and more)."""

    arrival: float
    counted: bool
    t_check: float
    partial: bool
    stale: bool
    raced: bool
    mismatched: bool
    duplicate: bool
    left_orphan: bool


OK, DECLINED, ABORTED, VIOLATED, UNFINISHED = 0, 1, 2, 3, 4
OUTCOMES = ("ok", "declined", "aborted", "violated", "unfinished")
"""How an operation ends. ``declined`` (the answer was no: sold out, name taken) is a kind of
``ok``; ``unfinished`` operations were still running when the replication ended (charged as
timeouts)."""


class Histogram:
    """A streaming histogram of non-negative durations in seconds, with log-spaced bins."""

    LOW = 1e-6
    BINS_PER_DECADE = 200
    DECADES = 12
    _FLUSH = 8192

    __slots__ = ("_buffer", "count", "counts", "maximum", "total", "zeros")

    def __init__(self) -> None:
        self.counts: NDArray[np.int64] = np.zeros(self.BINS_PER_DECADE * self.DECADES + 1, dtype=np.int64)
        self.zeros = 0
        self.count = 0
        self.total = 0.0
        self.maximum = 0.0
        self._buffer: list[float] = []

    def add(self, value: float) -> None:
        """Record one duration."""
        buffer = self._buffer
        buffer.append(value)
        if len(buffer) >= self._FLUSH:
            self.flush()

    def add_many(self, values: NDArray[np.float64]) -> None:
        """Record many durations, in order: the same result as calling :meth:`add` on each."""
        values = np.asarray(values, dtype=np.float64)
        start = 0
        if self._buffer:
            start = min(values.size, self._FLUSH - len(self._buffer))
            self._buffer.extend(values[:start].tolist())
            if len(self._buffer) >= self._FLUSH:
                self.flush()
        while values.size - start >= self._FLUSH:
            self._fold(values[start : start + self._FLUSH])
            start += self._FLUSH
        if start < values.size:
            self._buffer.extend(values[start:].tolist())

    def flush(self) -> None:
        """Fold buffered values into the bins."""
        if not self._buffer:
            return
        values = np.asarray(self._buffer, dtype=np.float64)
        self._buffer = []
        self._fold(values)

    def _fold(self, values: NDArray[np.float64]) -> None:
        self.count += values.size
        self.total += float(values.sum())
        self.maximum = max(self.maximum, float(values.max()))
        below = values < self.LOW
        self.zeros += int(below.sum())
        positive = values[~below]
        index = np.floor(np.log10(positive / self.LOW) * self.BINS_PER_DECADE).astype(np.int64)
        np.clip(index, 0, self.counts.size - 1, out=index)
        self.counts += np.bincount(index, minlength=self.counts.size)

    def merge(self, other: Histogram) -> None:
        """Add another histogram's observations to this one."""
        self.flush()
        other.flush()
        self.counts += other.counts
        self.zeros += other.zeros
        self.count += other.count
        self.total += other.total
        self.maximum = max(self.maximum, other.maximum)

    @property
    def mean(self) -> float:
        """Exact mean of the recorded values (``nan`` when empty)."""
        self.flush()
        return self.total / self.count if self.count else math.nan

    def quantile(self, q: float) -> float:
        """The q-quantile, at the geometric centre of its bin (``nan`` when empty)."""
        self.flush()
        if not self.count:
            return math.nan
        rank = q * self.count
        if rank <= self.zeros:
            return 0.0
        cumulative = np.cumsum(self.counts) + self.zeros
        index = int(np.searchsorted(cumulative, rank, side="left"))
        index = min(index, self.counts.size - 1)
        centre = self.LOW * 10 ** ((index + 0.5) / self.BINS_PER_DECADE)
        return min(centre, self.maximum)


class ErrorTimeline:
    """Counts of finished operations and of errors in fixed-width bins of simulated time.

    An operation is binned by the instant it ends. Memory is one pair of integer lists sized by
    the simulated span, independent of the number of operations; the hot path is one index
    computation and at most two list increments. Burn rates over any window and multi-window
    alerts are computed from these bins afterwards (:mod:`toctou_sim.measure.budget`).
    """

    __slots__ = ("errors", "inverse_width", "ops", "width")

    def __init__(self, width: float, span: float) -> None:
        if width <= 0:
            raise ValueError(f"bin width must be > 0, got {width!r}")
        self.width = width
        """Bin width in seconds: bin ``i`` covers ``[i * width, (i + 1) * width)``."""
        self.inverse_width = 1.0 / width
        size = math.ceil(span / width) + 1
        self.ops: list[int] = [0] * size
        """Counted operations that ended in each bin."""
        self.errors: list[int] = [0] * size
        """Of those, the errors (violated, aborted or slower than the latency threshold)."""

    def grow(self, index: int) -> None:
        """Extend the bins to hold ``index`` (an operation ended after the expected span)."""
        extra = index + 1 - len(self.ops)
        if extra > 0:
            self.ops.extend([0] * extra)
            self.errors.extend([0] * extra)

    def arrays(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The bins as numpy arrays ``(ops, errors)``."""
        return np.asarray(self.ops, dtype=np.int64), np.asarray(self.errors, dtype=np.int64)


class TimeWeighted:
    """The time-average of a level (orphans alive, units reserved) over ``[start, end]``.

    ``change(now, delta)`` moves the level; only the part of the timeline inside the window
    counts, so warm-up and drain are excluded.
    """

    __slots__ = ("_area", "_last", "end", "level", "peak", "start")

    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.end = end
        self.level = 0
        self.peak = 0
        self._area = 0.0
        self._last = start

    def _advance(self, now: float) -> None:
        t = min(max(now, self.start), self.end)
        if t > self._last:
            self._area += self.level * (t - self._last)
            self._last = t

    def change(self, now: float, delta: int) -> None:
        """The level moved by ``delta`` at ``now``."""
        self._advance(now)
        self.level += delta
        if self.level > self.peak:
            self.peak = self.level

    def mean(self) -> float:
        """The time-average of the level over the whole window (call after the run)."""
        self._advance(self.end)
        span = self.end - self.start
        return self._area / span if span > 0 else math.nan


@dataclass
class Recorder:
    """What one replication counts. The world calls it on the hot path, so it is plain attributes.

    Identities (tested): ``ok + aborted + violated + unfinished == operations`` (declined is part
    of ok) and ``mismatches == conflicts + violations``.

    Errors charged to the SLO: every violated, aborted or unfinished operation, and every ok one
    slower than ``latency_threshold`` (``slow``); each operation counts at most once.
    ``race_aborts`` are aborts of operations whose use had been rejected by the store or a
    re-check (the race was caught but the retries ran out), as opposed to lock-wait timeouts.
    ``orphaned`` operations ended without their result after leaving a partial effect behind
    (a create that failed half-way, then found its own orphan): aborted, whatever the retry
    saw.
    """

    warmup: float = 0.0
    operations: int = 0
    ok: int = 0
    declined: int = 0
    aborted: int = 0
    violated: int = 0
    attempts: int = 0
    mismatches: int = 0
    mismatches_stale: int = 0
    conflicts: int = 0
    spurious_rejections: int = 0
    violations: int = 0
    retries: int = 0
    stale_checks: int = 0
    duplicate_deliveries: int = 0
    duplicate_effects: int = 0
    partial_creates: int = 0
    latency: Histogram = field(default_factory=Histogram)
    window: Histogram = field(default_factory=Histogram)
    lock_wait: Histogram = field(default_factory=Histogram)
    latency_threshold: float = math.inf
    slow: int = 0
    race_aborts: int = 0
    unfinished: int = 0
    orphaned: int = 0
    operations_mismatched: int = 0
    """Operations with at least one mismatched attempt (guide M1's numerator)."""
    request_latency_total: float = 0.0
    """Summed latency of first deliveries (every request once: the guide's M8 pairs these)."""
    requests: int = 0
    turned_away_duplicates: int = 0
    """Aborted redelivered or retried copies of a request: the mitigation answering a duplicate
    (e.g. an idempotency 409), not an error of the request, so not charged to the SLO."""
    timeline: ErrorTimeline = field(default_factory=lambda: ErrorTimeline(1.0, 60.0))

    @classmethod
    def for_model(cls, spec: ModelSpec) -> Recorder:
        """A recorder with the model's warm-up, SLO latency threshold and timeline bins."""
        horizon = spec.model.horizon
        width = spec.slo.timeline_bin or min(60.0, horizon / 100)
        threshold = spec.slo.latency_threshold
        return cls(
            warmup=spec.model.warmup,
            latency_threshold=threshold if threshold is not None else math.inf,
            timeline=ErrorTimeline(width, 2 * horizon),
        )

    # ------------------------------------------------------------- the world's hooks
    # The recorder listens to the world (see toctou_sim.world.observer) and counts what it is
    # told of counted operations; nothing else writes its counters during a replication.

    def checked(self, op: Operation, held: bool, outdated: bool) -> None:
        """An attempt's check: one attempt, stale if the observation was older than the truth."""
        if op.counted:
            self.attempts += 1
            if outdated:
                self.stale_checks += 1

    def judged(self, op: Operation, now: float, accepted: bool, holds: bool, duplicate: bool) -> None:
        """A use judged: its window, and whether it was a mismatch (the precondition false on the
        truth, or a second effect of one request), a violation (applied anyway), a conflict
        (refused), or a spurious refusal (refused although the precondition held)."""
        if not op.counted:
            return
        buffer = self.window._buffer  # Histogram.add, inlined (once per use)
        buffer.append(now - op.t_check)
        if len(buffer) >= Histogram._FLUSH:
            self.window.flush()
        if accepted:
            if op.partial:
                self.partial_creates += 1
            if duplicate:
                self.duplicate_effects += 1
                holds = False
        if not holds:
            self.mismatches += 1
            if accepted:
                self.violations += 1
            else:
                self.conflicts += 1
            if op.stale:
                self.mismatches_stale += 1
        elif not accepted:
            self.spurious_rejections += 1

    def caught(self, op: Operation) -> None:
        """A mismatch caught before any use: an attempt, a mismatch, a conflict."""
        if op.counted:
            self.attempts += 1
            self.mismatches += 1
            self.conflicts += 1

    def lock_waited(self, op: Operation, wait: float) -> None:
        """A lock wait."""
        if op.counted:
            self.lock_wait.add(wait)

    def window_measured(self, op: Operation, seconds: float) -> None:
        """A window measured on ``op``'s behalf."""
        if op.counted:
            self.window.add(seconds)

    def tallied(self, op: Operation, attempts: int, violated: bool, conflicted: bool) -> None:
        """An operation settled by attempts made elsewhere, counted once."""
        if not op.counted:
            return
        self.attempts += attempts
        if violated or conflicted:
            self.mismatches += 1
            if violated:
                self.violations += 1
            else:
                self.conflicts += 1

    def retried(self, op: Operation) -> None:
        """A rejected attempt is retried."""
        if op.counted:
            self.retries += 1

    def redelivered(self, op: Operation) -> None:
        """A request was delivered again."""
        if op.counted:
            self.duplicate_deliveries += 1

    def finished(self, op: Operation, outcome: int, now: float) -> None:
        """An operation ended with ``outcome`` (ok, declined, aborted, violated or unfinished); only
        counted operations are recorded (one method, not a hook calling a counter: this runs once
        per operation)."""
        if not op.counted:
            return
        self.operations += 1
        latency = now - op.arrival
        error = True
        if op.left_orphan and outcome == 1:  # a partial create, then its retry found the orphan
            outcome = ABORTED
            self.orphaned += 1
        if outcome == 0 or outcome == 1:  # OK or DECLINED (literals: this runs once per operation)
            self.ok += 1
            if outcome == 1:
                self.declined += 1
            error = latency > self.latency_threshold
            if error:
                self.slow += 1
        elif outcome == ABORTED:
            self.aborted += 1
            if op.duplicate and not op.left_orphan:
                self.turned_away_duplicates += 1
                error = False
            elif op.raced:
                self.race_aborts += 1
        elif outcome == UNFINISHED:
            self.unfinished += 1
        else:
            self.violated += 1
        if op.mismatched:
            self.operations_mismatched += 1
        if not op.duplicate:
            self.requests += 1
            self.request_latency_total += latency
        buffer = self.latency._buffer  # Histogram.add, inlined
        buffer.append(latency)
        if len(buffer) >= Histogram._FLUSH:
            self.latency.flush()
        timeline = self.timeline
        index = int(now * timeline.inverse_width)
        try:
            timeline.ops[index] += 1
            if error:
                timeline.errors[index] += 1
        except IndexError:
            timeline.grow(index)
            timeline.ops[index] += 1
            if error:
                timeline.errors[index] += 1

    finish = finished
    """The same as :meth:`finished` (the world charges operations still running at the end
    through it)."""


@dataclass(frozen=True)
class ReplicationResult:
    """The outcome of one replication: named metrics plus the histograms behind the percentiles."""

    replication: int
    seed: int
    strategy: str
    metrics: dict[str, float]
    histograms: dict[str, Histogram] = field(repr=False, compare=False)
    timeline: ErrorTimeline | None = field(default=None, repr=False, compare=False)
    """Finished operations and errors over simulated time (for burn rates and alerts)."""

    @classmethod
    def from_recorder(
        cls,
        recorder: Recorder,
        *,
        replication: int,
        seed: int,
        strategy: str,
        measured_time: float,
        extra: dict[str, float],
    ) -> ReplicationResult:
        """Turn raw counts into rates (per counted operation) and percentiles (milliseconds)."""
        r = recorder
        n = r.operations
        per_op = (lambda x: x / n) if n else (lambda x: math.nan)
        errors = r.violated + r.aborted - r.turned_away_duplicates + r.slow + r.unfinished
        metrics: dict[str, float] = {
            "operations": float(n),
            "attempts": float(r.attempts),
            "ok": float(r.ok),
            "mismatches": float(r.mismatches),
            "conflicts": float(r.conflicts),
            "violations": float(r.violations),
            "aborts": float(r.aborted),
            "ok_rate": per_op(r.ok),
            "declined_rate": per_op(r.declined),
            "abort_rate": per_op(r.aborted),
            "violation_rate": per_op(r.violations),
            "mismatch_rate": per_op(r.operations_mismatched),
            "attempt_mismatch_rate": per_op(r.mismatches),
            "request_latency_mean_ms": r.request_latency_total / r.requests * 1e3 if r.requests else math.nan,
            "mismatch_stale_rate": per_op(r.mismatches_stale),
            "mismatch_window_rate": per_op(r.mismatches - r.mismatches_stale),
            "conflict_rate": per_op(r.conflicts),
            "spurious_rejection_rate": per_op(r.spurious_rejections),
            "retries": float(r.retries),
            "retry_rate": per_op(r.retries),
            "stale_check_rate": (r.stale_checks / r.attempts) if r.attempts else math.nan,
            "throughput_ops_s": r.ok / measured_time if measured_time > 0 else math.nan,
            "errors": float(errors),
            "latency_breach_rate": per_op(r.slow),
            "unfinished_rate": per_op(r.unfinished),
            "unfinished_operations": float(r.unfinished),
            "orphaned_request_rate": per_op(r.orphaned),
            "error_rate": per_op(errors),
            "turned_away_duplicate_rate": per_op(r.turned_away_duplicates),
            "race_error_rate": per_op(r.violated + r.race_aborts),
            "race_abort_rate": per_op(r.race_aborts),
            "duplicate_deliveries": float(r.duplicate_deliveries),
            "duplicate_effects": float(r.duplicate_effects),
            "duplicate_effect_rate": per_op(r.duplicate_effects),
            "partial_creates": float(r.partial_creates),
            "partial_create_rate": per_op(r.partial_creates),
        }
        for name, histogram, quantiles in (
            ("latency", r.latency, (0.5, 0.9, 0.99, 0.999)),
            ("window", r.window, (0.5, 0.99)),
            ("lock_wait", r.lock_wait, (0.5, 0.99)),
        ):
            if name != "latency" and histogram.count == 0 and not histogram._buffer:
                continue
            metrics[f"{name}_mean_ms"] = histogram.mean * 1e3
            for q in quantiles:
                label = f"p{q * 100:g}".replace(".", "")
                metrics[f"{name}_{label}_ms"] = histogram.quantile(q) * 1e3
        metrics.update(extra)
        histograms = {"latency": r.latency, "window": r.window, "lock_wait": r.lock_wait}
        return cls(replication=replication, seed=seed, strategy=strategy, metrics=metrics,
                   histograms=histograms, timeline=r.timeline)
