"""The ``lease`` strategy: leader election with leases and fencing tokens for controller replicas
(guide scenario #1, F5).

Every client operation is an event ("pod k needs its PVC"): it stays pending until a controller
replica reconciles it. A reconcile is the flow of the simulator: check the key (does the PVC
exist?), the window (build the object, admission, a network hop), then create it. Creating a key
that already exists is a duplicate (use the ``exists`` invariant).

With ``election`` the replicas compete for one lease in a lease service (a Kubernetes Lease):
the holder renews it every ``retry_period``; another replica takes it over once it has seen the
record unchanged for ``lease_ttl`` by its own clock. A replica acts as leader only while its *own clock* says
its last successful renewal (timed from when it sent the request) is younger than
``renew_deadline``; a new leader resyncs every pending event. Each acquisition carries a new
fencing token. A leader that is paused (GC, VM migration) or whose clock runs slow may wake up
after its lease passed on and finish a create it checked before: a zombie write. With
``fencing`` the check is a fenced read (it raises the key's token watermark in the store) and the
store rejects a write whose token is below the watermark, so the zombie's create is refused
once the new leader has looked at the key. Without ``election`` every replica reconciles every
event: controllers thrash and create duplicates.

Within one replica a key is never reconciled twice at once (a workqueue), so same-token races
do not exist.

"""

from __future__ import annotations

from functools import partial
from typing import Literal

from pydantic import Field, model_validator

from toctou_sim.core.distributions import DistributionSpec, parse_distribution
from toctou_sim.core.units import PositiveDuration
from toctou_sim.measure.metrics import DECLINED, VIOLATED
from toctou_sim.spec.parts import StrategySpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.spec.targets import CALL_SERVICE, CONTROLLER, LEADER, NO_CLIENT, TargetKind
from toctou_sim.world.engine import REJECTED_ATTEMPT, Actor, Flow, Operation, ServiceRefused, Strategy, World
from toctou_sim.world.lease import ControllerReplica, LeaseService
from toctou_sim.world.strategies import KeyLocks

__all__ = ["PLUGIN", "LeaderElection", "LeaseSpec"]


class _Event:
    """Bookkeeping of one event across the reconciles of it."""

    __slots__ = ("active", "completed", "conflicted", "outcome", "reconciles", "violated")

    def __init__(self) -> None:
        self.active = 0
        self.reconciles = 0
        self.outcome: int | None = None
        self.completed = 0.0
        self.violated = False
        self.conflicted = False


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

    def targets(self) -> dict[str, TargetKind]:
        controllers = {f"controller.{index}": CONTROLLER for index in range(self.replicas)}
        return {**controllers, "leader": LEADER, "lease": CALL_SERVICE, "client": NO_CLIENT}


