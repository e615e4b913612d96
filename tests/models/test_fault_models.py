"""The guide's failure modes F1, F4, F5, F10 and scenario #1, end to end: each bundled model
reproduces the guide's qualitative finding, asserted on the estimates' own intervals.

Zero-event rates are asserted as "no event in n operations" (``events == 0``, and ``3 / n`` below a
threshold: the size of the sample, not a 95% bound, since harms come in bursts; the honest bound
is ``ci_high``, and ``tests/properties/test_explore.py`` proves the safe strategies within a scope);
non-zero rates through a t interval above 0, or, for rare events, the pooled Wilson interval
above 0.
"""

from __future__ import annotations

import pytest
from conftest import MODELS

from toctou_sim.experiment.executors import SerialExecutor
from toctou_sim.experiment.montecarlo import compare, simulate
from toctou_sim.spec.model import READ_PATH_SPECS, load_model


def test_f1_stale_validation_cas_removes_lost_updates_and_recheck_narrows_them() -> None:
    """F1 (mitigation: CAS or version checks): read-compute-write loses updates; a conditional
    write on the version read loses none; a re-check just before the write loses fewer."""
    result = compare(str(MODELS / "f1_stale_validation.toml"), ["none", "recheck", "cas"], reps=4, seed=11,
                     overrides={"model.horizon": "40s"})
    none = result.results["none"].estimate("violation_rate")
    cas = result.results["cas"].estimate("violation_rate")
    assert none.ci_low > 0.005
    assert cas.upper_bound and cas.rule_of_three < 1e-3 and cas.bound_method == "dominating"
    assert result.difference("recheck", "violation_rate").ci_high < 0
    assert result.results["cas"].estimate("conflict_rate").ci_low > 0  # CAS catches what none lets through


@pytest.mark.skipif("cache" not in READ_PATH_SPECS, reason="needs the cache read path (branch issue3)")
def test_f4_cache_eviction_race_bypassing_the_cache_removes_the_stale_duplicates() -> None:
    """F4 (mitigation: bypass the cache for critical flows): a miss taken as "absent" duplicates
    records that were only evicted; reading the truth leaves only the ordinary window race, and
    CAS closes that too."""
    path = MODELS / "f4_cache_eviction_race.toml"
    small = {"model.horizon": "40s"}
    cached = compare(load_model(path), ["none", "cas"], reps=4, seed=12, overrides=small)
    direct = compare(load_model(path, {"read_path": {"kind": "direct"}}), ["none"], reps=4, seed=12,
                     overrides=small)
    buggy = cached.results["none"].estimate("violation_rate")
    bypass = direct.results["none"].estimate("violation_rate")
    assert buggy.ci_low > 0.05
    assert cached.results["none"].estimate("mismatch_stale_rate").ci_low > 0.05
    assert direct.results["none"].estimate("mismatch_stale_rate").upper_bound
    assert bypass.ci_high < buggy.ci_low / 5
    assert cached.results["cas"].estimate("violation_rate").upper_bound


@pytest.mark.slow
def test_f5_controller_thrash_leader_election_stops_the_race() -> None:
    """F5 (mitigation: leader election and fencing): three replicas without election reconcile
    every event about three times and duplicate more than a third of the creates; elected and
    fenced, one reconcile per event and no duplicate."""
    result = compare(str(MODELS / "f5_controller_thrash.toml"), ["thrash", "elected", "elected_fenced"], reps=4,
                     seed=13, overrides={"model.horizon": "5m"})
    thrash, fenced = result.results["thrash"], result.results["elected_fenced"]
    assert thrash.estimate("reconciles_per_operation").ci_low > 2.5
    assert fenced.estimate("reconciles_per_operation").ci_high < 1.1
    assert thrash.estimate("violation_rate").ci_low > 0.3
    assert fenced.estimate("violation_rate").upper_bound
    assert fenced.estimate("violation_rate").rule_of_three < 1e-3
    assert result.difference("elected_fenced", "violation_rate").ci_high < 0


