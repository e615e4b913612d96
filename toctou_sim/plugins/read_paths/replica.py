"""The ``replica`` read path: quorum reads over N replicas with message delays; its mechanics
(:class:`QuorumRead`) are also what the replica faults act on.

What "the truth" is here. The engine judges every use against ``world.store``. For a quorum
store that is the *sequence of writes in the order the coordinator accepted them*: a write
becomes the truth at the instant it is issued (when the engine applies it to ``world.store``),
and the N replicas converge to it as the write's messages arrive. The write *commits* later,
when W acks are in; commit is what the writer is told, and what PBS measures staleness from.
Judging at issue rather than at commit (or at the first replica) is the choice that keeps the
engine's identities exact: the version a write creates is fixed when it is issued, CAS compares
against it and lock fencing guards it (a conditional write is executed by the coordinator that
orders writes, as in Cassandra LWT or DynamoDB conditional writes); any replica that has not yet
applied it is behind the truth, so a check that reads such a replica is a stale check. Reads
that start after a write commits with R + W > N always see it (``replica_missed_commit_rate`` is 0).

Lean state: a write records its N computed arrival times (and its commit time) instead of a
process per message; a replica's state at an instant is the newest write that has arrived there
by then. A read draws its N request and response delays, waits one timeout (until its R-th
answer), then evaluates each answering replica at the instant the request reached it. Records
every replica has applied, and that no read in flight can still ask about, are folded into a
per-replica base state.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from toctou_sim.core.distributions import Distribution, DistributionSpec, parse_distribution
from toctou_sim.measure.metrics import Histogram
from toctou_sim.spec.parts import ReadPathSpec, StrictModel
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.engine import Flow, Operation, ReadPath, World
from toctou_sim.world.quorum import INF, WriteRecord, leg_stream

__all__ = ["LEGS", "PLUGIN", "QuorumRead", "RegionSpec", "ReplicaSpec"]


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


class QuorumRead(ReadPath):
    """Checks read through an N/R/W quorum of replicas
    (see :class:`~toctou_sim.plugins.read_paths.replica.ReplicaSpec`).

    Attributes:
        lag_factor: per replica, the multiplier of write delays (lag-spike faults set it).
        cut_until: per replica, the instant its partition heals (messages sent to it before then
            are delivered after it).
    """

    spec: ReplicaSpec

    def __init__(self, world: World, spec: ReplicaSpec) -> None:
        super().__init__(world, spec)
        streams = world.streams
        self.n: int = spec.n
        self.r: int = spec.r
        self.w: int = spec.w
        self._write_delay = leg_stream(spec, "write_delay", streams, "replica.write_delay")
        self._ack_delay = leg_stream(spec, "ack_delay", streams, "replica.ack_delay")
        self._request_delay = leg_stream(spec, "request_delay", streams, "replica.request_delay")
        self._response_delay = leg_stream(spec, "response_delay", streams, "replica.response_delay")
        self._repair_delay = streams.variates("replica.repair_delay", spec.write_delay)
        self._sticky: bool = spec.sticky_sessions
        self._sessions: int = spec.sessions
        self._repair: bool = spec.read_repair
        self._initial = world.spec.keys.initial_value
        self._warmup = world.spec.model.warmup
        self.lag_factor = [1.0] * self.n
        self.cut_until = [0.0] * self.n
        self._pending: dict[int, list[WriteRecord]] = {}
        self._base: dict[int, tuple[list[int], list[int]]] = {}
        self._base_committed: dict[int, int] = {}
        self._inflight: deque[list[Any]] = deque()
        self.reads = 0
        self.stale_reads = 0
        self.behind_2 = 0
        self.behind_3 = 0
        self.versions_behind = 0
        self.missed_commits = 0
        self.repairs = 0
        self.read_latency = Histogram()
        self.commit_latency = Histogram()

    # ------------------------------------------------------------------ sessions

    def home(self, op: Operation) -> int:
        """The home replica of ``op``'s session (-1 without sticky sessions). The session is a
        hash of the arrival instant, so no random stream is consumed (common random numbers)."""
        if not self._sticky:
            return -1
        return int(op.arrival * 1048576.0) % self._sessions % self.n

    # ------------------------------------------------------------------ writes

    def on_write(self, key: int) -> None:
        self.replicate(key, -1)

    def on_use(self, op: Operation) -> None:
        self.replicate(op.key, self.home(op))

    def replicate(self, key: int, home: int) -> WriteRecord:
        """Send the truth's current version of ``key`` to every replica (``home`` applies it at once)."""
        world = self.world
        now = world.env.now
        store = world.store
        arrivals = [(c if c > now else now) + d * f
                    for d, f, c in zip(self._write_delay(), self.lag_factor, self.cut_until, strict=True)]
        if home >= 0:
            arrivals[home] = now
        acks = [a + d for a, d in zip(arrivals, self._ack_delay(), strict=True)]
        if self.w == 1:
            commit = min(acks)
        else:
            acks.sort()
            commit = acks[self.w - 1]
        last = max(arrivals)
        record = WriteRecord(store.version[key], store.value[key], commit, arrivals,
                             commit if commit > last else last)
        pending = self._pending.get(key)
        if pending is None:
            self._pending[key] = [record]
        else:
            pending.append(record)
            self._fold(key, pending)
        if now >= self._warmup:
            self.commit_latency.add(commit - now)
        return record

    # ------------------------------------------------------------------ reads

    def observe(self, op: Operation, latency: float) -> Flow:
        return self.quorum_read(op.key, self.home(op), op.counted)

    def read(self, key: int, latency: float) -> Flow:
        return self.quorum_read(key, -1)

    def quorum_read(self, key: int, home: int, counted: bool | None = None) -> Flow:
        """Ask all N replicas, wait for the first R answers (``home`` always among them), return
        the newest ``(version, value)`` among them. ``counted`` says whether the read enters the
        metrics (default: it ends after warm-up)."""
        env = self.world.env
        start = env.now
        token: list[Any] = [start, False]
        self._inflight.append(token)
        asked = [(c if c > start else start) + d
                 for d, c in zip(self._request_delay(), self.cut_until, strict=True)]
        answered = [a + d for a, d in zip(asked, self._response_delay(), strict=True)]
        if home < 0 and self.r == 1:
            done = min(answered)
            quorum = [answered.index(done)]
        else:
            order = sorted(range(self.n), key=answered.__getitem__)
            if home >= 0:
                order.remove(home)
                quorum = [home, *order[: self.r - 1]]
            else:
                quorum = order[: self.r]
            done = max(answered[j] for j in quorum)
        committed = self.committed_version(key, start)
        if done > start:
            yield env.timeout(done - start)
        best_version, best_value = -1, 0
        seen: list[int] = []
        for j in quorum:
            version, value = self.state(key, j, asked[j])
            seen.append(version)
            if version > best_version:
                best_version, best_value = version, value
        if self._repair:
            self._read_repair(key, quorum, seen, best_version, best_value)
        token[1] = True
        inflight = self._inflight
        while inflight and inflight[0][1]:
            inflight.popleft()
        pending = self._pending.get(key)
        if pending:
            self._fold(key, pending)
        now = env.now
        if counted or (counted is None and now >= self._warmup):
            self._count(key, best_version, committed, now - start)
        return best_version, best_value

    def _count(self, key: int, version: int, committed: int, latency: float) -> None:
        self.reads += 1
        self.read_latency.add(latency)
        behind = self.world.store.version[key] - version
        if behind > 0:
            self.stale_reads += 1
            self.versions_behind += behind
            if behind >= 2:
                self.behind_2 += 1
                if behind >= 3:
                    self.behind_3 += 1
        if version < committed:
            self.missed_commits += 1

    def _read_repair(self, key: int, quorum: list[int], seen: list[int], version: int, value: int) -> None:
        now = self.world.env.now
        arrivals = [INF] * self.n
        cut = self.cut_until
        last = -INF
        for j, v in zip(quorum, seen, strict=True):
            if v < version:
                sent = cut[j] if cut[j] > now else now
                arrivals[j] = sent + self._repair_delay()
                last = max(last, arrivals[j])
        if last > -INF:
            self.repairs += 1
            self._pending.setdefault(key, []).append(WriteRecord(version, value, INF, arrivals, last))

    # ------------------------------------------------------------------ replica state

    def state(self, key: int, replica: int, at: float) -> tuple[int, int]:
        """The newest ``(version, value)`` replica ``replica`` holds for ``key`` at instant ``at``."""
        base = self._base.get(key)
        if base is None:
            version, value = 0, self._initial
        else:
            version, value = base[0][replica], base[1][replica]
        for record in self._pending.get(key, ()):
            if record.arrivals[replica] <= at and record.version > version:
                version, value = record.version, record.value
        return version, value

    def committed_version(self, key: int, at: float) -> int:
        """The newest version of ``key`` whose write had committed by ``at``."""
        version = self._base_committed.get(key, 0)
        for record in self._pending.get(key, ()):
            if record.commit <= at and record.version > version:
                version = record.version
        return version

    def _fold(self, key: int, pending: list[WriteRecord]) -> None:
        """Fold records no read in flight can ask about any more into the base state."""
        inflight = self._inflight
        horizon = inflight[0][0] if inflight else self.world.env.now
        if pending[0].done_at > horizon and all(r.done_at > horizon for r in pending):
            return
        keep: list[WriteRecord] = []
        base = self._base.get(key)
        for record in pending:
            if record.done_at > horizon:
                keep.append(record)
                continue
            if base is None:
                base = self._base[key] = ([0] * self.n, [self._initial] * self.n)
            versions, values = base
            for i, arrival in enumerate(record.arrivals):
                if arrival != INF and record.version > versions[i]:
                    versions[i] = record.version
                    values[i] = record.value
            if record.commit != INF and record.version > self._base_committed.get(key, 0):
                self._base_committed[key] = record.version
        pending[:] = keep

    def metrics(self) -> dict[str, float]:
        reads = self.reads
        nan = float("nan")

        def share(count: int) -> float:
            return count / reads if reads else nan

        metrics = {
            "replica_reads": float(reads),
            "replica_stale_read_rate": share(self.stale_reads),
            "replica_versions_behind_mean": share(self.versions_behind),
            "replica_k2_staleness": 1.0 - share(self.behind_2),
            "replica_k3_staleness": 1.0 - share(self.behind_3),
            "replica_missed_commit_rate": share(self.missed_commits),
            "replica_read_repairs": float(self.repairs),
        }
        if reads:
            metrics["replica_read_latency_mean_ms"] = self.read_latency.mean * 1e3
            metrics["replica_read_latency_p99_ms"] = self.read_latency.quantile(0.99) * 1e3
        if self.commit_latency.count or self.commit_latency._buffer:
            metrics["replica_commit_latency_mean_ms"] = self.commit_latency.mean * 1e3
            metrics["replica_commit_latency_p99_ms"] = self.commit_latency.quantile(0.99) * 1e3
        return metrics


PLUGIN = Plugin(spec=ReplicaSpec, behaviour=QuorumRead)
"""The kind ``replica``: its spec and its behaviour."""
