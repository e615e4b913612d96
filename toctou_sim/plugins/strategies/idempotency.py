"""The ``idempotency`` strategy: idempotency keys and a dedupe store around an inner strategy."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from toctou_sim.core.distributions import DistributionSpec, parse_distribution
from toctou_sim.core.units import PositiveDuration
from toctou_sim.measure.metrics import DECLINED, OK, VIOLATED
from toctou_sim.spec.parts import RetryPolicy, StrategyField, StrategySpec, StrictModel
from toctou_sim.spec.registry import Plugin
from toctou_sim.spec.strategies import inner_problem
from toctou_sim.spec.targets import CALL_SERVICE, TargetKind
from toctou_sim.world.engine import REJECTED_ATTEMPT, STRATEGIES, Flow, Operation, ServiceRefused, Strategy, World
from toctou_sim.world.mitigations import caught_before_use

if TYPE_CHECKING:
    from toctou_sim.spec.parts import ModelView

__all__ = ["PLUGIN", "DedupeStoreSpec", "Idempotency", "IdempotencySpec"]


class DedupeStoreSpec(StrictModel):
    """Where idempotency keys are recorded.

    ``consistency = "strong"``: the lookup and the claim of a key are one atomic
    insert-if-absent (a transactional table): two concurrent deliveries cannot both claim it.
    ``consistency = "eventual"``: the lookup reads a view in which a claim becomes visible only
    ``visibility_lag`` after it is written, and the claim is a blind write (a cache or an
    eventually consistent replica): deliveries closer together than the lag both proceed.
    ``ttl``: a key is forgotten this long after it was claimed (a cache entry's expiry); a
    duplicate arriving later is treated as a new request. ``lookup_latency`` is the round trip
    of the lookup (and claim).
    """

    consistency: Literal["strong", "eventual"] = "strong"
    ttl: PositiveDuration | None = None
    visibility_lag: DistributionSpec = parse_distribution(0.0)
    lookup_latency: DistributionSpec = parse_distribution(0.0)


class IdempotencySpec(StrategySpec):
    """Requests carry an idempotency key (their request id); a dedupe store turns duplicate
    deliveries into no-ops. A duplicate finding a completed key gets the stored answer (a dedupe
    hit); one finding a key still in progress is an idempotency conflict (HTTP 409, guide M6)
    and is retried under ``retry``. The business check and use are ``inner``'s. Fault target:
    ``dedupe`` (the dedupe store: a partition delays lookups, or fails them after its timeout).

    ``record_with_effect``: the key is marked done in the same transaction as the effect (the
    guide's "persist the idempotency token and state atomically"): a use that takes effect and
    then fails (``clients.partial_failure``) leaves its key done, so the retry or a redelivery
    gets the stored answer instead of acting again. Without it (the default) a failed request
    releases its key, and a retry after a partial failure acts twice (a double charge)."""

    kind: Literal["idempotency"] = "idempotency"
    dedupe: DedupeStoreSpec = DedupeStoreSpec()
    inner: StrategyField = Field(default="none", validate_default=True)
    retry: RetryPolicy = RetryPolicy()
    record_with_effect: bool = Field(default=False, exclude_if=lambda value: not value)

    def check_model(self, model: ModelView) -> str | None:
        return inner_problem(self.inner, model)

    def targets(self) -> dict[str, TargetKind]:
        return {"dedupe": CALL_SERVICE, **self.inner.targets()}


class _DedupeEntry:
    """An idempotency key in the dedupe store: who claimed it, and whether its effect is done."""

    __slots__ = ("completed", "expires", "owner", "visible_at")

    def __init__(self, owner: Operation, expires: float, visible_at: float) -> None:
        self.owner = owner
        self.expires = expires
        self.visible_at = visible_at
        self.completed = False


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

    spec: IdempotencySpec

    def __init__(self, world: World, spec: IdempotencySpec) -> None:
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
        if not (yield from self.service.reach(env)):
            if op.counted:
                self.unreachable += 1
            return REJECTED_ATTEMPT  # the dedupe store did not answer: the request fails
        if self._capacity is not None:  # a finite dedupe store: queue for a server first
            yield from self._capacity.call(op)
        latency = self.service.scaled(self._lookup())
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
            caught_before_use(world, op)
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


PLUGIN = Plugin(spec=IdempotencySpec, behaviour=Idempotency)
"""The kind ``idempotency``: its spec and its behaviour."""
