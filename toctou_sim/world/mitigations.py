"""The guide's mitigation patterns as strategies, and the actors that make them matter.

Strategies: :class:`Idempotency` (idempotency keys and a dedupe store), :class:`SingleConsumerQueue`,
:class:`Reconciler` (detect and repair in the background), :class:`TwoPhaseCommit`,
:class:`Reservation` (reserve at check, consume at use) and :class:`PermissionToken` (token TTL
and refresh). :class:`Idempotency` and :class:`Reconciler` wrap an inner strategy, so they
combine with any other.

Actors: :class:`PolicyChanger` (IAM revocations, F3), :class:`SchemaChanger` (F9, artifact
promotion) and :class:`EventStream` (out-of-order delivery, F7).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, cast

import simpy

from toctou_sim.core.distributions import Exponential, Uniform
from toctou_sim.measure.metrics import DECLINED, OK, VIOLATED, TimeWeighted
from toctou_sim.world.engine import (
    ACTORS,
    REJECTED_ATTEMPT,
    STRATEGIES,
    BackgroundActor,
    Flow,
    Operation,
    ReadPath,
    ServiceRefused,
    Strategy,
    World,
)
from toctou_sim.world.strategies import KeyLocks

__all__ = [
    "EventStream",
    "Idempotency",
    "PermissionToken",
    "PolicyChanger",
    "PolicyView",
    "Reconciler",
    "Reservation",
    "SchemaChanger",
    "SingleConsumerQueue",
    "TwoPhaseCommit",
]

_UNIT = Uniform(low=0.0, high=1.0)


def _exponential(mean: float) -> Exponential:
    return Exponential.model_validate({"mean": mean})


def _caught_before_use(world: World, op: Operation) -> None:
    """Count a mismatch caught by a mitigation before any use (a dedupe hit): a conflict."""
    if op.counted:
        recorder = world.recorder
        recorder.attempts += 1
        recorder.mismatches += 1
        recorder.conflicts += 1


def _measured(world: World, t: float) -> bool:
    model = world.spec.model
    return model.warmup <= t < model.horizon


def _measured_minutes(world: World) -> float:
    model = world.spec.model
    return (model.horizon - model.warmup) / 60.0


def _mean(total: float, count: int) -> float:
    return total / count if count else math.nan


def _locked_apply(locks: KeyLocks, lane: int, apply: Callable[[], None], grant: simpy.Event) -> None:
    apply()
    locks.release(lane, cast(int, grant.value))


def _gated_mutate(locks: KeyLocks, lane: int, apply: Callable[[], None]) -> None:
    """Apply a background write once ``lane`` is free (the writer waits its turn)."""
    grant = locks.acquire(lane)
    if grant.triggered:
        _locked_apply(locks, lane, apply, grant)
    else:
        grant.callbacks.append(partial(_locked_apply, locks, lane, apply))


# ============================================================================== idempotency


class _DedupeEntry:
    """An idempotency key in the dedupe store: who claimed it, and whether its effect is done."""

    __slots__ = ("completed", "expires", "owner", "visible_at")

    def __init__(self, owner: Operation, expires: float, visible_at: float) -> None:
        self.owner = owner
        self.expires = expires
        self.visible_at = visible_at
        self.completed = False


@STRATEGIES.register("idempotency")
class Idempotency(Strategy):
    """Idempotency keys: every delivery of a request carries its request id, and a dedupe store
    remembers the ids claimed.

    A delivery first looks its key up. A completed key means the request was already served:
    the duplicate is a no-op that returns the stored answer (a dedupe hit, counted as a
    conflict). A key still in progress is an idempotency conflict (409, guide M6). An absent key
    is claimed and the inner strategy runs; the claim is released if the request did not
    complete, even after a use that took effect and then failed (a partial failure: the retry
    acts again), unless ``record_with_effect`` marks the key done with the effect (the retry then
    gets the stored answer). On a strongly consistent store lookup and claim are one atomic step, so at most one
    delivery proceeds; on an eventual store a claim is seen by others only after the visibility
    lag, and a key is forgotten after its TTL: both let duplicates through.
    """

    def __init__(self, world: World, spec: Any) -> None:
        super().__init__(world, spec)
        self.inner = STRATEGIES[spec.inner.kind](world, spec.inner)
        dedupe = spec.dedupe
        self._strong: bool = dedupe.consistency == "strong"
        self._with_effect: bool = spec.record_with_effect
        self._ttl: float = dedupe.ttl if dedupe.ttl is not None else math.inf
        self._lookup = world.streams.variates("idempotency.lookup_latency", dedupe.lookup_latency)
        self._lag = world.streams.variates("idempotency.visibility_lag", dedupe.visibility_lag)
        self.service = world.add_actor("dedupe")
        self._capacity = world.finite_service("dedupe")
        self.table: dict[int, _DedupeEntry] = {}
        self.unreachable = 0
        self.hits = 0
        self.conflicts = 0
        self.expired = 0

    def attempt(self, op: Operation, first: bool) -> Flow:
        world = self.world
        env = world.env
        if not (yield from world.reach(self.service)):
            if op.counted:
                self.unreachable += 1
            return REJECTED_ATTEMPT  # the dedupe store did not answer: the request fails
        if self._capacity is not None:  # a finite dedupe store: queue for a server first
            yield from self._capacity.call(op)
        latency = self._lookup() * self.service.latency_factor
        if latency > 0:
            yield env.timeout(latency)
        now = env.now
        rid = op.request_id
        table = self.table
        entry = table.get(rid)
        if entry is not None and entry.expires <= now:
            del table[rid]
            self.expired += 1
            entry = None
        if entry is not None and ((entry.owner is not op and entry.visible_at <= now)
                                  or (entry.owner is op and entry.completed)):
            _caught_before_use(world, op)
            if entry.completed:
                if op.counted:
                    self.hits += 1
                return DECLINED
            if op.counted:
                self.conflicts += 1
            return REJECTED_ATTEMPT
        if entry is None or entry.owner is not op:
            visible = now if self._strong else now + self._lag()
            entry = table[rid] = _DedupeEntry(op, now + self._ttl, visible)
        orphaned = op.left_orphan
        try:
            outcome = yield from self.inner.attempt(op, first)
        except ServiceRefused:  # a finite service refused the use: release the key, then fail
            if table.get(rid) is entry:
                del table[rid]
            raise
        if outcome in (OK, VIOLATED) or (self._with_effect and op.left_orphan and not orphaned):
            entry.completed = True
        elif table.get(rid) is entry:
            del table[rid]
        return outcome

    def mutate(self, key: int, apply: Callable[[], None]) -> None:
        self.inner.mutate(key, apply)

    def metrics(self) -> dict[str, float]:
        extra = self.inner.metrics()
        extra.update({
            "dedupe_hits": float(self.hits),
            "idempotency_conflicts": float(self.conflicts),
            "dedupe_keys_expired": float(self.expired),
            "dedupe_unreachable": float(self.unreachable),
        })
        return extra


# ============================================================================== queue


@STRATEGIES.register("queue")
class SingleConsumerQueue(Strategy):
    """A queued command with a single consumer per lane (key, partition or global).

    The consumer takes one operation at a time and runs its check, window and use, so no two
    queued operations of a lane interleave: queue wait becomes latency and a lane's throughput
    is one over the mean service time. Background writers that bypass the queue still race.
    """

    def __init__(self, world: World, spec: Any) -> None:
        super().__init__(world, spec)
        self.lanes = KeyLocks(world.env, None)
        self.consumer = world.add_actor("consumer")
        self._scope: str = spec.scope
        self._partitions: int = spec.partitions
        self._through: bool = spec.mutators_through_queue
        self._enqueue = world.streams.variates("queue.enqueue_latency", spec.enqueue_latency)
        self._ack: Any = spec.ack
        self._work = world.finite_service("consumer")
        """The consumer's throughput (``[capacity.consumer]``), or ``None``: unbounded."""
        self.lost_acks = 0
        """Messages whose consumer crashed after the effect and before the ack (redelivered)."""
        if self._ack is not None:
            self._ack_latency = world.streams.variates("queue.ack_latency", self._ack.latency)
            world.enable_duplicates()
        self._wait_total = 0.0
        self._waits = 0
        self._service_total = 0.0

    def lane(self, key: int) -> int:
        """The consumer lane serving ``key``."""
        if self._scope == "key":
            return key
        if self._scope == "partition":
            return key % self._partitions
        return 0

    def attempt(self, op: Operation, first: bool) -> Flow:
        world = self.world
        env = world.env
        latency = self._enqueue()
        if latency > 0:
            yield env.timeout(latency)
        lane = self.lane(op.key)
        queued = env.now
        grant = self.lanes.acquire(lane)
        if not grant.triggered:
            yield grant
        token = cast(int, grant.value)
        started = env.now
        if op.counted:
            self._wait_total += started - queued
            self._waits += 1
        consumer = self.consumer
        try:
            if self._work is not None:  # a finite consumer: wait for a worker, hold it a service time
                yield from self._work.call(op)
            yield from consumer.wait(env)  # a paused or crashed consumer holds its lane
            if not (yield from world.check(op, op.read_latency)):
                return DECLINED
            yield from world.wait_window(op.window)
            yield from consumer.wait(env)
            if world.store_writes is not None:  # a finite store: queue for a server first
                yield from world.store_writes.call(op)
            if op.write_latency > 0:
                yield env.timeout(op.write_latency)
            outcome = world.decide(op, accepted=True)
            if self._ack is not None and outcome != REJECTED_ATTEMPT:
                yield from self._acknowledge(op, started)
            return outcome
        finally:
            if op.counted:
                self._service_total += env.now - started
            self.lanes.release(lane, token)

    def _acknowledge(self, op: Operation, received: float) -> Flow:
        """Ack the message after its effect; a consumer crash in between loses the ack, and the
        broker redelivers the message when its visibility timeout runs out."""
        env = self.world.env
        epoch = self.consumer.epoch
        latency = self._ack_latency()
        if latency > 0:
            yield env.timeout(latency)
        if self.consumer.crashed_since(epoch):
            if op.counted:
                self.lost_acks += 1
            self.world.lose_answer(op, max(0.0, received + self._ack.visibility_timeout - env.now))

    def mutate(self, key: int, apply: Callable[[], None]) -> None:
        if self._through:
            _gated_mutate(self.lanes, self.lane(key), apply)
        else:
            apply()

    def metrics(self) -> dict[str, float]:
        extra = {
            "queue_wait_mean_ms": _mean(self._wait_total, self._waits) * 1e3,
            "queue_service_mean_ms": _mean(self._service_total, self._waits) * 1e3,
        }
        if self._ack is not None:
            extra["queue_lost_acks"] = float(self.lost_acks)
        return extra


