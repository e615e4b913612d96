"""Retry storms and headroom: the metastable model stays down after its spike without a retry
budget and recovers with one; the headroom sweep finds the M/M/1 knee theory predicts; the
``timeline`` and ``headroom`` commands."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from conftest import MODELS

from toctou_sim.capacity.headroom import headroom, load_spikes, load_timeline, scale_load, service_capacity
from toctou_sim.cli.main import main
from toctou_sim.reporting.plots import plot_load_timeline
from toctou_sim.spec.model import SpecError, load_model
from toctou_sim.validation.oracles_capacity import finite_store_model

STORM = MODELS / "metastable_retry_storm.toml"
# The bundled storm, shortened: the spike at 40-70 s instead of minute 5, 3 minutes in all.
SHORT = {"model.horizon": "180s", "model.warmup": "10s", "slo.timeline_bin": "10s",
         "clients.arrival.profile": [{"until": 40, "rate": 26}, {"until": 70, "rate": 80}]}


@pytest.fixture(scope="module")
def storm():
    spec = load_model(STORM, SHORT)
    return spec, load_timeline(spec, ["cas", "cas_budget"])


def test_unbounded_retries_stay_down_after_the_spike_and_a_budget_recovers(storm) -> None:
    spec, frame = storm
    after = frame[frame["time_s"] >= 120]  # 50 s after the spike ended
    before = frame[(frame["time_s"] >= 10) & (frame["time_s"] < 40)]
    capacity = service_capacity(spec)
    for name in ("cas", "cas_budget"):
        rows = before[before["strategy"] == name]
        assert rows["error_rate"].max() == 0, name  # healthy before the spike
        assert rows["offered_per_s"].mean() < 0.8 * capacity
    storm_rows, budget_rows = after[after["strategy"] == "cas"], after[after["strategy"] == "cas_budget"]
    # metastable: the trigger is gone, yet retries keep the offered load above capacity
    assert storm_rows["error_rate"].min() > 0.9
    assert storm_rows["offered_per_s"].mean() > capacity
    assert storm_rows["retries_per_s"].mean() > 0.5 * storm_rows["offered_per_s"].mean()
    assert storm_rows["wasted_per_s"].mean() > 0.5 * capacity
    # the budget stops the retries: load falls back under capacity and errors end
    assert budget_rows["error_rate"].max() == 0
    assert budget_rows["offered_per_s"].mean() < 0.8 * capacity
    assert budget_rows["ok_per_s"].mean() == pytest.approx(26, rel=0.15)


def test_load_chart_has_a_panel_per_series(storm) -> None:
    spec, frame = storm
    figure = plot_load_timeline(frame, capacity=service_capacity(spec), spans=load_spikes(spec))
    assert len(figure.axes) == 4
    assert [line.get_label() for line in figure.axes[0].get_lines()][:2] == ["cas", "cas_budget"]


def test_load_spikes_and_capacity_come_from_the_model() -> None:
    spec = load_model(STORM)
    assert load_spikes(spec) == [(300.0, 330.0)]
    assert service_capacity(spec) == pytest.approx(80.0)
    assert service_capacity(spec, "lock") is None


def test_scale_load_multiplies_every_client_rate_and_nothing_else() -> None:
    spec = load_model(STORM)
    scaled = scale_load(spec, 1.5)
    assert scaled.clients.arrival.poisson.rate == pytest.approx(39.0)
    assert [phase.rate for phase in scaled.clients.arrival.profile] == pytest.approx([39.0, 120.0])
    assert scaled.capacity == spec.capacity and scaled.strategy == spec.strategy
    with pytest.raises(SpecError, match="load multiplier"):
        scale_load(spec, 0)


def test_headroom_finds_the_mm1_knee() -> None:
    """M/M/1 store, 10 ms mean service: a write's sojourn is Exp(mu - lambda), so its p99 is
    ln(100)/(mu - lambda); a 200 ms p99 limit holds up to lambda = 100 - ln(100)/0.2 = 77/s, 1.54x
    the model's 50/s. The sweep brackets the knee within its last bisection step (plus noise)."""
    model = finite_store_model(arrival_rate=50, servers=1, service_mean=0.01, horizon=40, warmup=2)
    result = headroom(model, p99_limit=0.2, error_budget=1.0, reps=2, seed=1, refine=2)
    knee = (100 - math.log(100) / 0.2) / 50
    assert result.broke_by == "p99"
    first_bad = min(p.multiplier for p in result.points if not p.healthy)
    assert result.headroom <= knee * 1.06 and first_bad >= knee * 0.94
    assert result.knee_rate == pytest.approx(result.headroom * 50)
    assert "x today's load" in result.summary() and "then p99" in result.summary()
    assert len(result.to_frame()) == len(result.points)


def test_headroom_of_an_overloaded_model_walks_down_and_a_saturated_service_is_unstable() -> None:
    model = finite_store_model(arrival_rate=120, servers=1, service_mean=0.01, horizon=20, warmup=2)
    result = headroom(model, error_budget=1.0, reps=1, refine=1)
    assert result.points[0].broke_by == "unstable"
    assert 0 < result.headroom < 1
    assert result.points[-1].multiplier < 1


def test_timeline_command_prints_rows_and_writes_the_chart(tmp_path) -> None:
    out = tmp_path / "storm"
    args = ["timeline", str(STORM), "--strategies", "cas,cas_budget", "--chart", str(out),
            "--set", "model.horizon=30s", "--set", "model.warmup=5s"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "capacity 80 calls/s" in result.output and "cas_budget:" in result.output
    assert (tmp_path / "storm.png").stat().st_size > 0


def test_timeline_command_json() -> None:
    result = CliRunner().invoke(main, ["timeline", str(STORM), "--strategies", "cas,cas_budget", "--json",
                                       "--set", "model.horizon=20s", "--set", "model.warmup=2s"])
    rows = json.loads(result.output)["results"]
    assert {row["strategy"] for row in rows} == {"cas", "cas_budget"} and "goodput_per_s" in rows[0]


def test_timeline_of_a_model_without_capacity_is_bad_input() -> None:
    result = CliRunner().invoke(main, ["timeline", str(MODELS / "flash_sale.toml")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {MODELS / 'flash_sale.toml'}: capacity.store: not declared (finite services: none)"]


def test_headroom_command(tmp_path) -> None:
    model = tmp_path / "m.toml"
    model.write_text("""
[keys]
count = 100
[clients]
arrival = { poisson = { rate = 50 } }
[capacity.store]
servers = 1
service_time = { exponential = { mean = "10ms" } }
calls = "writes"
""")
    result = CliRunner().invoke(main, ["headroom", str(model), "--p99", "200ms", "--reps", "1", "--json",
                                       "--error-metric", "abort_rate",
                                       "--set", "model.horizon=20s", "--set", "model.warmup=1s"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)["headroom"][0]
    assert summary["strategy"] == "none" and 1.2 < summary["headroom"] < 1.8
    result = CliRunner().invoke(main, ["headroom", str(model), "--p99", "soon"])
    assert result.exit_code == 2 and result.output.startswith("error: --p99:")
