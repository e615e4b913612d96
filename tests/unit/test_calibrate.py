"""Calibration: maximum-likelihood fits recover known parameters, the readers read each format,
and the TOML printed is a valid model value."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT

from toctou_sim.cli.main import main
from toctou_sim.core.distributions import parse_distribution
from toctou_sim.spec.model import SpecError
from toctou_sim.validation.calibrate import Telemetry, fit, fit_all, read_telemetry

TELEMETRY = ROOT / "examples" / "telemetry"


def _inside(value: float, interval: tuple[float, float]) -> bool:
    return interval[0] <= value <= interval[1]


def test_lognormal_is_recovered() -> None:
    x = np.random.default_rng(1).lognormal(math.log(0.04), 0.6, 3000)
    fitted = fit(Telemetry("x", samples=x), "lognormal", bootstrap=60)
    assert _inside(math.log(0.04), fitted.ci["mu"]) and _inside(0.6, fitted.ci["sigma"])
    assert fitted.params["mu"] == pytest.approx(math.log(0.04), abs=0.05)
    assert fitted.params["sigma"] == pytest.approx(0.6, rel=0.05)
    assert fitted.ks_p is not None and fitted.ks_p > 0.01


def test_gamma_is_recovered() -> None:
    x = np.random.default_rng(2).gamma(3.0, 0.002 / 3.0, 3000)
    fitted = fit(Telemetry("x", samples=x), "gamma", bootstrap=30)
    assert _inside(3.0, fitted.ci["shape"])
    assert fitted.params["shape"] == pytest.approx(3.0, rel=0.1)
    assert fitted.params["shape"] * fitted.params["scale"] == pytest.approx(0.002, rel=0.05)


def test_a_mixture_is_recovered_and_wins() -> None:
    rng = np.random.default_rng(3)
    hit = rng.random(4000) < 0.9
    x = np.where(hit, rng.lognormal(math.log(0.008), 0.3, 4000), rng.lognormal(math.log(0.12), 0.4, 4000))
    fits = fit_all(Telemetry("x", samples=x), bootstrap=20)
    best = fits[0]
    assert best.family == "mixture"
    p = best.params
    assert p["weight1"] == pytest.approx(0.9, abs=0.02) and _inside(0.9, best.ci["weight1"])
    assert math.exp(p["mu1"]) == pytest.approx(0.008, rel=0.03) and math.exp(p["mu2"]) == pytest.approx(0.12, rel=0.1)
    assert p["sigma1"] == pytest.approx(0.3, rel=0.1) and p["sigma2"] == pytest.approx(0.4, rel=0.2)
    value = parse_distribution_text(best.model_value())
    assert value.mean == pytest.approx(float(np.mean(x)), rel=0.1)


def parse_distribution_text(text: str):
    import tomllib

    return parse_distribution(tomllib.loads(f"v = {text}")["v"])


def test_opentelemetry_spans_give_the_window_and_store_latencies() -> None:
    window = read_telemetry(TELEMETRY / "otel_spans.json", quantity="window")
    reads = read_telemetry(TELEMETRY / "otel_spans.json", quantity="read")
    assert window.size == 200 and reads.size == 200
    best = fit_all(window, bootstrap=0)[0]
    assert best.family in ("lognormal", "mixture")
    assert float(np.median(window.samples)) == pytest.approx(0.040, rel=0.15)  # as generated
    assert float(np.mean(reads.samples)) == pytest.approx(0.002, rel=0.15)


def test_prometheus_histogram_by_binned_likelihood() -> None:
    data = read_telemetry(TELEMETRY / "checkout_latency.prom")
    assert data.size == 5000 and data.samples is None
    best = fit_all(data)[0]
    assert best.family == "lognormal"
    assert math.exp(best.params["mu"]) == pytest.approx(0.050, rel=0.05)
    assert best.params["sigma"] == pytest.approx(0.5, rel=0.08)


def test_cli_prints_the_fits_the_toml_and_writes_the_plot(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["fit", str(TELEMETRY / "otel_spans.json"), "--quantity", "write",
                                       "--plot", str(tmp_path / "fit.png")])
    assert result.exit_code == 0, result.output
    assert "KS distance" in result.output and "[store]" in result.output
    line = next(x for x in result.output.splitlines() if x.startswith("write_latency = "))
    assert parse_distribution_text(line.removeprefix("write_latency = ")).mean > 0
    assert (tmp_path / "fit.png").stat().st_size > 10_000 and (tmp_path / "fit.svg").exists()


def test_bad_telemetry_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    result = CliRunner().invoke(main, ["fit", str(bad)])
    assert result.exit_code == 2 and "give the column with --column" in result.output
    with pytest.raises(SpecError, match=r"no span named 'db\.query'"):
        read_telemetry(TELEMETRY / "otel_spans.json", quantity="read", read_span="db.query")