# ============================================================================== reconcile


class _Harm:
    """Something a reconciler can find: a violation's lasting effect or an orphan."""

    __slots__ = ("detected", "key", "kind", "t")

    def __init__(self, key: int, kind: str, t: float) -> None:
        self.key = key
        self.kind = kind
        self.t = t
        self.detected = math.nan


@STRATEGIES.register("reconcile")
class Reconciler(Strategy):
    """Detect and repair instead of prevent: the inner strategy serves the operations and a
    background reconciler runs every period (plus jitter).

    Each run finds every harm present (an oversold unit, a duplicate, an unauthorized action,
    an orphan older than ``min_age``) and repairs them, concurrently, each with a compensating
    action (cancel the order, delete the duplicate or the orphan, refund) that takes
    ``repair_latency`` and fails with ``repair_failure`` probability; a failed repair waits for
    the next run. Measured: time from harm to detection (guide M10), time in violation,
    failures per minute (M2). The first run comes at a random phase of the period (or at
    ``phase``); harms of the measured span still undetected when the replication ends are
    censored detections, counted in ``detections_censored`` (the mean time to detect is over
    the detected ones, so a large censored share means it is biased low).
    """

    def __init__(self, world: World, spec: Any) -> None:
        super().__init__(world, spec)
        self.inner = STRATEGIES[spec.inner.kind](world, spec.inner)
        streams = world.streams
        self._period: float = spec.period
        self._jitter: float = spec.jitter
        self._min_age: float = spec.min_age
        self._failure: float = spec.repair_failure
        self._jitter_draw = streams.variates("reconcile.jitter", _UNIT)
        phase = spec.phase
        self._first_wait: float = (
            streams.variates("reconcile.phase", _UNIT)() * spec.period if phase == "random" else float(phase)
        )
        self._repair_latency = streams.variates("reconcile.repair_latency", spec.repair_latency)
        self._repair_draw = streams.variates("reconcile.repair_failure", _UNIT)
        self.actor = world.add_actor("reconciler")
        self.pending: list[_Harm] = []
        self.runs = 0
        self.failures = 0
        self.repaired = 0
        self._detect_total = 0.0
        self._detected = 0
        self._harms_measured = 0
        self._violation_total = 0.0
        self._resolved = 0
        self._orphan_total = 0.0
        self._orphans_cleaned = 0
        world.harm_listeners.append(self._on_harm)
        world.env.process(self._loop())

    def attempt(self, op: Operation, first: bool) -> Flow:
        return (yield from self.inner.attempt(op, first))

    def mutate(self, key: int, apply: Callable[[], None]) -> None:
        self.inner.mutate(key, apply)

    def _on_harm(self, op: Operation, kind: str) -> None:
        now = self.world.env.now
        self.pending.append(_Harm(op.key, kind, now))
        if _measured(self.world, now):
            self._harms_measured += 1

    def _loop(self) -> Flow:
        world = self.world
        env = world.env
        end = 2 * world.spec.model.horizon
        wait = self._first_wait
        while True:
            if wait > 0:
                yield env.timeout(wait)
            yield from self.actor.wait(env)  # a paused or crashed reconciler runs late
            if env.now >= end:
                return
            yield from self.run_once()
            wait = self._period + self._jitter * self._jitter_draw() if self._jitter else self._period

    def run_once(self) -> Flow:
        """One reconcile pass: detect everything present now, then repair it all concurrently;
        the pass ends when every compensating action has finished or failed."""
        world = self.world
        env = world.env
        self.runs += 1
        now = env.now
        found = [h for h in self.pending if h.kind != "orphan" or now - h.t >= self._min_age]
        for harm in found:
            if math.isnan(harm.detected):
                harm.detected = now
                if _measured(world, harm.t):
                    self._detect_total += now - harm.t
                    self._detected += 1
        if found:
            yield env.all_of([env.process(self._repair_one(harm)) for harm in found])

    def _repair_one(self, harm: _Harm) -> Flow:
        """One compensating action (the run issues them concurrently)."""
        world = self.world
        env = world.env
        latency = self._repair_latency()
        if latency > 0:
            yield env.timeout(latency)
        if self._failure > 0 and self._repair_draw() < self._failure:
            if _measured(world, env.now):
                self.failures += 1
            return
        self._repair(harm)

    def _repair(self, harm: _Harm) -> None:
        world = self.world
        now = world.env.now
        self.pending.remove(harm)
        self.repaired += 1
        if _measured(world, harm.t):
            self._violation_total += now - harm.t
            self._resolved += 1
            if harm.kind == "orphan":
                self._orphan_total += now - harm.t
                self._orphans_cleaned += 1
        if harm.kind == "orphan":
            world.orphans.change(now, -1)
        undo = _UNDO.get((world.spec.keys.invariant, harm.kind))
        if undo is not None:
            store = world.store
            key = harm.key
            on_write = world.read_path.on_write

            def apply() -> None:
                store.write(key, undo(store.value[key]))
                on_write(key)

            self.mutate(key, apply)

    def metrics(self) -> dict[str, float]:
        extra = self.inner.metrics()
        minutes = _measured_minutes(self.world)
        extra.update({
            "reconcile_runs": float(self.runs),
            "reconcile_failures": float(self.failures),
            "reconcile_failures_per_min": self.failures / minutes if minutes > 0 else math.nan,
            "mean_time_to_detect_s": _mean(self._detect_total, self._detected),
            "detections_censored": float(self._harms_measured - self._detected),
            "time_in_violation_mean_s": _mean(self._violation_total, self._resolved),
            "violation_seconds_per_min": self._violation_total / minutes if minutes > 0 else math.nan,
            "harms_repaired": float(self.repaired),
            "harms_outstanding": float(len(self.pending)),
            "orphan_cleanup_time_mean_s": _mean(self._orphan_total, self._orphans_cleaned),
        })
        return extra


