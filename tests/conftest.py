"""Shared helpers for the test suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from toctou_sim.spec import ModelSpec, parse_model

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def model(**sections: Any) -> ModelSpec:
    """A model from keyword sections; ``clients`` defaults to a tiny Poisson rate."""
    data: dict[str, Any] = {"clients": {"arrival": {"poisson": {"rate": 1.0}}}}
    data.update(sections)
    return parse_model(data, source="<test>")


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def _close_figures() -> Any:
    """Charts are pyplot-managed figures (so notebooks show them): release them after each test."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
