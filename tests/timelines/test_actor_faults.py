"""Per-actor faults and write-only fencing, as exact timelines with constant delays: one client
of the fleet paused while it holds a lease (the classic fencing case)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import LoggingWorld, model

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.spec.model import SpecError
from toctou_sim.world import World


def paused_holder(fencing: bool | str, pause_until: float = 2.0) -> LoggingWorld:
    """A takes the lock (lease 1 s) at 0, checks v0 and is paused from the end of its 0.5 s window
    until ``pause_until``; its lease expires at 1 and B, waiting since 0.2, takes the lock (token
    2), checks v0 at 1 and writes v1 at 1.5."""
    spec = model(
        model={"horizon": 100},
        clients={"arrival": {"poisson": {"rate": 1e-9}}},
        strategy={"kind": "lock", "lease_ttl": 1.0, "fencing": fencing, "retry": {"max_retries": 0}},
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


def test_client_is_a_pause_and_crash_target_but_not_a_throttle_target() -> None:
    model(faults=[{"kind": "pause", "target": "client", "rate": 1.0}])
    model(faults=[{"kind": "crash", "target": "client", "rate": 1.0}])
    with pytest.raises(SpecError, match=r"faults\.0\.target"):
        model(faults=[{"kind": "throttle", "target": "client", "rate": 1.0, "limit": 1.0}])
    with pytest.raises(SpecError, match=r"faults\.0\.target"):
        model(faults=[{"kind": "crash", "target": "clients", "rate": 1.0}])


def crashed_consumer(strategy: dict[str, Any]) -> LoggingWorld:
    """A queue consumer takes A at 0, writes at 1 (window 1 s) and acks 0.5 s later; it crashes
    at 1.2 (back at 1.3), so the ack is lost and the broker redelivers A when the 3 s visibility
    timeout runs out, at 3."""
    spec = model(
        model={"horizon": 100},
        keys={"invariant": "counter", "initial": 10},
        clients={"arrival": {"poisson": {"rate": 1e-9}}},
        strategy=strategy,
        faults=[{"kind": "crash", "target": "consumer", "at": [1.2], "duration": 0.1}],
    )
    world = LoggingWorld(spec, RandomStreams(0, 0))
    for fault in world.faults:
        fault.start()
    world.at(0.0, "A", window=1.0)
    return world


QUEUE = {"kind": "queue", "ack": {"latency": 0.5, "visibility_timeout": 3.0}}


def test_a_consumer_crash_between_effect_and_ack_duplicates_the_effect() -> None:
    """The redelivered copy (its window drawn from the model's, 0) checks at 3 (9 units left) and
    consumes a second unit for the same request: a duplicate effect, acked at 3.5."""
    world = crashed_consumer(QUEUE)
    world.env.run(until=20)
    assert world.log == [("A", "ok", 1.5), ("A again", "violated", 3.5)]
    assert world.strategy.lost_acks == 1
    assert world.store.value[0] == 8  # the unit was consumed twice
    assert world.recorder.duplicate_deliveries == 1 and world.recorder.duplicate_effects == 1


def test_idempotency_turns_the_redelivered_message_into_a_no_op() -> None:
    """The copy finds A's idempotency key completed in the dedupe store: a no-op at 3."""
    world = crashed_consumer({"kind": "idempotency", "inner": QUEUE})
    world.env.run(until=20)
    assert world.log == [("A", "ok", 1.5), ("A again", "declined", 3.0)]
    assert world.store.value[0] == 9  # consumed once
    assert world.recorder.duplicate_deliveries == 1 and world.recorder.duplicate_effects == 0
    assert world.strategy.hits == 1


def test_without_a_crash_the_ack_lands_and_nothing_is_redelivered() -> None:
    spec = model(model={"horizon": 100}, keys={"invariant": "counter"},
                 clients={"arrival": {"poisson": {"rate": 1e-9}}}, strategy=QUEUE)
    world = World(spec, RandomStreams(0, 0))
    world.submit(0, window=1.0)
    world.env.run(until=20)
    assert world.recorder.duplicate_deliveries == 0 and world.strategy.metrics()["queue_lost_acks"] == 0


def test_a_participant_that_fails_after_prepare_blocks_the_key_until_it_restarts() -> None:
    """2PC, round trips of 0.1 s: A prepares by 0.1 (window 0.2); participant 1 crashes at 0.2 and
    restarts at 2.2, so A's commit waits for it and lands at 2.3; B, which arrived at 0.25 on the
    same key, waits for A's locks and commits at 2.3 + 0.1 + 0.2 + 0.1 = 2.7."""
    spec = model(
        model={"horizon": 100},
        clients={"arrival": {"poisson": {"rate": 1e-9}}},
        strategy={"kind": "two_phase", "participants": 2, "round_trip": 0.1},
        faults=[{"kind": "crash", "target": "participant.1", "at": [0.2], "duration": 2.0}],
    )
    world = LoggingWorld(spec, RandomStreams(0, 0))
    for fault in world.faults:
        fault.start()
    world.at(0.0, "A", window=0.2)
    world.at(0.25, "B", window=0.2)
    world.env.run(until=20)
    assert [(name, what, round(t, 9)) for name, what, t in world.log] == [("A", "ok", 2.3), ("B", "ok", 2.7)]
    assert world.strategy.metrics()["participant_failures_after_prepare"] == 1