_UNDO: dict[tuple[str, str], Callable[[int], int]] = {
    ("counter", "oversell"): lambda value: value + 1,
    ("counter", "orphan"): lambda value: value + 1,
    ("counter", "duplicate"): lambda value: value + 1,
    ("exists", "orphan"): lambda value: 0,
}
"""Compensating actions that change the key: cancelling an oversold or duplicate decrement gives
the unit back; deleting an orphan frees its capacity (``counter``) or its name (``exists``).
Other repairs (delete a duplicate copy, refund, revoke what was done) leave the key as it is."""


# ============================================================================== two-phase commit


@STRATEGIES.register("two_phase")
class TwoPhaseCommit(Strategy):
    """Two-phase commit: a coordinator asks every participant to prepare (lock the key, check,
    vote), then tells them to commit, and the use is applied at commit.

    The key stays locked from prepare to commit, so no cooperating writer can change it in
    between: two-phase commit never violates. Its costs are two round trips to the slowest
    participant, lock holding, and blocking: if the coordinator crashes after the votes,
    participants stay in doubt with their locks held until it recovers.
    """

    def __init__(self, world: World, spec: Any) -> None:
        super().__init__(world, spec)
        streams = world.streams
        self.locks = KeyLocks(world.env, None)
        self.coordinator = world.add_actor("coordinator")
        self._participants: int = spec.participants
        self._rtt = streams.variates("two_phase.round_trip", spec.round_trip)
        self._crash: float = spec.coordinator_crash
        self._crash_draw = streams.variates("two_phase.crash", _UNIT)
        self._recovery = streams.variates("two_phase.recovery_time", spec.recovery_time)
        self._commit_after_recovery: bool = spec.recovery == "commit"
        self._gate: bool = spec.mutators_take_lock
        self.in_doubt = 0
        self._in_doubt_total = 0.0
        self.prepare_failures = 0
        self._held_total = 0.0
        self._held = 0
        self.participants = [world.add_actor(f"participant.{index}") for index in range(spec.participants)]
        """The participants' actors: a crash of one after it prepared leaves it in doubt."""
        self._participant_faults = any(fault.target.startswith("participant.")
                                       for fault in world.spec.faults if hasattr(fault, "target"))
        self.participant_failures = 0

    def round_trip(self) -> float:
        """One round trip to every participant in parallel: the slowest answer."""
        rtt = self._rtt
        return max(rtt() for _ in range(self._participants))

    def attempt(self, op: Operation, first: bool) -> Flow:
        world = self.world
        env = world.env
        coordinator = self.coordinator
        yield from coordinator.wait(env)
        epoch = coordinator.epoch
        grant = self.locks.acquire(op.key)
        if not grant.triggered:
            yield grant
        token = cast(int, grant.value)
        locked = env.now
        try:
            if coordinator.crashed_since(epoch):
                return REJECTED_ATTEMPT  # its coordinator died before it prepared: nothing to resolve
            prepare = self.round_trip()
            if prepare > 0:
                yield env.timeout(prepare)
            if not (yield from world.check(op, op.read_latency)):
                return DECLINED
            if op.partial:
                # A participant could not prepare its step: everybody aborts, nothing is created.
                if op.counted:
                    self.prepare_failures += 1
                return REJECTED_ATTEMPT
            prepared = [participant.epoch for participant in self.participants]
            yield from world.wait_window(op.window)
            voted = env.now
            yield from coordinator.wait(env)  # a paused coordinator keeps the participants waiting
            crashed = self._crash > 0 and self._crash_draw() < self._crash
            if crashed or coordinator.crashed_since(epoch):
                # The coordinator died after the votes: participants are in doubt, locks held,
                # until it recovers (a drawn recovery time, or the crash fault's restart).
                start = voted
                if crashed:
                    recovery = self._recovery()
                    if recovery > 0:
                        yield env.timeout(recovery)
                yield from coordinator.wait(env)
                if op.counted:
                    self.in_doubt += 1
                    self._in_doubt_total += env.now - start
                if not self._commit_after_recovery:
                    return REJECTED_ATTEMPT
            if self._participant_faults:
                yield from self._await_participants(op, prepared)
            commit = self.round_trip()
            if commit > 0:
                yield env.timeout(commit)
            if world.store_writes is not None:  # a finite store: queue for a server first
                yield from world.store_writes.call(op)
            if op.write_latency > 0:
                yield env.timeout(op.write_latency)
            return world.decide(op, accepted=True)
        finally:
            if op.counted:
                self._held_total += env.now - locked
                self._held += 1
            self.locks.release(op.key, token)

    def mutate(self, key: int, apply: Callable[[], None]) -> None:
        if self._gate:
            _gated_mutate(self.locks, key, apply)
        else:
            apply()

    def _await_participants(self, op: Operation, prepared: list[int]) -> Flow:
        """A participant that crashed after it prepared is in doubt: it keeps the key locked (its
        prepare record is durable) and the commit waits until it has restarted and can apply it."""
        env = self.world.env
        for participant, epoch in zip(self.participants, prepared, strict=True):
            if participant.crashed_since(epoch) or participant.down_until > env.now:
                if op.counted:
                    self.participant_failures += 1
                yield from participant.wait(env)

    def metrics(self) -> dict[str, float]:
        extra = {
            "in_doubt_transactions": float(self.in_doubt),
            "in_doubt_time_mean_s": _mean(self._in_doubt_total, self.in_doubt),
            "prepare_failures": float(self.prepare_failures),
            "lock_held_mean_ms": _mean(self._held_total, self._held) * 1e3,
        }
        if self._participant_faults:
            extra["participant_failures_after_prepare"] = float(self.participant_failures)
        return extra


