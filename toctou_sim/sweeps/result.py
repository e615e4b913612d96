"""The outcome of a sweep: the tidy estimates, the failures, and what ran."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from toctou_sim.sweeps.folder import PART_COLUMNS, ResultsFolder
from toctou_sim.sweeps.tasks import TaskFailure

__all__ = [
    "SweepResult",
    "parameter_frame",
]


@dataclass
class SweepResult:
    """The outcome of a sweep.

    Attributes:
        table: the tidy estimates (see :meth:`to_frame`).
        parameters: the swept field paths, in design order.
        strategies: strategy labels; ``baseline`` is the one differences refer to.
        seed: the sweep's seed.
        configurations: ``{"config": id, "params": {...}}`` per configuration, in design order.
        failures: failed tasks and invalid configurations (their configurations have no rows).
        tasks_total, tasks_run, tasks_resumed: tasks planned, run now, and read back from ``out``.
        replications_run: replications computed now (``tasks_run`` times the batch size).
        not_run: tasks never started because the executor broke (rerun with ``resume``).
        out: the results folder, when there is one.
    """

    table: pd.DataFrame
    parameters: list[str]
    strategies: list[str]
    baseline: str
    seed: int
    configurations: list[dict[str, Any]]
    failures: list[TaskFailure] = field(default_factory=list)
    tasks_total: int = 0
    tasks_run: int = 0
    tasks_resumed: int = 0
    replications_run: int = 0
    not_run: int = 0
    out: Path | None = None
    _replications: list[tuple[str, str, int, int, str, float]] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        """True when every task ran and none failed."""
        return not self.failures and not self.not_run

    def to_frame(self) -> pd.DataFrame:
        """Tidy estimates: one row per configuration x strategy x metric, sorted in design order.

        Columns: the swept parameters (one column each), ``config`` (the configuration's id),
        ``model``, ``strategy``, ``metric``, ``estimate``, ``ci_low``, ``ci_high`` (95%),
        ``n_reps``, ``upper_bound`` (no event seen: ``ci_high`` is the rule-of-three bound),
        ``events``, ``wilson_low``/``wilson_high`` (pooled cross-check), ``seed``,
        ``model_hash``, ``version``, ``baseline``, and the paired difference against the baseline
        on common random numbers, ``diff``, ``diff_low``, ``diff_high``; ``stopped_by`` says
        what ended the replications (``reps``, ``precision``, ``max_reps``).
        """
        return self.table.copy()

    def replications_frame(self) -> pd.DataFrame:
        """One row per replication and metric: the parameters, ``config``, ``strategy``,
        ``replication``, ``seed``, ``metric``, ``value`` (read from the parts when there is an
        ``out`` folder)."""
        if self.out is not None:
            rows = ResultsFolder(self.out).read_parts().drop(columns=["task"])
        else:
            rows = pd.DataFrame(self._replications, columns=[c for c in PART_COLUMNS if c != "task"])
        order = {c["config"]: i for i, c in enumerate(self.configurations)}
        rank = {s: i for i, s in enumerate(self.strategies)}
        rows = rows[rows["config"].isin(order)]
        rows = rows.assign(_c=rows["config"].map(order), _s=rows["strategy"].map(rank))
        rows = rows.sort_values(["_c", "_s", "replication"], kind="stable").drop(columns=["_c", "_s"])
        params = parameter_frame(self.configurations, self.parameters)
        return params.merge(rows, on="config", how="right").reset_index(drop=True)


def parameter_frame(configurations: list[dict[str, Any]], parameters: list[str]) -> pd.DataFrame:
    """One row per configuration: its id and a column per swept parameter (one type each)."""
    columns: dict[str, Any] = {p: _column([c["params"].get(p) for c in configurations]) for p in parameters}
    columns["config"] = [c["config"] for c in configurations]
    return pd.DataFrame(columns)


def _column(values: list[Any]) -> pd.Series:
    """One parameter's values as a column of one type: bool, int, float, or text."""
    if values and all(isinstance(v, bool) for v in values):
        return pd.Series(values, dtype=bool)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        if all(isinstance(v, int) for v in values):
            return pd.Series(values, dtype="int64")
        return pd.Series(values, dtype="float64")
    text = [v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str) for v in values]
    return pd.Series(text, dtype=object)
