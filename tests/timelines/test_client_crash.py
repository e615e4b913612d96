"""A client crash between its side effect and recording it (a ``crash`` fault on ``client``): the
request comes again when the crash ends and, unless the strategy is idempotent, takes effect twice.
Exact timelines with constant delays, and counts against the effect ledger."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import MODELS, LoggingWorld, model

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.experiment.montecarlo import compare
from toctou_sim.world.ledger import EffectLedger


def crashed_client(strategy: dict[str, Any], onset: float = 0.5) -> LoggingWorld:
    """A checks at 0 and charges at 1 (window 1 s); the crash interval runs from ``onset`` to
    ``onset + 1``. B checks at 0.2 and charges at 2.2 (window 2 s), after the interval: B is not
    the crashed client. The ledger keeps every entry."""
    spec = model(
        model={"horizon": 100},
        keys={"invariant": "counter", "initial": 10},
        clients={"arrival": {"poisson": {"rate": 1e-9}}},
        strategy=strategy,
        faults=[{"kind": "crash", "target": "client", "at": [onset], "duration": 1.0}],
    )
    world = LoggingWorld(spec, RandomStreams(0, 0))
    world.ledger = EffectLedger(track=True, keep=True)
    for fault in world.faults:
        fault.start()
    world.at(0.0, "A", window=1.0)
    world.at(0.2, "B", window=2.0)
    world.env.run(until=20)
    return world


def test_a_client_crash_after_its_effect_charges_twice_without_idempotency() -> None:
    """A's charge lands at 1, inside the crash (0.5 to 1.5): A dies before answering and its caller
    sends the request again at 1.5; the copy (window 0, the model's) checks at 1.5 and charges a
    second time for the same request. B charges once, at 2.2."""
    world = crashed_client({"kind": "none"})
    assert world.log == [("A", "ok", 1.0), ("A again", "violated", 1.5), ("B", "ok", 2.2)]
    ledger = [(e.request_id, e.time, e.harm) for e in world.ledger.entries]
    assert ledger == [(0, 1.0, ""), (0, 1.5, "duplicate"), (1, 2.2, "")]
    assert world.store.value[0] == 7  # three units: A twice, B once
    assert world.recorder.duplicate_deliveries == 1 and world.recorder.duplicate_effects == 1
    metrics = world.extra_metrics()
    assert metrics["client_lost_answers"] == 1 and metrics["ledger_duplicates"] == 1


def test_idempotency_makes_the_resent_request_a_no_op() -> None:
    """The copy at 1.5 finds A's key completed in the (strong) dedupe store: declined, no effect."""
    world = crashed_client({"kind": "idempotency", "inner": {"kind": "none"}})
    assert world.log == [("A", "ok", 1.0), ("A again", "declined", 1.5), ("B", "ok", 2.2)]
    assert [(e.request_id, e.harm) for e in world.ledger.entries] == [(0, ""), (1, "")]
    assert world.store.value[0] == 8
    assert world.strategy.hits == 1


def test_a_crash_no_effect_lands_in_loses_nothing() -> None:
    """A crash from 1.1 to 2.1: A charged at 1 (before), B charges at 2.2 (after): no client dies
    between effect and answer, nothing is sent again."""
    world = crashed_client({"kind": "none"}, onset=1.1)
    assert world.log == [("A", "ok", 1.0), ("B", "ok", 2.2)]
    assert world.ledger.harms["duplicate"] == 0 and world.lost_answers == 0


@pytest.fixture(scope="module")
def bundled() -> Any:
    return compare(str(MODELS / "client_crash_after_effect.toml"), ["none", "idempotency"], reps=2, seed=1,
                   overrides={"model.horizon": "20s", "model.warmup": "2s"})


def test_the_bundled_model_duplicates_under_none_and_not_under_idempotency(bundled: Any) -> None:
    """The ledger's duplicates (the world's record, not the strategy's) are > 0 under ``none`` in
    every replication and 0 under ``idempotency``, with as many lost answers in both."""
    for rep in bundled.results["none"].replications:
        assert rep.metrics["ledger_duplicates"] > 0
        assert rep.metrics["ledger_duplicates"] <= rep.metrics["client_lost_answers"]
    for rep in bundled.results["idempotency"].replications:
        assert rep.metrics["client_lost_answers"] > 0
        assert rep.metrics["ledger_duplicates"] == 0