# ============================================================================== reservation


class _Hold:
    """A unit reserved for one operation."""

    __slots__ = ("active", "key")

    def __init__(self, key: int) -> None:
        self.key = key
        self.active = True


@STRATEGIES.register("reservation")
class Reservation(Strategy):
    """Pre-reserve capacity: the check atomically takes one unit at the store (so it can never
    be promised twice), the use consumes the unit it holds, and an operation that gives up, or
    whose reservation outlives its TTL, gives the unit back.

    Nothing is oversold; the price is capacity held idle between check and use (and for the
    TTL when a client never comes back), and uses throttled after their reservation expired.
    """

    def __init__(self, world: World, spec: Any) -> None:
        super().__init__(world, spec)
        self._ttl: float | None = spec.ttl
        model = world.spec.model
        self.held = TimeWeighted(model.warmup, model.horizon)
        self.expired = 0
        self.throttled = 0

    def _take(self, key: int) -> bool:
        store = self.world.store
        if store.value[key] <= 0:
            return False
        store.write(key, store.value[key] - 1)
        self.world.read_path.on_write(key)
        return True

    def _give(self, key: int) -> None:
        store = self.world.store
        store.write(key, store.value[key] + 1)
        self.world.read_path.on_write(key)

    def _expire(self, hold: _Hold, _event: simpy.Event) -> None:
        if hold.active:
            hold.active = False
            self.expired += 1
            self.held.change(self.world.env.now, -1)
            self._give(hold.key)

    def attempt(self, op: Operation, first: bool) -> Flow:
        world = self.world
        env = world.env
        store = world.store
        key = op.key
        yield from world.actors["clients"].wait(env)  # a paused client reserves when it resumes
        if not (yield from world.reach(world.actors["store"])):
            return REJECTED_ATTEMPT  # the store is partitioned and the call timed out
        if world.store_reads is not None:  # a finite store: queue for a server first
            yield from world.store_reads.call(op)
        if op.read_latency > 0:
            yield env.timeout(op.read_latency)
        op.t_check = env.now
        op.stale = False
        if op.counted:
            world.recorder.attempts += 1
        if not self._take(key):
            op.seen_version = store.version[key]
            return DECLINED
        op.seen_version = store.version[key]
        hold = _Hold(key)
        self.held.change(env.now, 1)
        if self._ttl is not None:
            env.timeout(self._ttl).callbacks.append(partial(self._expire, hold))
        try:
            yield from world.wait_window(op.window)
            if world.store_writes is not None:  # a finite store: queue for a server first
                yield from world.store_writes.call(op)
            if op.write_latency > 0:
                yield env.timeout(op.write_latency)
            if not hold.active:
                if not self._take(key):
                    if op.counted:
                        self.throttled += 1
                    return world.catch(op)
                hold.active = True
                self.held.change(env.now, 1)
            # Consume: the held unit is handed back and taken by the use in the same instant.
            hold.active = False
            self.held.change(env.now, -1)
            self._give(key)
            return world.decide(op, accepted=True)
        finally:
            if hold.active:
                hold.active = False
                self.held.change(env.now, -1)
                self._give(key)

    def metrics(self) -> dict[str, float]:
        return {
            "capacity_held_idle": self.held.mean(),
            "reservations_expired": float(self.expired),
            "throttled_after_expiry": float(self.throttled),
        }


