"""The lease service and controller replicas that the ``lease`` strategy (leader election with
fencing tokens, :mod:`toctou_sim.plugins.strategies.lease`) runs on."""

from __future__ import annotations

from toctou_sim.world.engine import Actor, Operation
from toctou_sim.world.strategies import KeyLocks

__all__ = ["ControllerReplica", "LeaseService"]


class LeaseService:
    """The lease record (a Kubernetes Lease object): the holder, the fencing token of the current
    holding, and a version bumped by every successful acquire or renew.

    As in client-go, the record has no expiry of its own: every candidate judges expiry with its
    *own* clock. It remembers when (by its clock) it first saw the current version of the record
    and takes the lease over only once that version stayed unchanged for ``lease_ttl`` by its
    clock. A call from the holder (same replica, same incarnation) renews and keeps the token; a
    takeover starts a new holding with a new, larger token (a restarted process is a new
    incarnation whose old writes may still be in flight, so it gets a new token too).
    """

    __slots__ = ("holder", "observed", "token", "transitions", "version")

    def __init__(self) -> None:
        self.holder: tuple[int, int] | None = None
        """(replica, incarnation) of the holder."""
        self.token = 0
        self.version = 0
        self.transitions = 0
        """Holdings granted after the first."""
        self.observed: dict[tuple[int, int], tuple[int, float]] = {}
        """Per candidate: the record version it last saw, and its own clock when it first saw it."""

    def call(self, caller: tuple[int, int], local_now: float, ttl: float) -> int | None:
        """Acquire or renew for ``caller``, whose clock reads ``local_now``: the token held, or ``None``."""
        seen = self.observed.get(caller)
        if seen is None or seen[0] != self.version:
            seen = self.observed[caller] = (self.version, local_now)
        if self.holder == caller:
            self._write(caller, local_now)
            return self.token
        if self.holder is None or local_now - seen[1] >= ttl:
            if self.holder is not None:
                self.transitions += 1
            self.token += 1
            self._write(caller, local_now)
            return self.token
        return None

    def _write(self, caller: tuple[int, int], local_now: float) -> None:
        self.holder = caller
        self.version += 1
        self.observed[caller] = (self.version, local_now)


class ControllerReplica:
    """One controller process: its actor (what faults hit), its incarnation, its belief about
    the lease, and its workqueue (per-key serialization)."""

    __slots__ = ("actor", "epoch", "handling", "index", "locks", "renewed_local", "token")

    def __init__(self, index: int, actor: Actor, locks: KeyLocks) -> None:
        self.index = index
        self.actor = actor
        self.epoch = actor.epoch
        self.token = 0
        """Fencing token of the holding this replica believes in (0: never led)."""
        self.renewed_local = -float("inf")
        """Own-clock time at which the last successful renewal was sent."""
        self.locks = locks
        self.handling: set[Operation] = set()

    def restart(self, locks: KeyLocks) -> None:
        """After a crash: a new incarnation, a follower with an empty workqueue."""
        self.epoch = self.actor.epoch
        self.token = 0
        self.renewed_local = -float("inf")
        self.locks = locks
        self.handling = set()


