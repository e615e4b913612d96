"""Every distribution knows its analytic mean and variance; large samples must agree with them
within a few standard errors (the tolerance is the sample's own standard error)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toctou_sim.core.distributions import (
    Constant,
    KeyChooser,
    RandomStreams,
    VariateStream,
    parse_distribution,
)

CASES = [
    "40ms",
    {"constant": {"value": "2s"}},
    {"uniform": {"low": "10ms", "high": "30ms"}},
    {"exponential": {"mean": "40ms"}},
    {"lognormal": {"median": "2ms", "p99": "20ms"}},
    {"lognormal": {"mu": -4.0, "sigma": 0.5}},
    {"gamma": {"shape": 2.0, "scale": "10ms"}},
    {"gamma": {"shape": 0.5, "mean": "10ms"}},
    {"weibull": {"shape": 1.5, "scale": "20ms"}},
    {"pareto": {"scale": "1ms", "shape": 4.5}},
    {"mixture": [{"weight": 0.9, "exponential": {"mean": "5ms"}}, {"weight": 0.1, "constant": "100ms"}]},
]


def check_moments(distribution, n: int = 400_000, seed: int = 7) -> None:
    """The Ciw-style helper: sample mean and variance against the analytic ones."""
    samples = distribution.sample(np.random.default_rng(seed), n)
    assert np.all(samples >= 0)
    mean, variance = distribution.mean, distribution.variance
    if variance == 0:
        assert np.allclose(samples, mean)
        return
    standard_error = math.sqrt(variance / n)
    assert abs(samples.mean() - mean) < 5 * standard_error
    if math.isfinite(variance):
        # The sample variance's standard error needs the 4th moment; estimate it from the sample.
        centred = (samples - samples.mean()) ** 2
        se_var = centred.std() / math.sqrt(n)
        assert abs(centred.mean() - variance) < 6 * se_var


@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c)[:40])
def test_moments_match_theory(case) -> None:
    check_moments(parse_distribution(case))


def test_lognormal_quantiles_match_median_and_p99() -> None:
    d = parse_distribution({"lognormal": {"median": "2ms", "p99": "20ms"}})
    samples = d.sample(np.random.default_rng(1), 400_000)
    assert np.quantile(samples, 0.5) == pytest.approx(0.002, rel=0.02)
    assert np.quantile(samples, 0.99) == pytest.approx(0.020, rel=0.04)


def test_pareto_heavy_tail_moments_are_infinite() -> None:
    assert parse_distribution({"pareto": {"scale": 1, "shape": 1.0}}).mean == math.inf
    assert parse_distribution({"pareto": {"scale": 1, "shape": 1.5}}).variance == math.inf


def test_empirical_reads_file_relative_to_model(tmp_path) -> None:
    (tmp_path / "lat.txt").write_text("# measured\n10\n20\n30\n")
    (tmp_path / "lat.csv").write_text("id,latency\n1,1.5\n2,2.5\n")
    from pydantic import TypeAdapter

    from toctou_sim.core.distributions import DistributionSpec, Empirical

    adapter = TypeAdapter(DistributionSpec)
    d = adapter.validate_python({"empirical": {"file": "lat.txt", "unit": "ms"}}, context={"base_dir": str(tmp_path)})
    assert isinstance(d, Empirical)
    assert d.mean == pytest.approx(0.020)
    assert set(np.round(d.sample(np.random.default_rng(0), 100), 6)) <= {0.01, 0.02, 0.03}
    c = adapter.validate_python({"empirical": {"file": "lat.csv", "column": "latency"}},
                                context={"base_dir": str(tmp_path)})
    assert c.mean == pytest.approx(2.0)
    check_moments(c)


def test_variate_stream_hands_out_the_block_in_order() -> None:
    d = parse_distribution({"exponential": {"mean": 1}})
    stream = VariateStream(d, np.random.default_rng(3), block=16)
    values = [stream() for _ in range(40)]
    rng = np.random.default_rng(3)
    expected = [*d.sample(rng, 16), *d.sample(rng, 16), *d.sample(rng, 16)][:40]
    assert values == pytest.approx(expected)


def test_constant_stream_touches_no_generator() -> None:
    stream = VariateStream(Constant(value=0.5), np.random.default_rng(0))
    assert stream.constant == 0.5 and stream() == 0.5


def test_zipf_key_chooser_frequencies() -> None:
    chooser = KeyChooser(5, 1.0, np.random.default_rng(2))
    counts = np.bincount([chooser() for _ in range(50_000)], minlength=5)
    weights = 1 / np.arange(1, 6)
    p = weights / weights.sum()
    se = np.sqrt(p * (1 - p) / 50_000)
    assert np.all(np.abs(counts / 50_000 - p) < 5 * se)


def test_streams_do_not_depend_on_creation_order() -> None:
    a = RandomStreams(11, 3)
    first = a.generator("window").random(5)
    b = RandomStreams(11, 3)
    b.generator("arrivals").random(100)
    assert np.array_equal(b.generator("window").random(5), first)
    assert not np.array_equal(RandomStreams(11, 4).generator("window").random(5), first)
