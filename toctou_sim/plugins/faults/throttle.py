"""The ``throttle`` fault (a scheduled fault on one target, see :class:`~toctou_sim.spec.faults.ScheduledFaultSpec`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from toctou_sim.spec.faults import ScheduledFaultSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.engine import Actor, Quota, World
from toctou_sim.world.faults import ScheduledFault

if TYPE_CHECKING:
    from toctou_sim.spec.parts import ModelView

__all__ = ["PLUGIN", "Throttle", "ThrottleSpec"]


class ThrottleSpec(ScheduledFaultSpec):
    """A service's quota drops to ``limit`` requests per second during each interval (bursts up
    to ``burst``); requests above it are rejected (429) and retried with backoff or aborted. On
    the ``store`` it is the write (the use) that is throttled: accepted at check, refused at use
    (guide F8). The store is the only target that honours a throttle."""

    kind: Literal["throttle"] = "throttle"
    effect: ClassVar[str] = "throttle"
    target: str = "store"
    limit: float = Field(gt=0)
    """Admitted requests per second during the interval."""
    burst: float | None = Field(default=None, ge=1)
    """Bucket size (default: ``max(1, limit)``)."""

    def check_model(self, model: ModelView) -> str | None:
        actors = ("clients", "client", "mutators", "leader")
        if self.target in actors or self.target.startswith("controller"):
            return f"target: throttle applies to a service (e.g. store), not the actor {self.target!r}"
        return super().check_model(model)


class Throttle(ScheduledFault):
    """The target service admits at most ``limit`` requests per second (token bucket of
    ``burst``) during the interval and rejects the rest."""

    spec: ThrottleSpec

    def __init__(self, world: World, spec: ThrottleSpec) -> None:
        super().__init__(world, spec)
        self.rejected = 0
        self._quotas: list[Quota] = []

    def begin(self, actor: Actor, duration: float, first: bool) -> None:
        if first:
            burst = self.spec.burst if self.spec.burst is not None else max(1.0, self.spec.limit)
            quota = Quota(self.spec.limit, burst, self.world.env.now)
            self._quotas.append(quota)
            actor.throttle(quota)

    def end(self, actor: Actor, last: bool) -> None:
        if last:
            actor.unthrottle()

    def metrics(self) -> dict[str, float]:
        extra = super().metrics()
        extra["throttled_requests"] = float(sum(quota.rejected for quota in self._quotas))
        return extra


PLUGIN = Plugin(spec=ThrottleSpec, behaviour=Throttle)
"""The kind ``throttle``: its spec and its behaviour."""
