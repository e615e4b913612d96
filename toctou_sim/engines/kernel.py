"""The event kernel of the fast engine: the DES engine's event loop, specialised and compiled.

For the flagship family (strategies none, recheck, cas, reservation, lock and idempotency on every
invariant, direct or cache reads, mutators, redeliveries, client timeouts and partial failures, no faults) an
operation is a fixed chain of steps, so one replication is a loop over a single heap of
``(time, sequence)`` events, an ordered state per key (the store's value and version, the cache
entry and its LRU place, the lock) and, with duplicate deliveries, a state per request (the
effect ledger's flag and the dedupe store's entry). The loop replays what :class:`World` does, step
for step:

- every event the DES engine schedules is pushed here in the same order, with a sequence number
  that plays SimPy's event id: simultaneous events run in the order SimPy would run them (SimPy
  orders its queue by ``(time, priority, id)``; a new process starts before any other event at
  its instant, so an arriving operation runs its first steps inline right after its arrival);
- time stamps are the same floating-point sums (``now + delay``) as the event loop's;
- every random source is the same named stream (:class:`RandomStreams`), consumed in the same
  order, so the counts are identical, replication by replication, to the DES engine's.

All state lives in numpy arrays, so the loop compiles with numba (the optional ``fast`` extra)
and runs unchanged, only slower, as plain Python when numba is absent. The loop returns to Python
whenever a random-stream buffer runs low, an array is full or a log needs draining; the caller
refills and calls again (memory stays flat in the number of operations).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = ["COMPILED", "kernel"]

try:  # pragma: no cover - exercised in both environments
    import numba

    # No allocation happens inside the kernel, so numba's reference counting is switched off
    # (``_nrt``): it halves the cost of passing the state arrays from function to function.
    _options: dict[str, Any] = {"cache": True, "nogil": True, "_nrt": False}
    _jit: Callable[[Any], Any] = numba.njit(**_options)
    _inline = _jit
    # the small helpers run on every event: numba inlines them into their callers (no call
    # passing a dozen arrays' descriptors)
    _small: Callable[[Any], Any] = numba.njit(**_options, inline="always")
    COMPILED = True
except ImportError:  # pragma: no cover
    def _jit(function: Any) -> Any:
        return function

    _inline = _small = _jit

    COMPILED = False

# ---------------------------------------------------------------------------------- layout

# Integer registers (I)
R_SEQ, R_INFLIGHT, R_ARR_DONE, R_NKEYS, R_INV, R_STRAT, R_MAXRETRY, R_JITTER, R_CACHE, R_POLICY = range(10)
R_CAPACITY, R_CACHE_ABSENT, R_ASSUME_ABSENT, R_NMUT, R_HEAP, R_NFREE_OP, R_NFREE_EV, R_NLAT, R_NWIN = range(10, 19)
R_NAGE, R_NENTRIES, R_PEND_KEY, R_PHASE, R_STOPPED, R_MARGIN, R_NFS, R_NKS, R_HAS_RETRY = range(19, 28)
R_GUARD, R_ANSWER, R_NEXT_SAMPLE, R_NSAMPLES = range(28, 32)
R_HOLD_SERIAL, R_HELD_LEVEL, R_HAS_TTL = range(32, 35)
R_NEXT_TOKEN, R_HAS_LEASE, R_HAS_WTIMEOUT, R_FENCING, R_MUT_LOCK, R_NLW, R_DRAIN, R_IDEMPOTENCY = range(35, 43)
R_DUPS, R_REDELIVER, R_TIMEOUT_MAX, R_NEXT_RID, R_NEXT_UID, R_STRONG, R_ENTRY_SERIAL, R_NRUN, R_RUN = range(43, 52)
"""Requests by id: whether requests are tracked (a request can take effect twice: it can be
delivered twice, by redeliveries or client timeouts, or retried after a partial failure),
whether deliveries are redelivered, the client's timeout retries (0: no timeout), the next
request id and delivery id, whether the dedupe store is strongly consistent, the last dedupe
entry's serial, and a copy to start right after the running operation (R_NRUN, R_RUN)."""
R_PARTIAL, R_ORPHANS, R_WITH_EFFECT, R_RQ_BY_ROW = range(52, 56)
"""Partial failures: whether a use can fail after taking effect (``clients.partial_failure``),
the orphans alive, whether idempotency marks its key done with the effect
(``record_with_effect``), and whether a request's state lives in its operation's row (requests
are tracked but never delivered twice: a request is one operation, and its state can be
forgotten when that ends, so memory stays flat)."""
R_BACKLOG = 56
"""Backlog samples (operations in flight) start here, one register each."""
MAX_SAMPLES = 64
N_IREG = R_BACKLOG + MAX_SAMPLES
# Float registers (F)
F_NOW, F_HORIZON, F_WARMUP, F_THRESHOLD, F_BACKOFF, F_MULT, F_MAXBACKOFF, F_PEND_WIN, F_PEND_READ = range(9)
F_PEND_WRITE, F_END, F_REQUEST_LATENCY, F_HELD_AREA, F_HELD_LAST, F_TTL = 9, 10, 11, 12, 13, 14
F_LEASE, F_WTIMEOUT = 15, 16
F_REDELIVER_P, F_TIMEOUT_AFTER, F_DEDUPE_TTL = 17, 18, 19
F_PARTIAL_P, F_ORPHAN_AREA, F_ORPHAN_LAST = 20, 21, 22
F_SAMPLE = 23
"""Instants at which the backlog is sampled start here."""
N_FREG = F_SAMPLE + MAX_SAMPLES
# Counters (C)
(C_OPS, C_OK, C_DECLINED, C_ABORTED, C_VIOLATED, C_ATTEMPTS, C_MISMATCHES, C_MISMATCHES_STALE, C_CONFLICTS,
 C_SPURIOUS, C_VIOLATIONS, C_RETRIES, C_STALE_CHECKS, C_SLOW, C_RACE_ABORTS, C_CREADS, C_CHITS, C_CSTALE_HITS,
 C_CVALIDATION, C_CEVICTIONS, C_CINVALIDATIONS, C_MISMATCHED_OPS, C_REQUESTS, C_EFFECTS,
 C_LEDGER_VIOLATIONS, C_EXPIRED, C_THROTTLED, C_LEASES_EXPIRED, C_LOCK_TIMEOUTS, C_FENCED) = range(30)
(C_DUP_DELIVERIES, C_DUP_EFFECTS, C_TURNED_AWAY, C_LEDGER_DUPLICATES, C_DEDUPE_HITS, C_IDEM_CONFLICTS,
 C_DEDUPE_EXPIRED) = range(30, 37)
