"""Safety under faults (hypothesis): over more than 1,000 random configurations (200 per strategy,
derandomized), each with random pauses, crashes, clock skews, latency spikes, partitions and
throttles, the strategies that cannot let a stale use through never violate:

- ``cas``: the store applies a use only on the version seen at check;
- ``lock`` with fencing (every writer takes the lock): a holder whose lease expired is refused
  once a newer holder has read the key;
- ``lease`` with fencing (leader election for controllers): a paused, crashed or clock-skewed
  ex-leader is refused once the new leader has read the key;
- ``two_phase``: the key is locked from prepare to commit (whatever the coordinator's crashes);
- ``queue`` with every writer through it: one consumer per lane runs check, window and use;
- ``reservation`` (stock): a unit taken atomically at check is never promised twice.

The accounting identities hold too: every operation ends exactly once as ok, aborted or violated,
and every mismatch is either a conflict or a violation. Horizons are a few seconds so that the suite stays fast.

A state machine checks the lease service on its own: at most one holder at a time, tokens
increase with every new holding, and a fenced write carrying an older token than the last fenced
read of its key is refused.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from toctou_sim.experiment.montecarlo import run_replication
from toctou_sim.spec.model import parse_model
from toctou_sim.world.lease import LeaseService

INVARIANT_MUTATORS = {"version": ["bump"], "counter": ["restock", "consume"], "exists": ["delete", "create"],
                      "grant": ["revoke", "grant"]}

short = st.floats(min_value=1e-3, max_value=0.3, allow_nan=False)


def schedule(draw: st.DrawFn, horizon: float) -> dict[str, Any]:
    """Onsets (a rate or a list of instants) and a duration distribution."""
    if draw(st.booleans()):
        timing: dict[str, Any] = {"rate": draw(st.floats(0.05, 3.0))}
    else:
        timing = {"at": draw(st.lists(st.floats(0.0, horizon), min_size=1, max_size=3))}
    mean = draw(st.floats(0.01, 3.0))
    timing["duration"] = draw(st.sampled_from([mean, {"exponential": {"mean": mean}},
                                               {"pareto": {"scale": mean / 3, "shape": 1.5}}]))
    return timing


@st.composite
def faults(draw: st.DrawFn, horizon: float, actors: list[str], services: list[str],
           crashable: list[str], clocks: list[str]) -> list[dict[str, Any]]:
    chosen = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["pause", "crash", "latency_spike", "partition", "clock_skew", "throttle"]))
        fault: dict[str, Any] = {"kind": kind, **schedule(draw, horizon)}
        if kind == "pause":
            fault["target"] = draw(st.sampled_from(actors))
        elif kind == "crash":
            if not crashable:
                continue
            fault["target"] = draw(st.sampled_from(crashable))
        elif kind == "latency_spike":
            fault |= {"target": draw(st.sampled_from(services)), "factor": draw(st.floats(1.5, 50.0))}
        elif kind == "partition":
            fault |= {"target": draw(st.sampled_from(services)),
                      "timeout": draw(st.one_of(st.none(), st.floats(0.01, 1.0)))}
            if fault["timeout"] is None:
                del fault["timeout"]
        elif kind == "clock_skew":
            if not clocks:
                continue
            fault |= {"target": draw(st.sampled_from(clocks)), "drift": draw(st.floats(-0.95, 2.0)),
                      "offset": draw(st.floats(-5.0, 5.0))}
            if fault["drift"] == 0 and fault["offset"] == 0:
                fault["drift"] = -0.5
        else:
            fault |= {"target": "store", "limit": draw(st.floats(0.5, 50.0))}
        chosen.append(fault)
    return chosen


@st.composite
def configurations(draw: st.DrawFn, strategy: str) -> dict[str, Any]:
    horizon = 4.0
    if strategy == "lease":
        invariant = "exists"
        actions = ["delete"]  # a mutator that creates outside the controllers would race them by design
    elif strategy == "reservation":
        invariant = "counter"
        actions = INVARIANT_MUTATORS[invariant]
    else:
        invariant = draw(st.sampled_from(sorted(INVARIANT_MUTATORS)))
        actions = INVARIANT_MUTATORS[invariant]
    mutators = [{"action": action, "rate": draw(st.floats(0.1, 60.0))} for action in actions]
    actors = ["clients", "mutators"]
    services = ["store"]
    crashable = ["mutators"]
    clocks: list[str] = []  # only the lease's controllers read a clock here (a skew elsewhere is rejected)
    if strategy == "cas":
        spec: dict[str, Any] = {"kind": "cas", "retry": {"max_retries": draw(st.integers(0, 3)),
                                                         "backoff": draw(st.floats(0.0, 0.05))}}
    elif strategy == "lock":
        spec = {"kind": "lock", "fencing": True, "mutators_take_lock": True,
                "lease_ttl": draw(st.one_of(st.none(), st.floats(0.001, 0.5))),
                "wait_timeout": draw(st.one_of(st.none(), st.floats(0.01, 1.0))),
                "acquire_latency": {"exponential": {"mean": draw(st.floats(1e-4, 0.01))}},
                "retry": {"max_retries": draw(st.integers(0, 2))}}
        spec = {k: v for k, v in spec.items() if v is not None}
        services.append("lock")
    elif strategy == "two_phase":
        spec = {"kind": "two_phase", "participants": draw(st.integers(1, 4)),
                "round_trip": {"exponential": {"mean": draw(st.floats(1e-4, 0.01))}},
                "coordinator_crash": draw(st.floats(0.0, 0.3)), "recovery": draw(st.sampled_from(["abort", "commit"])),
                "recovery_time": {"exponential": {"mean": draw(st.floats(0.01, 1.0))}},
                "retry": {"max_retries": draw(st.integers(0, 2))}}
        actors.append("coordinator")
        crashable.append("coordinator")
    elif strategy == "queue":  # every writer goes through the queue: "for operations that go through it"
        spec = {"kind": "queue", "scope": draw(st.sampled_from(["key", "partition", "global"])),
                "partitions": draw(st.integers(1, 4)), "mutators_through_queue": True,
                "enqueue_latency": {"exponential": {"mean": draw(st.floats(1e-4, 0.01))}}}
        actors.append("consumer")
        crashable.append("consumer")
    elif strategy == "reservation":
        spec = {"kind": "reservation", "ttl": draw(st.one_of(st.none(), st.floats(0.001, 0.5))),
                "retry": {"max_retries": draw(st.integers(0, 2))}}
    else:
        replicas = draw(st.integers(1, 4))
        ttl = draw(st.floats(0.05, 2.0))
        deadline = ttl * draw(st.floats(0.3, 1.0))
        spec = {"kind": "lease", "fencing": True, "replicas": replicas, "lease_ttl": ttl,
                "renew_deadline": deadline, "retry_period": deadline * draw(st.floats(0.1, 0.9)),
                "call_latency": {"exponential": {"mean": draw(st.floats(1e-4, 0.05))}}}
        controllers = [f"controller.{i}" for i in range(replicas)]
        actors += [*controllers, "leader"]
        services.append("lease")
        crashable += [*controllers, "leader"]
        clocks += controllers
    chosen = draw(faults(horizon, actors, services, crashable, clocks))
    if strategy == "lease":  # the fault leader election exists for: the leader stops for about a lease
        chosen.insert(0, {"kind": "pause", "target": "leader", "rate": draw(st.floats(0.2, 3.0)),
                          "duration": spec["lease_ttl"] * draw(st.floats(0.5, 3.0))})
    return {
        "model": {"horizon": horizon, "warmup": 0.2},
        "keys": {"count": draw(st.integers(1, 4)), "invariant": invariant},
        "store": {"read_latency": {"exponential": {"mean": draw(st.floats(1e-4, 0.05))}},
                  "write_latency": draw(st.one_of(st.just(0.0), short))},
        "clients": {"arrival": {"poisson": {"rate": draw(st.floats(1.0, 40.0))}},
                    "window": {"exponential": {"mean": draw(short)}}},
        "mutators": mutators,
        "strategy": spec,
        "faults": chosen,
    }


SAFETY = settings(max_examples=200, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_safe(data: dict[str, Any], seed: int) -> None:
    m = run_replication(parse_model(data), 0, seed).metrics
    assert m["ledger_violations"] == 0 and m["harms"] == 0, data  # what the world applied
    assert m["violations"] == 0, data
    assert m["mismatches"] == m["conflicts"] + m["violations"]
    ok = round(m["ok_rate"] * m["operations"]) if m["operations"] else 0
    assert ok + m["aborts"] + m["violations"] + m["unfinished_operations"] == m["operations"]


@pytest.mark.slow
@SAFETY
@given(configurations("cas"), st.integers(0, 2**16))
def test_cas_never_violates_under_faults(data: dict[str, Any], seed: int) -> None:
    assert_safe(data, seed)


@pytest.mark.slow
@SAFETY
@given(configurations("lock"), st.integers(0, 2**16))
def test_fenced_lock_never_violates_under_faults(data: dict[str, Any], seed: int) -> None:
    assert_safe(data, seed)


@pytest.mark.slow
@SAFETY
@given(configurations("lease"), st.integers(0, 2**16))
def test_fenced_lease_never_violates_under_faults(data: dict[str, Any], seed: int) -> None:
    assert_safe(data, seed)


@pytest.mark.slow
@SAFETY
@given(configurations("two_phase"), st.integers(0, 2**16))
def test_two_phase_never_violates_under_faults(data: dict[str, Any], seed: int) -> None:
    assert_safe(data, seed)


@pytest.mark.slow
@SAFETY
@given(configurations("queue"), st.integers(0, 2**16))
def test_queue_never_violates_under_faults(data: dict[str, Any], seed: int) -> None:
    assert_safe(data, seed)


@pytest.mark.slow
@SAFETY
@given(configurations("reservation"), st.integers(0, 2**16))
def test_reservation_never_oversells_under_faults(data: dict[str, Any], seed: int) -> None:
    assert_safe(data, seed)


class LeaseServiceMachine(RuleBasedStateMachine):
    """Replicas call the lease service at arbitrary instants, read keys fenced with the token they
    hold and write them. Holdings never overlap, tokens grow, stale writes are refused."""

    def __init__(self) -> None:
        super().__init__()
        self.service = LeaseService()
        self.now = 0.0
        self.ttl = 1.0
        self.tokens = [0, 0, 0]
        self.incarnation = [0, 0, 0]
        self.fence = [0, 0]
        self.issued = 0
        self.last_reader = [0, 0]

    @rule(dt=st.floats(0.0, 2.0))
    def advance(self, dt: float) -> None:
        self.now += dt

    @rule(replica=st.integers(0, 2))
    def call(self, replica: int) -> None:
        before = (self.service.holder, self.service.token)
        token = self.service.call((replica, self.incarnation[replica]), self.now, self.ttl)
        if token is None:
            assert before[0] is not None and before[0] != (replica, self.incarnation[replica])
            return
        if before[0] == (replica, self.incarnation[replica]) and token == before[1]:
            pass  # a renewal of a live holding
        else:
            assert token == self.issued + 1  # a new holding: a new, larger token
            self.issued = token
        self.tokens[replica] = token

    @rule(replica=st.integers(0, 2))
    def restart(self, replica: int) -> None:
        self.incarnation[replica] += 1
        self.tokens[replica] = 0

    @precondition(lambda self: any(self.tokens))
    @rule(replica=st.integers(0, 2), key=st.integers(0, 1))
    def fenced_read(self, replica: int, key: int) -> None:
        token = self.tokens[replica]
        if token > self.fence[key]:
            self.fence[key] = token
            self.last_reader[key] = token

    @rule(replica=st.integers(0, 2), key=st.integers(0, 1))
    def write(self, replica: int, key: int) -> None:
        token = self.tokens[replica]
        accepted = token >= self.fence[key]
        assert accepted == (token >= self.last_reader[key])

    @invariant()
    def one_live_holder_with_the_newest_token(self) -> None:
        if self.service.holder is not None:
            assert self.service.token == self.issued


LeaseServiceMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
test_lease_service_machine = LeaseServiceMachine.TestCase
