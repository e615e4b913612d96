"""The fast engine's event kernel against the DES engine: the same metrics, value for value.

The kernel replays the DES engine's event loop on arrays, drawing the same named streams in the
same order, so every metric of a replication (counts, rates, histogram quantiles and means, cache
and budget metrics) must be equal, not merely close. The DES engine is the independent record.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from typing import Any

import pytest
from conftest import MODELS, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toctou_sim.engines.fastpath import qualifies, resolve_engine
from toctou_sim.experiment.montecarlo import run_replication, simulate
from toctou_sim.spec.model import ModelSpec, load_model, parse_model


def _same(des: dict[str, float], fast: dict[str, float]) -> list[str]:
    """The metrics that differ (NaN equals NaN)."""
    keys = set(des) | set(fast)
    return sorted(k for k in keys if not (
        k in des and k in fast and (des[k] == fast[k] or (math.isnan(des[k]) and math.isnan(fast[k])))))


def _qualifying_bundled() -> list[tuple[str, str]]:
    cases = []
    for path in sorted(MODELS.glob("*.toml")):
        spec = load_model(path)
        extra = ["reservation"] if spec.keys.invariant == "counter" else []
        for name in dict.fromkeys([spec.strategy.kind, *spec.strategies, "none", "recheck", "cas", "lock", *extra]):
            if qualifies(spec.with_strategy(name))[0]:
                cases.append((path.name, name))
    return cases


BUNDLED = _qualifying_bundled()


def test_the_flagship_models_qualify_and_others_say_why() -> None:
    names = {path for path, _ in BUNDLED}
    assert {"flash_sale.toml", "cached_flash_sale.toml"} <= names  # f8 now has a throttle fault
    flash = load_model(MODELS / "flash_sale.toml")
    for strategy in ("none", "recheck", "cas", "conditional_decrement", "reservation", "lock"):
        assert resolve_engine(flash.with_strategy(strategy), "auto")[0] == "fast"
    assert ("flash_sale.toml", "lock") in BUNDLED
    chosen, why = resolve_engine(flash.with_strategy("queue"), "auto")
    assert chosen == "des" and "strategy 'queue'" in why
    budget = load_model(MODELS / "flash_sale.toml", {"strategies.cas.retry.budget": {"max_tokens": 10.0}})
    assert "retry budget" in qualifies(budget.with_strategy("cas"))[1]
    webhook = load_model(MODELS / "payment_webhook.toml")
    for strategy in ("none", "idempotency", "idempotency_eventual"):  # redeliveries and client timeouts
        assert ("payment_webhook.toml", strategy) in BUNDLED
    partial = webhook.model_copy(update={"clients": webhook.clients.model_copy(update={"partial_failure": 0.1})})
    assert qualifies(partial.with_strategy("idempotency"))[0]  # partial failures are in
    for strategy in ("none", "reservation"):  # the partial create, without its cleanup job
        assert ("partial_cloud_create.toml", strategy) in BUNDLED
    assert ("f6_partial_create.toml", "none") in BUNDLED
    f6 = load_model(MODELS / "f6_partial_create.toml")
    assert "strategy 'reconcile'" in qualifies(f6.with_strategy("cleanup"))[1]
    alone = parse_model({"keys": {"invariant": "grant"}, "clients": {"arrival": {"poisson": {"rate": 50}}},
                         "strategy": {"kind": "idempotency", "inner": {"kind": "lock"},
                                      "dedupe": {"lookup_latency": 0.002}}})
    assert qualifies(alone)[0]
    quorum = load_model(MODELS / "quorum_stale_read.toml").model_copy(update={"faults": ()})
    assert "read path" in qualifies(quorum)[1]


@pytest.mark.parametrize(("path", "strategy"), BUNDLED, ids=lambda v: str(v).removesuffix(".toml"))
def test_every_qualifying_bundled_model_gives_the_des_metrics(path: str, strategy: str) -> None:
    spec = load_model(MODELS / path).with_strategy(strategy)
    horizon = max(2.0, min(spec.model.horizon, 1500 / spec.clients.arrival.poisson.rate))
    small = spec.model_copy(update={"model": spec.model.model_copy(
        update={"horizon": horizon, "warmup": min(spec.model.warmup, horizon / 5)})})
    for replication in (0, 1):
        des = run_replication(small, replication, 11, engine="des")
        fast = run_replication(small, replication, 11, engine="fast")
        assert des.metrics["operations"] > 0
        assert _same(des.metrics, fast.metrics) == []


_DURATIONS = st.sampled_from([0.0, 0.0005, 0.002, {"exponential": {"mean": 0.002}},
                              {"lognormal": {"median": 0.001, "p99": 0.01}}, {"uniform": {"low": 0.0, "high": 0.004}}])
_ACTIONS = {"exists": ["create", "delete"], "counter": ["restock", "consume"], "grant": ["grant", "revoke"],
            "version": ["bump"], "unchanged": ["bump"]}


@st.composite
def _models(draw: st.DrawFn) -> ModelSpec:
    invariant = draw(st.sampled_from(sorted(_ACTIONS)))
    kinds = ["none", "recheck", "cas", "lock", "lock", *(["reservation"] * 2 if invariant == "counter" else [])]
    strategy: dict[str, Any] = {"kind": draw(st.sampled_from(kinds))}
    if strategy["kind"] == "lock":
        strategy.update({"acquire_latency": draw(st.sampled_from([0.0, 0.0005, {"exponential": {"mean": 0.001}}])),
                         "lease_ttl": draw(st.sampled_from([None, 0.002, 0.05])),
                         "fencing": draw(st.sampled_from([False, True, "writes"])),
                         "wait_timeout": draw(st.sampled_from([None, 0.001, 0.02])),
                         "mutators_take_lock": draw(st.booleans())})
    if strategy["kind"] == "reservation":
        strategy["ttl"] = draw(st.sampled_from([None, 0.003, 0.05]))
    guard = draw(st.sampled_from(["none", "version", "predicate"]))
    if strategy["kind"] == "cas":
        strategy["compare"] = "version" if guard == "none" else guard
    else:
        strategy["guard"] = guard
    if strategy["kind"] != "none":
        strategy["retry"] = {"max_retries": draw(st.integers(0, 3)), "backoff": draw(st.sampled_from([0.0, 0.003])),
                             "jitter": draw(st.sampled_from(["none", "full", "equal"]))}
    if draw(st.integers(0, 2)) == 0:  # idempotency keys around it
        consistency = draw(st.sampled_from(["strong", "eventual"]))
        strategy = {"kind": "idempotency", "inner": strategy, "retry": strategy.get("retry", {"max_retries": 0}),
                    "dedupe": {"consistency": consistency, "lookup_latency": draw(_DURATIONS),
                               "visibility_lag": (draw(st.sampled_from([0.01, {"exponential": {"mean": 0.01}}]))
                                                  if consistency == "eventual" else 0.0),
                               "ttl": draw(st.sampled_from([None, 0.005, 0.5]))},
                    "record_with_effect": draw(st.booleans())}
    data: dict[str, Any] = {
        "model": {"horizon": draw(st.sampled_from([1.0, 2.0])), "warmup": 0.2},
        "keys": {"count": draw(st.integers(1, 6)), "invariant": invariant,
                 "popularity": draw(st.sampled_from(["uniform", {"zipf": 1.1}]))},
        "store": {"read_latency": draw(_DURATIONS), "write_latency": draw(_DURATIONS)},
        "clients": {"arrival": {"poisson": {"rate": draw(st.sampled_from([50, 400]))}}, "window": draw(_DURATIONS)},
        "mutators": [{"action": draw(st.sampled_from(_ACTIONS[invariant])), "rate": draw(st.sampled_from([5, 60])),
                      "amount": draw(st.integers(1, 3))} for _ in range(draw(st.integers(0, 2)))],
        "strategy": strategy,
        "slo": {"latency_threshold": 0.01},
    }
    # duplicate deliveries (always with idempotency keys): redeliveries, at once or later, and client timeouts
    if strategy["kind"] == "idempotency" or draw(st.booleans()):
        redeliver = draw(st.booleans())
        if redeliver:
            delay = draw(st.sampled_from([0.0, 0.003, {"exponential": {"mean": 0.01}}]))
            data["clients"]["redelivery"] = {"probability": draw(st.sampled_from([0.3, 1.0])), "delay": delay}
        if not redeliver or draw(st.booleans()):
            data["clients"]["timeout"] = {"after": draw(st.sampled_from([0.002, 0.02])),
                                          "max_retries": draw(st.integers(1, 2))}
    if draw(st.integers(0, 2)) == 0:  # a use that took effect fails before it is finalised (an orphan)
        data["clients"]["partial_failure"] = draw(st.sampled_from([0.05, 0.5]))
    if invariant in ("counter", "exists", "grant"):
        data["keys"]["initial"] = draw(st.integers(0, 2))
    if draw(st.booleans()):
        data["read_path"] = {
            "kind": "cache", "ttl": draw(st.sampled_from([0.01, 0.2, {"exponential": {"mean": 0.05}}])),
            "write_policy": draw(st.sampled_from(["invalidate", "write_through", "none"])),
            "invalidation": {"delay": draw(_DURATIONS)}, "read_latency": draw(_DURATIONS),
            "fill_delay": draw(st.sampled_from([0.0, 0.001])), "negative_caching": draw(st.booleans()),
            "on_miss": draw(st.sampled_from(["read_source", "read_source", "assume_absent"])),
        }
        if draw(st.booleans()):
            data["read_path"]["capacity"] = draw(st.integers(1, 3))
    return parse_model(data, source="<hypothesis>")


@settings(max_examples=int(os.environ.get("KERNEL_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(spec=_models(), seed=st.integers(0, 2**16))
def test_random_qualifying_models_give_the_des_metrics(spec: ModelSpec, seed: int) -> None:
    assert qualifies(spec)[0]
    des = run_replication(spec, 0, seed, engine="des")
    fast = run_replication(spec, 0, seed, engine="fast")
    assert _same(des.metrics, fast.metrics) == []


def test_the_pure_python_kernel_gives_the_compiled_kernels_numbers() -> None:
    """Without numba (NUMBA_DISABLE_JIT runs the same functions as Python) the numbers are the same."""
    script = (
        "from toctou_sim.spec.model import load_model\n"
        "from toctou_sim.experiment.montecarlo import run_replication\n"
        "m = load_model('models/cached_flash_sale.toml', {'model.horizon': 1.0, 'model.warmup': 0.2})\n"
        "r = run_replication(m.with_strategy('cas'), 0, 5, engine='fast')\n"
        "print(repr(sorted(r.metrics.items())))\n"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout
    spec = load_model(MODELS / "cached_flash_sale.toml", {"model.horizon": 1.0, "model.warmup": 0.2})
    compiled = run_replication(spec.with_strategy("cas"), 0, 5, engine="fast")
    assert out.strip() == repr(sorted(compiled.metrics.items()))


def test_numbers_do_not_depend_on_the_worker_count() -> None:
    from concurrent.futures import ProcessPoolExecutor

    spec = load_model(MODELS / "flash_sale.toml", {"model.horizon": 2.0, "model.warmup": 0.2}).with_strategy("cas")
    one = simulate(spec, reps=4, seed=9, engine="auto")
    with ProcessPoolExecutor(max_workers=2) as pool:
        two = simulate(spec, reps=4, seed=9, engine="auto", executor=pool)
    assert one.engine == two.engine == "fast"
    assert [r.metrics for r in one.replications] == [r.metrics for r in two.replications]


def test_an_overloaded_run_grows_its_arrays_and_charges_unfinished_operations_alike() -> None:
    """Thousands in flight (the kernel's arrays grow several times) and a drain that times out."""
    spec = load_model(MODELS / "cached_flash_sale.toml", {
        "model.horizon": 0.6, "model.warmup": 0.1, "clients.arrival.poisson.rate": 8000,
        "clients.window": {"lognormal": {"median": "300ms", "p99": "2s"}}}).with_strategy("cas")
    des = run_replication(spec, 0, 3, engine="des")
    fast = run_replication(spec, 0, 3, engine="fast")
    assert des.metrics["unfinished"] > 0 and des.metrics["backlog_end"] > 2048
    assert _same(des.metrics, fast.metrics) == []


def test_a_sweep_of_the_flash_sale_runs_every_strategy_on_the_fast_engine() -> None:
    """The sweep rebuilds each strategy from its fields (a cas then sets ``guard`` explicitly):
    that must not push the cas variants back onto the DES engine."""
    from toctou_sim import sweep

    spec = load_model(MODELS / "flash_sale.toml", {"model.horizon": 1.0, "model.warmup": 0.1})
    strategies = ["none", "cas", "conditional_decrement", "reservation", "lock"]
    result = sweep(spec, grid={"keys.initial": [3]}, strategies=strategies, reps=1, seed=3)
    engines = result.table.groupby("strategy")["engine"].unique()
    assert {name: list(engines[name]) for name in strategies} == {name: ["fast"] for name in strategies}


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0]), st.booleans()), min_size=1, max_size=80))
def test_the_event_heap_pops_in_time_then_sequence_order(script: list[tuple[float, bool]]) -> None:
    """The kernel's 4-ary heap (its Python source, as the fallback runs it) against a sorted
    list: events with equal times (a few distinct times, so ties are the rule) come out in the
    order they were pushed, interleaved pushes and pops included."""
    import numpy as np

    from toctou_sim.engines import kernel as K
    from toctou_sim.engines.kernel_driver import _heap

    push = getattr(K._push, "py_func", K._push)
    pop = getattr(K._pop, "py_func", K._pop)
    n = 128
    I = np.zeros(K.N_IREG, dtype=np.int64)  # noqa: E741  # the kernel names its registers I
    I[K.R_NFREE_EV] = n
    EI, EF = np.zeros((n, 5), dtype=np.int64), np.zeros((n, 2))
    EFREE, HEAP = np.arange(n - 1, -1, -1, dtype=np.int64), _heap(n)
    expected: list[tuple[float, int]] = []
    for seq, (time, then_pop) in enumerate(script):
        push(I, EI, EF, EFREE, HEAP, time, K.EV_OP, seq, 0, 0, 0.0)
        expected.append((time, seq))
        if then_pop:
            expected.sort()
            ev = pop(I, EI, EF, HEAP)
            assert (EF[ev, K.E_TIME], EI[ev, K.E_A]) == expected.pop(0)
            EFREE[I[K.R_NFREE_EV]] = ev
            I[K.R_NFREE_EV] += 1
    expected.sort()
    while expected:
        ev = pop(I, EI, EF, HEAP)
        assert (EF[ev, K.E_TIME], EI[ev, K.E_A]) == expected.pop(0)
        EFREE[I[K.R_NFREE_EV]] = ev
        I[K.R_NFREE_EV] += 1
    assert I[K.R_HEAP] == 0