C_PARTIAL_CREATES, C_ORPHANED, C_LEDGER_ORPHANS = range(37, 40)
N_COUNTERS = 40
# Operation fields: integers (OI) and floats (OF)
O_KEY, O_RETRIES, O_SEEN_VERSION, O_SEEN_VALUE, O_STALE, O_COUNTED, O_RACED, O_STEP, O_MISMATCHED = range(9)
O_HOLD, O_HOLD_ACTIVE = 9, 10
O_TOKEN, O_WAIT, O_COND, O_WPREV, O_WNEXT, O_MUT = range(11, 17)
"""Lock: the grant's token (0: not granted), the wait's serial, whether the wait's condition
fired, the FIFO neighbours in the key's wait queue, and (mutator index + 1) for a row that is a
mutator's queued write rather than an operation."""
O_RID, O_DELIV, O_DUP, O_UID, O_ENTRY = range(17, 22)
"""Duplicate deliveries: the request id, the deliveries of the request before this one, whether
this is a copy, the delivery's id (-1 once it ended: a client timeout fires only on a live
delivery) and the serial of the dedupe entry it claimed."""
O_PARTIAL, O_ORPHAN, O_ORPHAN_BEFORE = range(22, 25)
"""Partial failures: whether this attempt's use fails after taking effect, whether an attempt of
this delivery left an orphan (Operation.left_orphan), and whether one had before the dedupe claim."""
N_OI = 25
O_ARRIVAL, O_WINDOW, O_READ, O_WRITE, O_TCHECK, O_REQUESTED = range(6)
N_OF = 6
# Per-key state (KI, KF); row ``n_keys`` is the LRU list's sentinel
K_VALUE, K_VERSION, K_PRESENT, K_CVERSION, K_CVALUE, K_PREV, K_NEXT = range(7)
K_HOLDER, K_WHEAD, K_WTAIL, K_FENCE, K_WFENCE = range(7, 12)
"""Lock: the holder's token (0: free), the wait queue's ends (-1: empty), the read and write fences."""
N_KI = 12
K_FILLED, K_EXPIRES = 0, 1
# Events: EI = (seq, kind, a, b, c), EF = (time, x)
E_SEQ, E_KIND, E_A, E_B, E_C = range(5)
E_TIME, E_X = 0, 1
# The heap's rows: (time, sequence, event row), all float64; rows past its end have time +inf
H_TIME, H_SEQ, H_EV = 0, 1, 2
N_H = 3
EV_ARRIVAL, EV_MUTATOR, EV_OP, EV_INVALIDATE, EV_FILL, EV_EXPIRE = range(6)
EV_GRANT, EV_WAIT_TIMEOUT, EV_CONDITION, EV_LEASE, EV_DRAINED, EV_STOP = range(6, 12)
EV_DUPLICATE, EV_CLIENT_TIMEOUT = 12, 13
# Steps at which an operation resumes
ST_DIRECT_READ, ST_LOOKUP, ST_MISS_READ, ST_WINDOW, ST_RECHECK, ST_USE, ST_BACKOFF, ST_RESERVE = range(8)
ST_ACQUIRE, ST_WAITED, ST_LOCKED, ST_CHECK, ST_INNER = range(8, 13)
# Float streams (FB rows); mutator gap streams follow at S_MUTATOR + index
(S_GAP, S_WINDOW, S_READ, S_WRITE, S_RWINDOW, S_RREAD, S_RWRITE, S_JITTER, S_RECHECK, S_CLOOKUP, S_TTL,
 S_INVALIDATION, S_FILL, S_ACQUIRE, S_LOOKUP, S_RDRAW, S_RDELAY, S_DWINDOW, S_DREAD, S_DWRITE, S_LAG,
 S_PARTIAL, S_RPARTIAL, S_DPARTIAL, S_MUTATOR) = range(25)
# Key streams (KB rows): client keys, then one per mutator
KS_CLIENT, KS_MUTATOR = 0, 1
# Invariants, strategies, write policies, mutator actions
INV_EXISTS, INV_COUNTER, INV_GRANT, INV_VERSION, INV_UNCHANGED = range(5)
STRAT_NONE, STRAT_RECHECK, STRAT_CAS, STRAT_RESERVATION, STRAT_LOCK = range(5)
FENCE_NONE, FENCE_READS, FENCE_WRITES = range(3)
GUARD_NONE, GUARD_VERSION, GUARD_PREDICATE = range(3)
POLICY_INVALIDATE, POLICY_WRITE_THROUGH, POLICY_NONE = range(3)
ACT_SET1, ACT_SET0, ACT_ADD, ACT_CONSUME, ACT_KEEP = range(5)
JITTER_NONE, JITTER_FULL, JITTER_EQUAL = range(3)
OK, DECLINED, ABORTED, VIOLATED, REJECTED = 0, 1, 2, 3, -1
# Requests (RQ: integers, RQF: floats), by request id: the effect ledger's "took effect" flag and
# the dedupe store's entry (its owner's delivery id + 1, 0: no entry; completed; serial; expiry
# and visibility instants)
Q_EFFECTED, Q_OWNER, Q_COMPLETED, Q_SERIAL = range(4)
N_Q = 4
Q_EXPIRES, Q_VISIBLE = 0, 1
# Why the kernel returned
DONE, NEED_STREAM, NEED_OPS, NEED_EVENTS, NEED_LOGS, NEED_REQUESTS = range(6)


# ---------------------------------------------------------------------------------- helpers


@_small
def _holds(inv: int, value: int, version: int, seen: int) -> bool:
    if inv == INV_EXISTS:
        return value == 0
    if inv == INV_COUNTER:
        return value > 0
    if inv == INV_GRANT:
        return value == 1
    return version == seen


@_small
def _draw(FB: Any, FP: Any, stream: int) -> float:
    value: float = FB[stream, FP[stream]]
    FP[stream] += 1
    return value


@_small
def _push(I: Any, EI: Any, EF: Any, EFREE: Any, HEAP: Any, time: float, kind: int, a: int, b: int, c: int,
          x: float) -> None:
    """Schedule an event. The heap is 4-ary (half the levels of a binary one) and its rows hold
    their own keys, ``(time, sequence, event row)`` (the sequence and the row as exact floats),
    so sifting reads one row per child, not three."""
    I[R_NFREE_EV] -= 1
    ev = EFREE[I[R_NFREE_EV]]
    seq = I[R_SEQ]
    I[R_SEQ] = seq + 1
    EI[ev, E_SEQ] = seq
    EI[ev, E_KIND] = kind
    EI[ev, E_A] = a
    EI[ev, E_B] = b
    EI[ev, E_C] = c
    EF[ev, E_TIME] = time
    EF[ev, E_X] = x
    fseq = float(seq)
    i = I[R_HEAP]
    I[R_HEAP] = i + 1
    while i > 0:
        parent = (i - 1) >> 2
        ot = HEAP[parent, H_TIME]
        if ot < time or (ot == time and HEAP[parent, H_SEQ] < fseq):
            break
        HEAP[i, H_TIME] = ot
        HEAP[i, H_SEQ] = HEAP[parent, H_SEQ]
        HEAP[i, H_EV] = HEAP[parent, H_EV]
        i = parent
    HEAP[i, H_TIME] = time
    HEAP[i, H_SEQ] = fseq
    HEAP[i, H_EV] = float(ev)


@_small
def _pop(I: Any, EI: Any, EF: Any, HEAP: Any) -> int:
    """Take the earliest event off the heap. Rows at and past the heap's end hold an infinite
    time (the caller allocates three spare rows), so every level compares four children
    without bounds checks, and finds the earliest without a branch on the times (such branches
    mispredict half the time). The heap is stored column by column (Fortran order): a node's
    four children's times are 32 contiguous bytes."""
    top = int(HEAP[0, H_EV])
    n = I[R_HEAP] - 1
    I[R_HEAP] = n
    if n == 0:
        HEAP[0, H_TIME] = math.inf
        return top
    lt = HEAP[n, H_TIME]
    ls = HEAP[n, H_SEQ]
    le = HEAP[n, H_EV]
    HEAP[n, H_TIME] = math.inf
    i = 0
    first = 1
    while first < n:
        # the earliest of the four children: the least time (a min tree, no branch), and the
        # child holding it; only when two children share that time (rare) do sequences decide
        t0, t1, t2, t3 = HEAP[first, H_TIME], HEAP[first + 1, H_TIME], HEAP[first + 2, H_TIME], HEAP[first + 3, H_TIME]
        bt = min(min(t0, t1), min(t2, t3))
        e1, e2, e3 = int(t1 == bt), int(t2 == bt), int(t3 == bt)
        if int(t0 == bt) + e1 + e2 + e3 == 1:
            best = first + e1 + 2 * e2 + 3 * e3
        else:
            best = -1
            for k in range(first, first + 4):
                if HEAP[k, H_TIME] == bt and (best < 0 or HEAP[k, H_SEQ] < HEAP[best, H_SEQ]):
                    best = k
        if lt < bt or (lt == bt and ls < HEAP[best, H_SEQ]):
            break
        HEAP[i, H_TIME] = bt
        HEAP[i, H_SEQ] = HEAP[best, H_SEQ]
        HEAP[i, H_EV] = HEAP[best, H_EV]
        i = best
        first = 4 * i + 1
    HEAP[i, H_TIME] = lt
    HEAP[i, H_SEQ] = ls
    HEAP[i, H_EV] = le
    return top


@_inline
def _lru_unlink(KI: Any, key: int) -> None:
    prev = KI[key, K_PREV]
    nxt = KI[key, K_NEXT]
    KI[prev, K_NEXT] = nxt
    KI[nxt, K_PREV] = prev