# ============================================================================== permission tokens


class _Token:
    __slots__ = ("expires", "value", "version")

    def __init__(self, expires: float, version: int, value: int) -> None:
        self.expires = expires
        """The expiry claim (``exp``): the issuer's clock at issue plus the TTL."""
        self.version = version
        self.value = value


@STRATEGIES.register("token")
class PermissionToken(Strategy):
    """Permission tokens with a TTL, for the authorization case (guide F3, F10).

    The check asks the policy store and gets a token whose expiry claim is the issuer's clock
    plus ``ttl``; the resource (the verifier) honours a token it judges unexpired without asking
    again, so a revocation during the token's life goes unnoticed (an unauthorized action). The
    verifier judges expiry on its own clock, with ``leeway`` of tolerance: a use whose token it
    judges expired is refused (a 401, an authentication expiry error; the flow is retried). With
    ``refresh`` the client refreshes, just before use, a token that its own clock says has
    expired: a re-check near use that turns a revocation into a 403 (a caught conflict). With
    ``reuse`` clients keep tokens per key and skip the check while their clock says they are
    valid: cheaper checks, longer blindness.

    Three clocks, three fault targets (guide F10): ``issuer`` stamps the expiry, ``verifier``
    judges it at use, ``clients`` decide reuse and refresh. A verifier whose clock runs ahead
    refuses valid tokens (expiry errors); one whose clock runs behind honours expired ones.
    """

    def __init__(self, world: World, spec: Any) -> None:
        super().__init__(world, spec)
        self._ttl: float = spec.ttl
        self._leeway: float = spec.leeway
        self._refresh: bool = spec.refresh
        self._reuse: bool = spec.reuse
        self._refresh_latency = world.streams.variates("token.refresh_latency", spec.refresh_latency)
        self.clock = world.add_actor("clients")
        """Reuse and refresh are decided on the clients' clock."""
        self.issuer = world.add_actor("issuer")
        """The token service: its clock stamps the expiry claim."""
        self.verifier = world.add_actor("verifier")
        """The resource that honours tokens: its clock judges the expiry at use."""
        self.tokens: dict[int, _Token] = {}
        self.refreshes = 0
        self.reused = 0
        self.expired_at_use = 0

    def _issue(self, now: float, version: int, value: int) -> _Token:
        return _Token(self.issuer.local_time(now) + self._ttl, version, value)

    def attempt(self, op: Operation, first: bool) -> Flow:
        world = self.world
        env = world.env
        store = world.store
        key = op.key
        clock = self.clock
        token = self.tokens.get(key) if self._reuse else None
        if token is not None and clock.local_time(env.now) < token.expires:
            # The cached token stands in for the check: no read, the token's snapshot is used.
            op.seen_version, op.seen_value, op.t_check = token.version, token.value, env.now
            op.stale = token.version != store.version[key] and not store.holds(key, token.version)
            if op.counted:
                world.recorder.attempts += 1
                self.reused += 1
                if token.version != store.version[key]:
                    world.recorder.stale_checks += 1
        else:
            if not (yield from world.check(op, op.read_latency)):
                return DECLINED
            token = self._issue(env.now, op.seen_version, op.seen_value)
            if self._reuse:
                self.tokens[key] = token
        yield from world.wait_window(op.window)
        if self._refresh and clock.local_time(env.now) >= token.expires:
            latency = self._refresh_latency()
            if latency > 0:
                yield env.timeout(latency)
            if op.counted:
                self.refreshes += 1
            if not store.holds(key, op.seen_version):
                self.tokens.pop(key, None)
                return world.catch(op)
            token = self._issue(env.now, store.version[key], store.value[key])
            if self._reuse:
                self.tokens[key] = token
        if self.verifier.local_time(env.now) >= token.expires + self._leeway:
            # The verifier judges the token expired on its own clock: 401, the flow is retried.
            if op.counted:
                self.expired_at_use += 1
            self.tokens.pop(key, None)
            return world.catch(op)
        if world.store_writes is not None:  # a finite store: queue for a server first
            yield from world.store_writes.call(op)
        if op.write_latency > 0:
            yield env.timeout(op.write_latency)
        return world.decide(op, accepted=True)

    def metrics(self) -> dict[str, float]:
        return {
            "token_refreshes": float(self.refreshes),
            "token_reuses": float(self.reused),
            "token_expired_at_use": float(self.expired_at_use),
        }


