"""Finite services (``[capacity.<service>]``): exact timelines with constant service times, the
retry budget, validation, and the promise that a model without capacities is unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import ROOT, LoggingWorld, model
from golden_json import HERE, MODELS, capture

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.engines.fastpath import qualifies
from toctou_sim.spec.capacity import RetryBudgetSpec
from toctou_sim.spec.model import RetryPolicy, SpecError, load_model
from toctou_sim.world import World
from toctou_sim.world.services import RetryBudget


def finite_world(strategy: dict[str, Any] | None = None, **capacity: Any) -> LoggingWorld:
    spec = model(
        model={"horizon": 100},
        clients={"arrival": {"poisson": {"rate": 1e-9}}},
        strategy=strategy or {"kind": "none"},
        capacity={"store": {"servers": 1, "service_time": 1.0, "calls": "writes", **capacity}},
    )
    return LoggingWorld(spec, RandomStreams(0, 0))


def test_calls_queue_fifo_and_latency_grows_with_load() -> None:
    """One server, 1 s per write: A, B and C check v0 at t=0, 0.1, 0.2 and their writes finish at
    1, 2 and 3: the queue is latency, and a longer window (B's and C's) is a lost update."""
    world = finite_world()
    for time, name in ((0.0, "A"), (0.1, "B"), (0.2, "C")):
        world.at(time, name)
    world.env.run(until=10)
    assert world.log == [("A", "ok", 1.0), ("B", "violated", 2.0), ("C", "violated", 3.0)]
    service = world.services[0]
    assert (service.calls, service.served, service.wasted) == (3, 3, 0)
    assert service.wait.mean == pytest.approx((0 + 0.9 + 1.8) / 3)


def test_a_full_waiting_room_refuses_with_429() -> None:
    """Waiting room of 1: C finds A in service and B waiting and is refused at once (aborted, no
    retry policy); D arrives after A left and queues behind B."""
    world = finite_world(queue=1)
    for time, name in ((0.0, "A"), (0.1, "B"), (0.2, "C"), (1.5, "D")):
        world.at(time, name)
    world.env.run(until=10)
    assert world.log == [("C", "aborted", 0.2), ("A", "ok", 1.0), ("B", "violated", 2.0),
                         ("D", "violated", 3.0)]
    assert world.services[0].throttled == 1


def test_a_caller_that_times_out_retries_and_its_abandoned_call_is_wasted() -> None:
    """Deadline 1.5 s, cas retrying at once: B's write (queued behind A's) times out at 1.6 and B
    retries (it re-checks v1, which A wrote at 1); the server still serves the abandoned call from
    1 to 2 (wasted), then B's retried write from 2 to 3, whose CAS on v1 succeeds."""
    world = finite_world({"kind": "cas", "retry": {"max_retries": 1, "backoff": 0, "jitter": "none"}}, timeout=1.5)
    world.at(0.0, "A")
    world.at(0.1, "B")
    world.env.run(until=10)
    assert world.log == [("A", "ok", 1.0), ("B", "ok", 3.0)]
    service = world.services[0]
    assert (service.calls, service.timed_out, service.wasted, service.served) == (3, 1, 1, 2)
    assert world.recorder.retries == 1


def test_cancel_abandoned_skips_calls_whose_caller_left() -> None:
    """Deadline 1.5 s (queueing plus service): B's write is in service from 1 when B gives up at
    1.6, and the server finishes it anyway (wasted); C's, still queued, times out at 1.7. With
    deadline propagation the server drops C's call when its turn comes at 2 instead of serving it
    (wasted) until 3."""
    for cancel, wasted, cancelled, utilization in ((False, 2, 0, 3.0), (True, 1, 1, 2.0)):
        world = finite_world(timeout=1.5, cancel_abandoned=cancel)
        for time, name in ((0.0, "A"), (0.1, "B"), (0.2, "C")):
            world.at(time, name)
        world.env.run(until=100)
        assert world.log == [("A", "ok", 1.0), ("B", "aborted", 1.6), ("C", "aborted", 1.7)]
        service = world.services[0]
        assert (service.wasted, service.cancelled) == (wasted, cancelled)
        assert service.metrics()["store_utilization"] * 100 == pytest.approx(utilization)