@_inline
def _lru_append(KI: Any, key: int, sentinel: int) -> None:
    last = KI[sentinel, K_PREV]
    KI[last, K_NEXT] = key
    KI[key, K_PREV] = last
    KI[key, K_NEXT] = sentinel
    KI[sentinel, K_PREV] = key


@_inline
def _cache_drop(I: Any, KI: Any, key: int) -> None:
    KI[key, K_PRESENT] = 0
    _lru_unlink(KI, key)
    I[R_NENTRIES] -= 1


@_inline
def _cache_fill(I: Any, C: Any, KI: Any, KF: Any, FB: Any, FP: Any, key: int, version: int, value: int,
                read_at: float, now: float) -> None:
    sentinel = I[R_NKEYS]
    if KI[key, K_PRESENT]:
        _lru_unlink(KI, key)
    else:
        KI[key, K_PRESENT] = 1
        I[R_NENTRIES] += 1
    KI[key, K_CVERSION] = version
    KI[key, K_CVALUE] = value
    KF[key, K_FILLED] = read_at
    KF[key, K_EXPIRES] = now + _draw(FB, FP, S_TTL)
    _lru_append(KI, key, sentinel)
    capacity = I[R_CAPACITY]
    if capacity >= 0 and I[R_NENTRIES] > capacity:
        _cache_drop(I, KI, KI[sentinel, K_NEXT])
        C[C_CEVICTIONS] += 1


@_inline
def _on_write(I: Any, C: Any, KI: Any, KF: Any, FB: Any, FP: Any, EI: Any, EF: Any, EFREE: Any, HEAP: Any,
              key: int, now: float) -> None:
    """The read path hears of a write to ``key`` (CacheRead.on_write)."""
    if not I[R_CACHE]:
        return
    policy = I[R_POLICY]
    if policy == POLICY_INVALIDATE:
        delay = _draw(FB, FP, S_INVALIDATION)
        if delay > 0:
            _push(I, EI, EF, EFREE, HEAP, now + delay, EV_INVALIDATE, key, 0, 0, 0.0)
        elif KI[key, K_PRESENT]:
            _cache_drop(I, KI, key)
            C[C_CINVALIDATIONS] += 1
    elif policy == POLICY_WRITE_THROUGH:
        value = KI[key, K_VALUE]
        if I[R_CACHE_ABSENT] or value != 0:
            _cache_fill(I, C, KI, KF, FB, FP, key, KI[key, K_VERSION], value, now, now)
        elif KI[key, K_PRESENT]:
            _cache_drop(I, KI, key)


@_small
def _level_change(I: Any, F: Any, now: float, delta: int, level: int, area: int, last: int) -> None:
    """TimeWeighted.change of the level in register ``I[level]``, its area and last instant in
    ``F[area]`` and ``F[last]``."""
    t = min(max(now, F[F_WARMUP]), F[F_HORIZON])
    if t > F[last]:
        F[area] += I[level] * (t - F[last])
        F[last] = t
    I[level] += delta


@_small
def _held_change(I: Any, F: Any, now: float, delta: int) -> None:
    """TimeWeighted.change of the units held (Reservation.held)."""
    _level_change(I, F, now, delta, R_HELD_LEVEL, F_HELD_AREA, F_HELD_LAST)


@_inline
def _add_unit(I: Any, C: Any, KI: Any, KF: Any, FB: Any, FP: Any, EI: Any, EF: Any, EFREE: Any, HEAP: Any,
              key: int, delta: int, now: float) -> None:
    """Reservation._take (delta -1) and _give (delta +1): a write of the store and its read path."""
    KI[key, K_VALUE] += delta
    KI[key, K_VERSION] += 1
    if I[R_CACHE]:
        _on_write(I, C, KI, KF, FB, FP, EI, EF, EFREE, HEAP, key, now)


# ---------------------------------------------------------------------------------- the lock


@_inline
def _grant(I: Any, F: Any, OI: Any, KI: Any, EI: Any, EF: Any, EFREE: Any, HEAP: Any, key: int, row: int) -> None:
    """KeyLocks._grant to a queued waiter: a new token, the grant event, the lease's expiry."""
    token = I[R_NEXT_TOKEN]
    I[R_NEXT_TOKEN] = token + 1
    KI[key, K_HOLDER] = token
    OI[row, O_TOKEN] = token
    now = F[F_NOW]
    _push(I, EI, EF, EFREE, HEAP, now, EV_GRANT, row, OI[row, O_WAIT], 0, 0.0)
    if I[R_HAS_LEASE]:
        _push(I, EI, EF, EFREE, HEAP, now + F[F_LEASE], EV_LEASE, key, token, 0, 0.0)


@_inline
def _take_free(I: Any, F: Any, KI: Any, EI: Any, EF: Any, EFREE: Any, HEAP: Any, key: int) -> int:
    """KeyLocks._grant of a free lock: the caller goes on at once (its grant event is already
    triggered; only the lease's expiry is a live event)."""
    token = I[R_NEXT_TOKEN]
    I[R_NEXT_TOKEN] = token + 1
    KI[key, K_HOLDER] = token
    if I[R_HAS_LEASE]:
        _push(I, EI, EF, EFREE, HEAP, F[F_NOW] + F[F_LEASE], EV_LEASE, key, token, 0, 0.0)
    return int(token)


@_inline
def _pass_on(I: Any, F: Any, OI: Any, KI: Any, EI: Any, EF: Any, EFREE: Any, HEAP: Any, key: int) -> None:
    """KeyLocks._pass_on: grant the first waiter, or free the lock."""
    head = KI[key, K_WHEAD]
    if head < 0:
        KI[key, K_HOLDER] = 0
        return
    nxt = OI[head, O_WNEXT]
    KI[key, K_WHEAD] = nxt
    if nxt >= 0:
        OI[nxt, O_WPREV] = -1
    else:
        KI[key, K_WTAIL] = -1
    _grant(I, F, OI, KI, EI, EF, EFREE, HEAP, key, head)


@_inline
def _release(I: Any, F: Any, OI: Any, KI: Any, EI: Any, EF: Any, EFREE: Any, HEAP: Any, key: int,
             token: int) -> None:
    """KeyLocks.release: only the current holder's token releases (an expired lease no longer does)."""
    if KI[key, K_HOLDER] == token:
        _pass_on(I, F, OI, KI, EI, EF, EFREE, HEAP, key)


@_inline
def _enqueue(OI: Any, KI: Any, key: int, row: int) -> None:
    tail = KI[key, K_WTAIL]
    OI[row, O_WPREV] = tail
    OI[row, O_WNEXT] = -1
    if tail >= 0:
        OI[tail, O_WNEXT] = row
    else:
        KI[key, K_WHEAD] = row
    KI[key, K_WTAIL] = row


@_inline
def _cancel(OI: Any, KI: Any, key: int, row: int) -> None:
    """KeyLocks.cancel: a waiter that timed out leaves the queue."""
    prev = OI[row, O_WPREV]
    nxt = OI[row, O_WNEXT]
    if prev >= 0:
        OI[prev, O_WNEXT] = nxt
    else:
        KI[key, K_WHEAD] = nxt
    if nxt >= 0:
        OI[nxt, O_WPREV] = prev
    else:
        KI[key, K_WTAIL] = prev


@_inline
def _mutate(I: Any, C: Any, KI: Any, KF: Any, MUT: Any, FB: Any, FP: Any, EI: Any, EF: Any, EFREE: Any,
            HEAP: Any, index: int, key: int, now: float) -> None:
    """A mutator's apply: the store write and the read path's on_write."""
    action = MUT[index, 0]
    value = KI[key, K_VALUE]
    if action == ACT_SET1:
        value = 1
    elif action == ACT_SET0:
        value = 0
    elif action == ACT_ADD:
        value = value + MUT[index, 1]
    elif action == ACT_CONSUME and value > 0:
        value = value - 1
    KI[key, K_VALUE] = value
    KI[key, K_VERSION] += 1
    if I[R_CACHE]:
        _on_write(I, C, KI, KF, FB, FP, EI, EF, EFREE, HEAP, key, now)


