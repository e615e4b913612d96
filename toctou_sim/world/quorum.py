"""The mechanics of an N/R/W quorum store (the WARS model of PBS), used by the ``replica`` read
path (:mod:`toctou_sim.plugins.read_paths.replica`) and the replica faults.

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

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from toctou_sim.core.distributions import Distribution
from toctou_sim.measure.metrics import Histogram
from toctou_sim.world.engine import Flow, Operation, ReadPath

if TYPE_CHECKING:
    from toctou_sim.plugins.read_paths.replica import ReplicaSpec
    from toctou_sim.world.engine import World

__all__ = ["INF", "QuorumRead", "RegionalRowStream", "RowStream", "WriteRecord", "leg_stream"]

INF = math.inf


class WriteRecord:
    """One version on its way to the replicas: when it arrives at each, and when it committed."""

    __slots__ = ("arrivals", "commit", "done_at", "value", "version")

    def __init__(self, version: int, value: int, commit: float, arrivals: list[float],
                 done_at: float) -> None:
        self.version = version
        self.value = value
        self.commit = commit
        """When W acks were in (``inf`` for a read-repair message, which is not a write)."""
        self.arrivals = arrivals
        """Arrival time at each replica (``inf``: never sent there)."""
        self.done_at = done_at
        """After this instant the record changes nothing any more (its last arrival or its commit)."""


class RowStream:
    """Rows of ``width`` variates (one per replica) drawn in blocks: one call per message fan-out.

    Like :class:`~toctou_sim.core.distributions.VariateStream`, but a write or a read takes its N
    delays in one call, which matters because every operation fans out to N replicas.
    """

    __slots__ = ("_buffer", "_draw")

    def __init__(self, distribution: Distribution, rng: np.random.Generator, width: int,
                 block: int = 1024) -> None:
        self._draw: Callable[[], list[list[float]]] = (
            lambda: distribution.sample(rng, block * width).reshape(block, width)[::-1].tolist()
        )
        self._buffer: list[list[float]] = []

    def __call__(self) -> list[float]:
        """The next row."""
        buffer = self._buffer
        if not buffer:
            buffer = self._buffer = self._draw()
        return buffer.pop()


class RegionalRowStream:
    """Rows of per-replica variates for a store placed in regions: each region's replicas draw
    from that region's distribution of the leg, on the region's own stream
    (``<stream>.<region>``), and the rows are joined region by region."""

    __slots__ = ("_parts",)

    def __init__(self, parts: list[RowStream]) -> None:
        self._parts = parts

    def __call__(self) -> list[float]:
        """The next row (all replicas, region by region)."""
        row: list[float] = []
        for part in self._parts:
            row.extend(part())
        return row


def leg_stream(spec: Any, leg: str, streams: Any, name: str) -> RowStream | RegionalRowStream:
    """The row stream of one WARS ``leg`` of a replica read path (regional when it has regions)."""
    columns = spec.columns(leg)
    if not spec.regions:
        return RowStream(columns[0][1], streams.generator(name), spec.n)
    return RegionalRowStream([RowStream(dist, streams.generator(f"{name}.{region}"), count)
                              for region, dist, count in columns])


class QuorumRead(ReadPath):
    """Checks read through an N/R/W quorum of replicas
    (see :class:`~toctou_sim.plugins.read_paths.replica.ReplicaSpec`).

    Attributes:
        lag_factor: per replica, the multiplier of write delays (set through :meth:`lag`).
        cut_until: per replica, the instant its partition heals (messages sent to it before then
            are delivered after it; set through :meth:`cut`).
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

    def lag(self, count: int, factor: float) -> None:
        """Lag-spike hook: writes sent to the first ``count`` replicas from now on take ``factor``
        times their delay (1: the spike ends)."""
        factors = self.lag_factor
        for i in range(count):
            factors[i] = factor

    def cut(self, replica: int, until: float) -> None:
        """Partition hook: messages to ``replica`` sent before ``until`` are delivered at ``until``."""
        if until > self.cut_until[replica]:
            self.cut_until[replica] = until

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