def test_retry_budget_stops_retries_when_most_attempts_fail() -> None:
    """gRPC retry throttling: 10 tokens, retries only above 5; each failure takes 1, each success
    gives back 0.1."""
    spec = model(strategy={"kind": "cas"})
    budget = RetryBudget(World(spec, RandomStreams(0, 0)), RetryBudgetSpec(max_tokens=10, token_ratio=0.1))
    op = type("Op", (), {"counted": True})()
    allowed = []
    for _ in range(7):
        budget.failed()
        allowed.append(budget.allows_retry(op))  # type: ignore[arg-type]
    assert allowed == [True, True, True, True, False, False, False]
    for _ in range(20):
        budget.succeeded()
    assert budget.tokens == pytest.approx(5.0) and not budget.allows_retry(op)  # type: ignore[arg-type]
    budget.succeeded()
    assert budget.allows_retry(op)  # type: ignore[arg-type]
    assert budget.denied == 4


def test_a_finite_lock_service_queues_acquires() -> None:
    """The lock service has one server, 1 s per acquire: two operations on different keys still
    wait for each other at the lock service."""
    spec = model(
        model={"horizon": 100},
        keys={"count": 2},
        clients={"arrival": {"poisson": {"rate": 1e-9}}},
        strategy={"kind": "lock"},
        capacity={"lock": {"servers": 1, "service_time": 1.0}},
    )
    world = LoggingWorld(spec, RandomStreams(0, 0))
    world.at(0.0, "A")
    world.at(0.0, "B")
    world.env.run(until=10)
    assert world.log == [("A", "ok", 1.0), ("B", "ok", 2.0)]
    assert world.extra_metrics()["lock_calls"] == 2.0


@pytest.mark.parametrize(("capacity", "message"), [
    ({"cache": {"service_time": 1}}, "capacity.cache: no finite service 'cache' in this model; expected one of store"),
    ({"lock": {"service_time": 1}}, "capacity.lock: no finite service 'lock' in this model; expected one of store"),
    ({"store": {"servers": 0, "service_time": 1}}, "capacity.store.servers: must be >= 1, got 0"),
    ({"store": {"service_time": 1, "when_full": "drop"}}, "capacity.store.when_full: expected 'throttle' or 'queue'"),
])
def test_bad_capacity_is_one_line_naming_the_field(capacity: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as raised:
        model(capacity=capacity)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_reads_through_a_cache_cannot_queue_at_the_store() -> None:
    with pytest.raises(SpecError, match=r"capacity.store.calls: reads through read path 'cache'"):
        model(read_path={"kind": "cache", "ttl": 1}, capacity={"store": {"service_time": 1}})
    model(read_path={"kind": "cache", "ttl": 1}, capacity={"store": {"service_time": 1, "calls": "writes"}})


def test_a_finite_service_disqualifies_the_fast_path() -> None:
    ok, why = qualifies(model(capacity={"store": {"service_time": 0.001}}))
    assert not ok and "capacity" in why


def test_unset_capacity_and_budget_leave_the_model_hash_alone() -> None:
    plain = model(strategy={"kind": "cas"})
    assert "capacity" not in plain.model_dump() and "budget" not in RetryPolicy().model_dump()
    finite = model(strategy={"kind": "cas"}, capacity={"store": {"service_time": 0.001}})
    assert finite.content_hash() != plain.content_hash()


@pytest.mark.parametrize("name", MODELS)
def test_models_without_capacity_give_the_same_json(name: str) -> None:
    """Captured on main before finite services existed (tests/golden_json.py): every number a
    model without capacities gives must be unchanged, bit for bit."""
    expected = json.loads((HERE / "expected.json").read_text(encoding="utf-8"))[name]
    got = capture(name)
    assert {key: got.get(key) for key in expected} == expected


def test_bundled_models_load() -> None:
    assert load_model(ROOT / "models" / "flash_sale.toml").capacity == {}


def test_a_saturated_lease_service_refuses_renewals_and_no_one_leads() -> None:
    """Leader election against a lease service of one server taking 3 s per call with a 1 s
    deadline: every acquire times out, so no replica ever holds the lease."""
    spec = model(
        model={"horizon": 20},
        keys={"invariant": "exists"},
        clients={"arrival": {"poisson": {"rate": 1e-9}}},
        strategy={"kind": "lease", "replicas": 2},
        capacity={"lease": {"servers": 1, "service_time": 3.0, "timeout": 1.0}},
    )
    world = World(spec, RandomStreams(0, 0))
    world.env.run(until=20)
    assert world.strategy.service.holder is None
    assert world.strategy.metrics()["lease_refused_renewals"] >= 10
    assert world.extra_metrics()["lease_wasted"] > 0
