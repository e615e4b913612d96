"""The simulator against theory (DESIGN §7): each registered oracle's closed form must fall
inside the simulation's own 99% confidence interval for the pinned seed."""

from __future__ import annotations

import pytest

from toctou_sim.validation.oracles import ORACLES, run_oracles


@pytest.mark.parametrize("name", list(ORACLES))
def test_oracle(name: str) -> None:
    frame = run_oracles(seed=1, confidence=0.99, names=[name])
    failed = frame[~frame["passed"]]
    assert failed.empty, failed.to_string()