class LeaderElection(Strategy):
    """Controller replicas reconcile events; with ``election`` only the leaseholder does (see the
    module docstring for the protocol and its failure modes)."""

    spec: LeaseSpec

    def __init__(self, world: World, spec: LeaseSpec) -> None:
        super().__init__(world, spec)
        env = world.env
        self.service = LeaseService()
        self.service_actor = world.add_actor("lease")
        self.replicas = [
            ControllerReplica(index, world.add_actor(f"controller.{index}"), KeyLocks(env, None))
            for index in range(spec.replicas)
        ]
        self.pending: dict[Operation, None] = {}
        """Events no reconcile has completed yet, in arrival order (a new leader resyncs them)."""
        self.events: dict[Operation, _Event] = {}
        """Events not yet ended."""
        self._call_latency = world.streams.variates("lease.call_latency", spec.call_latency)
        self._capacity = world.finite_service("lease")
        self._work = world.finite_service("leader")
        """The acting replica's reconcile throughput (``[capacity.leader]``), or ``None``: unbounded."""
        self.refused_renewals = 0
        """Lease calls a finite lease service refused or timed out (the renewal failed)."""
        self._store = world.actors["store"]
        self.reconciles = 0
        self.duplicates = 0
        self.fenced_rejections = 0
        self.zombie_writes = 0
        world.aliases["leader"] = self._leader
        for replica in self.replicas:
            replica.actor.on_restart.append(partial(self._restarted, replica))
        if spec.election:
            for replica in self.replicas:
                env.process(self._elector(replica))

    # ------------------------------------------------------------------ election

    def _leader(self) -> Actor | None:
        """The actor of the replica the lease record names as holder now (without election:
        ``controller.0``, one of the replicas that all act)."""
        if not self.spec.election:
            return self.replicas[0].actor
        holder = self.service.holder
        return None if holder is None else self.replicas[holder[0]].actor

    def believes(self, replica: ControllerReplica) -> bool:
        """Whether ``replica`` thinks it may act now: alive in the incarnation it knows, and (with
        election) its last renewal younger than ``renew_deadline`` by its own clock."""
        actor = replica.actor
        now = self.world.env.now
        if actor.crashed_since(replica.epoch) or actor.is_down(now):
            return False
        if not self.spec.election:
            return True
        return replica.token > 0 and actor.local_time(now) - replica.renewed_local < self.spec.renew_deadline

    def _elector(self, replica: ControllerReplica) -> Flow:
        world = self.world
        env = world.env
        actor = replica.actor
        spec = self.spec
        service = self.service_actor
        while True:
            yield from actor.wait(env)
            if actor.epoch != replica.epoch:
                replica.restart(KeyLocks(env, None))
            epoch = replica.epoch
            sent_local = actor.local_time(env.now)
            leading = self.believes(replica)
            latency = service.scaled(self._call_latency())
            refused = False
            if self._capacity is not None:  # a finite lease service: queue for a server first
                try:
                    yield from self._capacity.request(env.now >= world.spec.model.warmup)
                except ServiceRefused:
                    refused = True
                    self.refused_renewals += 1
            if not refused and (yield from service.reach(env)):
                if latency > 0:
                    yield env.timeout(latency / 2)
                token = self.service.call((replica.index, epoch), actor.local_time(env.now), spec.lease_ttl)
                if latency > 0:
                    yield env.timeout(latency / 2)
                yield from actor.wait(env)  # a paused replica reads the reply when it resumes
                if actor.epoch == epoch and token is not None:
                    replica.token = token
                    replica.renewed_local = sent_local
                    if not leading:
                        self._resync(replica)
            yield env.timeout(actor.true_duration(spec.retry_period))

    def _restarted(self, replica: ControllerReplica) -> None:
        """A crashed replica is back: a new incarnation with an empty workqueue. Without election
        it lists everything and reconciles every unfinished event at once; with election it
        does so when it next becomes leader."""
        if replica.epoch != replica.actor.epoch:
            replica.restart(KeyLocks(self.world.env, None))
        if not self.spec.election:
            self._resync(replica)

    def _resync(self, replica: ControllerReplica) -> None:
        """A new leader reconciles every pending event it is not already working on."""
        for op in list(self.pending):
            if op not in replica.handling:
                self.world.env.process(self._reconcile(replica, op, first=False))

    # ------------------------------------------------------------------ reconciling

    def operate(self, op: Operation) -> Flow:
        """An event arrives: every replica that believes it may act reconciles it."""
        self.events[op] = _Event()
        self.pending[op] = None
        first = True
        for replica in self.replicas:
            if self.believes(replica):
                self.world.env.process(self._reconcile(replica, op, first))
                first = False
        return
        yield  # a process body

    def attempt(self, op: Operation, first: bool) -> Flow:  # pragma: no cover - operate is overridden
        raise NotImplementedError

    def _reconcile(self, replica: ControllerReplica, op: Operation, first: bool) -> Flow:
        """One replica reconciles one event: fenced check, window, create."""
        world = self.world
        env = world.env
        actor = replica.actor
        store = world.store
        epoch = replica.epoch
        event = self.events.get(op)
        if event is None:  # judged and forgotten between this reconcile's scheduling and its start
            return
        # Each reconcile observes and writes on its own; the event is judged once, when it ends.
        run = Operation(op.key, op.arrival, op.window, op.read_latency, op.write_latency, False)
        run.origin = op
        if not first:
            world.redraw(run)
        replica.handling.add(op)
        event.active += 1
        try:
            yield from actor.wait(env)
            if not self.believes(replica) or op not in self.pending:
                return
            grant = replica.locks.acquire(op.key)
            if not grant.triggered:
                yield grant
            locks = replica.locks
            lock_token: int = grant.value  # type: ignore[assignment]
            try:
                if self._work is not None:  # a finite leader: wait for a worker, hold it a service time
                    yield from self._work.request(op.counted)
                yield from actor.wait(env)
                if replica.epoch != epoch or not self.believes(replica) or op not in self.pending:
                    return
                token = replica.token
                event.reconciles += 1
                if not (yield from world.check(run, run.read_latency)):
                    self._complete(op, event, DECLINED)
                    return
                if self.spec.fencing and token > store.fence[op.key]:
                    store.fence[op.key] = token
                if run.window > 0:
                    yield env.timeout(run.window)
                yield from actor.wait(env)  # a pause mid-create: the zombie wakes up here
                yield from self._store.reachable(env)  # a partitioned store takes the create at heal
                if actor.crashed_since(epoch):
                    return  # died before sending the create: nothing written, the event stays pending
                if run.write_latency > 0:
                    yield env.timeout(run.write_latency)  # sent: lands even if the sender dies now
                if self.spec.election and self._leader() is not actor:
                    self.zombie_writes += 1
                accepted = not self.spec.fencing or token >= store.fence[op.key]
                if not accepted:
                    self.fenced_rejections += 1
                holds = store.holds(op.key, run.seen_version)
                measured = world.notify.window_measured
                if measured is not None:
                    measured(op, env.now - run.t_check)
                outcome = world.decide(run, accepted=accepted)
                if outcome == VIOLATED:
                    event.violated = True
                    self.duplicates += op.counted
                elif outcome in (REJECTED_ATTEMPT, DECLINED) and not holds:
                    event.conflicted = True
                if outcome != REJECTED_ATTEMPT:
                    self._complete(op, event, outcome)
            finally:
                locks.release(op.key, lock_token)
        except ServiceRefused:
            return  # a finite store refused the reconcile's call: the event stays pending
        finally:
            replica.handling.discard(op)
            event.active -= 1
            self._maybe_finish(op, event)

    def _complete(self, op: Operation, event: _Event, outcome: int) -> None:
        """The first reconcile that decided the event (declined, created, or duplicated)."""
        if op in self.pending:
            del self.pending[op]
            event.outcome = outcome
            event.completed = self.world.env.now

    def _maybe_finish(self, op: Operation, event: _Event) -> None:
        """End the event once it completed and no reconcile of it is still running (a paused
        ex-leader may still create a duplicate after the leader completed it). It counts as one
        operation: violated if any reconcile duplicated, a conflict if one was refused on a
        mismatch; its latency runs to the first completion."""
        if event.active or event.outcome is None or op not in self.events:
            return
        del self.events[op]
        outcome = VIOLATED if event.violated else event.outcome
        if op.counted:
            self.reconciles += event.reconciles
            if event.violated or event.conflicted:
                op.mismatched = True
        tallied = self.world.notify.tallied
        if tallied is not None:
            tallied(op, event.reconciles, event.violated, event.conflicted)
        op.arrival += self.world.env.now - event.completed  # latency = arrival to first completion
        self.world.finish(op, outcome)

    def metrics(self) -> dict[str, float]:
        operations = self.world.recorder.operations
        extra = {
            "leader_transitions": float(self.service.transitions),
            "fenced_rejections": float(self.fenced_rejections),
            "zombie_writes": float(self.zombie_writes),
            "reconciles_per_operation": self.reconciles / operations if operations else float("nan"),
            "duplicate_creates_per_operation": self.duplicates / operations if operations else float("nan"),
        }
        if self._capacity is not None:
            extra["lease_refused_renewals"] = float(self.refused_renewals)
        return extra


PLUGIN = Plugin(spec=LeaseSpec, behaviour=LeaderElection)
"""The kind ``lease``: its spec and its behaviour."""
