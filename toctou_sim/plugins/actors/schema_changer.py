"""The ``schema_changer`` actor: schema or artifact changes (F9)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Literal

import simpy
from pydantic import Field

from toctou_sim.core.distributions import DistributionSpec, parse_distribution
from toctou_sim.spec.parts import ActorSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.spec.strategies import require_invariant
from toctou_sim.world.engine import BackgroundActor, Flow, World
from toctou_sim.world.mitigations import actor_index, exponential, measured

if TYPE_CHECKING:
    from toctou_sim.spec.parts import ModelView

__all__ = ["PLUGIN", "SchemaChanger", "SchemaChangerSpec"]


class SchemaChangerSpec(ActorSpec):
    """Schema migrations or artifact promotions: at ``rate`` per second a change lands on one
    random key (``scope = "one"``: a table, a release channel) or on every key at once
    (``scope = "all"``: a global schema or a shared tag). Each change takes ``duration`` to
    apply; a write prepared against the previous version is then against the wrong schema."""

    kind: Literal["schema_changer"] = "schema_changer"
    rate: float = Field(gt=0)
    scope: Literal["one", "all"] = "one"
    duration: DistributionSpec = parse_distribution(0.0)

    def check_model(self, model: ModelView) -> str | None:
        return require_invariant(model, "schema_changer", ("unchanged", "version"))


class SchemaChanger(BackgroundActor):
    """Schema migrations or artifact promotions: each change, after its duration, moves one key
    (or every key) to a new version, so a write prepared against the old version lands on the
    wrong schema (a corrupt write) unless it is versioned."""

    spec: SchemaChangerSpec

    def __init__(self, world: World, spec: SchemaChangerSpec) -> None:
        super().__init__(world, spec)
        name = f"actors.{actor_index(world, spec)}"
        streams = world.streams
        self._gaps = streams.variates(f"{name}.arrivals", exponential(1.0 / spec.rate))
        self._keys = streams.keys(f"{name}.keys", world.spec.keys.count, None)
        self._duration = streams.variates(f"{name}.duration", spec.duration)
        self._all: bool = spec.scope == "all"
        self.changes = 0

    def start(self) -> None:
        self.world.env.process(self._run())

    def _apply(self, keys: range | tuple[int], _event: simpy.Event | None = None) -> None:
        world = self.world
        store = world.store
        for key in keys:

            def apply(key: int = key) -> None:
                store.write(key, store.value[key] + 1)
                world.read_path.on_write(key)

            world.mutate(key, apply)

    def _run(self) -> Flow:
        env = self.world.env
        end = 2 * self.world.spec.model.horizon
        count = self.world.spec.keys.count
        while True:
            yield env.timeout(self._gaps())
            if env.now >= end:
                return
            keys: range | tuple[int] = range(count) if self._all else (self._keys(),)
            if measured(self.world, env.now):
                self.changes += 1
            duration = self._duration()
            if duration > 0:
                env.timeout(duration).callbacks.append(partial(self._apply, keys))
            else:
                self._apply(keys)

    def metrics(self) -> dict[str, float]:
        return {"schema_changes": float(self.changes)}


PLUGIN = Plugin(spec=SchemaChangerSpec, behaviour=SchemaChanger)
"""The kind ``schema_changer``: its spec and its behaviour."""
