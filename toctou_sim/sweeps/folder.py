"""The results folder of a sweep: parts, failures, the manifest, the final tables, and the lock.

Every file is written to a temporary name and renamed, so a kill never leaves a half-written
one; ``resume`` reads the parts already there (:meth:`ResultsFolder.finished_tasks`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from toctou_sim.core.limits import csv_safe
from toctou_sim.spec.model import SpecError
from toctou_sim.sweeps.tasks import TaskFailure

__all__ = [
    "LOCK_NAME",
    "MANIFEST_FORMAT",
    "PART_COLUMNS",
    "ResultsFolder",
]


MANIFEST_FORMAT = 1
"""The version of ``manifest.json``'s layout."""
PART_COLUMNS = ("task", "config", "strategy", "replication", "seed", "metric", "value")
"""Columns of a part file: one row per replication and metric (tidy)."""


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through ``write(tmp)`` then rename: readers see the whole file or none."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_text(path: Path, text: str) -> None:
    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    _atomic_write(path, write)


LOCK_NAME = ".lock"
"""The lock file of a results folder (``flock``'d by the running sweep; holds its pid)."""
_HELD: dict[str, list[Any]] = {}
"""Results folders this process holds: path -> [open lock file, depth]."""


class ResultsFolder:
    """The on-disk layout of a sweep::

        DIR/manifest.json             what was run: model, hash, seed, version, design, runs
        DIR/parts/<hh>/<task>.parquet per-replication rows of one finished task
        DIR/failures/<task>.json      a failed task: configuration, strategy, traceback
        DIR/results.parquet           the tidy table (one row per configuration x strategy x metric)
        DIR/results.csv               the same, for spreadsheets

    ``<hh>`` is the first two hex digits of the task id (at most 256 files per folder per 65k
    tasks). Every file is written to a temporary name and renamed.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.parts = self.path / "parts"
        self.failures = self.path / "failures"
        self.manifest = self.path / "manifest.json"

    def part(self, task: str) -> Path:
        """Where the part file of ``task`` goes."""
        return self.parts / task[:2] / f"{task}.parquet"

    def finished_tasks(self) -> set[str]:
        """Ids of the tasks whose part file exists (leftover temporary files are removed)."""
        done: set[str] = set()
        if not self.parts.is_dir():
            return done
        for folder in self.parts.iterdir():
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                if entry.name.endswith(".tmp"):
                    os.unlink(entry.path)
                elif entry.name.endswith(".parquet"):
                    done.add(entry.name.removesuffix(".parquet"))
        return done

    def write_part(self, task: str, config: str, strategy: str, seed: int,
                   rows: Sequence[tuple[int, Mapping[str, float]]]) -> None:
        """Write the replications of one task (tidy rows)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        metrics = [name for _, values in rows for name in values]
        numbers = [float(v) for _, values in rows for v in values.values()]
        reps = [replication for replication, values in rows for _ in values]
        n = len(metrics)
        table = pa.table({
            "task": pa.array([task] * n, pa.string()),
            "config": pa.array([config] * n, pa.string()),
            "strategy": pa.array([strategy] * n, pa.string()),
            "replication": pa.array(reps, pa.int64()),
            "seed": pa.array([seed] * n, pa.int64()),
            "metric": pa.array(metrics, pa.string()),
            "value": pa.array(np.asarray(numbers, dtype=np.float64), pa.float64()),
        })
        path = self.part(task)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, lambda tmp: pq.write_table(table, tmp))

    def read_part(self, task: str) -> tuple[tuple[int, dict[str, float]], ...] | None:
        """The replications of a finished task, or ``None`` if its file cannot be read (it is then
        removed so the task runs again)."""
        import pyarrow.parquet as pq

        path = self.part(task)
        try:
            columns = pq.read_table(path, columns=["replication", "metric", "value"]).to_pydict()
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            return None
        by_rep: dict[int, dict[str, float]] = {}
        for replication, metric, value in zip(columns["replication"], columns["metric"], columns["value"],
                                              strict=True):
            by_rep.setdefault(int(replication), {})[str(metric)] = float(value)
        return tuple(by_rep.items())

    def read_parts(self) -> pd.DataFrame:
        """Every part, as one tidy frame (read as one Parquet dataset; temporary files, whose names
        start with a dot, are skipped)."""
        import pyarrow.dataset as ds

        if not any(self.parts.glob("*/*.parquet")):
            return pd.DataFrame(columns=list(PART_COLUMNS))
        table = ds.dataset(self.parts, format="parquet").to_table(columns=list(PART_COLUMNS))
        frame: pd.DataFrame = table.to_pandas()
        return frame

    def write_failure(self, failure: TaskFailure) -> None:
        """Record a failed task (replaced if it fails again, removed when it later succeeds)."""
        self.failures.mkdir(parents=True, exist_ok=True)
        name = failure.task_id or f"config-{failure.config}"
        _write_text(self.failures / f"{name}.json", json.dumps(failure.to_dict(), indent=1, default=str))

    def clear_failures(self) -> None:
        """Forget the failures of an earlier run (they are retried)."""
        if self.failures.is_dir():
            for path in self.failures.glob("*.json"):
                path.unlink()

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest, or ``None`` when the folder holds no sweep.

        Raises:
            SpecError: the manifest is not a sweep's JSON manifest.
        """
        if not self.manifest.is_file():
            return None
        try:
            data = json.loads(self.manifest.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError, OSError):
            data = None
        if not isinstance(data, dict):
            raise SpecError(f"out {self.path}: manifest.json is not a sweep manifest; use another folder")
        return data

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for this process: an exclusive ``flock`` on ``DIR/.lock`` (holding the
        pid), taken without waiting. Re-entrant within one process; released on exit, or by the
        kernel when the process dies.

        Raises:
            SpecError: another process holds the folder (its pid is in the message).
        """
        import fcntl

        key = str(self.path.resolve())
        if key in _HELD:
            _HELD[key][1] += 1
            try:
                yield
            finally:
                _HELD[key][1] -= 1
            return
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115 - held until exit
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip()[:20] or "unknown"
            handle.close()
            raise SpecError(f"out {self.path}: in use by another sweep (pid {holder}); wait for it to "
                            "finish, or choose another folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        _HELD[key] = [handle, 1]
        try:
            yield
        finally:
            _HELD[key][1] -= 1
            if _HELD[key][1] == 0:
                del _HELD[key]
                handle.close()  # releases the lock

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Write the manifest atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        _write_text(self.manifest, json.dumps(manifest, indent=1, default=str) + "\n")

    def write_results(self, table: pd.DataFrame) -> None:
        """Write the final tidy table as Parquet and CSV."""
        _atomic_write(self.path / "results.parquet", lambda tmp: table.to_parquet(tmp, index=False))
        _atomic_write(self.path / "results.csv", lambda tmp: csv_safe(table).to_csv(tmp, index=False))
