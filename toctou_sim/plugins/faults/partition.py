"""The ``partition`` fault (a scheduled fault on one target, see :class:`~toctou_sim.spec.faults.ScheduledFaultSpec`).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from toctou_sim.core.units import PositiveDuration
from toctou_sim.spec.faults import ScheduledFaultSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.engine import Actor
from toctou_sim.world.faults import ScheduledFault

__all__ = ["PLUGIN", "Partition", "PartitionSpec"]


class PartitionSpec(ScheduledFaultSpec):
    """A service is unreachable during each interval. Calls made during the partition queue
    until it heals; with ``timeout`` a call to a lock or lease service instead fails after that
    many seconds (the attempt is rejected and retried, or a lease renewal fails).

    Targets: ``store`` (reads and writes of every actor queue until heal), ``lock``, ``lease``,
    ``dedupe``; on an actor (``clients``, ``mutators``, a controller) a partition acts as a pause.
    A replica is cut off with ``replica_partition``.
    """

    kind: Literal["partition"] = "partition"
    effect: ClassVar[str] = "partition"
    target: str = "store"
    timeout: PositiveDuration | None = None
    """A call that would wait longer fails after this many seconds (``None``: calls queue)."""


class Partition(ScheduledFault):
    """The target service is unreachable during the interval: calls queue until heal, or fail
    after ``timeout`` where the caller has a failure path (lock acquire, lease renewal)."""

    spec: PartitionSpec

    def begin(self, actor: Actor, duration: float, first: bool) -> None:
        actor.cut_off(self.world.env.now + duration, self.spec.timeout)


PLUGIN = Plugin(spec=PartitionSpec, behaviour=Partition)
"""The kind ``partition``: its spec and its behaviour."""
