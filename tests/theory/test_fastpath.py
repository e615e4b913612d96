"""The vectorized fast path against the discrete-event engine, and the estimator options.

The fast path draws the same named streams as the DES engine, so on a qualifying model with
strategy ``none`` the two give the same counts for the same seed, replication by replication.
For ``recheck`` (re-check latencies drawn in another order) they agree in distribution: the paired
difference of every rate has a confidence interval that contains 0. Conditional Monte Carlo is
unbiased: its estimate falls inside the plain estimator's interval, with a far smaller variance
when events are rare.
"""

from __future__ import annotations

import math
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import MODELS, model

from toctou_sim.cli.main import main
from toctou_sim.core.distributions import Exponential, KeyChooser, LogNormal, VariateStream
from toctou_sim.engines.fastpath import qualifies, resolve_engine, run_fast, vector_qualifies
from toctou_sim.experiment.montecarlo import _next_target, run_replication, simulate
from toctou_sim.measure.metrics import Histogram
from toctou_sim.spec.model import ModelSpec, SpecError, load_model
from toctou_sim.stats.intervals import t_interval

BUNDLED = sorted(MODELS.glob("*.toml"))
RATES = ("violation_rate", "mismatch_rate", "conflict_rate", "abort_rate", "declined_rate")
COUNTS = ("operations", "attempts", "ok", "mismatches", "conflicts", "violations", "aborts", "unfinished")


def _small(spec: ModelSpec, operations: float = 4000) -> dict[str, Any]:
    horizon = max(5.0, operations / spec.clients.arrival.poisson.rate)
    return {"model.horizon": horizon, "model.warmup": min(spec.model.warmup, horizon / 10)}


def _qualifying() -> list[tuple[str, str]]:
    """(model file, strategy name) for every strategy of every bundled model that qualifies."""
    cases = []
    for path in BUNDLED:
        spec = load_model(path)
        for name in dict.fromkeys([spec.strategy.kind, *spec.strategies, "none", "recheck"]):
            if vector_qualifies(spec.with_strategy(name))[0]:
                cases.append((path.name, name))
    return cases


QUALIFYING = _qualifying()


def test_some_bundled_models_qualify_and_others_say_why() -> None:
    """The vectorized path (the conditional estimator) qualifies fewer models than the kernel."""
    assert len(QUALIFYING) >= 3
    flash = load_model(MODELS / "flash_sale.toml")
    ok, why = vector_qualifies(flash)
    assert not ok and "order of uses" in why
    assert "retries or queues" in vector_qualifies(flash.with_strategy("cas"))[1]
    stale = load_model(MODELS / "f1_stale_validation.toml")
    assert vector_qualifies(stale)[0]
    assert "retries" in vector_qualifies(stale.with_strategy("recheck"))[1]  # recheck retries by default
    assert resolve_engine(flash, "auto", "conditional")[0] == "des"
    assert resolve_engine(stale, "auto", "conditional")[0] == "fast"
    with pytest.raises(SpecError, match="does not qualify"):
        resolve_engine(flash, "fast", "conditional")
    with pytest.raises(SpecError, match="does not qualify"):
        resolve_engine(flash.with_strategy("queue"), "fast")


def _revocations(strategy: str = "none", invariant: str = "grant") -> ModelSpec:
    mutators = ([{"action": "revoke", "rate": 4.0}, {"action": "grant", "rate": 30.0}] if invariant == "grant"
                else [{"action": "bump", "rate": 3.0}])
    return model(
        model={"horizon": 20.0, "warmup": 1.0},
        keys={"count": 300, "invariant": invariant, "popularity": {"zipf": 0.8}},
        store={"read_latency": {"exponential": {"mean": "2ms"}}, "write_latency": {"exponential": {"mean": "3ms"}}},
        clients={"arrival": {"poisson": {"rate": 300.0}}, "window": {"lognormal": {"median": "40ms", "p99": "300ms"}}},
        mutators=mutators,
        # recheck retries by default; a retry's timing depends on the outcome, which the fast path
        # does not follow on an invariant whose refusals are retried
        strategy={"kind": strategy, "retry": {"max_retries": 0}} if strategy == "recheck" else {"kind": strategy},
    )


@pytest.mark.parametrize(("strategy", "invariant"),
                         [("none", "grant"), ("recheck", "grant"), ("none", "unchanged"), ("recheck", "unchanged")])
