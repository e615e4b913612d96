"""Invariants over random configurations (hypothesis).

Every operation ends exactly once (ok + aborted + violated = operations), every mismatch is
either caught or harmful (mismatches = conflicts + violations), and the strategies that cannot
let a stale use through — CAS, and a lock with fencing, whatever its lease — never violate.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toctou_sim.experiment.montecarlo import run_replication
from toctou_sim.spec.model import parse_model

INVARIANTS = {"version": "bump", "counter": "restock", "exists": "delete", "grant": "revoke"}

durations = st.floats(min_value=0.0, max_value=0.2, allow_nan=False)


@st.composite
def configurations(draw, strategy: st.SearchStrategy[dict]) -> dict:
    invariant = draw(st.sampled_from(sorted(INVARIANTS)))
    mutators = [{"action": INVARIANTS[invariant], "rate": draw(st.floats(0.1, 40.0))}]
    if invariant == "counter":
        mutators.append({"action": "consume", "rate": draw(st.floats(0.1, 20.0))})
    if invariant in ("exists", "grant"):
        other = {"exists": "create", "grant": "grant"}[invariant]
        mutators.append({"action": other, "rate": draw(st.floats(0.1, 40.0))})
    return {
        "model": {"horizon": 8.0, "warmup": 0.5},
        "keys": {"count": draw(st.integers(1, 4)), "invariant": invariant,
                 "popularity": draw(st.sampled_from(["uniform", {"zipf": 1.2}]))},
        "store": {"read_latency": {"exponential": {"mean": draw(st.floats(1e-4, 0.05))}},
                  "write_latency": draw(durations)},
        "clients": {"arrival": {"poisson": {"rate": draw(st.floats(1.0, 60.0))}},
                    "window": {"exponential": {"mean": draw(st.floats(1e-3, 0.3))}}},
        "mutators": mutators,
        "strategy": draw(strategy),
    }


any_strategy = st.one_of(
    st.just({"kind": "none"}),
    st.builds(lambda n: {"kind": "recheck", "retry": {"max_retries": n}}, st.integers(0, 2)),
    st.builds(lambda n: {"kind": "cas", "retry": {"max_retries": n}}, st.integers(0, 3)),
    st.builds(lambda ttl, fencing, wait: {"kind": "lock", "lease_ttl": ttl, "fencing": fencing,
                                          "wait_timeout": wait, "mutators_take_lock": True},
              st.floats(0.001, 0.5), st.booleans(), st.one_of(st.none(), st.floats(0.01, 1.0))),
)
safe_strategy = st.one_of(
    st.builds(lambda n: {"kind": "cas", "retry": {"max_retries": n}}, st.integers(0, 3)),
    st.builds(lambda ttl, wait, acquire: {"kind": "lock", "lease_ttl": ttl, "fencing": True, "wait_timeout": wait,
                                          "acquire_latency": {"exponential": {"mean": acquire}}},
              st.one_of(st.none(), st.floats(0.001, 0.5)), st.one_of(st.none(), st.floats(0.01, 1.0)),
              st.floats(1e-4, 0.01)),
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(configurations(any_strategy), st.integers(0, 2**16))
def test_accounting_identities(data: dict, seed: int) -> None:
    m = run_replication(parse_model(data), 0, seed).metrics
    assert m["operations"] > 0 or m["unfinished"] >= 0
    assert m["ok"] + m["aborts"] + m["violations"] + m["unfinished_operations"] == m["operations"]
    assert m["mismatches"] == m["conflicts"] + m["violations"]


@SETTINGS
@given(configurations(safe_strategy), st.integers(0, 2**16))
def test_cas_and_fenced_lock_never_violate(data: dict, seed: int) -> None:
    m = run_replication(parse_model(data), 0, seed).metrics
    assert m["ledger_violations"] == 0 and m["violations"] == 0  # the ledger: what the world applied


def test_unfenced_lock_with_short_lease_does_violate() -> None:
    data = {
        "model": {"horizon": 30.0},
        "keys": {"count": 1},
        "clients": {"arrival": {"poisson": {"rate": 20}}, "window": {"exponential": {"mean": 0.05}}},
        "strategy": {"kind": "lock", "lease_ttl": 0.005, "fencing": False},
    }
    assert run_replication(parse_model(data), 0, 1).metrics["violations"] > 0
