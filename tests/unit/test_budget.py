"""Error budgets, burn rates, the worst hour, multi-window alerts and piecewise load.

The arithmetic is checked against hand-computed cases; the alerts against a constructed error
timeline whose firing times follow from the window sums by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import MODELS
from hypothesis import given, settings
from hypothesis import strategies as st

from toctou_sim.core.distributions import Exponential, RandomStreams
from toctou_sim.experiment.montecarlo import run_replication
from toctou_sim.measure.budget import ErrorBudget, analyse_timeline, evaluate_alert, trailing_sum
from toctou_sim.measure.metrics import ErrorTimeline
from toctou_sim.spec.model import SloSpec, SpecError, load_model, parse_model
from toctou_sim.spec.slo import BurnAlertSpec
from toctou_sim.world.load import PiecewiseGaps, arrival_gaps

DAY = 86400.0


def test_budget_arithmetic_by_hand() -> None:
    # 10 errors in 10,000 operations under 99.9%: exactly the allowed rate, burn 1x, the whole
    # budget over the period, gone exactly at the period's end.
    budget = ErrorBudget(
        operations=10_000,
        violations=5,
        aborts=3,
        latency_breaches=2,
        race_errors=6,
        target=0.999,
        period=30 * DAY,
    )
    assert budget.errors == 10
    assert budget.error_rate == pytest.approx(0.001)
    assert budget.burn_rate == pytest.approx(1.0)
    assert budget.budget_consumed == pytest.approx(1.0)
    assert budget.exhausted_after == pytest.approx(30 * DAY)
    assert budget.race_share == pytest.approx(0.6)


def test_budget_arithmetic_faster_burn() -> None:
    # 50 errors in 1,000 under 99%: 5% errors, 5x burn, a 30-day budget gone in 6 days.
    budget = ErrorBudget(operations=1_000, violations=50, aborts=0, latency_breaches=0, target=0.99, period=30 * DAY)
    assert budget.burn_rate == pytest.approx(5.0)
    assert budget.exhausted_after == pytest.approx(6 * DAY)
    assert math.isnan(ErrorBudget(0, 0, 0, 0, 0.999, DAY).error_rate)
    assert ErrorBudget(100, 0, 0, 0, 0.999, DAY).exhausted_after == math.inf
    assert math.isnan(ErrorBudget(100, 0, 0, 0, 0.999, DAY).race_share)


def test_trailing_sum() -> None:
    assert trailing_sum(np.array([1, 2, 3, 4]), 2).tolist() == [1, 3, 5, 7]
    assert trailing_sum(np.array([1, 2, 3, 4]), 10).tolist() == [1, 3, 6, 10]


def _timeline(errors_per_bin: int, burst: range, bins: int = 360, ops: int = 1000) -> ErrorTimeline:
    """Six hours of one-minute bins, ``ops`` operations each, ``errors_per_bin`` during ``burst``."""
    timeline = ErrorTimeline(60.0, bins * 60.0)
    for index in range(bins):
        timeline.ops[index] = ops
        timeline.errors[index] = errors_per_bin if index in burst else 0
    return timeline


FAST = BurnAlertSpec(factor=14.4, long_window="1h", short_window="5m", severity="page")


def test_alert_fires_on_constructed_timeline_and_pages_below_the_guides_rule() -> None:
    # Burst of 2% errors (burn 20x) in minutes 120-179. The 1h window reaches 14.4x once it holds
    # 864 errors (14.4 * 0.001 * 60,000): after 44 burst minutes (43 * 20 = 860 < 864), i.e. at
    # minute 164. It resolves when the 5m window drops below 14.4x: at minute 182 the window holds
    # 3 burst minutes (60 / 5000 = 1.2% = 12x; at 181 it still held 4: 16x). The worst hour spends
    # 1200 errors of a 30-day budget of 0.001 * (1000/60 per s) * 30 d = 43,200 errors: 2.8% < 20%,
    # so the guide would only have ticketed. Against its own definition (14.4x over 1 h = 2% of the
    # budget in the hour) the page is true: 2.8% >= 2%.
    slo = SloSpec(alerts=(FAST,))
    view = analyse_timeline(_timeline(20, range(120, 180)), slo)
    (evaluation,) = view.alerts
    assert evaluation.episodes == ((164 * 60.0, 182 * 60.0),)
    assert evaluation.first_fire == 164 * 60.0
    assert evaluation.false_pages == 0 and evaluation.below_guide == 1
    assert view.worst_hour_burn == pytest.approx(20.0)
    assert view.worst_hour_budget == pytest.approx(1200 / 43_200)
    assert not view.page
    assert view.pages == 1 and view.false_pages == 0 and view.pages_below_guide == 1


def test_page_on_a_quiet_hour_is_false_against_its_own_definition() -> None:
    # The same burst, but the period's load is twice the run's (load_factor 2): the budget is
    # 86,400 errors and the burst hour's 1,200 errors are 1.4% of it, less than the 2% a 14.4x
    # 1 h page promises: the error ratio burned, on too little traffic to matter. A false page.
    view = analyse_timeline(_timeline(20, range(120, 180)), SloSpec(alerts=(FAST,)), load_factor=2.0)
    (evaluation,) = view.alerts
    assert evaluation.episodes and evaluation.false_pages == 1 and evaluation.below_guide == 1
    assert view.worst_hour_budget == pytest.approx(1200 / 86_400)


def test_alert_is_not_evaluated_before_its_long_window_is_full() -> None:
    # 3% errors (30x) from the first minute: the 5-minute window is full at minute 5, but the
    # 1 h window only at minute 60; a truncated long window would page at minute 5 on 5 minutes
    # of data. Steady burn 10x (below 14.4) never fires, whatever the bins' noise at the start.
    view = analyse_timeline(_timeline(30, range(0, 360)), SloSpec(alerts=(FAST,)))
    assert view.alerts[0].first_fire == 60 * 60.0
    steady = _timeline(10, range(0, 360))
    steady.errors[0] = 200  # a noisy first minute: 20% errors
    assert not analyse_timeline(steady, SloSpec(alerts=(FAST,))).alerts[0].episodes


def test_burst_model_budget_uses_the_periods_load_profile() -> None:
    # models/flash_sale_burst.toml: 20/s, then 200/s from minute 65 to 75, then 20/s again. Over a
    # 30-day period that is 20/s plus one burst; the measured span (minutes 5-85) averages
    # (60*20 + 10*200 + 10*20) / 80 = 42.5/s. The budget from the run's mean load would be 2.1x
    # too large.
    from toctou_sim.measure.budget import analyse_model_timeline, period_load_factor

    model = load_model(MODELS / "flash_sale_burst.toml")
    factor = period_load_factor(model.clients.arrival, model.model.warmup, model.model.horizon, model.slo.period)
    period_rate = (30 * DAY * 20 + 600 * 180) / (30 * DAY)
    assert factor == pytest.approx(period_rate / (3400 * 60 / 4800))
    assert 1 / factor == pytest.approx(2.12, abs=0.01)
    # A timeline of the burst model's load with 3% errors during the burst only.
    timeline = ErrorTimeline(60.0, model.model.horizon)
    for minute in range(85):
        ops = 12_000 if 65 <= minute < 75 else 1200
        timeline.ops[minute] = ops
        timeline.errors[minute] = ops * 3 // 100 if 65 <= minute < 75 else 0
    view = analyse_model_timeline(timeline, model)
    budget = 0.001 * period_rate * 30 * DAY
    assert view.worst_hour_budget == pytest.approx(3600 / budget)  # 10 burst minutes of 360 errors
    plain = analyse_timeline(timeline, model.slo, model.model.warmup)
    assert plain.worst_hour_budget == pytest.approx(view.worst_hour_budget * factor)
    # The burst comes after an hour of measured traffic: the 14.4x 1 h/5 m page is evaluable and
    # fires during it (3% errors = 30x in the short window; the 1 h window reaches 14.4x after
    # 6 burst minutes: 2160 errors / 136,800 operations = 1.58%), a true page by its own
    # definition (2% of the period's budget is 1039 errors), though no hour spends the guide's 20%.
    page = view.alerts[0]
    assert page.alert.label == "14.4x 1h/5m" and page.evaluable
    assert page.episodes == ((71 * 60.0, 80 * 60.0),)
    assert page.false_pages == 0 and view.pages == 1 and not view.page


def test_alert_true_page_when_the_hour_spends_a_fifth_of_the_budget() -> None:
    # 20% errors (burn 200x) for an hour: 12,000 errors = 27.8% of the budget: the guide pages.
    # The 1h window needs 864 errors: 5 burst minutes (4 * 200 = 800 < 864) -> fires at minute 125.
    slo = SloSpec(alerts=(FAST,))
    view = analyse_timeline(_timeline(200, range(120, 180)), slo)
    (evaluation,) = view.alerts
    assert evaluation.first_fire == 125 * 60.0
    assert evaluation.false_pages == 0
    assert view.page
    assert view.worst_hour_budget == pytest.approx(12_000 / 43_200)


def test_quiet_timeline_fires_nothing() -> None:
    view = analyse_timeline(_timeline(0, range(0)), SloSpec())
    assert all(not a.episodes for a in view.alerts)
    assert view.worst_hour_burn == 0.0 and not view.page


def test_evaluate_alert_short_window_stops_it() -> None:
    # Constant 2% errors except a single clean bin: the 5m window never drops under 14.4x for
    # one bin only if 4 of 5 bins still burn >= 14.4x: (4 * 20) / 5000 = 16x, so it keeps firing.
    ops = np.full(120, 1000, dtype=np.int64)
    errors = np.full(120, 20, dtype=np.int64)
    errors[90] = 0
    evaluation = evaluate_alert(FAST, ops, errors, 60.0, 0.999)
    assert len(evaluation.episodes) == 1


def test_alert_spec_validation_is_one_line() -> None:
    with pytest.raises(SpecError, match=r"slo\.alerts\.0: short_window \(3600s\) must not exceed long_window"):
        parse_model(
            {
                "clients": {"arrival": {"poisson": {"rate": 1}}},
                "slo": {"alerts": [{"factor": 2, "long_window": "5m", "short_window": "1h"}]},
            },
            source="m.toml",
        )


def test_profile_order_is_checked() -> None:
    with pytest.raises(SpecError, match=r"m\.toml: clients\.arrival: .*profile\.1\.until: must be later"):
        parse_model(
            {
                "clients": {
                    "arrival": {
                        "poisson": {"rate": 1},
                        "profile": [{"until": "10m", "rate": 5}, {"until": "5m", "rate": 1}],
                    }
                }
            },
            source="m.toml",
        )


def test_constant_profile_gives_the_poisson_gaps() -> None:
    # Common random numbers: a one-phase profile at rate r draws the same unit variates as the
    # plain Poisson arrivals at r, so the gaps agree to rounding.
    streams = RandomStreams(7, 0)
    plain = streams.variates("arrivals", Exponential(mean_=0.1))
    unit = RandomStreams(7, 0).variates("arrivals", Exponential(mean_=1.0))
    piecewise = PiecewiseGaps([1e9], [10.0, 10.0], unit)
    assert [plain() for _ in range(50)] == pytest.approx([piecewise() for _ in range(50)])


def test_piecewise_counts_match_the_rates() -> None:
    # Phases: 10/s for 100 s, nothing for 100 s, 50/s for 100 s, then the Poisson rate 2/s. Counts
    # are Poisson: each within 4 standard deviations of rate * duration; none in the silent phase.
    model = parse_model(
        {
            "clients": {
                "arrival": {
                    "poisson": {"rate": 2},
                    "profile": [
                        {"until": 100, "rate": 10},
                        {"until": 200, "rate": 0},
                        {"until": 300, "rate": 50},
                    ],
                }
            }
        }
    )
    gaps = arrival_gaps(model.clients.arrival, RandomStreams(3, 0))
    times = np.cumsum([gaps() for _ in range(8000)])
    for low, high, rate in ((0, 100, 10), (100, 200, 0), (200, 300, 50), (300, 400, 2)):
        count = int(np.sum((times >= low) & (times < high)))
        mean = rate * (high - low)
        assert abs(count - mean) <= 4 * math.sqrt(max(mean, 1)), (low, count, mean)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.5, 50), st.sampled_from([0.0, 0.5, 3.0, 20.0])), min_size=1, max_size=5),
    st.integers(0, 1000),
)
def test_piecewise_never_arrives_in_a_silent_phase(phases: list[tuple[float, float]], seed: int) -> None:
    ends = list(np.cumsum([d for d, _ in phases]))
    rates = [r for _, r in phases] + [1.0]
    gaps = PiecewiseGaps(ends, rates, RandomStreams(seed, 0).variates("arrivals", Exponential(mean_=1.0)))
    t = 0.0
    for _ in range(200):
        gap = gaps()
        assert gap >= 0
        t += gap
        phase = int(np.searchsorted(ends, t, side="right"))
        assert rates[phase] > 0 or t in ends


def test_replication_timeline_matches_the_counts() -> None:
    model = load_model(
        MODELS / "flash_sale.toml",
        {"model.horizon": "8s", "model.warmup": "1s", "slo.latency_threshold": "100ms"},
    )
    for strategy in ("none", "cas"):
        result = run_replication(model.with_strategy(strategy), 0, 5)
        m = result.metrics
        assert result.timeline is not None
        ops, errors = result.timeline.arrays()
        assert ops.sum() == m["operations"]
        assert errors.sum() == m["errors"]
        assert m["errors"] == pytest.approx(
            m["operations"] * (m["violation_rate"] + m["abort_rate"] + m["latency_breach_rate"])
        )
        assert m["burn_rate"] == pytest.approx(m["error_rate"] / 0.001)
        assert m["error_budget_consumed"] == pytest.approx(m["burn_rate"])
        assert 0 <= m["race_error_share"] <= 1
        assert m["worst_hour_burn"] >= 0 and m["page_rule"] in (0.0, 1.0)


def test_alert_on_a_run_shorter_than_its_long_window_is_not_evaluable() -> None:
    # 70 minutes of data at 100% errors cannot fire a 6-hour long window: "not evaluable",
    # never a silent "never fired"; the 1 h alert fires once its long window is full.
    slow = BurnAlertSpec(factor=6, long_window="6h", short_window="30m")
    view = analyse_timeline(_timeline(1000, range(70), bins=70), SloSpec(alerts=(FAST, slow)))
    fast_eval, slow_eval = view.alerts
    assert fast_eval.evaluable and fast_eval.first_fire == 3600.0
    assert not slow_eval.evaluable and not slow_eval.episodes



def test_slo_alerts_from_a_model_file(tmp_path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        "[clients]\n"
        'arrival = { poisson = { rate = 20 }, profile = [ { until = "45m", rate = 20 }, '
        '{ until = "55m", rate = 200 } ] }\n'
        "[slo]\n"
        'target = 0.995\nperiod = "28d"\npage_budget_fraction = 0.1\ntimeline_bin = "30s"\n'
        'alerts = [ { factor = 10, long_window = "30m", short_window = "2m", severity = "page", name = "fast" } ]\n'
    )
    model = load_model(path)
    assert model.clients.arrival.profile[1].rate == 200 and model.clients.arrival.profile[1].until == 3300
    (alert,) = model.slo.alerts
    assert (alert.label, alert.factor, alert.long_window, alert.short_window) == ("fast", 10, 1800, 120)
    assert model.slo.timeline_bin == 30 and model.slo.page_budget_fraction == 0.1
    assert SloSpec().alerts[0].label == "14.4x 1h/5m"


def test_burst_models_run_reports_the_workbook_page_as_a_page() -> None:
    """The bundled burst model, at its own horizon and warm-up: the run's --json report shows the
    14.4x page firing (a true page by the alert's definition) and says the guide's 20%-per-hour
    rule would not have paged (a separate line)."""
    import json

    from click.testing import CliRunner

    from toctou_sim.cli.main import main

    out = CliRunner().invoke(main, ["run", str(MODELS / "flash_sale_burst.toml"), "--reps", "1", "--seed", "3",
                                    "--json", "--quiet", "--workers", "1"])
    assert out.exit_code == 0, out.output
    rows = {row["metric"]: row["estimate"] for row in json.loads(out.output)["results"]}
    assert rows["alert_pages"] >= 1
    assert rows["alert_false_pages"] == 0
    assert rows["alert_pages_below_guide_rule"] == rows["alert_pages"] and rows["page_rule"] == 0