@pytest.mark.parametrize("family", ["lognormal", "exponential", "uniform", "gamma", "constant"])
def test_the_drivers_streams_hand_out_what_the_des_engines_streams_do(family: str) -> None:
    """The driver draws several 4096-value blocks in one numpy call where that gives the same
    values, and maps Zipf keys with a compiled loop: against VariateStream and KeyChooser, taken
    in uneven pieces that cross block boundaries."""
    import numpy as np

    from toctou_sim.core.distributions import RandomStreams, parse_distribution
    from toctou_sim.engines.kernel_driver import _keys, _variates

    specs: dict[str, Any] = {"lognormal": {"lognormal": {"median": 0.001, "p99": 0.01}},
                             "exponential": {"exponential": {"mean": 0.5}},
                             "uniform": {"uniform": {"low": 0.0, "high": 2.0}},
                             "gamma": {"gamma": {"shape": 2.0, "mean": 1.0}}, "constant": 0.25}
    distribution = parse_distribution(specs[family])
    pieces = [5, 4096, 10_000, 3, 30_000, 1, 64]
    ours = _variates(RandomStreams(3, 1), "window", distribution)
    theirs = RandomStreams(3, 1).variates("window", distribution)
    for n in pieces:
        assert np.array_equal(ours(n), theirs.take(n))
    for count, zipf in ((1, None), (7, None), (200, 1.2), (50_000, 0.9)):
        our_keys = _keys(RandomStreams(3, 1), "keys", count, zipf)
        their_keys = RandomStreams(3, 1).keys("keys", count, zipf)
        for n in pieces:
            assert np.array_equal(our_keys(n), their_keys.take(n))