# ============================================================================== actors


def _actor_index(world: World, spec: Any) -> int:
    return next(i for i, actor in enumerate(world.spec.actors) if actor is spec)


class PolicyView(ReadPath):
    """The checker's copy of the policy (a replicated or cached policy store, an IAM endpoint
    that lags the enforcement point): every change the :class:`PolicyChanger` makes reaches it
    ``propagation_delay`` after it took effect at the enforcer (the store). While a change of a
    key is still on its way, a check of that key reads the view's older state (a stale check);
    otherwise it reads through the model's own read path.

    It wraps the world's read path; whatever else reads or writes goes to that read path.
    """

    def __init__(self, world: World, inner: ReadPath) -> None:
        super().__init__(world, inner.spec)
        self.inner = inner
        count = world.spec.keys.count
        self.pending = [0] * count
        """Changes of each key that took effect at the enforcer and have not reached the view."""
        self.version = [0] * count
        """The newest version of each key the view has received."""
        self.value = [world.spec.keys.initial_value] * count
        self.lagging_reads = 0

    def changed(self, key: int, delay: float) -> None:
        """The enforcer's state of ``key`` just changed; the view gets it ``delay`` from now."""
        store = self.world.store
        self.pending[key] += 1
        state = (store.version[key], store.value[key])
        if delay > 0:
            self.world.env.timeout(delay).callbacks.append(partial(self._arrive, key, state))
        else:
            self._arrive(key, state)

    def _arrive(self, key: int, state: tuple[int, int], _event: simpy.Event | None = None) -> None:
        self.pending[key] -= 1
        if state[0] > self.version[key]:  # changes may arrive out of order: the newest wins
            self.version[key], self.value[key] = state

    def _lagged(self, key: int, version: int, value: int) -> tuple[int, int]:
        if self.pending[key]:
            self.lagging_reads += 1
            return self.version[key], self.value[key]
        return version, value

    def observe(self, op: Operation, latency: float) -> Flow:
        version, value = yield from self.inner.observe(op, latency)
        return self._lagged(op.key, version, value)

    def read(self, key: int, latency: float) -> Flow:
        version, value = yield from self.inner.read(key, latency)
        return self._lagged(key, version, value)

    def on_write(self, key: int) -> None:
        self.inner.on_write(key)

    def on_use(self, op: Operation) -> None:
        self.inner.on_use(op)

    def metrics(self) -> dict[str, float]:
        return {**self.inner.metrics(), "policy_view_lagging_reads": float(self.lagging_reads)}