@_inline
def _locked_mutate(I: Any, F: Any, C: Any, OI: Any, KI: Any, KF: Any, MUT: Any, FB: Any, FP: Any, EI: Any,
                   EF: Any, EFREE: Any, HEAP: Any, index: int, key: int, token: int) -> None:
    """Lock._locked_apply: a mutator holding the lock raises the fences, writes and releases."""
    fencing = I[R_FENCING]
    if fencing == FENCE_READS and token > KI[key, K_FENCE]:
        KI[key, K_FENCE] = token
    elif fencing == FENCE_WRITES and token > KI[key, K_WFENCE]:
        KI[key, K_WFENCE] = token
    _mutate(I, C, KI, KF, MUT, FB, FP, EI, EF, EFREE, HEAP, index, key, F[F_NOW])
    _release(I, F, OI, KI, EI, EF, EFREE, HEAP, key, token)


@_small
def _use_value(inv: int, value: int) -> int:
    if inv == INV_EXISTS:
        return 1
    if inv == INV_COUNTER:
        return value - 1
    return value


@_inline
def _decide(I: Any, F: Any, C: Any, OI: Any, OF: Any, KI: Any, KF: Any, FB: Any, FP: Any, EI: Any, EF: Any,
            EFREE: Any, HEAP: Any, WL: Any, RQ: Any, op: int, accepted: bool) -> int:
    """World.decide: judge the use against the truth now; the store's write guard may refuse it;
    apply it if accepted (and record the effect in the ledger's counts)."""
    now = F[F_NOW]
    key = OI[op, O_KEY]
    inv = I[R_INV]
    seen = OI[op, O_SEEN_VERSION]
    holds = _holds(inv, KI[key, K_VALUE], KI[key, K_VERSION], seen)
    guard = I[R_GUARD]
    if accepted and guard != GUARD_NONE:
        accepted = holds if guard == GUARD_PREDICATE else KI[key, K_VERSION] == seen
    counted = OI[op, O_COUNTED]
    if accepted:
        if inv != INV_GRANT and inv != INV_UNCHANGED:
            KI[key, K_VALUE] = _use_value(inv, KI[key, K_VALUE])
            KI[key, K_VERSION] += 1
            if I[R_CACHE]:
                _on_write(I, C, KI, KF, FB, FP, EI, EF, EFREE, HEAP, key, now)
        duplicate = False
        if I[R_DUPS]:  # EffectLedger.record: a request that took effect before is a duplicate
            rid = OI[op, O_RID]
            duplicate = RQ[rid, Q_EFFECTED] != 0
            RQ[rid, Q_EFFECTED] = 1
        partial = OI[op, O_PARTIAL] != 0
        if counted:
            C[C_EFFECTS] += 1
            if duplicate:
                C[C_LEDGER_DUPLICATES] += 1
                C[C_DUP_EFFECTS] += 1
            elif not holds:
                C[C_LEDGER_VIOLATIONS] += 1
            elif partial:
                C[C_LEDGER_ORPHANS] += 1
            if partial:
                C[C_PARTIAL_CREATES] += 1
        if duplicate:
            holds = False
        outcome = OK if holds else VIOLATED
        if partial:  # took effect, then failed before it was finalised: an orphan, and an error
            if holds:
                outcome = REJECTED
            OI[op, O_ORPHAN] = 1
            _level_change(I, F, now, 1, R_ORPHANS, F_ORPHAN_AREA, F_ORPHAN_LAST)
    else:
        OI[op, O_RACED] = 1
        outcome = DECLINED if not holds and I[R_ANSWER] else REJECTED
    if counted:
        n = I[R_NWIN]
        WL[n] = now - OF[op, O_TCHECK]
        I[R_NWIN] = n + 1
        if not holds:
            OI[op, O_MISMATCHED] = 1
            C[C_MISMATCHES] += 1
            if accepted:
                C[C_VIOLATIONS] += 1
            else:
                C[C_CONFLICTS] += 1
            if OI[op, O_STALE]:
                C[C_MISMATCHES_STALE] += 1
        elif not accepted:
            C[C_SPURIOUS] += 1
    return outcome


@_inline
def _finish(I: Any, F: Any, C: Any, OI: Any, OF: Any, OFREE: Any, LF: Any, LE: Any, op: int, outcome: int) -> None:
    """World.finish and Recorder.finish."""
    now = F[F_NOW]
    I[R_INFLIGHT] -= 1
    if OI[op, O_COUNTED]:
        C[C_OPS] += 1
        latency = now - OF[op, O_ARRIVAL]
        error = True
        if outcome == DECLINED and OI[op, O_ORPHAN]:  # a partial create, then its retry found the orphan
            outcome = ABORTED
            C[C_ORPHANED] += 1
        if outcome in (OK, DECLINED):
            C[C_OK] += 1
            if outcome == DECLINED:
                C[C_DECLINED] += 1
            error = latency > F[F_THRESHOLD]
            if error:
                C[C_SLOW] += 1
        elif outcome == ABORTED:
            C[C_ABORTED] += 1
            if OI[op, O_DUP] and not OI[op, O_ORPHAN]:  # a copy turned away is not an error
                C[C_TURNED_AWAY] += 1
                error = False
            elif OI[op, O_RACED]:
                C[C_RACE_ABORTS] += 1
        else:
            C[C_VIOLATED] += 1
        if OI[op, O_MISMATCHED]:
            C[C_MISMATCHED_OPS] += 1
        if not OI[op, O_DUP]:
            C[C_REQUESTS] += 1
            F[F_REQUEST_LATENCY] += latency
        n = I[R_NLAT]
        LF[n, 0] = now
        LF[n, 1] = latency
        LE[n] = 1 if error else 0
        I[R_NLAT] = n + 1
    OI[op, O_UID] = -1
    OFREE[I[R_NFREE_OP]] = op
    I[R_NFREE_OP] += 1
    if I[R_PHASE] == 1 and I[R_INFLIGHT] == 0:
        I[R_DRAIN] = 1  # World.finish succeeds the drained event (the loop schedules it)


@_inline
def _observed(I: Any, F: Any, C: Any, OI: Any, OF: Any, KI: Any, op: int, version: int, value: int) -> bool:
    """The end of World.check: remember what was seen, count stale checks and attempts."""
    key = OI[op, O_KEY]
    OI[op, O_SEEN_VERSION] = version
    OI[op, O_SEEN_VALUE] = value
    OF[op, O_TCHECK] = F[F_NOW]
    counted = OI[op, O_COUNTED]
    if version != KI[key, K_VERSION]:
        OI[op, O_STALE] = 0 if _holds(I[R_INV], KI[key, K_VALUE], KI[key, K_VERSION], version) else 1
        if counted:
            C[C_STALE_CHECKS] += 1
    else:
        OI[op, O_STALE] = 0
    if counted:
        C[C_ATTEMPTS] += 1
    return bool(_holds(I[R_INV], value, version, version))


@_inline
def _count_read(I: Any, F: Any, C: Any, KI: Any, KF: Any, AL: Any, key: int, version: int, value: int,
                hit: bool) -> None:
    """CacheRead._count."""
    now = F[F_NOW]
    C[C_CREADS] += 1
    if hit:
        C[C_CHITS] += 1
        n = I[R_NAGE]
        AL[n] = now - KF[key, K_FILLED]
        I[R_NAGE] = n + 1
    truth = KI[key, K_VERSION]
    if version != truth:
        if hit:
            C[C_CSTALE_HITS] += 1
        inv = I[R_INV]
        if _holds(inv, value, version, version) != _holds(inv, KI[key, K_VALUE], truth, version):
            C[C_CVALIDATION] += 1


@_inline
def _settle_entry(I: Any, OI: Any, RQ: Any, op: int, outcome: int) -> None:
    """The end of Idempotency.attempt after the inner attempt: a use that took effect completes
    the dedupe entry the delivery claimed; otherwise the entry is released, if it is still the
    one in the store."""
    if not (I[R_DUPS] and I[R_IDEMPOTENCY]):
        return
    rid = OI[op, O_RID]
    if RQ[rid, Q_OWNER] != 0 and RQ[rid, Q_SERIAL] == OI[op, O_ENTRY]:
        if outcome in (OK, VIOLATED) or (I[R_WITH_EFFECT] and OI[op, O_ORPHAN] and not OI[op, O_ORPHAN_BEFORE]):
            RQ[rid, Q_COMPLETED] = 1
        else:
            RQ[rid, Q_OWNER] = 0


