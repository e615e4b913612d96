"""Runs one replication on the event kernel (:mod:`toctou_sim.engines.kernel`): builds its arrays from the
model and the named random streams, refills them while the kernel runs, and turns its counters
and logs into the same :class:`ReplicationResult` the DES engine gives."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from toctou_sim.core.distributions import (
    Constant,
    Distribution,
    Exponential,
    KeyChooser,
    LogNormal,
    RandomStreams,
    Uniform,
)
from toctou_sim.engines import kernel as K
from toctou_sim.measure.metrics import Histogram, Recorder, ReplicationResult, TimeWeighted
from toctou_sim.spec.model import ModelSpec, Zipf
from toctou_sim.world.engine import BACKLOG_SAMPLES, backlog_metrics
from toctou_sim.world.invariants import INVARIANTS
from toctou_sim.world.ledger import EffectLedger

__all__ = ["KERNEL_STRATEGIES", "run_kernel", "warm_up"]

KERNEL_STRATEGIES = {"none": K.STRAT_NONE, "recheck": K.STRAT_RECHECK, "cas": K.STRAT_CAS,
                     "reservation": K.STRAT_RESERVATION, "lock": K.STRAT_LOCK}
_FENCING = {False: K.FENCE_NONE, True: K.FENCE_READS, "writes": K.FENCE_WRITES}
_INVARIANTS = {"exists": K.INV_EXISTS, "counter": K.INV_COUNTER, "grant": K.INV_GRANT,
               "version": K.INV_VERSION, "unchanged": K.INV_UNCHANGED}
_ACTIONS = {"create": K.ACT_SET1, "grant": K.ACT_SET1, "delete": K.ACT_SET0, "revoke": K.ACT_SET0,
            "restock": K.ACT_ADD, "consume": K.ACT_CONSUME, "bump": K.ACT_KEEP}
_POLICIES = {"invalidate": K.POLICY_INVALIDATE, "write_through": K.POLICY_WRITE_THROUGH, "none": K.POLICY_NONE}
_JITTER = {"none": K.JITTER_NONE, "full": K.JITTER_FULL, "equal": K.JITTER_EQUAL}
_GUARDS = {"none": K.GUARD_NONE, "version": K.GUARD_VERSION, "predicate": K.GUARD_PREDICATE}
_CAP = 1 << 15
"""Values buffered per random stream at most (memory stays flat in the number of operations)."""
_BLOCK = 4096
"""VariateStream's block size: the kernel's streams are the concatenation of blocks this long."""
_LOG = 1 << 14
"""Durations logged before they are folded into the recorder's histograms (at least two of
Histogram's chunks: a drain leaves less than one behind)."""

Source = Callable[[int], NDArray[Any]]


def _zipf(popularity: Any) -> float | None:
    return popularity.zipf if isinstance(popularity, Zipf) else None


