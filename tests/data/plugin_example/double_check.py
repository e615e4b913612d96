"""An example third-party plug-in: the ``double_check`` strategy, in one module.

Check, wait the window, look at the truth once more, and use only if the key is unchanged (no
retry). The spec is the model-file table ``strategy = { kind = "double_check" }``; the behaviour
is the world object built from it; ``PLUGIN`` binds the two, and the distribution that ships
this module declares it in its ``pyproject.toml``::

    [project.entry-points."toctou_sim.plugins"]
    double_check = "double_check:PLUGIN"

The tests install it as a fake distribution (a ``.dist-info`` folder with that entry point).
"""

from __future__ import annotations

from typing import Literal

from toctou_sim.measure.metrics import DECLINED
from toctou_sim.spec.parts import StrategySpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.engine import Flow, Operation, Strategy, World

__all__ = ["PLUGIN", "DoubleCheck", "DoubleCheckSpec"]


class DoubleCheckSpec(StrategySpec):
    """Check, wait, check the truth again, then use if nothing changed (a recheck without retries)."""

    kind: Literal["double_check"] = "double_check"


class DoubleCheck(Strategy):
    """The behaviour of ``double_check``: a mismatch the second look sees is caught (a conflict)."""

    spec: DoubleCheckSpec

    def __init__(self, world: World, spec: DoubleCheckSpec) -> None:
        super().__init__(world, spec)
        self.second_looks = 0
        self.caught = 0

    def attempt(self, op: Operation, first: bool) -> Flow:
        world = self.world
        if not (yield from world.check(op, op.read_latency)):
            return DECLINED
        yield from world.wait_window(op.window)
        self.second_looks += 1
        if not world.store.holds(op.key, op.seen_version):
            self.caught += 1
            return world.catch(op)
        if op.write_latency > 0:
            yield world.env.timeout(op.write_latency)
        return world.decide(op, accepted=True)

    def metrics(self) -> dict[str, float]:
        return {"double_check_looks": float(self.second_looks), "double_check_caught": float(self.caught)}


PLUGIN = Plugin(spec=DoubleCheckSpec, behaviour=DoubleCheck)
