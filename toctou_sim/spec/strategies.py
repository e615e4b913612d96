"""Model-file schema of the guide's mitigation patterns and of the actors that make them matter.

Strategies: ``idempotency`` (idempotency keys and a dedupe store), ``queue`` (a single consumer
per key, partition or globally), ``reconcile`` (a background reconciler that repairs what it
finds), ``two_phase`` (a coordinator with prepare/commit round trips), ``reservation``
(reserve capacity at check, consume at use) and ``token`` (permission tokens with a TTL and
refresh). ``idempotency`` and ``reconcile`` wrap an ``inner`` strategy, so they combine with any
other (``reconcile`` around ``cas``, ``idempotency`` around ``lock``).

Actors: ``policy_changer`` (IAM revocations with a propagation delay, F3), ``schema_changer``
(schema or artifact changes, F9) and ``event_stream`` (out-of-order event delivery with
optional sequence numbers, F7).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from toctou_sim.core.distributions import DistributionSpec, parse_distribution
from toctou_sim.core.units import NonNegativeDuration, PositiveDuration
from toctou_sim.spec.parts import (
    ActorSpec,
    NoMitigationSpec,
    RetryPolicy,
    StrategyField,
    StrategySpec,
    StrictModel,
)

if TYPE_CHECKING:
    from toctou_sim.spec.model import ModelSpec

__all__ = [
    "AckSpec",
    "DedupeStoreSpec",
    "EventStreamSpec",
    "IdempotencySpec",
    "PolicyChangerSpec",
    "QueueSpec",
    "ReconcileSpec",
    "ReservationSpec",
    "SchemaChangerSpec",
    "TokenSpec",
    "TwoPhaseSpec",
]


def _require_invariant(model: ModelSpec, what: str, allowed: tuple[str, ...]) -> str | None:
    if model.keys.invariant not in allowed:
        return (f"kind: {what} needs keys.invariant = {' or '.join(repr(a) for a in allowed)}, "
                f"got {model.keys.invariant!r}")
    return None


def _inner(inner: StrategySpec, model: ModelSpec) -> str | None:
    problem = inner.check_model(model)
    return f"inner.{problem}" if problem is not None else None


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
    inner: StrategyField = NoMitigationSpec()
    retry: RetryPolicy = RetryPolicy()
    record_with_effect: bool = Field(default=False, exclude_if=lambda value: not value)

    def check_model(self, model: ModelSpec) -> str | None:
        return _inner(self.inner, model)

    def actors(self) -> tuple[str, ...]:
        return ("dedupe", *self.inner.actors())


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

    def actors(self) -> tuple[str, ...]:
        return ("consumer",)


class ReconcileSpec(StrategySpec):
    """No prevention beyond ``inner``: a background reconciler runs every ``period`` (plus a
    uniform jitter in [0, ``jitter``]), finds the violations and orphans present, and repairs
    each with a compensating action taking ``repair_latency`` that fails with
    ``repair_failure`` probability (then it is retried at the next run). ``min_age`` ignores
    orphans younger than it (a cleanup job's grace period). Fault target: ``reconciler`` (a
    paused or crashed reconciler runs late)."""

    kind: Literal["reconcile"] = "reconcile"
    inner: StrategyField = NoMitigationSpec()
    period: PositiveDuration = 60.0
    jitter: NonNegativeDuration = 0.0
    repair_latency: DistributionSpec = parse_distribution(0.0)
    repair_failure: float = Field(default=0.0, ge=0, lt=1)
    min_age: NonNegativeDuration = 0.0
    phase: NonNegativeDuration | Literal["random"] = "random"
    """When the first run happens: ``"random"`` (uniform in [0, ``period``), from the
    ``reconcile.phase`` stream: a reconciler started at the same instant as the load would make
    the mean time to detect depend on the horizon) or a fixed instant."""

    def check_model(self, model: ModelSpec) -> str | None:
        if self.inner.kind == "reconcile":
            return "inner.kind: a reconciler inside a reconciler would repair every harm twice; give one"
        return _inner(self.inner, model)

    def actors(self) -> tuple[str, ...]:
        return ("reconciler", *self.inner.actors())


class TwoPhaseSpec(StrategySpec):
    """A coordinator runs prepare and commit round trips to ``participants``. Prepare locks the
    key at every participant and checks there; the use is applied at commit, so nothing changes
    the key in between. With ``coordinator_crash`` probability the coordinator dies after the
    votes: participants stay in doubt, holding their locks, for ``recovery_time``; the recovered
    coordinator then commits or aborts as ``recovery`` says (presumed abort by default). A
    prepare that fails (``clients.partial_failure``) aborts everywhere: no partial create. Fault
    target: ``coordinator``: a crash fault there leaves the transactions it was running in doubt
    until it restarts; a pause stalls them with their locks held. ``participant.N``: a crash of a
    participant after it prepared leaves it in doubt, the key locked, and the commit waits until it
    restarts."""

    kind: Literal["two_phase"] = "two_phase"
    participants: int = Field(default=2, ge=1)
    round_trip: DistributionSpec = parse_distribution(0.002)
    coordinator_crash: float = Field(default=0.0, ge=0, lt=1)
    recovery_time: DistributionSpec = parse_distribution(5.0)
    recovery: Literal["commit", "abort"] = "abort"
    mutators_take_lock: bool = True
    retry: RetryPolicy = RetryPolicy()

    def actors(self) -> tuple[str, ...]:
        return ("coordinator", *(f"participant.{index}" for index in range(self.participants)))


class ReservationSpec(StrategySpec):
    """Reserve one unit atomically at check (the check is the reservation), consume it at use,
    release it when the operation gives up or ``ttl`` after it was taken. A use after its
    reservation expired must reserve again and is throttled if nothing is left."""

    kind: Literal["reservation"] = "reservation"
    ttl: PositiveDuration | None = None
    retry: RetryPolicy = RetryPolicy()

    def check_model(self, model: ModelSpec) -> str | None:
        return _require_invariant(model, "reservation", ("counter",))


class TokenSpec(StrategySpec):
    """Permission tokens (the authorization case, F3, F10). The check issues a token that proves
    the permission for ``ttl`` (an expiry claim stamped on the ``issuer``'s clock); the resource
    (the ``verifier``) accepts a token it judges unexpired on its own clock, give or take
    ``leeway``, without asking the policy store again. With ``reuse`` a client keeps a key's token
    and skips the check while its clock says the token is valid (cheap, but blind to
    revocations). A use the verifier judges expired is refused (401, the flow is retried); with
    ``refresh`` a client whose clock says the token expired refreshes it just before use (a
    re-check near use with ``refresh_latency``; a revoked permission is then caught as a 403).
    Fault targets: ``issuer``, ``verifier`` (and ``clients``) for clock skew."""

    kind: Literal["token"] = "token"
    ttl: PositiveDuration = 300.0
    leeway: NonNegativeDuration = 0.0
    """Clock-skew tolerance of the verifier: it honours a token until its expiry plus this."""
    refresh: bool = True
    reuse: bool = False
    refresh_latency: DistributionSpec = parse_distribution(0.0)
    retry: RetryPolicy = RetryPolicy()

    def check_model(self, model: ModelSpec) -> str | None:
        return _require_invariant(model, "token", ("grant",))

    def actors(self) -> tuple[str, ...]:
        return ("issuer", "verifier")


# -------------------------------------------------------------------------------------- actors


class PolicyChangerSpec(ActorSpec):
    """An IAM administrator: revokes a key's permission at ``rate`` per second (whole system) and
    restores it ``restore_after`` later. Each change reaches the policy store
    ``propagation_delay`` after it was issued."""

    kind: Literal["policy_changer"] = "policy_changer"
    rate: float = Field(gt=0)
    restore_after: DistributionSpec = parse_distribution(60.0)
    propagation_delay: DistributionSpec = parse_distribution(0.0)

    def check_model(self, model: ModelSpec) -> str | None:
        return _require_invariant(model, "policy_changer", ("grant",))


class SchemaChangerSpec(ActorSpec):
    """Schema migrations or artifact promotions: at ``rate`` per second a change lands on one
    random key (``scope = "one"``: a table, a release channel) or on every key at once
    (``scope = "all"``: a global schema or a shared tag). Each change takes ``duration`` to
    apply; a write prepared against the previous version is then against the wrong schema."""

    kind: Literal["schema_changer"] = "schema_changer"
    rate: float = Field(gt=0)
    scope: Literal["one", "all"] = "one"
    duration: DistributionSpec = parse_distribution(0.0)

    def check_model(self, model: ModelSpec) -> str | None:
        return _require_invariant(model, "schema_changer", ("unchanged", "version"))


class EventStreamSpec(ActorSpec):
    """State-change events (order placed, paid, shipped) produced per key at ``rate`` per second
    with increasing sequence numbers and delivered after ``delivery_delay``, so they can arrive
    out of order. The handler reads the key (store read latency), works for ``handling_time``,
    then writes the event's state. ``ordering``: ``none`` applies every event (an older event
    after a newer one is an ordering error); ``check`` compares the event's sequence number with
    the last applied one at read time (a check that can be stale by the write);
    ``conditional`` makes the write itself conditional on the sequence number (no error)."""

    kind: Literal["event_stream"] = "event_stream"
    rate: float = Field(gt=0)
    delivery_delay: DistributionSpec = parse_distribution(0.0)
    handling_time: DistributionSpec = parse_distribution(0.0)
    ordering: Literal["none", "check", "conditional"] = "none"