class _Blocks:
    """The values of one named stream as :class:`VariateStream` (or :class:`KeyChooser`) hands
    them out, the concatenation of its 4096-value blocks, taken ``n`` at a time. ``draw(k)``
    gives the stream's next ``k`` blocks, concatenated. The leftover of a block stays an array
    (``take`` would turn it into a list and back)."""

    __slots__ = ("_draw", "_rest")

    def __init__(self, draw: Callable[[int], NDArray[Any]]) -> None:
        self._draw = draw
        self._rest: NDArray[Any] | None = None

    def __call__(self, n: int) -> NDArray[Any]:
        rest = self._rest
        have = 0 if rest is None else rest.size
        if rest is not None and have >= n:
            self._rest = rest[n:]
            return rest[:n]
        fresh = self._draw(-(-(n - have) // _BLOCK))
        values = np.concatenate((rest, fresh)) if rest is not None and have else fresh
        self._rest = values[n:]
        return values[:n]


_SEQUENTIAL = (Exponential, LogNormal, Uniform)
"""Distributions whose ``sample(rng, k * 4096)`` is ``k`` calls of ``sample(rng, 4096)`` end to
end: numpy's Generator draws them value by value from the bit generator, keeping nothing between
calls (not so for ``integers``, which buffers half-words within a call, or for mixtures)."""


def _variates(streams: RandomStreams, name: str, distribution: Distribution) -> Source:
    """``streams.variates(name, distribution).take``, drawn in the same blocks. The stream's
    Generator is only made when its first block is drawn."""
    if isinstance(distribution, Constant):
        value = distribution.value
        return lambda n: np.full(n, value)
    rng: list[np.random.Generator] = []
    sequential = type(distribution) in _SEQUENTIAL

    def draw(blocks: int) -> NDArray[np.float64]:
        if not rng:
            rng.append(streams.generator(name))
        if sequential or blocks == 1:  # one call draws the blocks (fewer Python round trips)
            return distribution.sample(rng[0], blocks * _BLOCK)
        return np.concatenate([distribution.sample(rng[0], _BLOCK) for _ in range(blocks)])

    return _Blocks(draw)


def _keys(streams: RandomStreams, name: str, count: int, zipf: float | None) -> Source:
    """``streams.keys(name, count, zipf).take``, drawn in the same blocks. Zipf keys map a block
    of uniforms value by value (KeyChooser._zipf_index, or its compiled loop), so several blocks
    are drawn at once."""
    if count == 1:
        return lambda n: np.zeros(n, dtype=np.int64)
    chooser: list[KeyChooser] = []

    def draw(blocks: int) -> NDArray[np.int64]:
        if not chooser:
            chooser.append(streams.keys(name, count, zipf))
        keys = chooser[0]
        if zipf is not None and keys._cdf is not None and keys._guide is not None:
            u = keys._rng.random(blocks * _BLOCK)
            if not K.COMPILED:
                return keys._zipf_index(u).astype(np.int64, copy=False)
            out = np.empty(u.size, dtype=np.int64)
            K.zipf_index(u, keys._cdf, keys._guide, keys._scale, out)
            return out
        parts = [keys.block().astype(np.int64, copy=False) for _ in range(blocks)]
        return parts[0] if blocks == 1 else np.concatenate(parts)

    return _Blocks(draw)


class _Jitter:
    """The retry-jitter stream as World.uniform hands it out: blocks of 1024, each used backwards."""

    def __init__(self, streams: RandomStreams) -> None:
        self._streams = streams
        self._rng: np.random.Generator | None = None
        self._left = np.empty(0)

    def __call__(self, n: int) -> NDArray[np.float64]:
        if self._rng is None:
            self._rng = self._streams.generator("retry.jitter")
        parts = [self._left]
        have = self._left.size
        while have < n:
            block = self._rng.random(1024)[::-1]
            parts.append(block)
            have += block.size
        values = np.concatenate(parts)
        self._left = values[n:]
        return values[:n]


def _can_reject(kind: str, guard: str, invariant: str) -> bool:
    """Whether an attempt of strategy ``kind`` (the inner one, under idempotency without
    duplicates) with write guard ``guard`` can end refused-and-retryable (the kernel's REJECTED).
    A refusal on an invariant whose refusal is the answer is declined, not retried, wherever the
    precondition is false at the refusal: so the conditional write, the recheck and the
    reservation on a counter never retry, and neither does ``none`` without a guard."""
    if kind == "lock" or guard == "version":  # wait timeouts, fencing; a version compare
        return True
    if kind == "none" and guard == "none":
        return False
    if kind == "reservation" and invariant != "counter":  # its throttle refuses on value <= 0
        return True
    return not INVARIANTS[invariant].refusal_is_answer


def _gap_source(model: ModelSpec, streams: RandomStreams) -> Source:
    arrival = model.clients.arrival
    if not arrival.profile:
        return _variates(streams, "arrivals", Exponential(mean_=1.0 / arrival.poisson.rate))
    from toctou_sim.world.load import arrival_gaps

    gaps = arrival_gaps(arrival, streams)
    return lambda n: np.fromiter((gaps() for _ in range(n)), dtype=np.float64, count=n)


def _never(n: int) -> NDArray[np.float64]:
    return np.zeros(n)


class _Buffers:
    """Row-per-stream buffers the kernel consumes, refilled from their sources when low."""

    def __init__(self, sources: list[Source], first: list[int], dtype: Any, margin: int) -> None:
        self.sources = sources
        self.next = [max(margin * 2, n) for n in first]
        # zeros: the rows of streams the model never draws from stay the untouched zero pages
        # of a fresh allocation (writing 256 KiB of zeros per such row cost more than drawing)
        self.buf = np.zeros((len(sources), _CAP), dtype=dtype)
        self.pos = np.zeros(len(sources), dtype=np.int64)
        self.len = np.zeros(len(sources), dtype=np.int64)
        self.margin = margin
        for s in range(len(sources)):
            if sources[s] is _never:  # a stream this model never draws from: a full row of zeros
                self.len[s] = _CAP
            else:
                self._refill(s)

    def _refill(self, s: int) -> None:
        rest = int(self.len[s] - self.pos[s])
        if rest:
            self.buf[s, :rest] = self.buf[s, self.pos[s] : self.len[s]]
        n = min(_CAP - rest, self.next[s])
        self.buf[s, rest : rest + n] = self.sources[s](n)
        self.pos[s] = 0
        self.len[s] = rest + n
        self.next[s] = min(_CAP, self.next[s] * 4)

    def refill_low(self) -> None:
        for s in np.flatnonzero(self.len - self.pos < self.margin):
            self._refill(int(s))


def _grow(array: NDArray[Any], size: int) -> NDArray[Any]:
    bigger = np.zeros((size, *array.shape[1:]), dtype=array.dtype)
    bigger[: array.shape[0]] = array
    return bigger


_LOADED = False


def _compiles() -> bool:
    """Whether the kernel's first call will compile it: numba holds no cached copy of it yet (its
    cache index is missing). numba's cache layout is not public API: when it cannot be read, the
    answer is no (a missing notice, never a wrong one)."""
    try:
        index = K.kernel._cache._cache_file._index_path
    except AttributeError:
        return False
    return isinstance(index, str) and not os.path.exists(index)


def _load_kernel() -> Callable[..., int]:
    """The kernel, loaded: its first call loads numba's compiled code (or compiles it), and with
    it numba's whole CPU target, which probes for a BLAS by importing ``scipy.linalg`` (half a
    second; the kernel does no linear algebra). The probe is answered "no BLAS" for that first
    load unless ``scipy.linalg`` is already imported; it only makes numba's own ``np.convolve``
    and ``np.correlate`` use their loop instead of BLAS in this process."""
    global _LOADED
    if K.COMPILED and _compiles():
        print("toctou-sim: compiling the fast engine's kernel, once for this installation (about 30 s of CPU); "
              "later runs load it in a second", file=sys.stderr, flush=True)
    probe = "scipy.linalg.cython_blas"
    blocked = K.COMPILED and probe not in sys.modules
    if blocked:
        sys.modules[probe] = None  # type: ignore[assignment]  # an import of it raises ImportError
    try:
        from numba.np import arraymath  # noqa: F401  # the module that probes, imported while blocked
    except ImportError:  # pragma: no cover - numba absent: nothing to load
        pass
    finally:
        if blocked and sys.modules.get(probe, 0) is None:
            del sys.modules[probe]
    _LOADED = True
    return K.kernel  # type: ignore[no-any-return]


def _heap(n_events: int) -> NDArray[np.float64]:
    """The kernel's event heap for ``n_events`` events: rows ``(time, sequence, event)`` stored
    column by column, three spare rows, and an infinite time in every row not (yet) in the heap."""
    heap = np.zeros((n_events + 3, K.N_H), dtype=np.float64, order="F")
    heap[:, K.H_TIME] = np.inf
    return heap


def run_kernel(model: ModelSpec, replication: int, seed: int) -> ReplicationResult:
    """One replication of a model that :func:`toctou_sim.engines.fastpath.qualifies`, on the event kernel."""
    if not _LOADED:
        _load_kernel()  # before the first compiled call (the Zipf key loop): numba loads behind its probe guard
    streams = RandomStreams(seed, replication)
    spec = model
    horizon = spec.model.horizon
    cache = spec.read_path.kind == "cache"
    retry = getattr(spec.strategy, "retry", None)
    idempotency = spec.strategy.kind == "idempotency"
    outer: Any = spec.strategy
    inner: Any = outer.inner if idempotency else outer
    clients = spec.clients
    duplicates = clients.redelivery is not None or clients.timeout is not None
    partial = clients.partial_failure > 0  # a use that took effect and failed ends refused: retried
    tracked = duplicates or partial  # a request can take effect twice: the ledger tracks request ids
    max_retries = retry.max_retries if retry is not None else 0
    if not (idempotency and duplicates) and not partial and not _can_reject(inner.kind, spec.strategy.write_guard(),
                                                            spec.keys.invariant):
        max_retries = 0  # nothing is ever retried: the retry streams are never drawn from
    # values any one stream gives an event at most (an event runs at most two deliveries)
    margin = (4 if duplicates else 2) * (max_retries + 2) + 8
    n_keys = spec.keys.count
    n_mut = len(spec.mutators)

    # random streams, in the kernel's row order
    expected = int(spec.clients.arrival.poisson.rate * horizon * 1.02) + 64
    f_sources: list[Source] = [
        _gap_source(spec, streams),
        _variates(streams, "window", spec.clients.window),
        _variates(streams, "read_latency", spec.store.read_latency),
        _variates(streams, "write_latency", spec.store.write_latency),
        # a retry redraws the window and latencies, and jitters its backoff: without retries
        # these streams are never drawn from (nor their generators made)
        _variates(streams, "retry.window", spec.clients.window) if max_retries else _never,
        _variates(streams, "retry.read_latency", spec.store.read_latency) if max_retries else _never,
        _variates(streams, "retry.write_latency", spec.store.write_latency) if max_retries else _never,
        _Jitter(streams) if max_retries and retry is not None and retry.jitter != "none" else _never,
        (_variates(streams, "recheck.read_latency", spec.store.read_latency)
         if inner.kind == "recheck" else _never),
    ]
    if cache:
        rp: Any = spec.read_path
        f_sources += [
            _variates(streams, "cache.read_latency", rp.read_latency),
            _variates(streams, "cache.ttl", rp.ttl),
            _variates(streams, "cache.invalidation_delay", rp.invalidation.delay),
            _variates(streams, "cache.fill_delay", rp.fill_delay),
        ]
    else:
        f_sources += [_never] * 4
    lock = inner.kind == "lock"
    ls: Any = inner
    f_sources.append(_variates(streams, "lock.acquire_latency", ls.acquire_latency) if lock else _never)
    f_sources.append(_variates(streams, "idempotency.lookup_latency", outer.dedupe.lookup_latency)
                     if idempotency else _never)
    unit = Uniform(low=0.0, high=1.0)
    redelivery = clients.redelivery
    eventual = idempotency and duplicates and outer.dedupe.consistency == "eventual"
    f_sources += [
        _variates(streams, "redelivery.draw", unit) if redelivery is not None else _never,
        _variates(streams, "redelivery.delay", redelivery.delay) if redelivery is not None else _never,
        _variates(streams, "duplicate.window", clients.window) if duplicates else _never,
        _variates(streams, "duplicate.read_latency", spec.store.read_latency) if duplicates else _never,
        _variates(streams, "duplicate.write_latency", spec.store.write_latency) if duplicates else _never,
        _variates(streams, "idempotency.visibility_lag", outer.dedupe.visibility_lag) if eventual else _never,
        _variates(streams, "use.partial_failure", unit) if partial else _never,
        _variates(streams, "retry.partial_failure", unit) if partial and max_retries else _never,
        _variates(streams, "duplicate.partial_failure", unit) if partial and duplicates else _never,
    ]
    assert len(f_sources) == K.S_MUTATOR
    k_sources: list[Source] = [_keys(streams, "keys", n_keys, _zipf(spec.keys.popularity))]
    for index, mutator in enumerate(spec.mutators):
        f_sources.append(_variates(streams, f"mutator.{index}.arrivals", Exponential(mean_=1.0 / mutator.rate)))
        popularity = mutator.popularity if mutator.popularity is not None else spec.keys.popularity
        k_sources.append(_keys(streams, f"mutator.{index}.keys", n_keys, _zipf(popularity)))
    first = [64] * len(f_sources)
    for s in (K.S_GAP, K.S_WINDOW, K.S_READ, K.S_WRITE):
        first[s] = min(_CAP, expected)
    if cache:
        first[K.S_CLOOKUP] = min(_CAP, expected)
    if redelivery is not None:
        first[K.S_RDRAW] = min(_CAP, expected)
    if partial:
        first[K.S_PARTIAL] = min(_CAP, expected)
    fb = _Buffers(f_sources, first, np.float64, margin)
    kb = _Buffers(k_sources, [min(_CAP, expected)] + [64] * n_mut, np.int64, margin)

    # registers
    recorder = Recorder.for_model(spec)
    I = np.zeros(K.N_IREG, dtype=np.int64)
    F = np.zeros(K.N_FREG, dtype=np.float64)
    C = np.zeros(K.N_COUNTERS, dtype=np.int64)
    I[K.R_NKEYS] = n_keys
    I[K.R_INV] = _INVARIANTS[spec.keys.invariant]
    I[K.R_STRAT] = KERNEL_STRATEGIES[inner.kind]
    I[K.R_IDEMPOTENCY] = idempotency
    I[K.R_DUPS] = tracked
    I[K.R_RQ_BY_ROW] = tracked and not duplicates
    I[K.R_PARTIAL] = partial
    F[K.F_PARTIAL_P] = clients.partial_failure
    F[K.F_ORPHAN_LAST] = spec.model.warmup  # TimeWeighted starts at the warm-up
    I[K.R_WITH_EFFECT] = idempotency and outer.record_with_effect
    I[K.R_NEXT_RID] = 0
    if redelivery is not None:
        I[K.R_REDELIVER] = 1
        F[K.F_REDELIVER_P] = redelivery.probability
    if clients.timeout is not None:
        I[K.R_TIMEOUT_MAX] = clients.timeout.max_retries
        F[K.F_TIMEOUT_AFTER] = clients.timeout.after
    if idempotency:
        I[K.R_STRONG] = outer.dedupe.consistency == "strong"
        F[K.F_DEDUPE_TTL] = outer.dedupe.ttl if outer.dedupe.ttl is not None else math.inf
    I[K.R_MAXRETRY] = max_retries
    I[K.R_GUARD] = _GUARDS[spec.strategy.write_guard()]
    I[K.R_ANSWER] = INVARIANTS[spec.keys.invariant].refusal_is_answer
    # World.run samples the backlog at these instants (env.run(until=...) before each)
    warmup = spec.model.warmup
    step = (horizon - warmup) / BACKLOG_SAMPLES
    I[K.R_NSAMPLES] = BACKLOG_SAMPLES
    for index in range(1, BACKLOG_SAMPLES + 1):
        F[K.F_SAMPLE + index - 1] = warmup + step * index if index < BACKLOG_SAMPLES else horizon
    I[K.R_HAS_RETRY] = retry is not None
    I[K.R_JITTER] = _JITTER[retry.jitter] if retry is not None else K.JITTER_NONE
    I[K.R_CACHE] = cache
    I[K.R_CAPACITY] = -1
    if cache:
        I[K.R_POLICY] = _POLICIES[rp.write_policy]
        I[K.R_CAPACITY] = rp.capacity if rp.capacity is not None else -1
        I[K.R_CACHE_ABSENT] = rp.negative_caching or spec.keys.invariant != "exists"
        I[K.R_ASSUME_ABSENT] = rp.on_miss == "assume_absent"
    I[K.R_NMUT] = n_mut
    reservation = inner.kind == "reservation"
    ttl = getattr(inner, "ttl", None) if reservation else None
    I[K.R_HAS_TTL] = ttl is not None
    F[K.F_TTL] = ttl if ttl is not None else 0.0
    F[K.F_HELD_LAST] = spec.model.warmup  # TimeWeighted starts at the warm-up
    I[K.R_HOLD_SERIAL] = 1
    I[K.R_NEXT_TOKEN] = 1
    if lock:
        I[K.R_HAS_LEASE] = ls.lease_ttl is not None
        F[K.F_LEASE] = ls.lease_ttl if ls.lease_ttl is not None else 0.0
        I[K.R_HAS_WTIMEOUT] = ls.wait_timeout is not None
        F[K.F_WTIMEOUT] = ls.wait_timeout if ls.wait_timeout is not None else 0.0
        I[K.R_FENCING] = _FENCING[ls.fencing]
        I[K.R_MUT_LOCK] = ls.mutators_take_lock
    I[K.R_MARGIN] = margin
    I[K.R_NFS] = len(f_sources)
    I[K.R_NKS] = len(k_sources)
    F[K.F_HORIZON] = horizon
    F[K.F_END] = 2 * horizon
    F[K.F_WARMUP] = spec.model.warmup
    F[K.F_THRESHOLD] = recorder.latency_threshold
    if retry is not None:
        F[K.F_BACKOFF] = retry.backoff
        F[K.F_MULT] = retry.multiplier
        F[K.F_MAXBACKOFF] = retry.max_backoff

    # operations, keys, events, logs
    n_ops = 1024
    OI = np.zeros((n_ops, K.N_OI), dtype=np.int64)
    OF = np.zeros((n_ops, K.N_OF), dtype=np.float64)
    OFREE = np.arange(n_ops - 1, -1, -1, dtype=np.int64)
    I[K.R_NFREE_OP] = n_ops
    KI = np.zeros((n_keys + 1, K.N_KI), dtype=np.int64)
    KF = np.zeros((n_keys, 2), dtype=np.float64)
    KI[:n_keys, K.K_VALUE] = spec.keys.initial_value
    KI[n_keys, K.K_PREV] = KI[n_keys, K.K_NEXT] = n_keys  # the empty LRU list
    KI[:, K.K_WHEAD] = KI[:, K.K_WTAIL] = -1  # empty lock queues
    MUT = np.zeros((max(n_mut, 1), 2), dtype=np.int64)
    for index, mutator in enumerate(spec.mutators):
        MUT[index] = (_ACTIONS[mutator.action], mutator.amount)
    # requests by id (the ledger's flag, the dedupe store's entry): only with duplicate deliveries
    # with partial failures alone a request is one operation: its state lives in the operation's row
    n_req = n_ops if tracked and not duplicates else min(expected, 1 << 16) if tracked else 1
    RQ = np.zeros((n_req, K.N_Q), dtype=np.int64)
    RQF = np.zeros((n_req, 2), dtype=np.float64)
    n_ev = 1024
    EI = np.zeros((n_ev, 5), dtype=np.int64)
    EF = np.zeros((n_ev, 2), dtype=np.float64)
    EFREE = np.arange(n_ev - 1, -1, -1, dtype=np.int64)
    HEAP = _heap(n_ev)
    I[K.R_NFREE_EV] = n_ev
    n_log = max(_LOG, Histogram._FLUSH + 4 * margin)
    LF = np.empty((n_log, 2), dtype=np.float64)
    LE = np.empty(n_log, dtype=np.int64)
    WL = np.empty(n_log, dtype=np.float64)
    AL = np.empty(n_log, dtype=np.float64)
    LW = np.empty(n_log, dtype=np.float64)
    age = Histogram()

    # The logs hold what the kernel logged since the last drain, after the remainder (fewer
    # than a fold's worth) of the values already logged: a drain folds whole chunks of
    # Histogram._FLUSH values straight into the histograms (the chunks Histogram.add would fold,
    # so the sums are the same to the last bit) and moves the remainder to the front.
    timed = [0]  # latency entries already in the error timeline

    def drain(last: bool = False) -> None:
        n = int(I[K.R_NLAT])
        if n > timed[0]:
            timeline = recorder.timeline
            index = (LF[timed[0] : n, 0] * timeline.inverse_width).astype(np.int64)
            timeline.grow(int(index.max()))
            size = len(timeline.ops)
            ops = np.bincount(index, minlength=size)
            errors = np.bincount(index, weights=LE[timed[0] : n], minlength=size).astype(np.int64)
            timeline.ops = (np.asarray(timeline.ops, dtype=np.int64) + ops).tolist()
            timeline.errors = (np.asarray(timeline.errors, dtype=np.int64) + errors).tolist()
        I[K.R_NLAT] = _fold(recorder.latency, LF[:, 1], n, last)
        timed[0] = int(I[K.R_NLAT])
        I[K.R_NWIN] = _fold(recorder.window, WL, int(I[K.R_NWIN]), last)
        I[K.R_NAGE] = _fold(age, AL, int(I[K.R_NAGE]), last)
        I[K.R_NLW] = _fold(recorder.lock_wait, LW, int(I[K.R_NLW]), last)

    # t = 0: the arrival process draws its first operation, then each mutator its first gap
    # the compiled _push would load a second compiled function for these few calls: run its Python
    push_event = getattr(K._push, "py_func", K._push)

    def push(time: float, kind: int, a: int) -> None:
        push_event(I, EI, EF, EFREE, HEAP, time, kind, a, 0, 0, 0.0)

    gap = float(fb.buf[K.S_GAP, 0])
    fb.pos[K.S_GAP] = 1
    I[K.R_PEND_KEY] = kb.buf[K.KS_CLIENT, 0]
    kb.pos[K.KS_CLIENT] = 1
    for s, reg in ((K.S_WINDOW, K.F_PEND_WIN), (K.S_READ, K.F_PEND_READ), (K.S_WRITE, K.F_PEND_WRITE)):
        F[reg] = fb.buf[s, 0]
        fb.pos[s] = 1
    if 0.0 + gap >= horizon:
        I[K.R_ARR_DONE] = 1
    else:
        push(0.0 + gap, K.EV_ARRIVAL, 0)
    for index in range(n_mut):
        s = K.S_MUTATOR + index
        push(0.0 + float(fb.buf[s, fb.pos[s]]), K.EV_MUTATOR, index)
        fb.pos[s] += 1
    fb.refill_low()
    kb.refill_low()

    kernel = K.kernel  # loaded at the top of run_kernel
    while True:
        code = kernel(I, F, C, OI, OF, OFREE, KI, KF, MUT, fb.buf, fb.pos, fb.len, kb.buf, kb.pos, kb.len,
                      EI, EF, EFREE, HEAP, LF, LE, WL, AL, LW, RQ, RQF)
        if code == K.DONE:
            break
        if code == K.NEED_STREAM:
            fb.refill_low()
            kb.refill_low()
        elif code == K.NEED_OPS:
            old = OI.shape[0]
            OI, OF = _grow(OI, 2 * old), _grow(OF, 2 * old)
            free = int(I[K.R_NFREE_OP])
            OFREE = _grow(OFREE, 2 * old)
            OFREE[free : free + old] = np.arange(2 * old - 1, old - 1, -1)
            I[K.R_NFREE_OP] = free + old
            if I[K.R_RQ_BY_ROW]:
                RQ, RQF = _grow(RQ, 2 * old), _grow(RQF, 2 * old)
        elif code == K.NEED_REQUESTS:
            RQ, RQF = _grow(RQ, 2 * RQ.shape[0]), _grow(RQF, 2 * RQF.shape[0])
        elif code == K.NEED_EVENTS:
            old = EI.shape[0]
            EI, EF = _grow(EI, 2 * old), _grow(EF, 2 * old)
            bigger = _heap(2 * old)
            bigger[: HEAP.shape[0]] = HEAP
            HEAP = bigger
            free = int(I[K.R_NFREE_EV])
            EFREE = _grow(EFREE, 2 * old)
            EFREE[free : free + old] = np.arange(2 * old - 1, old - 1, -1)
            I[K.R_NFREE_EV] = free + old
        else:
            drain()
    drain(last=True)
    _charge_unfinished(recorder, I, F, OI, OF, OFREE)

    r = recorder
    r.ok, r.declined = int(C[K.C_OK]), int(C[K.C_DECLINED])
    r.aborted, r.violated, r.attempts = int(C[K.C_ABORTED]), int(C[K.C_VIOLATED]), int(C[K.C_ATTEMPTS])
    r.mismatches, r.mismatches_stale = int(C[K.C_MISMATCHES]), int(C[K.C_MISMATCHES_STALE])
    r.conflicts, r.spurious_rejections = int(C[K.C_CONFLICTS]), int(C[K.C_SPURIOUS])
    r.violations, r.retries, r.stale_checks = int(C[K.C_VIOLATIONS]), int(C[K.C_RETRIES]), int(C[K.C_STALE_CHECKS])
    r.slow, r.race_aborts = int(C[K.C_SLOW]), int(C[K.C_RACE_ABORTS])
    r.operations += int(C[K.C_OPS])
    r.operations_mismatched += int(C[K.C_MISMATCHED_OPS])
    r.requests += int(C[K.C_REQUESTS])
    r.duplicate_deliveries, r.duplicate_effects = int(C[K.C_DUP_DELIVERIES]), int(C[K.C_DUP_EFFECTS])
    r.turned_away_duplicates = int(C[K.C_TURNED_AWAY])
    r.partial_creates, r.orphaned = int(C[K.C_PARTIAL_CREATES]), int(C[K.C_ORPHANED])
    ledger = EffectLedger()
    ledger.effects = int(C[K.C_EFFECTS])
    ledger.harms["violation"] = int(C[K.C_LEDGER_VIOLATIONS])
    ledger.harms["duplicate"] = int(C[K.C_LEDGER_DUPLICATES])
    ledger.harms["orphan"] = int(C[K.C_LEDGER_ORPHANS])
    extra: dict[str, float] = {"unfinished": float(I[K.R_INFLIGHT])}
    extra.update(ledger.metrics(r.operations))
    backlog = [int(b) for b in I[K.R_BACKLOG : K.R_BACKLOG + BACKLOG_SAMPLES]]
    extra.update(backlog_metrics(backlog, horizon - spec.model.warmup))
    if partial:  # World.extra_metrics
        orphans = _level(spec, I, F, K.R_ORPHANS, K.F_ORPHAN_AREA, K.F_ORPHAN_LAST)
        extra.update({"orphans_alive": orphans.mean(), "orphans_at_end": float(orphans.level),
                      "orphans_per_day": r.partial_creates * 86400.0 / (horizon - spec.model.warmup)})
    if cache:
        extra.update(_cache_metrics(C, age))
    if lock:
        extra.update({"lock_leases_expired": float(C[K.C_LEASES_EXPIRED]),
                      "lock_wait_timeouts": float(C[K.C_LOCK_TIMEOUTS]),
                      "fenced_rejections": float(C[K.C_FENCED])})
    if idempotency:  # no faults: every lookup reaches the dedupe store
        extra.update({"dedupe_hits": float(C[K.C_DEDUPE_HITS]), "idempotency_conflicts": float(C[K.C_IDEM_CONFLICTS]),
                      "dedupe_keys_expired": float(C[K.C_DEDUPE_EXPIRED]), "dedupe_unreachable": 0.0})
    if reservation:
        held = _level(spec, I, F, K.R_HELD_LEVEL, K.F_HELD_AREA, K.F_HELD_LAST)
        extra.update({"capacity_held_idle": held.mean(), "reservations_expired": float(C[K.C_EXPIRED]),
                      "throttled_after_expiry": float(C[K.C_THROTTLED])})
    return ReplicationResult.from_recorder(
        recorder,
        replication=replication,
        seed=seed,
        strategy=spec.strategy.label or spec.strategy.kind,
        measured_time=horizon - spec.model.warmup,
        extra=extra,
    )


def _level(spec: ModelSpec, I: NDArray[np.int64], F: NDArray[np.float64], level: int, area: int,
           last: int) -> TimeWeighted:
    """The :class:`TimeWeighted` the kernel kept in its registers (``_level_change``)."""
    weighted = TimeWeighted(spec.model.warmup, spec.model.horizon)
    weighted.level, weighted._area, weighted._last = int(I[level]), float(F[area]), float(F[last])
    return weighted


def _fold(histogram: Histogram, log: NDArray[np.float64], n: int, last: bool) -> int:
    """Fold the first ``n`` logged values into ``histogram`` in whole chunks of the size
    Histogram.add folds; the remainder moves to the front of ``log`` (its count is returned), or,
    at the ``last`` drain, into the histogram's buffer (as if added one by one)."""
    chunk = Histogram._FLUSH
    full = n - n % chunk
    for start in range(0, full, chunk):
        histogram._fold(np.ascontiguousarray(log[start : start + chunk]))
    rest = n - full
    if last:
        if rest:
            histogram._buffer.extend(log[full:n].tolist())
        return 0
    if full and rest:
        log[:rest] = log[full:n]
    return rest


def _charge_unfinished(recorder: Recorder, I: NDArray[np.int64], F: NDArray[np.float64], OI: NDArray[np.int64],
                       OF: NDArray[np.float64], OFREE: NDArray[np.int64]) -> None:
    """World.run's end: operations still in flight are finished as unfinished, in arrival order,
    at the instant the run stopped. The kernel's own sums come first (they were made first)."""
    recorder.request_latency_total = float(F[K.F_REQUEST_LATENCY])
    if not I[K.R_INFLIGHT]:
        return
    free = np.zeros(OI.shape[0], dtype=bool)
    free[OFREE[: I[K.R_NFREE_OP]]] = True
    live = np.flatnonzero(~free)
    live = live[np.argsort(OF[live, K.O_ARRIVAL], kind="stable")]
    now = float(F[K.F_END])
    timeline = recorder.timeline
    for op in live:
        if not OI[op, K.O_COUNTED]:
            continue
        latency = now - float(OF[op, K.O_ARRIVAL])
        recorder.operations += 1
        recorder.unfinished += 1
        if OI[op, K.O_MISMATCHED]:
            recorder.operations_mismatched += 1
        if not OI[op, K.O_DUP]:
            recorder.requests += 1
            recorder.request_latency_total += latency
        recorder.latency.add(latency)
        index = int(now * timeline.inverse_width)
        timeline.grow(index)
        timeline.ops[index] += 1
        timeline.errors[index] += 1


def _cache_metrics(C: NDArray[np.int64], age: Histogram) -> dict[str, float]:
    """CacheRead.metrics, from the kernel's counters (the DES read path's own code computes them)."""
    from toctou_sim.plugins.read_paths.cache import CacheRead

    cache = object.__new__(CacheRead)
    cache.reads, cache.hits = int(C[K.C_CREADS]), int(C[K.C_CHITS])
    cache.stale_hits, cache.validation_mismatches = int(C[K.C_CSTALE_HITS]), int(C[K.C_CVALIDATION])
    cache.evictions, cache.invalidations, cache.flushes = int(C[K.C_CEVICTIONS]), int(C[K.C_CINVALIDATIONS]), 0
    cache.age = age
    metrics: dict[str, float] = cache.metrics()
    return metrics


_WARM = False


def warm_up() -> None:
    """Load (or compile, the first time) the kernel in this process, on a tiny model: worker
    processes forked afterwards inherit it instead of loading it each."""
    global _WARM
    if _WARM or not K.COMPILED:
        return
    from toctou_sim.spec.model import parse_model

    tiny = parse_model({"model": {"horizon": 0.05, "warmup": 0.0}, "clients": {"arrival": {"poisson": {"rate": 100}}}},
                       source="<warm-up>")
    run_kernel(tiny, 0, 0)
    _keys(RandomStreams(0, 0), "keys", 2, 1.0)(1)  # and the compiled Zipf key loop
    _WARM = True