@_small
def _run_op(I: Any, F: Any, C: Any, OI: Any, OF: Any, OFREE: Any, KI: Any, KF: Any, FB: Any, FP: Any, KB: Any,
            KP: Any, EI: Any, EF: Any, EFREE: Any, HEAP: Any, LF: Any, LE: Any, WL: Any, AL: Any, LW: Any, RQ: Any,
            RQF: Any, op: int, step: int) -> None:
    """Run operation ``op`` from ``step`` (-1: a new attempt) until it waits or ends."""
    strat = I[R_STRAT]
    inv = I[R_INV]
    while True:
        now = F[F_NOW]
        key = OI[op, O_KEY]
        version = 0
        value = 0
        outcome = OK
        attempt_done = False
        deduped = False
        if step == -1 and I[R_IDEMPOTENCY]:
            # Idempotency.attempt: the lookup (without duplicate deliveries every request id is
            # new, so it finds nothing and claims it), then the inner strategy's attempt
            latency = _draw(FB, FP, S_LOOKUP)
            if latency > 0:
                OI[op, O_STEP] = ST_INNER
                _push(I, EI, EF, EFREE, HEAP, now + latency, EV_OP, op, 0, 0, 0.0)
                return
            step = ST_INNER
        if step == ST_INNER:
            step = -1
            if I[R_DUPS]:
                # the request id's entry in the dedupe store (owner: a delivery id + 1)
                rid = OI[op, O_RID]
                me = OI[op, O_UID] + 1
                owner = RQ[rid, Q_OWNER]
                if owner != 0 and RQF[rid, Q_EXPIRES] <= now:
                    RQ[rid, Q_OWNER] = 0
                    owner = 0
                    C[C_DEDUPE_EXPIRED] += 1
                if owner != 0 and ((owner != me and RQF[rid, Q_VISIBLE] <= now)
                                   or (owner == me and RQ[rid, Q_COMPLETED] != 0)):
                    # caught before use: a dedupe hit (declined) or a key in progress (a conflict)
                    counted = OI[op, O_COUNTED]
                    if counted:
                        C[C_ATTEMPTS] += 1
                        C[C_MISMATCHES] += 1
                        C[C_CONFLICTS] += 1
                    if RQ[rid, Q_COMPLETED] != 0:
                        if counted:
                            C[C_DEDUPE_HITS] += 1
                        outcome = DECLINED
                    else:
                        if counted:
                            C[C_IDEM_CONFLICTS] += 1
                        outcome = REJECTED
                    attempt_done = True
                    deduped = True
                    step = -3
                elif owner == 0 or owner != me:  # claim it
                    visible = now
                    if not I[R_STRONG]:
                        visible = now + _draw(FB, FP, S_LAG)
                    serial = I[R_ENTRY_SERIAL] + 1
                    I[R_ENTRY_SERIAL] = serial
                    RQ[rid, Q_OWNER] = me
                    RQ[rid, Q_COMPLETED] = 0
                    RQ[rid, Q_SERIAL] = serial
                    RQF[rid, Q_EXPIRES] = now + F[F_DEDUPE_TTL]
                    RQF[rid, Q_VISIBLE] = visible
                    OI[op, O_ENTRY] = serial
                if not deduped:
                    OI[op, O_ORPHAN_BEFORE] = OI[op, O_ORPHAN]
        if step == -1 and strat == STRAT_RESERVATION:
            latency = OF[op, O_READ]
            if latency > 0:
                OI[op, O_STEP] = ST_RESERVE
                _push(I, EI, EF, EFREE, HEAP, now + latency, EV_OP, op, 0, 0, 0.0)
                return
            step = ST_RESERVE
        if step == ST_RESERVE:
            # Reservation.attempt: the check takes one unit at the store
            OF[op, O_TCHECK] = now
            OI[op, O_STALE] = 0
            if OI[op, O_COUNTED]:
                C[C_ATTEMPTS] += 1
            if KI[key, K_VALUE] <= 0:
                OI[op, O_SEEN_VERSION] = KI[key, K_VERSION]
                _settle_entry(I, OI, RQ, op, DECLINED)
                _finish(I, F, C, OI, OF, OFREE, LF, LE, op, DECLINED)
                return
            _add_unit(I, C, KI, KF, FB, FP, EI, EF, EFREE, HEAP, key, -1, now)
            OI[op, O_SEEN_VERSION] = KI[key, K_VERSION]
            serial = I[R_HOLD_SERIAL]
            I[R_HOLD_SERIAL] = serial + 1
            OI[op, O_HOLD] = serial
            OI[op, O_HOLD_ACTIVE] = 1
            _held_change(I, F, now, 1)
            if I[R_HAS_TTL]:
                _push(I, EI, EF, EFREE, HEAP, now + F[F_TTL], EV_EXPIRE, op, serial, 0, 0.0)
            window = OF[op, O_WINDOW]
            if window > 0:
                OI[op, O_STEP] = ST_WINDOW
                _push(I, EI, EF, EFREE, HEAP, now + window, EV_OP, op, 0, 0, 0.0)
                return
            step = ST_WINDOW
        if step == -1 and strat == STRAT_LOCK:
            # Lock.attempt: the acquire latency, then the key's FIFO lock
            latency = _draw(FB, FP, S_ACQUIRE)
            if latency > 0:
                OI[op, O_STEP] = ST_ACQUIRE
                _push(I, EI, EF, EFREE, HEAP, now + latency, EV_OP, op, 0, 0, 0.0)
                return
            step = ST_ACQUIRE
        if step == ST_ACQUIRE:
            OF[op, O_REQUESTED] = now
            if KI[key, K_HOLDER] == 0:
                OI[op, O_TOKEN] = _take_free(I, F, KI, EI, EF, EFREE, HEAP, key)
                step = ST_LOCKED
            else:
                serial = I[R_HOLD_SERIAL]
                I[R_HOLD_SERIAL] = serial + 1
                OI[op, O_WAIT] = serial
                OI[op, O_COND] = 0
                OI[op, O_TOKEN] = 0
                _enqueue(OI, KI, key, op)
                if I[R_HAS_WTIMEOUT]:
                    _push(I, EI, EF, EFREE, HEAP, now + F[F_WTIMEOUT], EV_WAIT_TIMEOUT, op, serial, 0, 0.0)
                return
        if step == ST_WAITED:
            # the wait's condition (grant | timeout) fired: granted, or the wait timed out
            if OI[op, O_TOKEN] == 0:
                _cancel(OI, KI, key, op)
                C[C_LOCK_TIMEOUTS] += 1
                if OI[op, O_COUNTED]:
                    n = I[R_NLW]
                    LW[n] = now - OF[op, O_REQUESTED]
                    I[R_NLW] = n + 1
                outcome = REJECTED
                attempt_done = True
            else:
                step = ST_LOCKED
        if step == ST_LOCKED:
            if OI[op, O_COUNTED]:
                n = I[R_NLW]
                LW[n] = now - OF[op, O_REQUESTED]
                I[R_NLW] = n + 1
            step = ST_CHECK
        if step == -1 or step == ST_CHECK:
            # World.check begins: the read path's observe
            if I[R_CACHE]:
                lookup = _draw(FB, FP, S_CLOOKUP)
                if lookup > 0:
                    OI[op, O_STEP] = ST_LOOKUP
                    _push(I, EI, EF, EFREE, HEAP, now + lookup, EV_OP, op, 0, 0, 0.0)
                    return
                step = ST_LOOKUP
            else:
                latency = OF[op, O_READ]
                if latency > 0:
                    OI[op, O_STEP] = ST_DIRECT_READ
                    _push(I, EI, EF, EFREE, HEAP, now + latency, EV_OP, op, 0, 0, 0.0)
                    return
                step = ST_DIRECT_READ
        if step in (ST_LOOKUP, ST_MISS_READ, ST_DIRECT_READ):
            if step == ST_DIRECT_READ:
                version = KI[key, K_VERSION]
                value = KI[key, K_VALUE]
            else:
                if step == ST_LOOKUP:
                    present = KI[key, K_PRESENT]
                    if present and KF[key, K_EXPIRES] > now:
                        _lru_unlink(KI, key)
                        _lru_append(KI, key, I[R_NKEYS])
                        version = KI[key, K_CVERSION]
                        value = KI[key, K_CVALUE]
                        if OI[op, O_COUNTED]:
                            _count_read(I, F, C, KI, KF, AL, key, version, value, True)
                        step = -2  # observed
                    else:
                        if present:
                            _cache_drop(I, KI, key)
                        if I[R_ASSUME_ABSENT]:
                            version = -1
                            value = 0
                            if OI[op, O_COUNTED]:
                                _count_read(I, F, C, KI, KF, AL, key, version, value, False)
                            step = -2
                        else:
                            latency = OF[op, O_READ]
                            if latency > 0:
                                OI[op, O_STEP] = ST_MISS_READ
                                _push(I, EI, EF, EFREE, HEAP, now + latency, EV_OP, op, 0, 0, 0.0)
                                return
                            step = ST_MISS_READ
                if step == ST_MISS_READ:
                    version = KI[key, K_VERSION]
                    value = KI[key, K_VALUE]
                    if I[R_CACHE_ABSENT] or value != 0:
                        delay = _draw(FB, FP, S_FILL)
                        if delay > 0:
                            _push(I, EI, EF, EFREE, HEAP, now + delay, EV_FILL, key, version, value, now)
                        else:
                            _cache_fill(I, C, KI, KF, FB, FP, key, version, value, now, now)
                    if OI[op, O_COUNTED]:
                        _count_read(I, F, C, KI, KF, AL, key, version, value, False)
            if not _observed(I, F, C, OI, OF, KI, op, version, value):
                if strat == STRAT_LOCK:
                    _release(I, F, OI, KI, EI, EF, EFREE, HEAP, key, OI[op, O_TOKEN])
                _settle_entry(I, OI, RQ, op, DECLINED)
                _finish(I, F, C, OI, OF, OFREE, LF, LE, op, DECLINED)
                return
            if strat == STRAT_LOCK and I[R_FENCING] == FENCE_READS and OI[op, O_TOKEN] > KI[key, K_FENCE]:
                KI[key, K_FENCE] = OI[op, O_TOKEN]  # the fenced read raises the watermark
            window = OF[op, O_WINDOW]
            if window > 0:
                OI[op, O_STEP] = ST_WINDOW
                _push(I, EI, EF, EFREE, HEAP, now + window, EV_OP, op, 0, 0, 0.0)
                return
            step = ST_WINDOW
        if step == ST_WINDOW:
            if strat == STRAT_RECHECK:
                latency = _draw(FB, FP, S_RECHECK)
                if latency > 0:
                    OI[op, O_STEP] = ST_RECHECK
                    _push(I, EI, EF, EFREE, HEAP, now + latency, EV_OP, op, 0, 0, 0.0)
                    return
                step = ST_RECHECK
            else:
                latency = OF[op, O_WRITE]
                if latency > 0:
                    OI[op, O_STEP] = ST_USE
                    _push(I, EI, EF, EFREE, HEAP, now + latency, EV_OP, op, 0, 0, 0.0)
                    return
                step = ST_USE
        if step == ST_RECHECK:
            if not _holds(inv, KI[key, K_VALUE], KI[key, K_VERSION], OI[op, O_SEEN_VERSION]):
                outcome = _decide(I, F, C, OI, OF, KI, KF, FB, FP, EI, EF, EFREE, HEAP, WL, RQ, op, False)
                attempt_done = True
            else:
                latency = OF[op, O_WRITE]
                if latency > 0:
                    OI[op, O_STEP] = ST_USE
                    _push(I, EI, EF, EFREE, HEAP, now + latency, EV_OP, op, 0, 0, 0.0)
                    return
                step = ST_USE
        if step == ST_USE and strat == STRAT_RESERVATION:
            step = -3
            if not OI[op, O_HOLD_ACTIVE]:
                if KI[key, K_VALUE] <= 0:
                    if OI[op, O_COUNTED]:
                        C[C_THROTTLED] += 1
                    outcome = _decide(I, F, C, OI, OF, KI, KF, FB, FP, EI, EF, EFREE, HEAP, WL, RQ, op, False)
                    attempt_done = True
                else:
                    _add_unit(I, C, KI, KF, FB, FP, EI, EF, EFREE, HEAP, key, -1, now)
                    OI[op, O_HOLD_ACTIVE] = 1
                    _held_change(I, F, now, 1)
            if not attempt_done:
                # consume: the held unit is handed back and taken by the use in the same instant
                OI[op, O_HOLD_ACTIVE] = 0
                _held_change(I, F, now, -1)
                _add_unit(I, C, KI, KF, FB, FP, EI, EF, EFREE, HEAP, key, 1, now)
                outcome = _decide(I, F, C, OI, OF, KI, KF, FB, FP, EI, EF, EFREE, HEAP, WL, RQ, op, True)
                attempt_done = True
        if step == ST_USE and strat == STRAT_LOCK:
            step = -3
            token = OI[op, O_TOKEN]
            fencing = I[R_FENCING]
            accepted = True
            if fencing == FENCE_READS:
                accepted = token >= KI[key, K_FENCE]
            elif fencing == FENCE_WRITES:
                accepted = token >= KI[key, K_WFENCE]
            if not accepted:
                C[C_FENCED] += 1
            outcome = _decide(I, F, C, OI, OF, KI, KF, FB, FP, EI, EF, EFREE, HEAP, WL, RQ, op, accepted)
            if (fencing == FENCE_WRITES and outcome != REJECTED and inv != INV_GRANT
                    and inv != INV_UNCHANGED):
                KI[key, K_WFENCE] = token
            _release(I, F, OI, KI, EI, EF, EFREE, HEAP, key, token)
            attempt_done = True
        if step == ST_USE:
            # the strategy accepts; the store's write guard (a cas's compare) may still refuse
            outcome = _decide(I, F, C, OI, OF, KI, KF, FB, FP, EI, EF, EFREE, HEAP, WL, RQ, op, True)
            attempt_done = True
        if attempt_done:
            if not deduped:
                _settle_entry(I, OI, RQ, op, outcome)
            # Strategy.operate after an attempt
            if outcome != REJECTED:
                _finish(I, F, C, OI, OF, OFREE, LF, LE, op, outcome)
                return
            if OI[op, O_RETRIES] >= I[R_MAXRETRY]:
                _finish(I, F, C, OI, OF, OFREE, LF, LE, op, ABORTED)
                return
            retries = OI[op, O_RETRIES] + 1
            OI[op, O_RETRIES] = retries
            if OI[op, O_COUNTED]:
                C[C_RETRIES] += 1
            wait = 0.0
            if I[R_HAS_RETRY]:
                wait = min(F[F_BACKOFF] * F[F_MULT] ** float(retries - 1), F[F_MAXBACKOFF])
                if I[R_JITTER] == JITTER_FULL:
                    wait = wait * _draw(FB, FP, S_JITTER)
                elif I[R_JITTER] == JITTER_EQUAL:
                    wait = wait / 2 + wait / 2 * _draw(FB, FP, S_JITTER)
            if wait > 0:
                OI[op, O_STEP] = ST_BACKOFF
                _push(I, EI, EF, EFREE, HEAP, now + wait, EV_OP, op, 0, 0, 0.0)
                return
            step = ST_BACKOFF
        if step == ST_BACKOFF:
            # World.redraw, then a new attempt
            OF[op, O_WINDOW] = _draw(FB, FP, S_RWINDOW)
            OF[op, O_READ] = _draw(FB, FP, S_RREAD)
            OF[op, O_WRITE] = _draw(FB, FP, S_RWRITE)
            if I[R_PARTIAL]:
                OI[op, O_PARTIAL] = 1 if _draw(FB, FP, S_RPARTIAL) < F[F_PARTIAL_P] else 0
            step = -1