@ACTORS.register("policy_changer")
class PolicyChanger(BackgroundActor):
    """An IAM administrator revoking permissions (and restoring them later). Each change takes
    effect at once at the enforcer (the store: the truth a use is judged on) and reaches the
    checker's view of the policy ``propagation_delay`` later (:class:`PolicyView`, installed
    over the world's read path), so a check in between still says "allowed" (guide F3). While
    any revocation of a key is in force the key is denied."""

    def __init__(self, world: World, spec: Any) -> None:
        super().__init__(world, spec)
        name = f"actors.{_actor_index(world, spec)}"
        streams = world.streams
        self._gaps = streams.variates(f"{name}.arrivals", _exponential(1.0 / spec.rate))
        self._keys = streams.keys(f"{name}.keys", world.spec.keys.count, None)
        self._restore = streams.variates(f"{name}.restore_after", spec.restore_after)
        self._delay = streams.variates(f"{name}.propagation_delay", spec.propagation_delay)
        self._revoked = [0] * world.spec.keys.count
        self.revocations = 0
        view = world.read_path
        if not isinstance(view, PolicyView):  # several policy changers share one view
            view = world.read_path = PolicyView(world, view)
        self.view: PolicyView = view

    def start(self) -> None:
        self.world.env.process(self._run())

    def _change(self, key: int, revoke: bool, delay: float, _event: simpy.Event | None = None) -> None:
        world = self.world
        store = world.store
        revoked = self._revoked
        view = self.view

        def apply() -> None:
            revoked[key] += 1 if revoke else -1
            store.write(key, 0 if revoked[key] > 0 else 1)
            view.on_write(key)
            view.changed(key, delay)

        world.strategy.mutate(key, apply)

    def _run(self) -> Flow:
        env = self.world.env
        end = 2 * self.world.spec.model.horizon
        while True:
            yield env.timeout(self._gaps())
            if env.now >= end:
                return
            key = self._keys()
            if _measured(self.world, env.now):
                self.revocations += 1
            revoke_delay = self._delay()
            restore_at = self._restore()
            restore_delay = self._delay()
            self._change(key, True, revoke_delay)
            env.timeout(restore_at).callbacks.append(partial(self._change, key, False, restore_delay))

    def metrics(self) -> dict[str, float]:
        return {"policy_revocations": float(self.revocations)}


