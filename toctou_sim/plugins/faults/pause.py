"""The ``pause`` fault (a scheduled fault on one target, see :class:`~toctou_sim.spec.faults.ScheduledFaultSpec`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from toctou_sim.spec.faults import ScheduledFaultSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.engine import Actor
from toctou_sim.world.faults import ScheduledFault

if TYPE_CHECKING:
    from toctou_sim.spec.parts import ModelView

__all__ = ["PLUGIN", "Pause", "PauseSpec"]


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
    effect: ClassVar[str] = "pause"
    target: str = "clients"

    def check_model(self, model: ModelView) -> str | None:
        if self.target == "store":
            return "target: a paused store is a partition; use kind = \"partition\" with target = \"store\""
        return super().check_model(model)


class Pause(ScheduledFault):
    """Stop-the-world: the target takes no step until the pause ends (its timers still run out,
    and the rest of the world, leases included, goes on)."""

    spec: PauseSpec

    def begin(self, actor: Actor, duration: float, first: bool) -> None:
        actor.stall(self.world.env.now + duration)


PLUGIN = Plugin(spec=PauseSpec, behaviour=Pause)
"""The kind ``pause``: its spec and its behaviour."""
