"""The ``crash`` fault (a scheduled fault on one target, see :class:`~toctou_sim.spec.faults.ScheduledFaultSpec`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from toctou_sim.spec.faults import ScheduledFaultSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.engine import Actor, World
from toctou_sim.world.faults import ScheduledFault

if TYPE_CHECKING:
    from toctou_sim.spec.parts import ModelView

__all__ = ["PLUGIN", "Crash", "CrashSpec"]


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
    after its visibility timeout), ``coordinator``, ``reconciler``, ``participant.N``, or an actor
    another strategy declares as honouring crashes (and checks with ``Actor.crashed_since``, the
    crash hook). Not ``clients`` (the whole fleet), the ``store`` or a service a strategy calls.
    """

    kind: Literal["crash"] = "crash"
    effect: ClassVar[str] = "crash"

    def check_model(self, model: ModelView) -> str | None:
        if self.target in ("clients", "store"):
            return (f"target: crashing {self.target!r} is not modelled; crash one client (client), a "
                    "controller (controller.N, leader), the mutators or a strategy's own actor")
        return super().check_model(model)


class Crash(ScheduledFault):
    """The target dies now and restarts after the duration: its epoch changes, so every
    multi-step operation it was running stops at its next step (``Actor.crashed_since``), and it
    takes no new step until it is back up.

    On ``client`` (one client of the fleet) the crash hits the first client whose use takes
    effect while the interval lasts: it dies right after its side effect, before it answers, and
    the request comes again when the interval ends (:meth:`World.lose_answer`, the path of a queue
    consumer's lost ack)."""

    spec: CrashSpec

    def __init__(self, world: World, spec: CrashSpec) -> None:
        super().__init__(world, spec)
        if spec.target == "client":
            world.crashing_client = True
            world.enable_duplicates()

    def begin(self, actor: Actor, duration: float, first: bool) -> None:
        actor.crash(self.world.env.now + duration)

    def end(self, actor: Actor, last: bool) -> None:
        actor.restarted(self.world.env.now)

    def metrics(self) -> dict[str, float]:
        extra = super().metrics()
        if self.spec.target == "client":
            extra["client_lost_answers"] = float(self.world.lost_answers)
        return extra


PLUGIN = Plugin(spec=CrashSpec, behaviour=Crash)
"""The kind ``crash``: its spec and its behaviour."""