def test_histograms_folded_across_drains_give_the_des_sums() -> None:
    """Over 16,384 latencies and windows: the driver folds whole 8192-value chunks at each drain
    and carries the remainder over, so the histograms' sums (and means) are the DES engine's."""
    spec = load_model(MODELS / "flash_sale.toml", {"model.horizon": 40.0, "model.warmup": 1.0})
    model = spec.with_strategy("conditional_decrement")
    des = run_replication(model, 0, 4, engine="des")
    fast = run_replication(model, 0, 4, engine="fast")
    assert des.metrics["operations"] > 2 * 8192 + 100
    assert _same(des.metrics, fast.metrics) == []
    for name, histogram in des.histograms.items():
        assert (histogram.count, histogram.total) == (fast.histograms[name].count, fast.histograms[name].total)


@pytest.mark.parametrize("strategy", [
    {"kind": "cas", "compare": "predicate"},
    {"kind": "recheck"},
    {"kind": "reservation", "guard": "predicate"},
    {"kind": "none", "guard": "predicate"},
])
def test_strategies_that_never_retry_on_answer_invariants_skip_the_retry_streams(strategy: dict[str, Any]) -> None:
    """On a counter a refusal with the precondition false is the answer (declined), so these
    strategies never retry: the driver draws no retry streams for them, and the DES engine,
    drawing them, still retries nothing and gives the same numbers."""
    data: dict[str, Any] = {
        "model": {"horizon": 3.0, "warmup": 0.2}, "keys": {"count": 3, "invariant": "counter", "initial": 2},
        "clients": {"arrival": {"poisson": {"rate": 400}}, "window": {"exponential": {"mean": 0.01}}},
        "mutators": [{"action": "restock", "rate": 30, "amount": 1}, {"action": "consume", "rate": 30}],
        "strategy": strategy,
    }
    if strategy["kind"] != "none":
        data["strategy"] = {**strategy, "retry": {"max_retries": 3, "backoff": 0.002}}
    model = parse_model(data, source="<test>")
    des = run_replication(model, 0, 2, engine="des")
    fast = run_replication(model, 0, 2, engine="fast")
    assert des.metrics["declined_rate"] > 0 and des.metrics["retries"] == 0
    assert _same(des.metrics, fast.metrics) == []
