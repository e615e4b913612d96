"""The ``queue`` strategy: a single consumer per key, per partition or globally."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, cast

from pydantic import Field

from toctou_sim.core.distributions import DistributionSpec, parse_distribution
from toctou_sim.core.units import PositiveDuration
from toctou_sim.measure.metrics import DECLINED
from toctou_sim.spec.parts import StrategySpec, StrictModel
from toctou_sim.spec.registry import Plugin
from toctou_sim.spec.targets import ACTIVE_ACTOR, TargetKind
from toctou_sim.world.engine import REJECTED_ATTEMPT, Flow, Operation, Strategy, World
from toctou_sim.world.mitigations import gated_mutate, mean_or_nan
from toctou_sim.world.strategies import KeyLocks

__all__ = ["PLUGIN", "AckSpec", "QueueSpec", "SingleConsumerQueue"]


class AckSpec(StrictModel):
    """The consumer acknowledges a message ``latency`` after its effect. A consumer that crashes in
    between (a ``crash`` fault on ``consumer``) never acks: the broker redelivers the message
    ``visibility_timeout`` after the consumer received it (or at once, if that has passed), with the
    same request id, and its second effect is a duplicate unless something (idempotency)
    dedupes it."""

    latency: DistributionSpec = parse_distribution(0.0)
    visibility_timeout: PositiveDuration = 30.0


class QueueSpec(StrategySpec):
    """Operations are enqueued and a single consumer per lane runs check, window and use one at a
    time: per ``key``, per ``partition`` (key modulo ``partitions``) or ``global``. Queue wait is
    latency and a lane's throughput is bounded by one consumer. Mutators outside the queue
    (``mutators_through_queue = false``) still race the consumer. Fault target: ``consumer`` (a
    paused or crashed consumer holds its lane until it is back)."""

    kind: Literal["queue"] = "queue"
    scope: Literal["key", "partition", "global"] = "key"
    partitions: int = Field(default=16, ge=1)
    enqueue_latency: DistributionSpec = parse_distribution(0.0)
    mutators_through_queue: bool = True
    ack: AckSpec | None = Field(default=None, exclude_if=lambda value: value is None)
    """At-least-once delivery: the consumer acknowledges a message after its effect; ``None``: the
    ack is not modelled (it never fails)."""

    def targets(self) -> dict[str, TargetKind]:
        return {"consumer": ACTIVE_ACTOR}


class SingleConsumerQueue(Strategy):
    """A queued command with a single consumer per lane (key, partition or global).

    The consumer takes one operation at a time and runs its check, window and use, so no two
    queued operations of a lane interleave: queue wait becomes latency and a lane's throughput
    is one over the mean service time. Background writers that bypass the queue still race.
    """

    spec: QueueSpec

    def __init__(self, world: World, spec: QueueSpec) -> None:
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
            yield from world.wait_window(op.window, op)
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
            gated_mutate(self.lanes, self.lane(key), apply)
        else:
            apply()

    def metrics(self) -> dict[str, float]:
        extra = {
            "queue_wait_mean_ms": mean_or_nan(self._wait_total, self._waits) * 1e3,
            "queue_service_mean_ms": mean_or_nan(self._service_total, self._waits) * 1e3,
        }
        if self._ack is not None:
            extra["queue_lost_acks"] = float(self.lost_acks)
        return extra


PLUGIN = Plugin(spec=QueueSpec, behaviour=SingleConsumerQueue)
"""The kind ``queue``: its spec and its behaviour."""
