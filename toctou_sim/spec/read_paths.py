"""Model-file schema of the cache and quorum-replica read paths and of their faults.

Imported at the top of :mod:`toctou_sim.spec.model`, so the classes register themselves under their
``kind`` (``read_path.kind = "cache"`` / ``"replica"``; faults ``eviction_storm``,
``replica_lag_spike``, ``replica_partition``). Everything here is data: the behaviour lives in
:mod:`toctou_sim.world.caching` and :mod:`toctou_sim.world.quorum`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from toctou_sim.core.distributions import Constant, Distribution, DistributionSpec, parse_distribution
from toctou_sim.core.units import NonNegativeDuration, parse_duration
from toctou_sim.spec.parts import FaultSpec, ReadPathSpec, StrictModel

__all__ = [
    "CacheSpec",
    "EvictionStormSpec",
    "InvalidationSpec",
    "RegionSpec",
    "ReplicaLagSpikeSpec",
    "ReplicaPartitionSpec",
    "ReplicaSpec",
]


def _positive_distribution(value: Any, info: ValidationInfo | None = None) -> Distribution:
    """A distribution whose values must be positive: a plain duration must be > 0, and a family's
    mean must be > 0 (a TTL of zero would make every read a miss)."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError(f"must be > 0, got {value!r}")
        return Constant(value=seconds)
    dist = parse_distribution(value, info)
    if isinstance(dist, Constant) and dist.value <= 0:
        raise ValueError(f"must be > 0, got {dist.value!r}")
    if not dist.mean > 0:
        raise ValueError(f"must have a mean > 0, got {dist.describe()}")
    return dist


PositiveDistributionSpec = Annotated[DistributionSpec, BeforeValidator(_positive_distribution)]
"""A distribution field whose values must be > 0 (a fixed TTL, or a TTL with jitter)."""


class InvalidationSpec(StrictModel):
    """How long after a write to the truth the cache entry of the key is dropped (the time the
    invalidation message takes: a CDC pipeline, a pub/sub hop). ``delay = 0`` drops it at once."""

    delay: DistributionSpec = parse_distribution(0.0)


class CacheSpec(ReadPathSpec):
    """A look-aside cache in front of the source of truth.

    A check first asks the cache (``read_latency``). A hit that has not expired answers with the
    cached ``(version, value)``, which may be stale. A miss (absent or expired entry) reads the
    truth with the store's read latency and fills the entry, which lives ``ttl`` seconds (a fixed
    duration, or a distribution for jittered TTLs) unless the write policy or LRU eviction drops it
    earlier.

    Write policies (what a write to the truth does to the cache):

    - ``invalidate``: the entry is dropped ``invalidation.delay`` after the write.
    - ``write_through``: the writer also sets the entry to the new value at once (fresh TTL).
    - ``none``: nothing; the entry is only ever refreshed by expiry (TTL-only coherence).
    """

    kind: Literal["cache"] = "cache"
    ttl: PositiveDistributionSpec = Constant(value=60.0)
    """Entry lifetime: seconds, a duration string, or a distribution (jitter). Must be > 0."""
    capacity: int | None = Field(default=None, ge=1)
    """Entries held at most; the least recently used one is evicted to make room. None = unbounded."""
    write_policy: Literal["invalidate", "write_through", "none"] = "invalidate"
    invalidation: InvalidationSpec = InvalidationSpec()
    """Used when ``write_policy = "invalidate"``."""
    negative_caching: bool = True
    """Cache answers that the key is absent (value 0 under the ``exists`` invariant). With false,
    an absent answer is never stored, so every check of an absent key reads the truth."""
    read_latency: DistributionSpec = parse_distribution(0.0)
    """Time a cache lookup takes (hit or miss); a miss adds the store's read latency."""
    fill_delay: DistributionSpec = parse_distribution(0.0)
    """Time from a miss reading the truth to the entry being stored (the reader's ``set``). An
    invalidation that lands in between is lost and the value read earlier is stored anyway: the
    stale-set race of look-aside caches. The check itself answers at once with the truth."""
    on_miss: Literal["read_source", "assume_absent"] = "read_source"
    """What a miss does: read the truth and fill (correct), or take the miss itself as "absent"
    without reading the truth (the wrong fallback of guide failure mode F4)."""


class RegionSpec(StrictModel):
    """A group of ``replicas`` replicas in one region (or zone), with its own delay for each WARS
    leg as seen from the coordinator (the client's region): a replica in the coordinator's region
    (the local replica) has LAN delays, one across a WAN link a round trip of tens of ms. A leg
    left out takes the read path's own (``write_delay``, ``ack_delay``, ...)."""

    name: str
    replicas: int = Field(default=1, ge=1)
    write_delay: DistributionSpec | None = None
    ack_delay: DistributionSpec | None = None
    request_delay: DistributionSpec | None = None
    response_delay: DistributionSpec | None = None


LEGS = ("write_delay", "ack_delay", "request_delay", "response_delay")
"""The WARS legs, by field name."""


