"""The ``two_phase`` strategy: a coordinator with prepare/commit round trips."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, cast

from pydantic import Field

from toctou_sim.core.distributions import DistributionSpec, parse_distribution
from toctou_sim.measure.metrics import DECLINED
from toctou_sim.spec.parts import RetryPolicy, StrategySpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.spec.targets import ACTIVE_ACTOR, PARTICIPANT, TargetKind
from toctou_sim.world.engine import REJECTED_ATTEMPT, Flow, Operation, Strategy, World
from toctou_sim.world.mitigations import UNIT, gated_mutate, mean_or_nan
from toctou_sim.world.strategies import KeyLocks

__all__ = ["PLUGIN", "TwoPhaseCommit", "TwoPhaseSpec"]


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

    def targets(self) -> dict[str, TargetKind]:
        participants = {f"participant.{index}": PARTICIPANT for index in range(self.participants)}
        return {"coordinator": ACTIVE_ACTOR, **participants}


class TwoPhaseCommit(Strategy):
    """Two-phase commit: a coordinator asks every participant to prepare (lock the key, check,
    vote), then tells them to commit, and the use is applied at commit.

    The key stays locked from prepare to commit, so no cooperating writer can change it in
    between: two-phase commit never violates. Its costs are two round trips to the slowest
    participant, lock holding, and blocking: if the coordinator crashes after the votes,
    participants stay in doubt with their locks held until it recovers.
    """

    spec: TwoPhaseSpec

    def __init__(self, world: World, spec: TwoPhaseSpec) -> None:
        super().__init__(world, spec)
        streams = world.streams
        self.locks = KeyLocks(world.env, None)
        self.coordinator = world.add_actor("coordinator")
        self._participants: int = spec.participants
        self._rtt = streams.variates("two_phase.round_trip", spec.round_trip)
        self._crash: float = spec.coordinator_crash
        self._crash_draw = streams.variates("two_phase.crash", UNIT)
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
            yield from world.wait_window(op.window, op)
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
            gated_mutate(self.locks, key, apply)
        else:
            apply()

    def _await_participants(self, op: Operation, prepared: list[int]) -> Flow:
        """A participant that crashed after it prepared is in doubt: it keeps the key locked (its
        prepare record is durable) and the commit waits until it has restarted and can apply it."""
        env = self.world.env
        for participant, epoch in zip(self.participants, prepared, strict=True):
            if participant.crashed_since(epoch) or participant.is_down(env.now):
                if op.counted:
                    self.participant_failures += 1
                yield from participant.wait(env)

    def metrics(self) -> dict[str, float]:
        extra = {
            "in_doubt_transactions": float(self.in_doubt),
            "in_doubt_time_mean_s": mean_or_nan(self._in_doubt_total, self.in_doubt),
            "prepare_failures": float(self.prepare_failures),
            "lock_held_mean_ms": mean_or_nan(self._held_total, self._held) * 1e3,
        }
        if self._participant_faults:
            extra["participant_failures_after_prepare"] = float(self.participant_failures)
        return extra


PLUGIN = Plugin(spec=TwoPhaseSpec, behaviour=TwoPhaseCommit)
"""The kind ``two_phase``: its spec and its behaviour."""