# ---------------------------------------------------------------------------------- key draws


@_jit
def zipf_index(u: Any, cdf: Any, guide: Any, scale: float, out: Any) -> None:
    """KeyChooser._zipf_index, value by value: the guide table's bucket, then the first key whose
    cumulative probability exceeds ``u`` (comparisons only, so the same keys)."""
    for i in range(u.shape[0]):
        index = guide[int(u[i] * scale)]
        while cdf[index] <= u[i]:
            index += 1
        out[i] = index


# ---------------------------------------------------------------------------------- duplicates


@_inline
def _watch(I: Any, F: Any, OI: Any, EI: Any, EF: Any, EFREE: Any, HEAP: Any, row: int) -> None:
    """World._watch: arm the client timeout of a delivery (it fires only if the delivery is live)."""
    if OI[row, O_DELIV] < I[R_TIMEOUT_MAX]:
        _push(I, EI, EF, EFREE, HEAP, F[F_NOW] + F[F_TIMEOUT_AFTER], EV_CLIENT_TIMEOUT, row, OI[row, O_UID], 0, 0.0)


@_inline
def _spawn(I: Any, F: Any, C: Any, OI: Any, OF: Any, OFREE: Any, FB: Any, FP: Any, EI: Any, EF: Any, EFREE: Any,
           HEAP: Any, key: int, rid: int, deliveries: int, counted: int) -> int:
    """World._spawn_duplicate: a copy of a request (already counted in flight) starts now, with
    the duplicate streams' variates; its client timeout is armed. Returns its row (the caller
    runs it, right after whatever started before it at this instant)."""
    I[R_NFREE_OP] -= 1
    row = OFREE[I[R_NFREE_OP]]
    OI[row, O_KEY] = key
    OI[row, O_RETRIES] = 0
    OI[row, O_RACED] = 0
    OI[row, O_STALE] = 0
    OI[row, O_MISMATCHED] = 0
    OI[row, O_HOLD] = -1
    OI[row, O_HOLD_ACTIVE] = 0
    OI[row, O_WAIT] = 0
    OI[row, O_COND] = 0
    OI[row, O_COUNTED] = counted
    OI[row, O_RID] = rid
    OI[row, O_DELIV] = deliveries + 1
    OI[row, O_DUP] = 1
    OI[row, O_ENTRY] = 0
    uid = I[R_NEXT_UID]
    I[R_NEXT_UID] = uid + 1
    OI[row, O_UID] = uid
    OF[row, O_ARRIVAL] = F[F_NOW]
    OF[row, O_WINDOW] = _draw(FB, FP, S_DWINDOW)
    OF[row, O_READ] = _draw(FB, FP, S_DREAD)
    OF[row, O_WRITE] = _draw(FB, FP, S_DWRITE)
    OI[row, O_ORPHAN] = 0
    OI[row, O_PARTIAL] = 0
    if I[R_PARTIAL]:
        OI[row, O_PARTIAL] = 1 if _draw(FB, FP, S_DPARTIAL) < F[F_PARTIAL_P] else 0
    if counted:
        C[C_DUP_DELIVERIES] += 1
    _watch(I, F, OI, EI, EF, EFREE, HEAP, row)
    return int(row)