@pytest.mark.slow
def test_fast_path_on_read_only_invariants(strategy: str, invariant: str) -> None:
    spec = _revocations(strategy, invariant)
    assert qualifies(spec)[0]
    des = simulate(spec, reps=12, seed=4, engine="des")
    fast = simulate(spec, reps=12, seed=4, engine="fast")
    for metric in RATES:
        a = np.array([r.metrics[metric] for r in des.replications])
        b = np.array([r.metrics[metric] for r in fast.replications])
        if np.array_equal(a, b):
            continue
        _, low, high = t_interval(b - a, confidence=0.99)
        assert low <= 0 <= high, metric
    if strategy == "none":
        for x, y in zip(des.replications, fast.replications, strict=True):
            assert all(x.metrics[n] == y.metrics[n] for n in COUNTS)


@pytest.mark.parametrize(("strategy", "invariant"),
                         [("none", "grant"), ("recheck", "grant"), ("recheck", "unchanged"), ("none", "version")])
def test_conditional_estimator_is_unbiased_and_tighter(strategy: str, invariant: str) -> None:
    spec = _revocations(strategy, invariant)
    plain = simulate(spec, reps=40, seed=8, engine="fast")
    conditional = simulate(spec, reps=40, seed=8, engine="fast", estimator="conditional")
    for metric in ("violation_rate", "mismatch_rate"):
        p = plain.estimate(metric)
        c = conditional.estimate(metric)
        _, low, high = t_interval(np.array([r.metrics[metric] for r in plain.replications]), confidence=0.99)
        assert low <= c.estimate <= high, (metric, p, c)
        if invariant != "version":  # mismatches come from the mutators alone: far tighter
            assert c.half_width <= p.half_width / 2, metric
    for rep in conditional.replications:
        m = rep.metrics
        assert math.isclose(m["mismatches"], m["conflicts"] + m["violations"], rel_tol=1e-9, abs_tol=1e-9)
        ended = m["ok"] + m["aborts"] + m["violations"] + m["unfinished_operations"]
        assert math.isclose(ended, m["operations"], rel_tol=1e-9)


def test_conditional_estimator_matches_the_closed_form() -> None:
    """One key, bumps at rate λ, constant window W, zero latencies: P(drift) = 1 - exp(-λW)."""
    spec = model(
        model={"horizon": 200.0},
        keys={"count": 1, "invariant": "unchanged"},
        clients={"arrival": {"poisson": {"rate": 50.0}}, "window": "100ms"},
        mutators=[{"action": "bump", "rate": 0.5}],
    )
    result = run_fast(spec, 0, 1, estimator="conditional")
    assert math.isclose(result.metrics["violation_rate"], 1 - math.exp(-0.05), rel_tol=1e-12)


def test_estimator_needs_the_fast_engine() -> None:
    with pytest.raises(SpecError, match="needs the fast engine"):
        simulate(_revocations(), reps=1, engine="des", estimator="conditional")
    with pytest.raises(SpecError, match="does not qualify"):
        run_replication(load_model(MODELS / "flash_sale.toml"), 0, 0, "auto", "conditional")


def test_cli_engine_options() -> None:
    runner = CliRunner()
    flash = str(MODELS / "flash_sale.toml")
    bad = runner.invoke(main, ["run", flash, "--engine", "fast", "--strategy", "queue", "--reps", "1"])
    assert bad.exit_code == 2 and "does not qualify" in bad.output and len(bad.output.strip().splitlines()) == 1
    stale = str(MODELS / "f1_stale_validation.toml")
    out = runner.invoke(main, ["compare", stale, "--strategies", "none,queue", "--reps", "2",
                               "--set", "model.horizon=10s", "--quiet", "--workers", "1"])
    assert out.exit_code == 0, out.output
    assert "engine: none=fast" in out.output and "queue=des (strategy 'queue'" in out.output


# --------------------------------------------------------------------------------------------
# The pieces the fast path and the hot loop are built on.


@pytest.mark.parametrize("size", [1, 4095, 4096, 4097, 10000])
def test_streams_give_the_same_values_called_iterated_or_taken(size: int) -> None:
    dist = LogNormal(median=0.01, p99=0.1)
    calls = VariateStream(dist, np.random.default_rng(1))
    taken = VariateStream(dist, np.random.default_rng(1))
    iterated = iter(VariateStream(dist, np.random.default_rng(1)))
    reference = [calls() for _ in range(3 * size + 7)]
    mixed = [taken() for _ in range(7)] + list(taken.take(size)) + [taken() for _ in range(size)]
    mixed += list(taken.take(size))
    assert mixed == reference
    assert [next(iterated) for _ in range(len(reference))] == reference