class ReplicaSpec(ReadPathSpec):
    """An N/R/W quorum store in the WARS model of Probabilistically Bounded Staleness.

    Every write of the truth is sent to all ``n`` replicas: replica ``i`` applies it after a
    write delay ``W_i`` and its ack reaches the coordinator ``A_i`` later; the write commits when
    ``w`` acks are in. A check's read is sent to all ``n`` replicas: replica ``i`` gets the request
    after ``R_i`` and answers with its newest version, which reaches the coordinator ``S_i`` later;
    the coordinator keeps the first ``r`` answers and returns the newest version among them.
    ``ack_delay``, ``request_delay`` and ``response_delay`` default to ``message_delay``.
    """

    kind: Literal["replica"] = "replica"
    n: int = Field(default=3, ge=1)
    """Replicas per key (replication factor N)."""
    r: int = Field(default=1, ge=1)
    """Read quorum: answers the coordinator waits for (1 <= r <= n)."""
    w: int = Field(default=1, ge=1)
    """Write quorum: acks needed to commit (1 <= w <= n)."""
    write_delay: DistributionSpec = parse_distribution(0.001)
    """W: time for a write to reach and be applied by one replica."""
    message_delay: DistributionSpec = parse_distribution(0.001)
    """The default of A, R and S."""
    ack_delay: DistributionSpec | None = None
    """A: time for a replica's write ack to reach the coordinator (default ``message_delay``)."""
    request_delay: DistributionSpec | None = None
    """R: time for a read request to reach a replica (default ``message_delay``)."""
    response_delay: DistributionSpec | None = None
    """S: time for a replica's answer to reach the coordinator (default ``message_delay``)."""
    read_repair: bool = False
    """After a read, send the newest version to the replicas of the read quorum that answered
    with an older one (it arrives after a fresh write delay)."""
    sticky_sessions: bool = False
    """Each client session is pinned to a home replica that applies the session's own writes at
    once and is always among the replicas a read waits for: read-your-writes and monotonic reads
    for the session, none for other writers' updates."""
    sessions: int = Field(default=64, ge=1)
    """Client sessions (with ``sticky_sessions``); an operation's session is fixed by its arrival."""
    regions: tuple[RegionSpec, ...] = Field(default=(), exclude_if=lambda value: not value)
    """Replica placement (``[[read_path.regions]]``): the regions' ``replicas`` add up to ``n``;
    replicas are numbered region by region, in order. Empty: every replica has the same delays."""

    @field_validator("regions")
    @classmethod
    def _regions_fill_n(cls, value: tuple[RegionSpec, ...], info: ValidationInfo) -> tuple[RegionSpec, ...]:
        n = info.data.get("n")
        total = sum(region.replicas for region in value)
        if value and isinstance(n, int) and total != n:
            raise ValueError(f"the regions' replicas must add up to n={n}, got {total}")
        names = [region.name for region in value]
        if len(set(names)) != len(names):
            raise ValueError(f"region names must be unique, got {', '.join(names)}")
        return value

    def leg(self, name: str) -> Distribution:
        """The read path's own distribution of a WARS leg (``write_delay``, ``ack_delay``, ...)."""
        return {"write_delay": self.write_delay, "ack_delay": self.ack, "request_delay": self.request,
                "response_delay": self.response_delay if self.response_delay is not None
                else self.message_delay}[name]

    def columns(self, name: str) -> list[tuple[str, Distribution, int]]:
        """Per region, ``(region, distribution of leg name, replicas)``; one unnamed group of all
        ``n`` replicas without regions."""
        base = self.leg(name)
        if not self.regions:
            return [("", base, self.n)]
        return [(region.name, getattr(region, name) or base, region.replicas) for region in self.regions]

    def uniform(self) -> ReplicaSpec | None:
        """This store without regions when every region has the same delays on every leg (PBS's
        closed forms then apply), else ``None``."""
        if not self.regions:
            return self
        legs = {}
        for name in LEGS:
            distributions = {column[1] for column in self.columns(name)}
            if len(distributions) != 1:
                return None
            legs[name] = distributions.pop()
        return self.model_copy(update={"regions": (), **legs})

    @field_validator("r", "w")
    @classmethod
    def _quorum_within_n(cls, value: int, info: ValidationInfo) -> int:
        n = info.data.get("n")
        if isinstance(n, int) and value > n:
            raise ValueError(f"must be between 1 and n={n}, got {value}")
        return value

    @property
    def ack(self) -> Distribution:
        """A, with the default filled in."""
        return self.ack_delay if self.ack_delay is not None else self.message_delay

    @property
    def request(self) -> Distribution:
        """R, with the default filled in."""
        return self.request_delay if self.request_delay is not None else self.message_delay

    @property
    def response(self) -> Distribution:
        """S, with the default filled in."""
        return self.response_delay if self.response_delay is not None else self.message_delay


class EvictionStormSpec(FaultSpec):
    """Cache flushes (a restart, a memory-pressure storm) at Poisson ``rate`` per second: every
    entry is dropped at once, so the next checks all miss. Needs a ``cache`` read path."""

    kind: Literal["eviction_storm"] = "eviction_storm"
    rate: float = Field(gt=0)
    start: NonNegativeDuration = 0.0
    """No storm before this instant."""


class ReplicaLagSpikeSpec(FaultSpec):
    """Intervals during which write delays W are multiplied by ``factor`` (a slow disk, a GC
    pause, a saturated link). Spikes start at Poisson ``rate`` per second and last ``duration``;
    writes sent during a spike are slowed. Needs a ``replica`` read path."""

    kind: Literal["replica_lag_spike"] = "replica_lag_spike"
    rate: float = Field(gt=0)
    duration: DistributionSpec = parse_distribution(1.0)
    factor: float = Field(default=10.0, ge=1.0)
    replicas: int | None = Field(default=None, ge=1)
    """How many replicas (the first ones) a spike slows; default all."""


class ReplicaPartitionSpec(FaultSpec):
    """Intervals during which one replica (chosen uniformly at each start) is unreachable:
    write and read messages sent to it while it is cut off are queued and delivered at the heal
    (plus their usual delay). Partitions start at Poisson ``rate`` per second and last
    ``duration``. Needs a ``replica`` read path."""

    kind: Literal["replica_partition"] = "replica_partition"
    rate: float = Field(gt=0)
    duration: DistributionSpec = parse_distribution(1.0)
    start: NonNegativeDuration = 0.0