# ---------------------------------------------------------------------------------- the loop


@_jit
def kernel(I: Any, F: Any, C: Any, OI: Any, OF: Any, OFREE: Any, KI: Any, KF: Any, MUT: Any, FB: Any, FP: Any,
           FL: Any, KB: Any, KP: Any, KL: Any, EI: Any, EF: Any, EFREE: Any, HEAP: Any, LF: Any, LE: Any, WL: Any,
           AL: Any, LW: Any, RQ: Any, RQF: Any) -> int:
    """Run events until the replication ends (DONE) or the caller must refill or grow something."""
    margin = I[R_MARGIN]
    horizon = F[F_HORIZON]
    end = F[F_END]
    log_room = LE.shape[0] - margin
    budget = 0
    while True:
        if I[R_STOPPED]:
            return DONE
        if I[R_HEAP] == 0:
            while I[R_NEXT_SAMPLE] < I[R_NSAMPLES]:
                I[R_BACKLOG + I[R_NEXT_SAMPLE]] = I[R_INFLIGHT]
                I[R_NEXT_SAMPLE] += 1
            I[R_STOPPED] = 1
            return DONE
        t = HEAP[0, H_TIME]
        # env.run(until=sample) stops before any event at or after the sample instant
        while I[R_NEXT_SAMPLE] < I[R_NSAMPLES] and t >= F[F_SAMPLE + I[R_NEXT_SAMPLE]]:
            I[R_BACKLOG + I[R_NEXT_SAMPLE]] = I[R_INFLIGHT]
            I[R_NEXT_SAMPLE] += 1
        if I[R_PHASE] == 0 and t >= horizon:
            # env.run(until=horizon) ends here; the drain runs only if operations are in flight
            if I[R_INFLIGHT] == 0:
                I[R_STOPPED] = 1
                return DONE
            I[R_PHASE] = 1
        if I[R_PHASE] == 1 and t >= end:
            I[R_STOPPED] = 1
            return DONE
        if budget == 0:
            # room for the worst case of ``budget`` events (one event draws at most ``margin``
            # values of any stream, pushes at most ``margin`` events and logs at most ``margin``)
            room = FL[0] - FP[0]
            for s in range(1, I[R_NFS]):
                room = min(room, FL[s] - FP[s])
            for s in range(I[R_NKS]):
                room = min(room, KL[s] - KP[s])
            if room < margin:
                return NEED_STREAM
            budget = room // margin
            if I[R_NFREE_OP] < 3:
                return NEED_OPS
            budget = min(budget, (I[R_NFREE_OP] - 1) // 2)  # an event starts at most two deliveries
            if I[R_DUPS] and not I[R_RQ_BY_ROW]:  # and at most one new request
                if RQ.shape[0] - I[R_NEXT_RID] < 2:
                    return NEED_REQUESTS
                budget = min(budget, RQ.shape[0] - I[R_NEXT_RID] - 1)
            if I[R_NFREE_EV] < 2 * margin:
                return NEED_EVENTS
            budget = min(budget, I[R_NFREE_EV] // margin - 1)
            logged = max(max(I[R_NLAT], I[R_NLW]), max(I[R_NWIN], I[R_NAGE]))
            if logged + margin > log_room:
                return NEED_LOGS
            budget = min(budget, (log_room - logged) // margin)
        budget -= 1
        ev = _pop(I, EI, EF, HEAP)
        EFREE[I[R_NFREE_EV]] = ev
        I[R_NFREE_EV] += 1
        F[F_NOW] = t
        kind = EI[ev, E_KIND]
        a = EI[ev, E_A]
        run = -1  # the operation row to run after the event (one call site: _run_op is inlined there)
        run_step = 0
        if kind == EV_OP:
            run = a
            run_step = OI[a, O_STEP]
        elif kind == EV_ARRIVAL:
            # World._arrivals: submit the operation drawn last time, draw the next, schedule it
            I[R_NFREE_OP] -= 1
            op = OFREE[I[R_NFREE_OP]]
            OI[op, O_KEY] = I[R_PEND_KEY]
            OI[op, O_RETRIES] = 0
            OI[op, O_RACED] = 0
            OI[op, O_STALE] = 0
            OI[op, O_MISMATCHED] = 0
            OI[op, O_HOLD] = -1
            OI[op, O_HOLD_ACTIVE] = 0
            OI[op, O_WAIT] = 0
            OI[op, O_COND] = 0
            OI[op, O_COUNTED] = 1 if t >= F[F_WARMUP] else 0
            OF[op, O_ARRIVAL] = t
            OF[op, O_WINDOW] = F[F_PEND_WIN]
            OF[op, O_READ] = F[F_PEND_READ]
            OF[op, O_WRITE] = F[F_PEND_WRITE]
            OI[op, O_DUP] = 0
            OI[op, O_ORPHAN] = 0
            OI[op, O_PARTIAL] = 0
            if I[R_PARTIAL]:  # World.submit draws whether the first attempt's use fails half-way
                OI[op, O_PARTIAL] = 1 if _draw(FB, FP, S_PARTIAL) < F[F_PARTIAL_P] else 0
            I[R_INFLIGHT] += 1
            if I[R_DUPS]:  # World.submit: a new request id; a redelivery; the client's timeout
                if I[R_RQ_BY_ROW]:  # the request's state is its operation row's, forgotten since its last use
                    rid = op
                    for q in range(N_Q):
                        RQ[rid, q] = 0
                else:
                    rid = I[R_NEXT_RID]
                    I[R_NEXT_RID] = rid + 1
                OI[op, O_RID] = rid
                OI[op, O_DELIV] = 0
                OI[op, O_ENTRY] = 0
                uid = I[R_NEXT_UID]
                I[R_NEXT_UID] = uid + 1
                OI[op, O_UID] = uid
                if I[R_REDELIVER] and _draw(FB, FP, S_RDRAW) < F[F_REDELIVER_P]:
                    delay = _draw(FB, FP, S_RDELAY)
                    I[R_INFLIGHT] += 1
                    if delay > 0:
                        _push(I, EI, EF, EFREE, HEAP, t + delay, EV_DUPLICATE, OI[op, O_KEY], rid, 0,
                              float(OI[op, O_COUNTED]))
                    else:  # delivered again at once: the copy starts right after the original
                        I[R_RUN] = _spawn(I, F, C, OI, OF, OFREE, FB, FP, EI, EF, EFREE, HEAP, OI[op, O_KEY], rid, 0,
                                          OI[op, O_COUNTED])
                        I[R_NRUN] = 1
                _watch(I, F, OI, EI, EF, EFREE, HEAP, op)
            gap = _draw(FB, FP, S_GAP)
            I[R_PEND_KEY] = KB[KS_CLIENT, KP[KS_CLIENT]]
            KP[KS_CLIENT] += 1
            F[F_PEND_WIN] = _draw(FB, FP, S_WINDOW)
            F[F_PEND_READ] = _draw(FB, FP, S_READ)
            F[F_PEND_WRITE] = _draw(FB, FP, S_WRITE)
            if t + gap >= horizon:
                I[R_ARR_DONE] = 1
            else:
                _push(I, EI, EF, EFREE, HEAP, t + gap, EV_ARRIVAL, 0, 0, 0, 0.0)
            # the new process starts before any other event at this instant
            run = op
            run_step = -1
        elif kind == EV_MUTATOR:
            if t >= end:
                continue
            key = KB[KS_MUTATOR + a, KP[KS_MUTATOR + a]]
            KP[KS_MUTATOR + a] += 1
            if not I[R_MUT_LOCK]:
                _mutate(I, C, KI, KF, MUT, FB, FP, EI, EF, EFREE, HEAP, a, key, t)
            elif KI[key, K_HOLDER] == 0:  # Lock.mutate: the lock is free, write at once
                token = _take_free(I, F, KI, EI, EF, EFREE, HEAP, key)
                _locked_mutate(I, F, C, OI, KI, KF, MUT, FB, FP, EI, EF, EFREE, HEAP, a, key, token)
            else:  # queue behind the holder: a row of the operation table stands for the write
                I[R_NFREE_OP] -= 1
                row = OFREE[I[R_NFREE_OP]]
                OI[row, O_MUT] = a + 1
                OI[row, O_UID] = -1
                OI[row, O_KEY] = key
                OI[row, O_COUNTED] = 0
                OI[row, O_WAIT] = 0
                OI[row, O_TOKEN] = 0
                OF[row, O_ARRIVAL] = t
                _enqueue(OI, KI, key, row)
            _push(I, EI, EF, EFREE, HEAP, t + _draw(FB, FP, S_MUTATOR + a), EV_MUTATOR, a, 0, 0, 0.0)
        elif kind == EV_INVALIDATE:
            if KI[a, K_PRESENT]:
                _cache_drop(I, KI, a)
                C[C_CINVALIDATIONS] += 1
        elif kind == EV_FILL:  # a late cache set
            _cache_fill(I, C, KI, KF, FB, FP, a, EI[ev, E_B], EI[ev, E_C], EF[ev, E_X], t)
        elif kind == EV_GRANT:
            if OI[a, O_MUT]:  # a queued mutator write: Lock._locked_apply
                OFREE[I[R_NFREE_OP]] = a
                I[R_NFREE_OP] += 1
                index = OI[a, O_MUT] - 1
                OI[a, O_MUT] = 0
                _locked_mutate(I, F, C, OI, KI, KF, MUT, FB, FP, EI, EF, EFREE, HEAP, index, OI[a, O_KEY],
                               OI[a, O_TOKEN])
            elif I[R_HAS_WTIMEOUT]:  # the grant triggers the (grant | timeout) condition
                if OI[a, O_WAIT] == EI[ev, E_B] and not OI[a, O_COND]:
                    OI[a, O_COND] = 1
                    _push(I, EI, EF, EFREE, HEAP, t, EV_CONDITION, a, EI[ev, E_B], 0, 0.0)
            else:
                run = a
                run_step = ST_LOCKED
        elif kind == EV_WAIT_TIMEOUT:
            if OI[a, O_WAIT] == EI[ev, E_B] and not OI[a, O_COND] and not OI[a, O_MUT]:
                OI[a, O_COND] = 1
                _push(I, EI, EF, EFREE, HEAP, t, EV_CONDITION, a, EI[ev, E_B], 0, 0.0)
        elif kind == EV_CONDITION:
            run = a
            run_step = ST_WAITED
        elif kind == EV_LEASE:  # KeyLocks._expire: a lease that outlived its holder's use of it
            if KI[a, K_HOLDER] == EI[ev, E_B]:
                C[C_LEASES_EXPIRED] += 1
                _pass_on(I, F, OI, KI, EI, EF, EFREE, HEAP, a)
        elif kind == EV_DRAINED:  # the run's until-condition fires on the drained event
            _push(I, EI, EF, EFREE, HEAP, t, EV_STOP, 0, 0, 0, 0.0)
        elif kind == EV_STOP:
            I[R_STOPPED] = 1
        elif kind == EV_DUPLICATE:  # a redelivery arrives
            run = _spawn(I, F, C, OI, OF, OFREE, FB, FP, EI, EF, EFREE, HEAP, a, EI[ev, E_B], EI[ev, E_C],
                         int(EF[ev, E_X]))
            run_step = -1
        elif kind == EV_CLIENT_TIMEOUT:  # World._timed_out: no answer yet, the client sends it again
            if OI[a, O_UID] == EI[ev, E_B]:
                I[R_INFLIGHT] += 1
                run = _spawn(I, F, C, OI, OF, OFREE, FB, FP, EI, EF, EFREE, HEAP, OI[a, O_KEY], OI[a, O_RID],
                             OI[a, O_DELIV], OI[a, O_COUNTED])
                run_step = -1
        elif OI[a, O_HOLD] == EI[ev, E_B] and OI[a, O_HOLD_ACTIVE]:  # EV_EXPIRE of a live hold
            OI[a, O_HOLD_ACTIVE] = 0
            C[C_EXPIRED] += 1
            _held_change(I, F, t, -1)
            _add_unit(I, C, KI, KF, FB, FP, EI, EF, EFREE, HEAP, OI[a, O_KEY], 1, t)
        while run >= 0:  # one call site: _run_op is inlined there
            _run_op(I, F, C, OI, OF, OFREE, KI, KF, FB, FP, KB, KP, EI, EF, EFREE, HEAP, LF, LE, WL, AL, LW, RQ, RQF,
                    run, run_step)
            run = -1
            if I[R_NRUN]:  # a copy delivered at once starts after the original's first steps
                I[R_NRUN] = 0
                run = I[R_RUN]
                run_step = -1
        if I[R_DRAIN] == 1:  # World.finish succeeded the drained event during this event
            I[R_DRAIN] = 2
            _push(I, EI, EF, EFREE, HEAP, t, EV_DRAINED, 0, 0, 0, 0.0)
