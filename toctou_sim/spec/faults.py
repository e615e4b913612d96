"""Model-file schema of the faults and of the ``lease`` strategy (leader election for controllers).

Every fault hits one named ``target`` (an actor such as ``clients``, ``mutators``,
``controller.0`` or ``leader``, or a service such as ``store``, ``lock`` or ``lease``) during
intervals. The intervals start either at the instants listed in ``at`` (a schedule) or as a
Poisson process of ``rate`` onsets per second, and each lasts a duration drawn from
``duration``::

    [[faults]]
    kind = "pause"            # pause | crash | latency_spike | partition | clock_skew | throttle
    target = "leader"
    rate = 0.05               # or: at = ["10s", "40s"]
    duration = { pareto = { scale = "2s", shape = 1.5 } }

A target that does not exist in the model, a duration that is not > 0, or both ``rate`` and
``at`` are bad input: one line naming the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from toctou_sim.core.distributions import Constant, Distribution, DistributionSpec, Mixture, parse_distribution
from toctou_sim.core.units import Duration, NonNegativeDuration, PositiveDuration
from toctou_sim.spec.parts import FaultSpec, StrategySpec

if TYPE_CHECKING:
    from toctou_sim.spec.model import ModelSpec

__all__ = [
    "ClockSkewSpec",
    "CrashSpec",
    "LatencySpikeSpec",
    "LeaseSpec",
    "PartitionSpec",
    "PauseSpec",
    "ScheduledFaultSpec",
    "ThrottleSpec",
]


class ScheduledFaultSpec(FaultSpec):
    """A fault on ``target`` during intervals: onsets at the instants ``at`` or at Poisson ``rate``
    per second, each lasting a variate of ``duration`` (seconds, must be > 0).

    Onsets stop at the model's horizon. Overlapping intervals merge (the target stays faulty
    until the last one ends).
    """

    target: str
    rate: float | None = Field(default=None, gt=0)
    """Onsets per second (a Poisson process); exclusive with ``at``."""
    at: tuple[NonNegativeDuration, ...] | None = None
    """Onset instants (a schedule); exclusive with ``rate``."""
    duration: DistributionSpec = parse_distribution(1.0)
    """How long each interval lasts."""

    @model_validator(mode="after")
    def _schedule(self) -> ScheduledFaultSpec:
        if (self.rate is None) == (self.at is None):
            raise ValueError("give exactly one of rate (onsets per second) or at (a list of instants)")
        return self

    @field_validator("duration")
    @classmethod
    def _positive_duration(cls, value: Distribution) -> Distribution:
        if not _positive(value):
            raise ValueError(f"must be > 0, got {value.describe()}")
        return value

    def check_model(self, model: ModelSpec) -> str | None:
        names = model.actor_names()
        if self.target not in names:
            return f"target: no actor or service {self.target!r} in this model; expected one of {', '.join(names)}"
        return None


def _positive(distribution: object) -> bool:
    """Whether a duration distribution can only give values > 0 (constants must be > 0; other
    families are positive by construction except a zero-width uniform at 0)."""
    if isinstance(distribution, Constant):
        return distribution.value > 0
    if isinstance(distribution, Mixture):
        return all(_positive(component.distribution) for component in distribution.components)
    mean = getattr(distribution, "mean", 1.0)
    return bool(mean > 0)


class PauseSpec(ScheduledFaultSpec):
    """Stop-the-world pause of an actor (a GC pause, a VM migration, SIGSTOP): while paused it
    takes no step, but the world, its leases and other actors go on. Whatever it checked before
    the pause it uses after it.

    Targets: ``clients`` (every operation's use waits for the pause to end), ``client`` (one
    client: the first whose window ends during the pause waits, holding its lock or lease, until the
    pause ends; the others go on), ``mutators``,
    ``controller.N`` or ``leader`` (lease strategy).
    """

    kind: Literal["pause"] = "pause"
    target: str = "clients"

    def check_model(self, model: ModelSpec) -> str | None:
        if self.target == "store":
            return "target: a paused store is a partition; use kind = \"partition\" with target = \"store\""
        return super().check_model(model)


class CrashSpec(ScheduledFaultSpec):
    """The target actor dies at each onset and restarts ``duration`` later. A multi-step
    operation it was running stops at its next step (a write already sent still lands: partial
    state); a restarted controller rejoins as a follower with an empty work queue. On
    ``client`` (one client of the fleet), the first client whose use takes effect during the
    interval dies right after its side effect, before it records the outcome or answers; its
    caller sends the request again when the interval ends, so the effect happens twice unless
    the strategy is idempotent (``client_lost_answers`` counts these crashes).

    Targets: ``client``, ``controller.N``, ``leader``, ``mutators``, ``consumer`` (a queue
    consumer: the ack of a message whose effect landed is lost and the broker redelivers it
    after its visibility timeout), or an actor another strategy registers and checks with
    ``Actor.crashed_since`` (the crash hook). Not ``clients`` (the whole fleet) or ``store``.
    """

    kind: Literal["crash"] = "crash"

    def check_model(self, model: ModelSpec) -> str | None:
        if self.target in ("clients", "store"):
            return (f"target: crashing {self.target!r} is not modelled; crash one client (client), a "
                    "controller (controller.N, leader), the mutators or a strategy's own actor")
        return super().check_model(model)


class LatencySpikeSpec(ScheduledFaultSpec):
    """A service's latencies are multiplied by ``factor`` during each interval (a noisy neighbour,
    a compaction, a slow disk).

    ``store``: an operation that starts during a spike sees its read and write latencies
    multiplied; ``lock`` / ``lease``: every call made during a spike is slowed.
    """

    kind: Literal["latency_spike"] = "latency_spike"
    target: str = "store"
    factor: float = Field(default=10.0, gt=0)
    """Multiplier of the latencies during the spike."""


class PartitionSpec(ScheduledFaultSpec):
    """A service is unreachable during each interval. Calls made during the partition queue
    until it heals; with ``timeout`` a call to a lock or lease service instead fails after that
    many seconds (the attempt is rejected and retried, or a lease renewal fails).

    Targets: ``store`` (reads and writes of every actor queue until heal), ``lock``, ``lease``,
    and any actor a read path registers (e.g. a replica).
    """

    kind: Literal["partition"] = "partition"
    target: str = "store"
    timeout: PositiveDuration | None = None
    """A call that would wait longer fails after this many seconds (``None``: calls queue)."""


class ClockSkewSpec(ScheduledFaultSpec):
    """An actor's clock is wrong during each interval: it jumps by ``offset`` seconds at the onset
    and runs at ``1 + drift`` times true speed; NTP corrects it at the end of the interval.

    The actor's lease, TTL and token-expiry decisions use its own clock, so a clock that runs
    slow (``drift < 0``) or jumps back (``offset < 0``) keeps a lease "valid" after the lease
    service expired it (guide F10).
    """

    kind: Literal["clock_skew"] = "clock_skew"
    drift: float = Field(default=0.0, gt=-1.0)
    """Relative rate error: -0.5 = the clock runs at half speed."""
    offset: Duration = 0.0
    """Step applied at the onset, seconds (negative: the clock jumps back)."""

    @model_validator(mode="after")
    def _some_skew(self) -> ClockSkewSpec:
        if self.drift == 0 and self.offset == 0:
            raise ValueError("drift: give a drift (e.g. -0.5) or an offset (e.g. \"-5s\"); both are 0")
        return self


class ThrottleSpec(ScheduledFaultSpec):
    """A service's quota drops to ``limit`` requests per second during each interval (bursts up
    to ``burst``); requests above it are rejected (429) and retried with backoff or aborted. On
    the ``store`` it is the write (the use) that is throttled: accepted at check, refused at use
    (guide F8)."""

    kind: Literal["throttle"] = "throttle"
    target: str = "store"
    limit: float = Field(gt=0)
    """Admitted requests per second during the interval."""
    burst: float | None = Field(default=None, ge=1)
    """Bucket size (default: ``max(1, limit)``)."""

    def check_model(self, model: ModelSpec) -> str | None:
        actors = ("clients", "client", "mutators", "leader")
        if self.target in actors or self.target.startswith("controller"):
            return f"target: throttle applies to a service (e.g. store), not the actor {self.target!r}"
        return super().check_model(model)


class LeaseSpec(StrategySpec):
    """Leader election for controllers (guide scenario #1, F5): ``replicas`` controller replicas
    run a reconcile loop (check the key, e.g. whether a PVC exists; create it if missing).

    With ``election`` one replica holds a leader lease of ``lease_ttl`` in a lease service,
    renewing it every ``retry_period``; it acts as leader only while its own clock says the last
    successful renewal is younger than ``renew_deadline`` (client-go's LeaseDuration, RenewDeadline
    and RetryPeriod). Followers try to acquire every ``retry_period``; a new leader resyncs every
    unfinished reconcile. Each acquisition carries a new fencing token; with ``fencing`` the
    check is a fenced read and the store rejects a write whose token is below the key's
    watermark, so a paused or clock-skewed ex-leader cannot create after the new leader checked.
    Without ``election`` every replica reconciles every event (controller thrash).
    """

    kind: Literal["lease"] = "lease"
    replicas: int = Field(default=3, ge=1)
    election: bool = True
    lease_ttl: PositiveDuration = 15.0
    renew_deadline: PositiveDuration = 10.0
    retry_period: PositiveDuration = 2.0
    call_latency: DistributionSpec = parse_distribution(0.0)
    """Round trip of one call to the lease service."""
    fencing: bool = True

    @model_validator(mode="after")
    def _timing(self) -> LeaseSpec:
        if self.renew_deadline > self.lease_ttl:
            raise ValueError(
                f"renew_deadline: must be <= lease_ttl ({self.lease_ttl:g}s), got {self.renew_deadline:g}s"
            )
        if self.retry_period >= self.renew_deadline:
            raise ValueError(
                f"retry_period: must be < renew_deadline ({self.renew_deadline:g}s), got {self.retry_period:g}s"
            )
        return self

    def actors(self) -> tuple[str, ...]:
        names = [f"controller.{index}" for index in range(self.replicas)]
        return (*names, "leader", "lease")
