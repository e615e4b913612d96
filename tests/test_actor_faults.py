"""Per-actor faults and write-only fencing, as exact timelines with constant delays: one client
of the fleet paused while it holds a lease (the classic fencing case)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import model

from toctou_sim.distributions import RandomStreams
from toctou_sim.metrics import OUTCOMES
from toctou_sim.spec import SpecError
from toctou_sim.world import World


class LoggingWorld(World):
    """Logs how each scripted operation ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[tuple[str, str, float]] = []
        self.names: dict[int, str] = {}

    def finish(self, op, outcome):  # type: ignore[override]
        self.log.append((self.names[id(op)], OUTCOMES[outcome], self.env.now))
        super().finish(op, outcome)

    def at(self, time: float, name: str, window: float) -> None:
        def start():
            yield self.env.timeout(time)
            op = self.submit(0, window=window)
            self.names[id(op)] = name

        self.env.process(start())


def paused_holder(fencing: bool | str, pause_until: float = 2.0) -> LoggingWorld:
    """A takes the lock (lease 1 s) at 0, checks v0 and is paused from the end of its 0.5 s window
    until ``pause_until``; its lease expires at 1 and B, waiting since 0.2, takes the lock (token
    2), checks v0 at 1 and writes v1 at 1.5."""
    spec = model(
        model={"horizon": 100},
        clients={"arrival": {"poisson": {"rate": 1e-9}}},
        strategy={"kind": "lock", "lease_ttl": 1.0, "fencing": fencing},
        faults=[{"kind": "pause", "target": "client", "at": [0.1], "duration": pause_until - 0.1}],
    )
    world = LoggingWorld(spec, RandomStreams(0, 0))
    for fault in world.faults:
        fault.start()
    world.at(0.0, "A", window=0.5)
    world.at(0.2, "B", window=0.5)
    world.env.run(until=20)
    return world


def test_one_paused_client_under_an_unfenced_lease_loses_an_update() -> None:
    """Only A is paused (B's use at 1.5 goes through during the pause); A wakes at 2 and writes
    over B's v1 on the strength of its check of v0: a lost update."""
    world = paused_holder(False)
    assert world.log == [("B", "ok", 1.5), ("A", "violated", 2.0)]
    assert world.strategy.locks.expired == 1
    assert world.recorder.violations == 1


def test_write_only_fencing_rejects_the_stale_holders_write() -> None:
    """B's write carried token 2; A's token 1 is older than a token seen on a write: rejected."""
    world = paused_holder("writes")
    assert world.log == [("B", "ok", 1.5), ("A", "aborted", 2.0)]
    assert world.recorder.violations == 0 and world.recorder.conflicts == 1
    assert world.strategy.metrics()["fenced_rejections"] == 1


def test_write_only_fencing_is_weaker_than_a_fenced_read() -> None:
    """A wakes at 1.2, after B checked v0 (at 1) but before B writes (at 1.5): with write-only
    fencing A's write lands (no newer write seen yet) and B's write is then a lost update; a fenced
    read (B's check raised the watermark to 2 at 1) rejects A's write instead."""
    writes = paused_holder("writes", pause_until=1.2)
    assert writes.log == [("A", "ok", 1.2), ("B", "violated", 1.5)]
    read = paused_holder(True, pause_until=1.2)
    assert read.log == [("A", "aborted", 1.2), ("B", "ok", 1.5)]


def test_client_is_a_fault_target_but_not_a_crash_or_throttle_target() -> None:
    model(faults=[{"kind": "pause", "target": "client", "rate": 1.0}])
    for kind in ("crash", "throttle"):
        extra = {"limit": 1.0} if kind == "throttle" else {}
        with pytest.raises(SpecError, match=r"faults\.0\.target"):
            model(faults=[{"kind": kind, "target": "client", "rate": 1.0, **extra}])