@pytest.mark.parametrize(("count", "zipf"), [(1, None), (50, None), (200, 1.2), (5000, 0.9), (3, 3.0)])
def test_key_chooser_guide_table_equals_binary_search(count: int, zipf: float | None) -> None:
    chooser = KeyChooser(count, zipf, np.random.default_rng(2))
    if chooser._cdf is not None:
        u = np.random.default_rng(3).random(50_000)
        edges = np.concatenate([chooser._cdf[:-1], np.nextafter(chooser._cdf[:-1], 0)])
        for values in (u, edges):
            assert np.array_equal(chooser._zipf_index(values), np.searchsorted(chooser._cdf, values, side="right"))
    again = KeyChooser(count, zipf, np.random.default_rng(2))
    assert [chooser() for _ in range(9000)] == list(again.take(9000))
    assert math.isclose(float(chooser.probabilities.sum()), 1.0)


def test_histogram_add_many_equals_add() -> None:
    values = np.random.default_rng(5).exponential(0.01, 30_000)
    one, many = Histogram(), Histogram()
    for v in values:
        one.add(float(v))
    many.add(float(values[0]))
    many.add_many(values[1:100])
    many.add_many(values[100:20_000])
    many.add_many(values[20_000:])
    assert one.mean == many.mean and one.quantile(0.99) == many.quantile(0.99)
    assert np.array_equal(one.counts, many.counts)


def test_precision_projects_the_replications_it_needs() -> None:
    assert _next_target(10, math.inf, 0.1) == 40
    assert _next_target(10, 0.2, 0.1) == 44  # half-width ~ 1/sqrt(n): 4x the replications (+10%)
    assert _next_target(10, 0.105, 0.1) == 13
    assert _next_target(10, 10.0, 0.1) == 80  # never more than 8x at once
    spec = _revocations()
    result = simulate(spec, reps=3, seed=2, precision=0.1, max_reps=400, engine="fast", estimator="conditional")
    assert result.stopped_by == "precision"


def test_exponential_helper_is_a_distribution() -> None:
    assert Exponential.model_validate({"mean": 2.0}).mean == 2.0


# --------------------------------------------------------------------------------------------
# Random qualifying configurations: with strategy none the two engines give the same counts.

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from toctou_sim.engines import fastpath  # noqa: E402

DURATIONS = st.one_of(
    st.just(0.0),
    st.sampled_from([0.001, 0.02, 0.3]),
    st.sampled_from([0.002, 0.05]).map(lambda m: {"exponential": {"mean": m}}),
    st.sampled_from([(0.01, 0.1), (0.001, 0.05)]).map(lambda q: {"lognormal": {"median": q[0], "p99": q[1]}}),
    st.just({"pareto": {"scale": 0.01, "shape": 1.1}}),  # heavy tail: windows open over many steps
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    invariant=st.sampled_from(["version", "grant", "unchanged"]),
    keys=st.integers(1, 40),
    zipf=st.one_of(st.none(), st.floats(0.5, 2.0)),
    rate=st.floats(5.0, 200.0),
    mutator_rate=st.floats(0.1, 20.0),
    window=DURATIONS,
    read=DURATIONS,
    write=DURATIONS,
    seed=st.integers(0, 1000),
    chunk=st.sampled_from([37, 256, 65536]),
)
def test_engines_give_the_same_counts_on_random_models(invariant: str, keys: int, zipf: float | None, rate: float,
                                                        mutator_rate: float, window: Any, read: Any, write: Any,
                                                        seed: int, chunk: int) -> None:
    """Small chunks make the fast path carry open windows and pending writes across many steps."""
    actions = {"version": ["bump"], "unchanged": ["bump"], "grant": ["revoke", "grant"]}[invariant]
    spec = model(
        model={"horizon": 400.0 / rate + 1.0, "warmup": 0.5},
        keys={"count": keys, "invariant": invariant, "popularity": {"zipf": zipf} if zipf else "uniform"},
        store={"read_latency": read, "write_latency": write},
        clients={"arrival": {"poisson": {"rate": rate}}, "window": window},
        mutators=[{"action": a, "rate": mutator_rate} for a in actions],
    )
    des = run_replication(spec, 0, seed, engine="des")
    with patch.object(fastpath, "_CHUNK", chunk):
        fast = fastpath.run_vector(spec, 0, seed)
    for name in COUNTS:
        assert des.metrics[name] == fast.metrics[name], name
    for name in ("latency_p99_ms", "window_p50_ms"):
        assert des.metrics.get(name) == fast.metrics.get(name) or (
            math.isnan(des.metrics.get(name, math.nan)) and math.isnan(fast.metrics.get(name, math.nan))), name
