"""End to end: the bundled failure-mode and scenario models reproduce the guide's findings.

Each test runs a bundled model under its mitigations on common random numbers and asserts the
qualitative finding the guide states, with the tolerance taken from the estimate's own 95%
interval (or the rule-of-three bound when no event was seen).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import pytest

from toctou_sim import compare, load_model, simulate
from toctou_sim.experiment.executors import SerialExecutor
from toctou_sim.measure.guide import GUIDE_METRICS

MODELS = Path(__file__).resolve().parents[2] / "models"
ROOT = Path(__file__).resolve().parents[2]
MANUAL = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@functools.cache
def _compare(name: str, strategies: tuple[str, ...], horizon: str | None = None) -> pd.DataFrame:
    """Three replications on common random numbers (optionally over a shorter horizon)."""
    overrides = {"model.horizon": horizon} if horizon else None
    model = load_model(MODELS / f"{name}.toml", overrides)
    return compare(model, strategies, reps=3, seed=2026).to_frame()


def row(frame: pd.DataFrame, strategy: str, metric: str) -> pd.Series:
    rows = frame[(frame.strategy == strategy) & (frame.metric == metric)]
    assert len(rows) == 1, (strategy, metric)
    return rows.iloc[0]


def test_f2_double_execution() -> None:
    """F2: without idempotency, redeliveries and timed-out retries charge twice; idempotency keys
    on a strongly consistent store remove every duplicate; the same keys in a cache whose TTL is
    shorter than the redelivery delay let them come back."""
    frame = _compare("f2_double_execution", ("none", "idempotency", "idempotency_cache"), "1m")
    none = row(frame, "none", "duplicate_resource_rate")
    assert none.estimate > 0.01 and none.ci_low > 0
    strong = row(frame, "idempotency", "duplicate_resource_rate")
    assert strong.upper_bound and strong.estimate == 0 and strong.rule_of_three < 1e-4
    cache = row(frame, "idempotency_cache", "duplicate_resource_rate")
    assert cache.ci_low > 0
    assert row(frame, "idempotency", "idempotency_conflict_rate").ci_low > 0


@pytest.mark.slow
def test_f3_permission_drift() -> None:
    """F3: a revocation inside the window becomes an unauthorized action; re-checking near use
    (recheck, or a short token refreshed near use) turns it into a 403 instead; a long-lived
    cached token makes it worse than no mitigation."""
    frame = _compare("f3_permission_drift", ("none", "recheck", "token", "token_cached"))
    none = row(frame, "none", "violation_rate")
    assert none.ci_low > 0
    for strategy in ("recheck", "token"):
        violations = row(frame, strategy, "violation_rate")
        assert violations.diff_high < 0 and violations.estimate < none.estimate / 5
        assert row(frame, strategy, "authorization_drift_rate").ci_low > 0  # drift shows as 403s
    assert row(frame, "token_cached", "violation_rate").diff_low > 0
    assert row(frame, "token", "latency_added_mean_ms").ci_low > 0


def test_f3_propagation_delay_widens_the_race() -> None:
    """F3: the checker's view of the policy lags the enforcer's by the propagation delay, so a
    check made within that delay after a revocation still says "allowed". Unauthorized actions
    grow with the delay (0 s, 1 s, 10 s), each step beyond the other's 95% interval where the
    gap is large. Theory: per key revocations arrive at lambda = 2/s / 200 keys = 0.01/s and last
    30 s on average, so a lag d adds about lambda * d * P(not restored yet) (between 0.5 and 1
    times lambda * d for d = 10 s) to the rate of the window alone. The per-operation rate does not
    depend on the arrival rate (operations do not interact), so 20 requests/s keep the test fast."""
    rates = {}
    for delay in (0, 1, 10):
        result = simulate(str(MODELS / "f3_permission_drift.toml"), reps=4, seed=3, executor=SerialExecutor(),
                          overrides={"actors.0.propagation_delay": f"{delay}s", "model.horizon": "2m",
                                     "clients.arrival": {"poisson": {"rate": 20}}})
        rates[delay] = result.estimate("violation_rate")
    assert rates[0].ci_low > 0
    assert rates[0].estimate < rates[1].estimate < rates[10].estimate
    assert rates[0].ci_high < rates[10].ci_low and rates[1].ci_high < rates[10].ci_low
    lam = 2 / 200
    assert 0.5 * lam * 10 < rates[10].estimate - rates[0].estimate < lam * 10


@pytest.mark.slow
def test_f6_partial_create() -> None:
    """F6: a failing finalise leaves orphans that pile up; a transactional (two-phase) create
    leaves none; a cleanup job bounds them, each living about min_age plus up to a period."""
    frame = _compare("f6_partial_create", ("none", "two_phase", "cleanup"))
    assert row(frame, "none", "orphans_per_day").ci_low > 0
    assert row(frame, "two_phase", "partial_create_rate").upper_bound
    assert row(frame, "two_phase", "orphans_alive").estimate == 0
    assert row(frame, "two_phase", "latency_added_mean_ms").ci_low > 0
    assert row(frame, "cleanup", "orphans_alive").diff_high < 0
    cleanup = row(frame, "cleanup", "orphan_cleanup_time_mean_s")
    model = load_model(MODELS / "f6_partial_create.toml").strategies["cleanup"]
    assert model.min_age < cleanup.estimate < model.min_age + 2 * model.period + model.jitter  # type: ignore[attr-defined]
    assert row(frame, "cleanup", "mean_time_to_detect_s").estimate > 0
    assert row(frame, "cleanup", "reconcile_failures_per_min").estimate > 0


@pytest.mark.slow
def test_f7_event_ordering() -> None:
    """F7: out-of-order delivery corrupts state; sequence numbers checked at read time remove
    most errors; a write conditional on the sequence number removes all."""
    rates = {}
    for ordering in ("none", "check", "conditional"):
        result = simulate(str(MODELS / "f7_event_ordering.toml"), reps=3, seed=7,
                          overrides={"actors.0.ordering": ordering})
        rates[ordering] = result.estimate("ordering_error_rate")
    assert rates["none"].ci_low > 0
    assert rates["check"].ci_high < rates["none"].ci_low
    assert rates["check"].estimate > 0
    assert rates["conditional"].upper_bound and rates["conditional"].rule_of_three < 1e-4  # 3 / events


def test_f8_quota_race() -> None:
    """F8, "request accepted then throttled on use": the admission check says yes and the rate
    limit in front of the quota service refuses the use (a 429 while units are left): an error,
    never a harm, since the quota service only consumes a unit that is left. Retrying with
    backoff and jitter (the guide's mitigation) removes most of those errors at a latency cost;
    pre-reserving the unit at admission removes the late "no" for quota spent in the window.
    Only a quota service that does not enforce (`none`) overdraws. The rate limit drops at
    fixed instants here (three 3 s drops in 30 measured seconds) so every replication has some."""
    throttle = {"kind": "throttle", "target": "store", "at": [14, 24, 33], "duration": 3, "limit": 60}
    model = load_model(MODELS / "f8_quota_race.toml", {"model.horizon": "40s", "faults": [throttle]})
    frame = compare(model, ("admitted", "none", "backoff", "reservation"), reps=3, seed=2026,
                    executor=SerialExecutor()).to_frame()
    admitted = row(frame, "admitted", "abort_rate")
    assert admitted.ci_low > 0
    assert row(frame, "admitted", "harm_rate").upper_bound
    assert row(frame, "admitted", "throttled_requests").ci_low > 0
    assert row(frame, "admitted", "conflict_rate").ci_low > 0  # quota spent in the window: a late "no"
    assert row(frame, "none", "harm_rate").ci_low > 0
    backoff = row(frame, "backoff", "abort_rate")
    assert backoff.diff_high < 0 and backoff.estimate < admitted.estimate / 5
    assert row(frame, "backoff", "harm_rate").upper_bound
    assert row(frame, "backoff", "retry_rate").estimate > 0.02 and row(frame, "backoff", "latency_mean_ms")["diff"] > 0
    assert row(frame, "reservation", "conflict_rate").diff_high < 0
    assert row(frame, "reservation", "harm_rate").upper_bound
    assert row(frame, "reservation", "capacity_held_idle").ci_low > 0


@pytest.mark.slow
def test_f9_schema_mismatch() -> None:
    """F9: writes built for a schema land after a migration; versioned writes (cas) turn them
    into rejected-and-rebuilt writes at a small latency cost; a single consumer per table
    orders migrations and writes but cannot keep up: its backlog grows (the consumer bounds
    throughput)."""
    frame = _compare("f9_schema_mismatch", ("none", "cas", "queue"))
    assert row(frame, "none", "violation_rate").ci_low > 0
    assert row(frame, "cas", "violation_rate").upper_bound
    assert row(frame, "cas", "conflict_rate").ci_low > 0
    assert 0 < row(frame, "cas", "latency_added_mean_ms").ci_low < 50
    assert row(frame, "queue", "violation_rate").upper_bound
    assert row(frame, "queue", "queue_wait_mean_ms").ci_low > 10_000
    assert row(frame, "queue", "unfinished").ci_low > 0


def test_scenario_2_payment_webhook() -> None:
    """Scenario #2: concurrent webhook deliveries charge twice without idempotency; a
    transactional token store gives at-most-once charges (concurrent copies get 409s); an
    eventually consistent token store (the guide's pitfall) does not."""
    frame = _compare("payment_webhook", ("none", "idempotency", "idempotency_eventual"), "1m")
    assert row(frame, "none", "duplicate_resource_rate").ci_low > 0.05
    strong = row(frame, "idempotency", "duplicate_resource_rate")
    assert strong.upper_bound and strong.rule_of_three < 1e-4
    assert row(frame, "idempotency", "idempotency_conflict_rate").ci_low > 0
    eventual = row(frame, "idempotency_eventual", "duplicate_resource_rate")
    assert eventual.ci_low > 0 and eventual.diff_high < 0  # fewer than none, never zero


@pytest.mark.slow
def test_scenario_3_partial_cloud_create() -> None:
    """Scenario #3: orphans accumulate at a steady rate per day; a cleanup job cuts the orphans
    alive and reports time to cleanup; pre-reserved quota removes overdraws at use; both
    together do both."""
    frame = _compare("partial_cloud_create", ("none", "cleanup", "reservation", "reserve_and_cleanup"))
    none = row(frame, "none", "orphans_per_day")
    assert none.ci_low > 1000
    assert row(frame, "cleanup", "orphans_alive").diff_high < 0
    assert row(frame, "cleanup", "orphan_cleanup_time_mean_s").estimate >= 60  # min_age
    assert row(frame, "none", "violation_rate").ci_low > 0
    # A reservation never oversells (the ledger's precondition violations); a retry after a
    # partial create that takes effect again is a duplicate of the request, not an oversell.
    assert row(frame, "reservation", "precondition_violation_rate").upper_bound
    both = "reserve_and_cleanup"
    assert row(frame, both, "precondition_violation_rate").upper_bound
    assert row(frame, both, "orphans_alive").diff_high < 0


def test_every_guide_metric_is_in_the_results_and_the_manual() -> None:
    """M1-M10 appear under the guide's names in the tidy results of the bundled models (M9 comes
    from the SLO layer), and the manual maps each."""
    seen: set[str] = set()
    for frame in (
        _compare("f2_double_execution", ("none", "idempotency", "idempotency_cache"), "1m"),
        _compare("f3_permission_drift", ("none", "recheck", "token", "token_cached")),
        _compare("f6_partial_create", ("none", "two_phase", "cleanup")),
        _compare("cached_flash_sale", ("none",), "20s"),  # M7 is the cache's own count
    ):
        seen.update(frame.metric)
    readme = "\n".join(page.read_text(encoding="utf-8") for page in MANUAL)
    for guide_id, (_title, names) in GUIDE_METRICS.items():
        assert f"| {guide_id} |" in readme
        if guide_id == "M9":
            continue
        assert names[0] in seen, guide_id
        assert all(f"`{name}`" in readme for name in names), guide_id
