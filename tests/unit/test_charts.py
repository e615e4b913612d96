"""Charts and numbers where people look: sweep charts shaped by the number of parameters (asserted
on the figure's axes), one colour per strategy, readable numbers, and the small CLI courtesies."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import MODELS

from toctou_sim.cli.main import main
from toctou_sim.reporting import plots
from toctou_sim.reporting.present import comparison_table, format_difference, format_metric
from toctou_sim.spec.model import SpecError, load_model, parse_model
from toctou_sim.spec.sanity import ModelWarning


def _sweep_frame(grid: dict[str, list[object]], strategies=("none", "cas"),
                 metrics=("violation_rate", "abort_rate", "latency_p99_ms")) -> pd.DataFrame:
    rows = []
    for index, values in enumerate(itertools.product(*grid.values())):
        for strategy in strategies:
            for metric in metrics:
                estimate = 0.01 * (index + 1) if strategy == "none" else 0.0
                rows.append({**dict(zip(grid, values, strict=True)), "config": f"c{index}", "strategy": strategy,
                             "metric": metric, "estimate": estimate, "ci_low": estimate * 0.8,
                             "ci_high": estimate * 1.2 if estimate else 1e-3, "n_reps": 3,
                             "upper_bound": estimate == 0})
    return pd.DataFrame(rows)


def test_one_parameter_is_a_panel_per_metric_with_durations_sorted_by_value() -> None:
    frame = _sweep_frame({"read_path.ttl": ["5s", "250ms", "1s"]})
    fig = plots.plot_sweep(frame, "read_path.ttl", metrics=plots.SWEEP_METRICS)
    axes = fig.axes
    assert len(axes) == 3
    assert axes[0].get_xlabel() == "read_path.ttl (s)"
    assert axes[2].get_ylabel() == "latency p99 (ms)" and axes[2].get_yscale() == "linear"
    assert axes[0].get_yscale() == "log"
    line = axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [0.25, 1.0, 5.0]  # by value, not as text
    assert line.get_color() == plots.strategy_color("none")


def test_two_parameters_are_small_multiples() -> None:
    frame = _sweep_frame({"clients.window": ["20ms", "80ms", "200ms"], "clients.arrival.poisson.rate": [100, 500]})
    fig = plots.plot_sweep(frame, "clients.window", metrics=("violation_rate", "abort_rate"))
    assert len(fig.axes) == 2 * 2  # a row per metric, a column per rate
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].endswith("rate = 100") and titles[1].endswith("rate = 500")
    for ax in fig.axes:  # one point per window value and strategy in each panel: no zig-zag
        for line in ax.get_lines():
            assert len(line.get_xdata()) == 3
    # The second parameter found without being named, and a derived copy of a column is not a third.
    frame["rate_copy"] = frame["clients.arrival.poisson.rate"]
    assert plots.sweep_parameters(frame, "clients.window") == ["clients.window", "clients.arrival.poisson.rate"]


def test_three_parameters_are_a_best_strategy_map() -> None:
    frame = _sweep_frame({"a": [1, 2], "b": ["x", "y"], "c": [0.1, 0.2]})
    fig = plots.plot_sweep(frame, "a")
    assert len(fig.axes) == 1
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 2 * 4 and all(t.startswith("cas") for t in texts)  # cas: none seen, lowest bound


def test_strategy_colours_are_stable() -> None:
    assert plots.strategy_color("cas") == plots.strategy_color("cas") != plots.strategy_color("lock")
    assert plots.strategy_color("my_custom_strategy") == plots.strategy_color("my_custom_strategy")


def test_a_page_of_strategies_has_no_two_colours_alike() -> None:
    # The PVC controller's strategies: unfenced and no_election hashed to one green before pinning.
    names = ["none", "conditional_create", "fenced", "unfenced", "no_election", "lock", "cas"]
    colors = plots.strategy_colors(names)
    assert len(set(colors.values())) == len(names)
    assert colors == plots.strategy_colors(list(reversed(names)))  # the set decides, not the order
    assert colors["cas"] == plots.strategy_color("cas")  # fixed colours stay fixed
    spare = set(plots._SPARE_COLORS)
    assert not spare & set(plots._FIXED_COLORS.values())
    with plots.strategy_palette(names):
        assert [plots.strategy_color(n) for n in names] == [colors[n] for n in names]
    assert plots.strategy_color("unfenced") == plots._SPARE_COLORS[plots._hashed("unfenced")]  # released


def test_the_report_draws_each_strategy_in_its_page_colour(tmp_path, monkeypatch) -> None:
    seen: dict[str, set[str]] = {}
    original = plots.strategy_color

    def spy(name: str) -> str:
        color = original(name)
        seen.setdefault(name, set()).add(color)
        return color

    monkeypatch.setattr(plots, "strategy_color", spy)
    # the colours are chosen while the figures are built; writing them (two formats, a second of
    # drawing each) is other tests' subject
    def unwritten(fig: Any, stem: Path, dpi: int = 110, close: bool = False) -> list[Path]:
        matplotlib.pyplot.close(fig)
        paths = [Path(stem).with_suffix(".png"), Path(stem).with_suffix(".svg")]
        for path in paths:
            path.touch()
        return paths

    monkeypatch.setattr(plots, "save", unwritten)
    from toctou_sim import load_model
    from toctou_sim.reporting.review import report

    model = load_model(MODELS / "scenario1_pvc_controller.toml",
                       overrides={"model.horizon": "8s", "model.warmup": "1s"})
    report(model, out=tmp_path, reps=2, seed=1, trace_ops=0, headroom=False)
    colors = {name: next(iter(c)) for name, c in seen.items()}
    assert all(len(c) == 1 for c in seen.values()), seen
    assert len(set(colors.values())) == len(colors), colors


def test_figures_are_pyplot_figures_a_notebook_shows() -> None:
    import matplotlib.pyplot as plt

    assert matplotlib.get_backend().lower() != "" and "matplotlib.pyplot" in __import__("sys").modules
    fig = plots.plot_sweep(_sweep_frame({"a": [1, 2]}), "a")
    assert fig.number in plt.get_fignums()  # managed by pyplot: plt.show() / the inline backend draw it
    paths = plots.save(fig, Path("/tmp") / f"charts-test-{id(fig)}", close=True)
    assert fig.number not in plt.get_fignums()
    for path in paths:
        path.unlink()


@pytest.mark.parametrize(("metric", "values", "expected"), [
    ("latency_p99_ms", (1080.0, 1070.0, 1090.0, False), "1.08 s ± 0.010 s"),
    ("latency_p99_ms", (266.0, 189.0, 343.0, False), "266 ms ± 77 ms"),
    ("violation_rate", (0.0348, 0.03, 0.0396, False), "3.48% ± 0.48%"),
    ("violation_rate", (0.00012, 0.0001, 0.00014, False), "120 per million ± 20 per million"),
    ("violation_rate", (0.0, 0.0, 0.0004, True), "none seen (< 400 per million)"),
    ("burn_rate", (52.7, 40.0, 65.4, False), "52.7× ± 13×"),
    ("operations", (2512.0, 2352.0, 2672.0, False), "2,512 ± 160"),
    ("store_offered_per_s", (22.4, 20.0, 24.8, False), "22.4 ops/s ± 2.4 ops/s"),  # a rate, not a duration
    # every replication gave one value (a p99 in one histogram bin): the t-interval's width is
    # floating-point noise, not "± 0.00000000000000091 s"
    ("latency_p99_ms", (4050.0, 4050.0 - 9.1e-13, 4050.0 + 9.1e-13, False), "4.05 s"),
    ("violation_rate", (2e-7, 1e-7, 3e-7, False), "0.200 per million ± 0.10 per million"),
])
def test_numbers_are_readable(metric: str, values: tuple[float, float, float, bool], expected: str) -> None:
    assert format_metric(metric, *values) == expected


def test_differences_and_grouped_tables() -> None:
    assert format_difference("latency_p99_ms", 15.7, 11.2, 20.2) == "+15.7 ms ± 4.5 ms"
    assert format_difference("violation_rate", -0.0484, -0.064, -0.033) == "−4.84 pp ± 1.6 pp"
    assert format_difference("abort_rate", 0.0, 0.0, 0.0) == "no change"
    assert format_difference("latency_p99_ms", 0.0, -1e-15, 1e-15) == "no change"
    assert format_difference("latency_p99_ms", 3810.0, 3810.0 - 2e-13, 3810.0 + 2e-13) == "+3.81 s"
    rows = []
    for strategy, scale in (("none", 0.0), ("cas", 1.0)):
        for metric in ("violation_rate", "latency_p99_ms", "burn_rate", "error_budget_consumed", "operations"):
            rows.append({"strategy": strategy, "metric": metric, "estimate": 1.0 + scale, "ci_low": 0.5,
                         "ci_high": 1.5 + scale, "n_reps": 3, "upper_bound": False, "baseline": "none",
                         "diff": scale, "diff_low": 0.0, "diff_high": 2 * scale})
    text = comparison_table(pd.DataFrame(rows), ("violation_rate", "latency_p99_ms", "burn_rate",
                                                 "error_budget_consumed", "operations"))
    order = [text.index(group) for group in ("[harm]", "[cost]", "[budget]", "[diagnostics]")]
    assert order == sorted(order)
    assert "error_budget_consumed" not in text  # the same number as burn_rate
    assert "e+" not in text and "[+" not in text


def test_report_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("stale")
    result = CliRunner().invoke(main, ["report", str(MODELS / "flash_sale.toml"), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "not empty" in result.output and "--force" in result.output
    assert result.output.count("\n") == 1


def test_help_shows_percent_signs() -> None:
    result = CliRunner().invoke(main, ["run", "--help"])
    assert "95% half-width" in result.output and "%%" not in result.output


def test_popularity_gets_the_right_form() -> None:
    data = {"clients": {"arrival": {"poisson": {"rate": 1.0}}}, "keys": {"popularity": "zipf"}}
    with pytest.raises(SpecError, match=r'keys\.popularity: expected "uniform" or a table such as \{ zipf = 1\.1 \}'):
        parse_model(data, source="m.toml")
    assert parse_model({**data, "keys": {"popularity": {"zipf": 1.1}}}).keys.popularity.zipf == 1.1


def test_a_plain_number_longer_than_the_horizon_is_warned(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("TOCTOU_SIM_SMOKE_HORIZON", raising=False)
    path = tmp_path / "m.toml"
    path.write_text('[model]\nhorizon = "10s"\n[clients]\narrival = { poisson = { rate = 5 } }\nwindow = 20\n')
    with pytest.warns(ModelWarning, match=r"clients\.window: mean 20s is longer than the horizon \(10s\)"):
        load_model(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelWarning)
        load_model(path, {"clients.window": '"20s"'})  # written with a unit: meant
        load_model(path, {"clients.window": "2"})


def test_the_verdict_chart_puts_a_strategy_that_saw_no_harm_below_one_that_did() -> None:
    """A zero count's bound from the replications alone (78% for 2 replications) is far above a
    seen rate of 5%; drawn as a point it made the safe strategy look the worst. It sits, hollow, in
    the "none seen" strip below everything seen, its bound a dotted bar above it."""
    slo = parse_model({"clients": {"arrival": {"poisson": {"rate": 1.0}}},
                       "slo": {"harm_budget": {"per_million": 1}}}).slo
    rows = []
    for strategy, harm, bound, latency in (("none", 0.05, 0.06, 0.0), ("reservation", 0.0, 0.78, 12.0)):
        for metric, estimate, high in (("harm_rate", harm, bound), ("error_rate", harm, bound),
                                       ("latency_p99_ms", 100.0 + latency, 101.0 + latency)):
            rows.append({"strategy": strategy, "metric": metric, "estimate": estimate, "ci_low": 0.0,
                         "ci_high": high, "diff": latency})
    fig = plots.plot_verdict(pd.DataFrame(rows), slo, "oversell")
    harm_axis = fig.axes[0]
    dots = {}
    for collection in harm_axis.collections:
        label = collection.get_label()
        if label in ("none", "reservation (none seen)"):
            dots[label] = (collection.get_offsets()[0][1], tuple(collection.get_facecolor()[0]))
    seen_y, seen_face = dots["none"]
    unseen_y, unseen_face = dots["reservation (none seen)"]
    assert seen_y == pytest.approx(0.05)
    assert unseen_y < 1e-6 < seen_y  # below the harm budget, in the strip, not at its 0.78 bound
    assert unseen_face == (1.0, 1.0, 1.0, 1.0) != seen_face  # hollow
    dotted = [line for line in harm_axis.get_lines() if line.get_linestyle() == ":"]
    assert [max(line.get_ydata()) for line in dotted] == [pytest.approx(0.78)]  # the bound is still shown
    assert "none seen" in [text.get_text() for text in harm_axis.texts]


@pytest.mark.parametrize("constrained", [True, False])
def test_a_saved_chart_keeps_every_label_inside_a_blank_margin(tmp_path: Path, constrained: bool) -> None:
    """``plots.save`` draws a constrained-layout figure without a tight crop (the layout already
    fits it) and crops any other: either way the outermost pixels of the PNG are blank (nothing
    drawn to the edge or past it), and the SVG has the PNG's proportions."""
    import re

    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    fig = plt.figure(figsize=(6, 3), layout="constrained" if constrained else None)
    ax = fig.add_subplot()
    ax.plot([1, 10, 100], [1e-6, 1e-3, 1])
    ax.set_yscale("log")
    ax.set_ylabel("a long label on the left edge of the figure")
    ax.set_title("a title at the top")
    ax.legend(["a legend outside the axes, to the right"], loc="upper left", bbox_to_anchor=(1.0, 1.0))
    png, svg = plots.save(fig, tmp_path / "chart", close=True)
    pixels = np.asarray(Image.open(png).convert("L"))
    edges = [pixels[:3, :], pixels[-3:, :], pixels[:, :3], pixels[:, -3:]]
    assert all((edge == 255).all() for edge in edges), "a label is drawn to the edge: clipped"
    assert (pixels < 128).any(axis=0)[pixels.shape[1] - 40:].any(), "the legend on the right is missing"
    width, height = (float(v) for v in re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"',
                                                   svg.read_text(encoding="utf-8")).groups())
    assert width / height == pytest.approx(pixels.shape[1] / pixels.shape[0], rel=0.02)
