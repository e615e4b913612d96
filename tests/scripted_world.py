"""A world whose scripted operations log each check and use decision by name, for exact
timelines in SimPy's style (shared by the timeline and verdict tests)."""

from __future__ import annotations

from typing import Any

from conftest import model

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.measure.metrics import OUTCOMES
from toctou_sim.world import World
from toctou_sim.world.engine import REJECTED_ATTEMPT


class LoggingWorld(World):
    """A world that logs every check and every use decision with the operation's name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[tuple[str, str, float]] = []
        self.names: dict[int, str] = {}

    def check(self, op, latency):  # type: ignore[override]
        holds = yield from super().check(op, latency)
        self.log.append((self.names[id(op)], f"check v{op.seen_version}", self.env.now))
        return holds

    def decide(self, op, accepted):  # type: ignore[override]
        outcome = super().decide(op, accepted)
        what = "rejected" if outcome == REJECTED_ATTEMPT else OUTCOMES[outcome]
        self.log.append((self.names[id(op)], what, self.env.now))
        return outcome

    def at(self, time: float, name: str, key: int = 0, **durations: float) -> None:
        def start():
            yield self.env.timeout(time)
            op = self.submit(key, **durations)
            self.names[id(op)] = name

        self.env.process(start())


def world_for(strategy: dict[str, Any], **sections: Any) -> LoggingWorld:
    spec = model(
        model={"horizon": 100},
        clients={"arrival": {"poisson": {"rate": 1e-9}}, "window": 2.0},
        strategy=strategy,
        **sections,
    )
    return LoggingWorld(spec, RandomStreams(0, 0))

