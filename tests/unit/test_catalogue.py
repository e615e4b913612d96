"""The metric catalogue describes every metric the simulator reports, with the guide's ids."""

from __future__ import annotations

import pytest
from conftest import MODELS

import toctou_sim
from toctou_sim.measure.catalogue import CATALOGUE, GUIDE_IDS, describe
from toctou_sim.measure.guide import GUIDE_METRICS
from toctou_sim.spec.model import load_model

UNITS = {"count", "per operation", "per check", "per cache read", "per hit", "per replica read", "per event",
         "ms", "s", "s/min", "1/min", "1/day", "ops/s", "share", "x", "versions", "units", "per effect",
         "per retry", "1/s", "cost/day"}


def test_every_entry_is_complete() -> None:
    for name, metric in CATALOGUE.items():
        assert metric.name == name and metric.definition.endswith(".") and len(metric.definition) > 15, name
        assert metric.unit in UNITS, (name, metric.unit)
        assert metric.guide in ("", *GUIDE_IDS), name


def test_guide_ids_agree_with_the_guide_mapping() -> None:
    assert set(GUIDE_METRICS) == set(GUIDE_IDS)
    for guide_id, (_, names) in GUIDE_METRICS.items():
        for name in names:
            assert CATALOGUE[name].guide == guide_id, name
    tagged = {metric.guide for metric in CATALOGUE.values() if metric.guide}
    assert tagged == set(GUIDE_IDS)


def test_fault_metrics_match_their_pattern() -> None:
    assert describe("pause_onsets") is CATALOGUE["<fault>_onsets"]
    assert describe("clock_skew_seconds") is CATALOGUE["<fault>_seconds"]
    assert describe("no_such_metric") is None


# One model per kind of part (read paths, strategies, actors, faults), at a tiny horizon.
SAMPLE = ["flash_sale", "cached_flash_sale", "quorum_stale_read", "f2_double_execution", "f3_permission_drift",
          "f6_partial_create", "f7_event_ordering", "f8_quota_race", "f10_time_drift", "cache_eviction_race",
          "scenario1_pvc_controller"]


@pytest.mark.parametrize("name", SAMPLE)
def test_every_reported_metric_is_in_the_catalogue(name: str) -> None:
    spec = load_model(MODELS / f"{name}.toml", {"model.horizon": 1.0, "model.warmup": 0.0})
    strategies = list(dict.fromkeys(["none", *spec.strategies]))
    frame = toctou_sim.compare(spec, strategies, reps=1, seed=2).to_frame()
    missing = sorted(m for m in set(frame["metric"]) if describe(m) is None)
    assert missing == []
