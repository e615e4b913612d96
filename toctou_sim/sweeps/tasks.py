"""Tasks: what travels to a worker and back.

The unit of work of a sweep is a task: one or a few replications of one configured model (the
strategy applied) under one seed, identified by a hash of that content (:func:`task_id`), so a
task computes the same numbers on any executor and a resumed sweep recognises a finished one.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from toctou_sim.experiment.montecarlo import run_replication
from toctou_sim.spec.model import ModelSpec

__all__ = [
    "SweepTask",
    "TaskFailure",
    "TaskOutcome",
    "run_task",
    "show_value",
    "task_id",
]


@dataclass(frozen=True)
class SweepTask:
    """Replications of one configured model (strategy applied) under one seed.

    Everything the worker needs is inside; the id is a hash of that content, so Dask never mistakes
    two different tasks for one and a resumed sweep recognises a finished task by its file name.
    """

    task_id: str
    model: ModelSpec
    replications: tuple[int, ...]
    seed: int
    engine: str = "auto"
    """``des``, ``fast`` or ``auto`` (the numbers are the same on both engines)."""

    def __dask_tokenize__(self) -> tuple[str, str]:
        return ("toctou-sim-task", self.task_id)


@dataclass(frozen=True)
class TaskOutcome:
    """What a worker sends back: per replication its metrics, or the traceback of the error."""

    task_id: str
    rows: tuple[tuple[int, dict[str, float]], ...] = ()
    error: str | None = None


def run_task(task: SweepTask) -> TaskOutcome:
    """Run a task's replications (on a worker). An exception inside the world becomes an outcome
    carrying its traceback, so one bad configuration never stops the others."""
    try:
        rows = []
        for replication in task.replications:
            result = run_replication(task.model, replication, task.seed, engine=task.engine)
            rows.append((replication, dict(result.metrics)))
        return TaskOutcome(task.task_id, tuple(rows))
    except Exception:
        return TaskOutcome(task.task_id, error=traceback.format_exc())


def task_id(model_hash: str, strategy: str, replications: Sequence[int], seed: int) -> str:
    """The identity of a task: a hash of the configured model's content hash, the strategy, the
    replication indices and the seed."""
    payload = json.dumps([model_hash, strategy, list(replications), seed])
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class TaskFailure:
    """A task (or a whole configuration) that failed, with enough to reproduce it.

    Attributes:
        config: the configuration's id; ``params``: its overrides.
        strategy: the strategy label (empty when the configuration itself is invalid).
        replications: the replication indices of the task (empty for an invalid configuration).
        error: the worker's traceback, or the one-line validation message.
        task_id: the task's id (empty for an invalid configuration).
    """

    config: str
    params: dict[str, Any]
    strategy: str
    replications: tuple[int, ...]
    error: str
    task_id: str = ""

    @property
    def reason(self) -> str:
        """The last line of the error (the exception and its message)."""
        lines = [line for line in self.error.strip().splitlines() if line.strip()]
        return lines[-1] if lines else "unknown error"

    def summary(self) -> str:
        """One line: where it failed and why."""
        params = ", ".join(f"{k}={show_value(v)}" for k, v in self.params.items())
        where = "config"
        if self.strategy:
            where = f"strategy {self.strategy}, replications {_span(self.replications)}"
        return f"failed: {where} at {params or 'the base model'}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for ``failures/<task>.json``)."""
        return {"task": self.task_id, "config": self.config, "params": self.params, "strategy": self.strategy,
                "replications": list(self.replications), "error": self.error}


def show_value(value: Any) -> str:
    """A parameter's value in one short line (floats to 6 significant digits)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _span(replications: tuple[int, ...]) -> str:
    if len(replications) == 1:
        return str(replications[0])
    return f"{replications[0]}-{replications[-1]}" if replications else "-"
