"""A design review's grid: a small sweep over a few model fields, as one tidy frame.

``toctou-sim report --grid PATH=V1,V2`` charts the rates against the first swept field; the sweep
itself is :func:`toctou_sim.sweeps.driver.sweep`, and this module only turns its values into
numbers a chart can place on an axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

import pandas as pd

from toctou_sim.core.units import parse_duration
from toctou_sim.spec.model import ModelSpec, _parse_override_value
from toctou_sim.sweeps.driver import sweep

__all__ = ["axis_label", "run_grid"]


def _numeric(text: Any) -> Any:
    """A grid value as a number when it is one (durations in seconds), else as given."""
    value = _parse_override_value(text) if isinstance(text, str) else text
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    try:
        return parse_duration(value)
    except (ValueError, TypeError):
        return value


def axis_label(path: str, values: Sequence[str]) -> str:
    """``path (s)`` when the grid's values are durations with a unit, else the path."""
    texts = [v for v in values if isinstance(_parse_override_value(v), str)]
    return f"{path} (s)" if texts and all(isinstance(_numeric(v), float) for v in texts) else path


def run_grid(
    model: ModelSpec,
    grid: Mapping[str, Sequence[str]],
    strategies: Sequence[str],
    *,
    reps: int,
    seed: int,
    executor: Executor | None = None,
    max_ops: float | None = None,
    max_memory: float | None = None,
) -> pd.DataFrame:
    """The tidy sweep frame (a column per swept parameter), from :func:`toctou_sim.sweeps.driver.sweep`."""
    frame = sweep(model, grid=dict(grid), strategies=list(strategies), reps=reps, seed=seed,
                  executor=executor, max_ops=max_ops, max_memory=max_memory).to_frame()
    for path in grid:
        frame[path] = [_numeric(v) for v in frame[path]]
    return pd.DataFrame(frame)