@pytest.mark.slow
def test_leader_clock_drift_duplicates_unless_fenced_or_clocks_are_right() -> None:
    """Clock drift under a lease (guide F10 meets F5; mitigations: NTP, fencing): a leader whose
    clock runs 10x slow keeps acting after a follower took the lease over: duplicate creates.
    Fencing tokens refuse them; with correct clocks (no skew) there are none even unfenced."""
    path = str(MODELS / "leader_clock_drift.toml")
    skewed = compare(path, ["unfenced", "fenced"], reps=5, seed=14)
    unfenced = skewed.results["unfenced"].estimate("violation_rate")
    assert unfenced.events and unfenced.wilson_low is not None and unfenced.wilson_low > 0
    assert unfenced.estimate > 0.01
    fenced = skewed.results["fenced"]
    assert fenced.estimate("violation_rate").upper_bound
    assert fenced.estimate("zombie_writes").estimate > 0 and fenced.estimate("fenced_rejections").estimate > 0
    ntp = compare(path, ["unfenced"], reps=5, seed=14, overrides={"faults": []})
    assert ntp.results["unfenced"].estimate("violation_rate").upper_bound


def test_f10_token_expiry_is_judged_on_the_verifiers_clock() -> None:
    """F10: the verifier's clock jumps 90 s ahead (past the 60 s TTL) from t=20 s to t=40 s: every
    token, however fresh, is judged expired there, the use is refused (401) and its retries too:
    authentication expiry errors, about the share of the measured span under skew (20 of 50 s).
    With working NTP (no skew) no use is refused; with a 2-minute leeway the skewed verifier
    still honours fresh tokens. No permission is revoked, so nothing is ever unauthorized."""
    path = str(MODELS / "f10_time_drift.toml")
    small = {"model.horizon": "1m", "model.warmup": "10s", "clients.arrival": {"poisson": {"rate": 10}}}
    skew = [{"kind": "clock_skew", "target": "verifier", "at": [20], "duration": 20, "offset": "90s"}]
    skewed = compare(path, ["token", "leeway"], reps=2, seed=10, overrides={**small, "faults": skew},
                     executor=SerialExecutor())
    errors = skewed.results["token"].estimate("abort_rate")
    assert 0.25 < errors.estimate < 0.5  # 20 s of 50 measured, less the uses before the first refusal
    assert skewed.results["token"].estimate("violation_rate").upper_bound
    assert skewed.results["leeway"].estimate("abort_rate").upper_bound
    ntp = simulate(path, strategy="token", reps=2, seed=10, overrides={**small, "faults": []},
                   executor=SerialExecutor())
    assert ntp.estimate("abort_rate").upper_bound
    assert ntp.estimate("abort_rate").estimate == 0


@pytest.mark.slow
def test_scenario1_pvc_controller_chaos_no_duplicates_with_fencing() -> None:
    """Scenario #1 chaos test: the leader is killed and frozen mid-create. With a fenced lease no
    duplicate PVC (none in over 30,000 events); without fencing the frozen ex-leader's
    creates duplicate; without election the replicas thrash. Kills alone (no freezes) cause no
    duplicate even unfenced: a dead leader's create never lands a lease later."""
    path = str(MODELS / "scenario1_pvc_controller.toml")
    small = {"model.horizon": "5m"}
    result = compare(path, ["fenced", "unfenced", "no_election"], reps=6, seed=15, overrides=small)
    fenced = result.results["fenced"]
    duplicates = fenced.estimate("violation_rate")
    assert duplicates.upper_bound and duplicates.rule_of_three < 1e-4
    assert duplicates.ci_high <= fenced.estimate("mismatch_rate").ci_high * (1 + 1e-9)  # by the caught races
    assert fenced.estimate("leader_transitions").estimate > 1
    assert fenced.estimate("crash_onsets").estimate > 1 and fenced.estimate("pause_onsets").estimate > 1
    assert fenced.estimate("fenced_rejections").estimate > 0
    assert fenced.estimate("unfinished").estimate == 0
    unfenced = result.results["unfenced"].estimate("violation_rate")
    assert unfenced.events and unfenced.wilson_low is not None and unfenced.wilson_low > 0
    assert result.results["no_election"].estimate("violation_rate").ci_low > 0.3

    spec = load_model(path)
    kills_only = compare(spec, ["fenced", "unfenced"], reps=4, seed=15,
                         overrides={**small, "faults": [spec.faults[0].model_dump(mode="json")]})
    for name in ("fenced", "unfenced"):
        assert kills_only.results[name].estimate("violation_rate").upper_bound
