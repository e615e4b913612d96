"""`explore`: every ordering of a small scope of the same world.

Each finding is checked both ways on the same model and scope: the unsafe strategy's
counterexample (its timeline ends in the violation) and the safe strategy's "no violation"
after an exhaustive search (the scope was exhausted, not cut by the state limit).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import MODELS

from toctou_sim import Scope, explore
from toctou_sim.cli.main import main

HERE = Path(__file__).resolve().parents[1] / "data" / "models_explore"


def _violation(result, kind: str) -> str:  # type: ignore[no-untyped-def]
    assert result.complete
    (example,) = result.counterexamples
    assert example.kind == kind
    last = example.steps[-1]
    assert last.what.startswith(f"use: VIOLATION ({kind})")
    return example.timeline()


@pytest.mark.slow
def test_unfenced_lease_duplicates_after_a_pause_and_fencing_prevents_it() -> None:
    scope = Scope(ops=1, mutations=0)
    unfenced = explore(HERE / "lease_pause.toml", scope=scope)
    timeline = _violation(unfenced, "duplicate")
    # The zombie: controller.0 checks, freezes, controller.1 takes the lease and creates, then
    # controller.0 wakes up and creates again.
    assert "pause begins on controller.0" in timeline
    assert "controller.1      lease: takes the lease (fencing token 2)" in timeline
    assert timeline.index("op0 controller.1  use: applied") < timeline.index("op0 controller.0  use: VIOLATION")
    fenced = explore(HERE / "lease_pause.toml", strategy="fenced", scope=scope)
    assert fenced.safe and fenced.complete and fenced.states > 10
    assert "no violation in" in fenced.summary()


@pytest.mark.slow
def test_eventually_consistent_dedupe_store_double_charges_and_a_strong_one_does_not() -> None:
    scope = Scope(ops=1, mutations=0)
    eventual = explore(MODELS / "payment_webhook.toml", strategy="idempotency_eventual", scope=scope)
    timeline = _violation(eventual, "duplicate")
    assert "op0 (copy)" in timeline
    strong = explore(MODELS / "payment_webhook.toml", strategy="idempotency", scope=scope)
    assert strong.safe and strong.complete


@pytest.mark.slow
def test_unfenced_lock_lease_loses_an_update_and_fencing_does_not() -> None:
    scope = Scope(ops=2, mutations=0)
    unfenced = explore(HERE / "lock_pause.toml", scope=scope)
    _violation(unfenced, "lost_update")
    fenced = explore(HERE / "lock_pause.toml", strategy="fenced", scope=scope)
    assert fenced.safe and fenced.complete


def test_cas_is_safe_where_no_mitigation_loses_updates() -> None:
    scope = Scope(ops=2, mutations=0)
    _violation(explore(MODELS / "f1_stale_validation.toml", strategy="none", scope=scope), "lost_update")
    cas = explore(MODELS / "f1_stale_validation.toml", strategy="cas", scope=scope)
    assert cas.safe and cas.complete and cas.runs > 100


def test_state_limit_stops_the_search_and_says_so() -> None:
    result = explore(MODELS / "f1_stale_validation.toml", strategy="cas", scope=Scope(ops=2, mutations=0),
                     max_states=20)
    assert not result.complete and result.states == 20
    assert "scope NOT exhausted" in result.summary()


def test_cli_explore_prints_the_counterexample_and_rejects_bad_input() -> None:
    runner = CliRunner()
    found = runner.invoke(main, ["explore", str(MODELS / "payment_webhook.toml"), "--strategy",
                                 "idempotency_eventual", "--ops", "1", "--no-progress"])
    assert found.exit_code == 0, found.output
    assert "violation: duplicate on key 0" in found.output and "t=" in found.output
    for args, message in [(["--values", "max,huge"], "--values: expected some of min, median, max"),
                          (["--ops", "0"], "--ops: must be >= 1"),
                          (["--duration", "window"], "--duration window: expected NAME=V1,V2")]:
        bad = runner.invoke(main, ["explore", str(MODELS / "payment_webhook.toml"), *args])
        assert bad.exit_code == 2 and message in bad.output, bad.output


@pytest.mark.slow
def test_explicit_durations_replace_the_representative_values() -> None:
    # One explicit window value instead of two representative ones: half the paths.
    narrow = explore(MODELS / "payment_webhook.toml", strategy="idempotency",
                     scope=Scope(ops=1, mutations=0, overrides={"window": (0.05,)}, ties=False))
    wide = explore(MODELS / "payment_webhook.toml", strategy="idempotency", scope=Scope(ops=1, mutations=0, ties=False))
    assert narrow.safe and wide.safe and narrow.runs < wide.runs


def test_conditional_write_is_safe_where_no_mitigation_oversells() -> None:
    # The last unit of stock: two checkouts both see it; the conditional decrement refuses the second.
    scope, last_unit = Scope(ops=2, mutations=0), {"keys.initial": 1}
    _violation(explore(MODELS / "flash_sale.toml", strategy="none", scope=scope, overrides=last_unit), "oversell")
    conditional = explore(MODELS / "flash_sale.toml", strategy="conditional_decrement", scope=scope,
                          overrides=last_unit)
    assert conditional.safe and conditional.complete


@pytest.mark.slow
def test_write_only_fencing_lets_the_zombie_write_land_between_the_new_holders_check_and_write() -> None:
    # fencing = "writes": only accepted writes raise the watermark. The expired holder (token 1)
    # writes after the new holder (token 2) checked and before it writes: the store accepts both
    # (1 >= 0, then 2 >= 1) and the new holder's write lands on a version it never read. Read
    # fencing (the "fenced" strategy, proved safe above) refuses the zombie at the new check.
    result = explore(HERE / "lock_pause.toml", strategy="write_fenced", scope=Scope(ops=2, mutations=0))
    timeline = _violation(result, "lost_update")
    assert "lease of token 1 expires" in timeline and "granted, token 2" in timeline
    new_check = timeline.index("check (token 2)")
    zombie_write = timeline.index("use: applied (token 1)")
    new_write = timeline.index("use: VIOLATION (lost_update) (token 2)")
    assert new_check < zombie_write < new_write


def test_a_partial_failure_after_the_charge_double_charges_on_retry_unless_recorded_with_the_effect() -> None:
    scope = Scope(ops=1, mutations=0)
    retry = explore(HERE / "partial_charge.toml", scope=scope)
    timeline = _violation(retry, "duplicate")
    assert "then the request fails (partial failure: the effect stays)" in timeline
    assert "check (retry 1)" in timeline
    # Idempotency that releases its key when the request fails lets the retry charge again ...
    _violation(explore(HERE / "partial_charge.toml", strategy="idempotency", scope=scope), "duplicate")
    # ... one that marks the key done with the effect answers the retry from the record.
    atomic = explore(HERE / "partial_charge.toml", strategy="idempotency_atomic", scope=scope)
    assert atomic.safe and atomic.complete and atomic.runs > 100


@pytest.mark.slow
def test_two_phase_commit_is_safe_where_no_mitigation_duplicates_a_create() -> None:
    scope = Scope(ops=2, mutations=0)
    _violation(explore(MODELS / "f6_partial_create.toml", strategy="none", scope=scope), "duplicate")
    two_phase = explore(MODELS / "f6_partial_create.toml", strategy="two_phase", scope=scope,
                        overrides={"strategies.two_phase.retry.max_retries": 0})
    assert two_phase.safe and two_phase.complete and two_phase.states > 100
