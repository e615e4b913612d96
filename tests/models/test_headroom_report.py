"""Headroom in the report, and global sensitivity.

The flash sale's hot items make ``lock`` queue behind one lock per item: its p99 and its aborts
break the SLO at any load the sweep tries, while ``conditional_decrement`` (a refused decrement is
a correct "sold out", not an error) stays healthy as far as the sweep goes. Sensitivity: on a model whose harm is
a background write landing inside the check-to-use window (P = 1 - exp(-rate x window) per key),
the window is the parameter that matters and the SLO's harm cost (a price, not a cause) does not.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import MODELS, model, unwritten_charts

import toctou_sim
from toctou_sim.capacity.headroom import headroom, judge, report_headroom, shorten
from toctou_sim.capacity.sensitivity import Parameter, chance_level, default_parameters, sensitivity
from toctou_sim.cli.main import main
from toctou_sim.experiment.montecarlo import compare
from toctou_sim.spec.model import SpecError, load_model

SHORT = {"model.horizon": "12s", "model.warmup": "2s"}


@pytest.fixture(scope="module")
def flash_report(tmp_path_factory: pytest.TempPathFactory) -> toctou_sim.reporting.review.ReportResult:
    spec = load_model(MODELS / "flash_sale.toml", SHORT)
    out = tmp_path_factory.mktemp("flash")
    with pytest.MonkeyPatch.context() as patch:
        unwritten_charts(patch, keep=("sensitivity",))  # test_report.py renders and checks the others
        return toctou_sim.report(spec, out, strategies=["conditional_decrement", "lock"], reps=2, seed=3,
                                 trace_ops=0, sensitivity=True, sensitivity_n=8)


@pytest.mark.slow
def test_lock_has_less_headroom_than_a_conditional_decrement_on_the_flash_sale(flash_report) -> None:
    found = flash_report.headroom
    assert found is not None
    lock, decrement = found["lock"], found["conditional_decrement"]
    assert lock.headroom < decrement.headroom
    assert lock.headroom < 1 and not lock.points[0].healthy  # already past its knee today
    # a 10 s run is not shortened (10 s is the floor): 2x costs 2 x 2 replications, 4x would cost 8 more,
    # past the budget of 6, so the sweep stops healthy at 2x
    assert decrement.broke_by == "not reached" and decrement.headroom == 2 and decrement.budget_stopped
    assert decrement.cell() == ">= 2x (not reached; sweep budget)"
    assert "lock queue" in lock.points[0].cause  # what broke names the hot key's lock queue


@pytest.mark.slow
def test_the_report_page_states_each_strategys_headroom(flash_report) -> None:
    page = html.unescape(flash_report.html.read_text(encoding="utf-8"))
    assert "capacity: headroom (x today's load)" in page  # the row of the results table
    assert "<h2>Headroom</h2>" in page
    verdict = re.search(r'<div class="verdict[^"]*">(.*?)</div>', page, re.S)
    assert verdict is not None
    assert "Headroom at today's load (500 ops/s): conditional_decrement sustains >= 2x today's load (not reached" \
        in verdict.group(1)
    assert "lock is already past its knee" in verdict.group(1) or "lock: 0." in verdict.group(1)
    assert (flash_report.out / "headroom.csv").read_text().startswith("strategy,multiplier,")
    # --sensitivity: the baseline (here also the recommended strategy) on the fast engine
    assert "<h2>Sensitivity</h2>" in page and (flash_report.out / "sensitivity.png").stat().st_size > 0
    assert [a.strategy for a in flash_report.sensitivity or []] == ["conditional_decrement"]


def test_headroom_reuses_todays_replications_and_is_deterministic() -> None:
    spec = load_model(MODELS / "flash_sale.toml", SHORT)
    today = compare(spec, ["none"], reps=2, seed=5)
    first = report_headroom(today)["none"]
    again = report_headroom(compare(spec, ["none"], reps=2, seed=5))["none"]
    assert first == again
    assert first.points[0].multiplier == 1 and first.points[0].error_rate == pytest.approx(
        today.results["none"].estimate("error_rate").estimate)
    assert [p.multiplier for p in first.points][:2] == [1, 0.5]  # x2 steps down: oversells break the budget


def test_runs_above_todays_load_are_shortened_unless_the_load_follows_a_schedule() -> None:
    spec = load_model(MODELS / "flash_sale.toml")  # 60 s, 5 s warm-up
    assert shorten(spec, 2, 0.5).model.horizon == pytest.approx(5 + 55 / 4)
    assert shorten(spec, 8, 0.5).model.horizon == pytest.approx(5 + 10)  # not under 10 s measured
    assert shorten(spec, 0.5, 0.5) is spec and shorten(spec, 1, 0.5) is spec
    storm = load_model(MODELS / "metastable_retry_storm.toml")  # a spike at minute 5
    assert shorten(storm, 4, 0.5) is storm
    faulty = load_model(MODELS / "scenario1_pvc_controller.toml")  # crashes leave a backlog to drain
    assert shorten(faulty, 4, 0.5) is faulty


def test_the_sweep_stops_at_its_cost_budget() -> None:
    spec = load_model(MODELS / "flash_sale.toml", SHORT)
    # today's load costs 1 replication, 2x would cost 2 more: over a budget of 1.5, so it is not run
    result = headroom(spec, "conditional_decrement", reps=1, cost_budget=1.5)
    assert [p.multiplier for p in result.points] == [1.0]
    assert result.budget_stopped and result.cell() == ">= 1x (not reached; sweep budget)"


def test_judge_names_a_saturated_service_and_the_p99() -> None:
    from toctou_sim.experiment.montecarlo import simulate
    from toctou_sim.validation.oracles_capacity import finite_store_model

    # one server of 10 ms: 120 calls/s is past its capacity (100/s); 50/s is stable, but an M/M/1
    # sojourn at utilisation 0.5 has a p99 of ln(100) x 20 ms = 92 ms, far above a 10 ms limit
    busy = finite_store_model(servers=1, arrival_rate=120, service_mean=0.01, horizon=20)
    point = judge(simulate(busy, reps=1), 1.0, 120, p99_limit_ms=1e9, error_budget=1.0)
    assert point.broke_by == "unstable" and point.cause.startswith("the store at ")
    calm = finite_store_model(servers=1, arrival_rate=50, service_mean=0.01, horizon=20)
    point = judge(simulate(calm, reps=1), 1.0, 50, p99_limit_ms=10.0, error_budget=1.0)
    assert point.broke_by == "p99" and point.cause.startswith("p99 ") and point.cause.endswith("> 10ms")
    assert judge(simulate(calm, reps=1), 1.0, 50, p99_limit_ms=1e9, error_budget=1.0).healthy


@pytest.mark.slow
def test_no_headroom_flag_skips_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unwritten_charts(monkeypatch)
    result = CliRunner().invoke(main, ["report", str(MODELS / "flash_sale.toml"), "--out", str(tmp_path / "r"),
                                       "--strategies", "none", "--reps", "2", "--trace-ops", "0", "--no-headroom",
                                       "--set", "model.horizon=5s", "--set", "model.warmup=1s", "--quiet",
                                       "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "Headroom" not in result.output
    assert "<h2>Headroom</h2>" not in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Sensitivity.

WINDOW_ONLY = {
    "model": {"name": "window-only", "horizon": "20s", "warmup": "1s"},
    "keys": {"count": 2000, "invariant": "version"},
    "store": {"read_latency": "1ms", "write_latency": "1ms"},
    "clients": {"arrival": {"poisson": {"rate": 100}}, "window": {"exponential": {"mean": "50ms"}}},
    "mutators": [{"action": "bump", "rate": 400}],
    "slo": {"harm_cost": 10},
}


def test_sensitivity_ranks_the_window_first_and_a_parameter_without_effect_last() -> None:
    spec = model(**WINDOW_ONLY)
    result = sensitivity(spec, "none", {"clients.window": ("x0.25", "x4"), "slo.harm_cost": (1, 1000),
                                        "store.read_latency": ("x0.5", "x2")}, n=36, seed=2)
    assert result.ranking("harm")[0] == "clients.window"
    assert result.ranking("harm")[-1] in ("slo.harm_cost", "store.read_latency")
    rows = result.indices.set_index(["output", "parameter"])
    assert rows.loc[("harm", "clients.window"), "pawn_median"] > 2 * result.chance("harm")
    assert rows.loc[("harm", "slo.harm_cost"), "pawn_median"] < result.chance("harm")
    # the harm really moved with the window: the widest windows have about x16 the narrowest's rate
    samples = result.samples.sort_values("clients.window")
    assert samples["harm"].tail(5).mean() > 4 * samples["harm"].head(5).mean()
    again = sensitivity(spec, "none", {"clients.window": ("x0.25", "x4"), "slo.harm_cost": (1, 1000),
                                       "store.read_latency": ("x0.5", "x2")}, n=36, seed=2)
    assert again.indices.equals(result.indices)


def test_sensitivity_parameters_and_defaults() -> None:
    spec = load_model(MODELS / "flash_sale.toml")
    paths = [p.path for p in default_parameters(spec, "lock")]
    assert paths == ["clients.arrival", "clients.window", "store.read_latency", "store.write_latency",
                     "mutators.0.rate", "strategy.lease_ttl"]
    assert Parameter.parse("clients.window=10ms:1s") == Parameter("clients.window", 0.01, 1.0)
    assert Parameter.parse("clients.arrival=x0.5:x2").relative
    # chance: a dummy's median KS distance; all-distinct outputs in 2 slices of 32 rarely pass 0.3
    assert 0.1 < chance_level(range(64), 2, seed=0) < 0.35
    assert chance_level([0.0] * 64, 2, seed=0) == 0
    for bad, message in (("clients.window", "expected PATH=LOW:HIGH"), ("a=2:1", "expected LOW < HIGH"),
                         ("a=x1:2", "both bounds as multipliers"), ("a=soon:2", "not a number")):
        with pytest.raises(SpecError, match=message):
            Parameter.parse(bad)
    with pytest.raises(SpecError, match="is a table; give multipliers"):
        sensitivity(spec, "none", {"clients.window": (0.01, 0.1)}, n=4)


def test_sensitivity_command(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("""
[model]
horizon = "5s"
[keys]
count = 500
[clients]
arrival = { poisson = { rate = 50 } }
window = { exponential = { mean = "50ms" } }
[[mutators]]
action = "bump"
rate = 100
""")
    chart = tmp_path / "chart"
    result = CliRunner().invoke(main, ["sensitivity", str(path), "--param", "clients.window=x0.5:x2",
                                       "--param", "mutators.0.rate=50:200", "--n", "8", "--chart", str(chart),
                                       "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "clients.window (x0.5-2)" in result.output and "mutators.0.rate (50-200)" in result.output
    assert (tmp_path / "chart.png").stat().st_size > 0
    for bad in ("clients.window", "clients.window=1:", "nope.field=1:2"):
        result = CliRunner().invoke(main, ["sensitivity", str(path), "--param", bad, "--n", "4"])
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: --param ")