@ACTORS.register("schema_changer")
class SchemaChanger(BackgroundActor):
    """Schema migrations or artifact promotions: each change, after its duration, moves one key
    (or every key) to a new version, so a write prepared against the old version lands on the
    wrong schema (a corrupt write) unless it is versioned."""

    def __init__(self, world: World, spec: Any) -> None:
        super().__init__(world, spec)
        name = f"actors.{_actor_index(world, spec)}"
        streams = world.streams
        self._gaps = streams.variates(f"{name}.arrivals", _exponential(1.0 / spec.rate))
        self._keys = streams.keys(f"{name}.keys", world.spec.keys.count, None)
        self._duration = streams.variates(f"{name}.duration", spec.duration)
        self._all: bool = spec.scope == "all"
        self.changes = 0

    def start(self) -> None:
        self.world.env.process(self._run())

    def _apply(self, keys: range | tuple[int], _event: simpy.Event | None = None) -> None:
        world = self.world
        store = world.store
        for key in keys:

            def apply(key: int = key) -> None:
                store.write(key, store.value[key] + 1)
                world.read_path.on_write(key)

            world.strategy.mutate(key, apply)

    def _run(self) -> Flow:
        env = self.world.env
        end = 2 * self.world.spec.model.horizon
        count = self.world.spec.keys.count
        while True:
            yield env.timeout(self._gaps())
            if env.now >= end:
                return
            keys: range | tuple[int] = range(count) if self._all else (self._keys(),)
            if _measured(self.world, env.now):
                self.changes += 1
            duration = self._duration()
            if duration > 0:
                env.timeout(duration).callbacks.append(partial(self._apply, keys))
            else:
                self._apply(keys)

    def metrics(self) -> dict[str, float]:
        return {"schema_changes": float(self.changes)}


@ACTORS.register("event_stream")
class EventStream(BackgroundActor):
    """State-change events per key, numbered in production order and delivered after a random
    delay, so a later event can overtake an earlier one. A handler reads the key's state, works,
    and writes the event's state; writing an older event over a newer one is an ordering error
    (the state goes back in time). Sequence numbers checked at read time narrow the race to the
    handling time; a write conditional on the sequence number closes it."""

    def __init__(self, world: World, spec: Any) -> None:
        super().__init__(world, spec)
        name = f"actors.{_actor_index(world, spec)}"
        streams = world.streams
        keys = world.spec.keys
        self._gaps = streams.variates(f"{name}.arrivals", _exponential(1.0 / spec.rate))
        zipf = getattr(keys.popularity, "zipf", None)
        self._keys = streams.keys(f"{name}.keys", keys.count, zipf)
        self._delivery = streams.variates(f"{name}.delivery_delay", spec.delivery_delay)
        self._handling = streams.variates(f"{name}.handling_time", spec.handling_time)
        self._read = streams.variates(f"{name}.read_latency", world.spec.store.read_latency)
        self._write = streams.variates(f"{name}.write_latency", world.spec.store.write_latency)
        self._ordering: str = spec.ordering
        self.produced = [0] * keys.count
        self.applied = [0] * keys.count
        self.events = 0
        self.errors = 0
        self.dropped = 0

    def start(self) -> None:
        self.world.env.process(self._run())

    def _run(self) -> Flow:
        env = self.world.env
        horizon = self.world.spec.model.horizon
        while True:
            yield env.timeout(self._gaps())
            if env.now >= horizon:
                return
            key = self._keys()
            self.produced[key] += 1
            counted = _measured(self.world, env.now)
            if counted:
                self.events += 1
            env.process(self._handle(key, self.produced[key], counted))

    def _handle(self, key: int, seq: int, counted: bool) -> Flow:
        env = self.world.env
        ordering = self._ordering
        for delay in (self._delivery(), self._read()):
            if delay > 0:
                yield env.timeout(delay)
        if ordering == "check" and seq < self.applied[key]:
            self.dropped += counted
            return
        for delay in (self._handling(), self._write()):
            if delay > 0:
                yield env.timeout(delay)
        if ordering == "conditional" and seq < self.applied[key]:
            self.dropped += counted
            return
        if seq < self.applied[key]:
            self.errors += counted
        self.applied[key] = seq

    def metrics(self) -> dict[str, float]:
        return {
            "events": float(self.events),
            "ordering_errors": float(self.errors),
            "ordering_error_rate": self.errors / self.events if self.events else math.nan,
            "stale_events_dropped": float(self.dropped),
        }
