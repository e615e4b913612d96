"""The ``policy_changer`` actor: IAM revocations and grants with a propagation delay (F3)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Literal

import simpy
from pydantic import Field

from toctou_sim.core.distributions import DistributionSpec, parse_distribution
from toctou_sim.spec.parts import ActorSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.spec.strategies import require_invariant
from toctou_sim.world.engine import BackgroundActor, Flow, Operation, ReadPath, World
from toctou_sim.world.mitigations import actor_index, exponential, measured

if TYPE_CHECKING:
    from toctou_sim.spec.parts import ModelView

__all__ = ["PLUGIN", "PolicyChanger", "PolicyChangerSpec", "PolicyView"]


class PolicyChangerSpec(ActorSpec):
    """An IAM administrator: revokes a key's permission at ``rate`` per second (whole system) and
    restores it ``restore_after`` later. Each change reaches the policy store
    ``propagation_delay`` after it was issued."""

    kind: Literal["policy_changer"] = "policy_changer"
    rate: float = Field(gt=0)
    restore_after: DistributionSpec = parse_distribution(60.0)
    propagation_delay: DistributionSpec = parse_distribution(0.0)

    def check_model(self, model: ModelView) -> str | None:
        return require_invariant(model, "policy_changer", ("grant",))


class PolicyView(ReadPath):
    """The checker's copy of the policy (a replicated or cached policy store, an IAM endpoint
    that lags the enforcement point): every change the :class:`PolicyChanger` makes reaches it
    ``propagation_delay`` after it took effect at the enforcer (the store). While a change of a
    key is still on its way, a check of that key reads the view's older state (a stale check);
    otherwise it reads through the model's own read path.

    It wraps the world's read path; whatever else reads or writes goes to that read path.
    """

    def __init__(self, world: World, inner: ReadPath) -> None:
        super().__init__(world, inner.spec)
        self.inner = inner
        count = world.spec.keys.count
        self.pending = [0] * count
        """Changes of each key that took effect at the enforcer and have not reached the view."""
        self.version = [0] * count
        """The newest version of each key the view has received."""
        self.value = [world.spec.keys.initial_value] * count
        self.lagging_reads = 0

    def changed(self, key: int, delay: float) -> None:
        """The enforcer's state of ``key`` just changed; the view gets it ``delay`` from now."""
        store = self.world.store
        self.pending[key] += 1
        state = (store.version[key], store.value[key])
        if delay > 0:
            self.world.env.timeout(delay).callbacks.append(partial(self._arrive, key, state))
        else:
            self._arrive(key, state)

    def _arrive(self, key: int, state: tuple[int, int], _event: simpy.Event | None = None) -> None:
        self.pending[key] -= 1
        if state[0] > self.version[key]:  # changes may arrive out of order: the newest wins
            self.version[key], self.value[key] = state

    def _lagged(self, key: int, version: int, value: int) -> tuple[int, int]:
        if self.pending[key]:
            self.lagging_reads += 1
            return self.version[key], self.value[key]
        return version, value

    def observe(self, op: Operation, latency: float) -> Flow:
        version, value = yield from self.inner.observe(op, latency)
        return self._lagged(op.key, version, value)

    def read(self, key: int, latency: float) -> Flow:
        version, value = yield from self.inner.read(key, latency)
        return self._lagged(key, version, value)

    def on_write(self, key: int) -> None:
        self.inner.on_write(key)

    def on_use(self, op: Operation) -> None:
        self.inner.on_use(op)

    def metrics(self) -> dict[str, float]:
        return {**self.inner.metrics(), "policy_view_lagging_reads": float(self.lagging_reads)}


class PolicyChanger(BackgroundActor):
    """An IAM administrator revoking permissions (and restoring them later). Each change takes
    effect at once at the enforcer (the store: the truth a use is judged on) and reaches the
    checker's view of the policy ``propagation_delay`` later (:class:`PolicyView`, installed
    over the world's read path), so a check in between still says "allowed" (guide F3). While
    any revocation of a key is in force the key is denied."""

    spec: PolicyChangerSpec

    def __init__(self, world: World, spec: PolicyChangerSpec) -> None:
        super().__init__(world, spec)
        name = f"actors.{actor_index(world, spec)}"
        streams = world.streams
        self._gaps = streams.variates(f"{name}.arrivals", exponential(1.0 / spec.rate))
        self._keys = streams.keys(f"{name}.keys", world.spec.keys.count, None)
        self._restore = streams.variates(f"{name}.restore_after", spec.restore_after)
        self._delay = streams.variates(f"{name}.propagation_delay", spec.propagation_delay)
        self._revoked = [0] * world.spec.keys.count
        self.revocations = 0
        view = world.read_path
        if not isinstance(view, PolicyView):  # several policy changers share one view
            view = world.read_path = PolicyView(world, view)
        self.view: PolicyView = view

    def start(self) -> None:
        self.world.env.process(self._run())

    def _change(self, key: int, revoke: bool, delay: float, _event: simpy.Event | None = None) -> None:
        world = self.world
        store = world.store
        revoked = self._revoked
        view = self.view

        def apply() -> None:
            revoked[key] += 1 if revoke else -1
            store.write(key, 0 if revoked[key] > 0 else 1)
            view.on_write(key)
            view.changed(key, delay)

        world.mutate(key, apply)

    def _run(self) -> Flow:
        env = self.world.env
        end = 2 * self.world.spec.model.horizon
        while True:
            yield env.timeout(self._gaps())
            if env.now >= end:
                return
            key = self._keys()
            if measured(self.world, env.now):
                self.revocations += 1
            revoke_delay = self._delay()
            restore_at = self._restore()
            restore_delay = self._delay()
            self._change(key, True, revoke_delay)
            env.timeout(restore_at).callbacks.append(partial(self._change, key, False, restore_delay))

    def metrics(self) -> dict[str, float]:
        return {"policy_revocations": float(self.revocations)}


PLUGIN = Plugin(spec=PolicyChangerSpec, behaviour=PolicyChanger)
"""The kind ``policy_changer``: its spec and its behaviour."""
