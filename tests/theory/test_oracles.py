"""The simulator against theory (DESIGN §7): each registered oracle's closed form must fall
inside the simulation's own 99% confidence interval for the pinned seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from toctou_sim.validation.oracles import ORACLES, run_oracles

RUN_IN_TEST_READ_PATHS = {"PBS exponential sweep", "quorum, zero delays", "quorum, R+W>N never stale",
                          "staleness estimator"}
"""Oracles tests/timelines/test_read_paths.py runs with the same seed and confidence (and asserts more of):
run once, there."""


@pytest.mark.parametrize("name", [name for name in ORACLES if name not in RUN_IN_TEST_READ_PATHS])
def test_oracle(name: str) -> None:
    frame = run_oracles(seed=1, confidence=0.99, names=[name])
    failed = frame[~frame["passed"]]
    assert failed.empty, failed.to_string()


def test_the_oracles_run_elsewhere_exist_and_are_run_there() -> None:
    text = (Path(__file__).resolve().parents[1] / "timelines" / "test_read_paths.py").read_text(encoding="utf-8")
    for name in RUN_IN_TEST_READ_PATHS:
        assert name in ORACLES and f'"{name}"' in text, name
