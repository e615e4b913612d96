"""The ``replica`` read path: quorum reads over N replicas with message delays (the
mechanics are :class:`toctou_sim.world.quorum.QuorumRead`, which the replica faults also use).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from toctou_sim.core.distributions import Distribution, DistributionSpec, parse_distribution
from toctou_sim.spec.parts import ReadPathSpec, StrictModel
from toctou_sim.spec.registry import Plugin
from toctou_sim.spec.targets import REPLICAS, TargetKind
from toctou_sim.world.engine import World
from toctou_sim.world.quorum import QuorumRead

__all__ = ["LEGS", "PLUGIN", "RegionSpec", "ReplicaReadPath", "ReplicaSpec"]


LEGS = ("write_delay", "ack_delay", "request_delay", "response_delay")
"""The WARS legs, by field name."""


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

    def targets(self) -> dict[str, TargetKind]:
        return {"replicas": REPLICAS}

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


class ReplicaReadPath(QuorumRead):
    """The quorum read path of a model with ``read_path.kind = "replica"``."""

    spec: ReplicaSpec

    def __init__(self, world: World, spec: ReplicaSpec) -> None:
        super().__init__(world, spec)


PLUGIN = Plugin(spec=ReplicaSpec, behaviour=ReplicaReadPath)
"""The kind ``replica``: its spec and its behaviour."""
