"""The episode estimator: a fault-driven harm estimated per fault episode, on the DES engine.

The test model (tests/data/models_episodes/pause_drift.toml) has a known expected harm per episode
(derived in the model file): the per-episode interval must cover it at its nominal rate.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import MODELS

from toctou_sim import simulate
from toctou_sim.cli.main import main
from toctou_sim.spec.model import load_model

HERE = Path(__file__).resolve().parents[1] / "data" / "models_episodes"
LAMBDA, WINDOW, MU, PAUSE = 20.0, 0.2, 2.0, 1.0
TRUTH = LAMBDA * (WINDOW * math.exp(-MU * WINDOW) - math.exp(-MU * PAUSE) * (1 - math.exp(-MU * WINDOW)) / MU)


@pytest.mark.slow
def test_per_episode_interval_covers_the_known_harm_per_episode() -> None:
    spec = load_model(HERE / "pause_drift.toml")
    trials, covered = 60, 0
    for seed in range(trials):
        result = simulate(spec, reps=5, seed=seed, estimator="episodes")
        per_episode = result.estimate("harms_per_episode")
        covered += per_episode.ci_low <= TRUTH <= per_episode.ci_high
        if seed == 0:  # the rate is the baseline plus harms per episode x episodes per operation
            for replication in result.replications:
                m = replication.metrics
                assert math.isclose(m["harm_rate"], m["baseline_harm_rate"]
                                    + m["harms_per_episode"] * m["episodes_per_op"], rel_tol=1e-9)
                assert math.isclose(m["episodes_per_op"], 0.01 * 3.5 / m["operations"])
    assert covered / trials >= 0.93, covered


def test_cli_says_the_rate_is_per_episode_and_refuses_a_model_without_a_fault_rate() -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["run", str(HERE / "pause_drift.toml"), "--estimator", "episodes", "--reps", "4",
                               "--workers", "1", "--quiet", "--metric", "harm_rate"])
    assert out.exit_code == 0, out.output
    assert "harms/episode x" in out.output and "episodes/op" in out.output and "per fault episode" in out.output
    bad = runner.invoke(main, ["run", str(MODELS / "flash_sale.toml"), "--estimator", "episodes", "--reps", "2"])
    assert bad.exit_code == 2
    assert "--estimator episodes: needs exactly one fault with a rate" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
