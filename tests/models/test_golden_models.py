"""Every bundled model keeps its behaviour: the fingerprint of its ``compare`` under ``none`` and
its own strategies (see ``tests/golden_models.py``) matches the one held in the tests. A move of
the code must leave every fingerprint unchanged; a deliberate change of the numbers recaptures
them (``python tests/golden_models.py``) and says why in its commit."""

from __future__ import annotations

import json
import warnings

import pytest
from golden_models import HELD, bundled, fingerprint

HELD_PRINTS = json.loads(HELD.read_text(encoding="utf-8"))


def test_every_bundled_model_is_held() -> None:
    assert sorted(HELD_PRINTS) == bundled()


@pytest.mark.parametrize("name", bundled())
def test_bundled_model_behaviour_is_unchanged(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # durations past the short horizon: expected here
        now = fingerprint(name)
    held = HELD_PRINTS[name]
    assert now["rates"] == pytest.approx(held["rates"], nan_ok=True), name
    assert now["sha256"] == held["sha256"], f"{name}: the core metrics moved (rates above agree to 1e-6)"
