"""Parameter sweeps: many configurations x strategies x replications, on any executor, resumable.

A sweep is a set of overrides of one model (``clients.arrival.poisson.rate = 2000``,
``read_path.ttl = "5s"``): a cartesian ``grid`` of values, a Latin hypercube of ``lhs`` points
over ``ranges`` (``scipy.stats.qmc``; a log-uniform range suits rates and timeouts that span
decades), or both crossed. Every configuration runs every strategy on common random numbers:
replication ``i`` of each strategy sees the same arrivals, keys and windows, so the paired
difference against the baseline strategy is precise with few replications.

The unit of work is a task: one or a few replications of one configuration and strategy,
identified by a hash of (the model's content after the overrides and with the strategy applied,
the strategy, the replication indices, the seed). The seed and the indices travel inside the
task, so a task computes the same numbers on any executor (a local process pool, a Dask
cluster, in process), and two different tasks never look identical to Dask.

With ``out``, each finished task is written at once as ``parts/<hh>/<task>.parquet`` (to a
temporary name, then renamed: a kill never leaves a half-written part), a ``manifest.json``
records the model, its hash, the seed, the package version, the design and the command line, and
the final tables go to ``results.parquet`` and ``results.csv``. ``resume=True`` reads the parts
already there and runs only the missing tasks; the result is byte-identical to an uninterrupted
run. The driver keeps at most ``max_in_flight`` tasks submitted and only the replications of the
configurations still running, so its memory does not grow with the number of tasks.

Estimates come from :mod:`toctou_sim.experiment.montecarlo` (``estimate`` through ``SimulationResult`` and
``ComparisonResult``): a sweep computes nothing a ``compare`` of the same configuration would not.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import platform
import sys
import tomllib
import traceback
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, CancelledError, Executor, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from toctou_sim.core.limits import MAX_CONFIGURATIONS, check_seed, csv_safe, is_number
from toctou_sim.experiment.executors import SerialExecutor, capacity
from toctou_sim.experiment.montecarlo import (
    PRIMARY_METRIC,
    ComparisonResult,
    SimulationResult,
    StoppingRule,
    check_metric,
    run_replication,
    unique_strategies,
)
from toctou_sim.measure.metrics import ReplicationResult
from toctou_sim.spec.model import ModelSpec, SpecError, load_model, parse_model

__all__ = [
    "Range",
    "ResultsFolder",
    "SweepPlan",
    "SweepResult",
    "SweepTask",
    "TaskFailure",
    "TaskOutcome",
    "cartesian",
    "latin_hypercube",
    "plan_sweep",
    "run_task",
    "sweep",
    "task_id",
]

MANIFEST_FORMAT = 1
PART_COLUMNS = ("task", "config", "strategy", "replication", "seed", "metric", "value")
"""Columns of a part file: one row per replication and metric (tidy)."""


# --------------------------------------------------------------------------------------------
# The design: which configurations to run.


@dataclass(frozen=True)
class Range:
    """An interval a Latin hypercube samples one parameter from.

    Attributes:
        low, high: the bounds (``low < high``); durations are in seconds.
        log: sample ``log(value)`` uniformly (log-uniform), for rates and times spanning decades;
            needs ``low > 0``.
        integer: round each sample to the nearest integer (for counts such as ``keys.count``).
    """

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low >= self.high:
            raise SpecError(f"range {self.low:g}:{self.high:g}: expected low < high")
        if self.log and self.low <= 0:
            raise SpecError(f"range {self.low:g}:{self.high:g}:log: a log-uniform range needs low > 0")

    @classmethod
    def parse(cls, text: str) -> Range:
        """``LOW:HIGH`` with optional ``:log`` and ``:int`` flags; bounds are numbers or durations
        (``100:10000:log``, ``1s:30s``, ``10:5000:log:int``)."""
        from toctou_sim.core.units import parse_duration

        low_text, _, rest = text.partition(":")
        high_text, _, flags_text = rest.partition(":")
        flags = [f.strip() for f in flags_text.split(":") if f.strip()]
        unknown = [f for f in flags if f not in ("log", "int")]
        if not low_text.strip() or not high_text.strip() or unknown:
            raise SpecError(f"range {text}: expected LOW:HIGH[:log][:int], e.g. 100:10000:log")
        bounds = []
        for bound in (low_text.strip(), high_text.strip()):
            try:
                bounds.append(float(bound) if is_number(bound) else parse_duration(bound))
            except (ValueError, TypeError):
                raise SpecError(f"range {text}: {bound!r} is not a number or a duration") from None
        return cls(bounds[0], bounds[1], log="log" in flags, integer="int" in flags)

    def scale(self, unit: np.ndarray[Any, Any]) -> list[float] | list[int]:
        """Map points of [0, 1) onto the range."""
        if self.log:
            values = np.exp(np.log(self.low) + unit * (np.log(self.high) - np.log(self.low)))
        else:
            values = self.low + unit * (self.high - self.low)
        values = np.clip(values, self.low, self.high)
        if self.integer:
            return [int(v) for v in np.rint(values)]
        return [float(v) for v in values]

    def describe(self) -> dict[str, Any]:
        """The range as plain data (for the manifest)."""
        return {"low": self.low, "high": self.high, "log": self.log, "integer": self.integer}


def _value(raw: Any) -> Any:
    """A grid value: strings are read as TOML values where they parse (``500``, ``true``,
    ``{ exponential = { mean = "40ms" } }``), as model-file overrides are; otherwise kept."""
    if not isinstance(raw, str):
        return raw
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def cartesian(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the last parameter varying fastest."""
    paths = list(grid)
    for path in paths:
        if not list(grid[path]):
            raise SpecError(f"--grid {path}: give at least one value")
    values = [[_value(v) for v in grid[path]] for path in paths]
    return [dict(zip(paths, combo, strict=True)) for combo in product(*values)]


def latin_hypercube(ranges: Mapping[str, Range], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` points of a Latin hypercube over ``ranges``: each range is cut into ``n`` equal
    strata (equal in log space for a log range) and each stratum is sampled exactly once, so a
    few hundred points cover every parameter's whole range. The points are a pure function of
    ``seed`` (their own named stream, ``sweep.lhs``)."""
    from scipy.stats import qmc

    if n < 1:
        raise SpecError(f"--lhs: must be >= 1, got {n}")
    if not ranges:
        raise SpecError("--lhs: give the parameters to sample with --range PATH=LOW:HIGH")
    sequence = np.random.SeedSequence(seed, spawn_key=(zlib.crc32(b"sweep.lhs"),))
    sampler = qmc.LatinHypercube(d=len(ranges), rng=np.random.Generator(np.random.PCG64(sequence)))
    unit = sampler.random(n)
    columns = {path: r.scale(unit[:, j]) for j, (path, r) in enumerate(ranges.items())}
    return [{path: columns[path][i] for path in ranges} for i in range(n)]


def _design(
    grid: Mapping[str, Sequence[Any]] | None, lhs: int | None, ranges: Mapping[str, Range] | None, seed: int
) -> list[dict[str, Any]]:
    grid = dict(grid or {})
    ranges = dict(ranges or {})
    if ranges and lhs is None:
        raise SpecError("--range: give --lhs N, the number of Latin hypercube points")
    if lhs is not None and not ranges:
        raise SpecError("--lhs: give the parameters to sample with --range PATH=LOW:HIGH")
    both = sorted(set(grid) & set(ranges))
    if both:
        raise SpecError(f"--grid and --range: {both[0]} is given twice")
    if not grid and lhs is None:
        raise SpecError("sweep: the grid is empty; give --grid PATH=V1,V2 or --lhs N --range PATH=LOW:HIGH")
    size = math.prod(len(values) for values in grid.values()) * (lhs if lhs is not None and lhs > 0 else 1)
    if size > MAX_CONFIGURATIONS:
        raise SpecError(f"sweep: {size:.3g} configurations; at most {MAX_CONFIGURATIONS} in one sweep "
                        "(split it, or sample fewer points with lhs)")
    points = cartesian(grid) if grid else [{}]
    if lhs is None:
        return points
    samples = latin_hypercube(ranges, lhs, seed)
    return [{**point, **sample} for point in points for sample in samples]


# --------------------------------------------------------------------------------------------
# Tasks: what travels to a worker and back.


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
        params = ", ".join(f"{k}={_show(v)}" for k, v in self.params.items())
        where = "config"
        if self.strategy:
            where = f"strategy {self.strategy}, replications {_span(self.replications)}"
        return f"failed: {where} at {params or 'the base model'}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for ``failures/<task>.json``)."""
        return {"task": self.task_id, "config": self.config, "params": self.params, "strategy": self.strategy,
                "replications": list(self.replications), "error": self.error}


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _span(replications: tuple[int, ...]) -> str:
    if len(replications) == 1:
        return str(replications[0])
    return f"{replications[0]}-{replications[-1]}" if replications else "-"


# --------------------------------------------------------------------------------------------
# The results folder.


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


# --------------------------------------------------------------------------------------------
# The result.


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
        params = _parameter_frame(self.configurations, self.parameters)
        return params.merge(rows, on="config", how="right").reset_index(drop=True)


def _parameter_frame(configurations: list[dict[str, Any]], parameters: list[str]) -> pd.DataFrame:
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


# --------------------------------------------------------------------------------------------
# Running.


@dataclass
class _Config:
    """A configuration being run: its models and the replications received so far."""

    index: int
    config_id: str
    params: dict[str, Any]
    models: dict[str, ModelSpec]
    hashes: dict[str, str]
    target: int
    outstanding: int = 0
    results: dict[str, dict[int, ReplicationResult]] = field(default_factory=dict)
    failed: bool = False


@dataclass(frozen=True)
class _Pending:
    config: _Config
    strategy: str
    task: SweepTask


class _Run:
    """The driver loop: a bounded window of tasks in flight, results streamed to disk."""

    def __init__(self, base: ModelSpec, design: list[dict[str, Any]], parameters: list[str],
                 strategies: list[str], baseline: str, rule: StoppingRule, seed: int, batch: int,
                 executor: Executor, window: int, folder: ResultsFolder | None,
                 finished: set[str], on_failure: Callable[[TaskFailure], None] | None, bar: Any,
                 engine: str = "auto") -> None:
        self.engine = engine
        self.base = base
        self.base_data = base.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        self.base_hash = base.content_hash()
        self.design = design
        self.parameters = parameters
        self.strategies = strategies
        self.baseline = baseline
        self.rule = rule
        self.seed = seed
        self.batch = batch
        self.executor = executor
        self.window = window
        self.folder = folder
        self.finished = finished
        self.on_failure = on_failure
        self.bar = bar
        self.frames: list[pd.DataFrame] = []
        self.replication_rows: list[tuple[str, str, int, int, str, float]] = []
        self.failures: list[TaskFailure] = []
        self.extra: deque[_Pending] = deque()
        self.in_flight: dict[Future[TaskOutcome], _Pending] = {}
        self.tasks_run = 0
        self.replications_run = 0
        self.tasks_resumed = 0
        self.tasks_total = 0
        self.not_run = 0
        self.broken: str | None = None
        self.configs_planned = 0
        self.initial_tasks = math.ceil(rule.reps / batch)

    # -- planning ----------------------------------------------------------------------------

    def config_ids(self) -> list[str]:
        return [config_id(self.base_hash, params) for params in self.design]

    def _build(self, index: int, params: dict[str, Any]) -> _Config | TaskFailure:
        cid = config_id(self.base_hash, params)
        try:
            configured = _configure(self.base, self.base_data, params)
            models = {name: configured.with_strategy(name) for name in self.strategies}
        except SpecError as exc:
            return TaskFailure(cid, params, "", (), str(exc))
        hashes = {name: m.content_hash() for name, m in models.items()}
        return _Config(index, cid, params, models, hashes, target=self.rule.reps,
                       results={name: {} for name in self.strategies})

    def _tasks(self, config: _Config, start: int, stop: int) -> list[_Pending]:
        pending = []
        for first in range(start, stop, self.batch):
            reps = tuple(range(first, min(first + self.batch, stop)))
            for name in self.strategies:
                tid = task_id(config.hashes[name], name, reps, self.seed)
                task = SweepTask(tid, config.models[name], reps, self.seed, self.engine)
                pending.append(_Pending(config, name, task))
        config.outstanding += len(pending)
        self.tasks_total += len(pending)
        return pending

    def _plan(self) -> Iterator[_Pending]:
        """Tasks in design order, built one configuration at a time (memory stays flat)."""
        for index, params in enumerate(self.design):
            self.configs_planned += 1
            config = self._build(index, params)
            if isinstance(config, TaskFailure):
                self._fail(config)
                if self.bar is not None:
                    self.bar.update(len(self.strategies) * self.initial_tasks)
                continue
            yield from self._tasks(config, 0, config.target)

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        plan = self._plan()
        exhausted = False
        try:
            while True:
                while not self.broken and len(self.in_flight) < self.window:
                    pending = self.extra.popleft() if self.extra else None
                    if pending is None and not exhausted:
                        pending = next(plan, None)
                        exhausted = pending is None
                    if pending is None:
                        break
                    self._start(pending)
                if not self.in_flight:
                    if self.broken or (exhausted and not self.extra):
                        break
                    continue
                done, _ = wait(list(self.in_flight), timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    self._receive(self.in_flight.pop(future), future)
        except BaseException:
            for future in self.in_flight:
                future.cancel()
            raise
        if self.broken:
            # Tasks planned but never finished, plus the first round of every configuration not
            # yet planned (their precision rounds, if any, are unknown until they run).
            failed = sum(1 for f in self.failures if f.task_id)
            unplanned = (len(self.design) - self.configs_planned) * len(self.strategies) * self.initial_tasks
            self.not_run = self.tasks_total - self.tasks_run - self.tasks_resumed - failed + unplanned

    def _start(self, pending: _Pending) -> None:
        task = pending.task
        if task.task_id in self.finished and self.folder is not None:
            rows = self.folder.read_part(task.task_id)
            if rows is not None:
                self.tasks_resumed += 1
                self._complete(pending, rows)
                return
        try:
            future = self.executor.submit(run_task, task)
        except Exception as exc:  # a broken pool, a closed Dask client: stop submitting, keep what is done
            self.broken = f"the executor refused a task: {type(exc).__name__}: {exc}"
            return
        self.in_flight[future] = pending

    def _receive(self, pending: _Pending, future: Future[TaskOutcome]) -> None:
        try:
            outcome = future.result(timeout=0)
        except (Exception, CancelledError) as exc:
            if isinstance(exc, BrokenExecutor):
                self.broken = f"the executor broke: {exc}"
            error = "".join(traceback.format_exception(exc))
            outcome = TaskOutcome(pending.task.task_id, error=error)
        if outcome.error is not None:
            config = pending.config
            task = pending.task
            failure = TaskFailure(config.config_id, config.params, pending.strategy, task.replications,
                                  outcome.error, task.task_id)
            self._fail(failure)
            config.failed = True
            self._done_one(config)
            return
        if self.folder is not None:
            self.folder.write_part(pending.task.task_id, pending.config.config_id, pending.strategy,
                                   self.seed, outcome.rows)
        self.tasks_run += 1
        self.replications_run += len(outcome.rows)
        self._complete(pending, outcome.rows)

    def _fail(self, failure: TaskFailure) -> None:
        self.failures.append(failure)
        if self.folder is not None:
            self.folder.write_failure(failure)
        if self.on_failure is not None:
            self.on_failure(failure)
        if self.bar is not None and failure.task_id:
            self.bar.update(1)

    def _complete(self, pending: _Pending, rows: Sequence[tuple[int, dict[str, float]]]) -> None:
        config = pending.config
        store = config.results[pending.strategy]
        for replication, metrics in rows:
            store[replication] = ReplicationResult(replication, self.seed, pending.strategy, metrics, {})
        if self.folder is None:
            self.replication_rows.extend(
                (config.config_id, pending.strategy, replication, self.seed, name, value)
                for replication, metrics in rows for name, value in metrics.items()
            )
        if self.bar is not None:
            self.bar.update(1)
        self._done_one(config)

    def _done_one(self, config: _Config) -> None:
        config.outstanding -= 1
        if config.outstanding:
            return
        if config.failed:
            return
        done = {name: [reps[i] for i in sorted(reps)] for name, reps in config.results.items()}
        target, stopped_by = self.rule.next_target(config.target, done)
        if target is not None:
            more = self._tasks(config, config.target, target)
            config.target = target
            self.extra.extend(more)
            if self.bar is not None:
                self.bar.total += len(more)
                self.bar.refresh()
            return
        self.frames.append(self._summarise(config, done, stopped_by))

    def _summarise(self, config: _Config, done: dict[str, list[ReplicationResult]],
                   stopped_by: str) -> pd.DataFrame:
        """The configuration's estimates, from montecarlo's own result objects."""
        from toctou_sim.engines.fastpath import resolve_engine

        engines = {name: resolve_engine(config.models[name], self.engine) for name in self.strategies}
        results = {
            name: SimulationResult(model=config.models[name], strategy=name, seed=self.seed,
                                   replications=done[name], stopped_by=stopped_by, engine=engines[name][0],
                                   engine_reason=engines[name][1])
            for name in self.strategies
        }
        comparison = ComparisonResult(model=config.models[self.baseline], baseline=self.baseline,
                                      results=results, seed=self.seed)
        frame = comparison.to_frame()
        frame["stopped_by"] = stopped_by
        frame.insert(0, "config", config.config_id)
        frame.insert(0, "_config_index", config.index)
        return frame

    def table(self) -> pd.DataFrame:
        """Every configuration's estimates with its parameters, in design order."""
        configurations = [{"config": cid, "params": p}
                          for cid, p in zip(self.config_ids(), self.design, strict=True)]
        params = _parameter_frame(configurations, self.parameters)
        if not self.frames:
            return params.iloc[0:0]
        frame = pd.concat(self.frames, ignore_index=True)
        rank = {s: i for i, s in enumerate(self.strategies)}
        frame["_strategy_index"] = frame["strategy"].map(rank)
        frame["_row"] = np.arange(len(frame))
        # Within a configuration and strategy, rows keep montecarlo's metric order; configurations
        # finish in any order, so sort by design position first.
        frame = frame.sort_values(["_config_index", "_strategy_index", "_row"], kind="stable")
        frame = frame.drop(columns=["_config_index", "_strategy_index", "_row"])
        return params.merge(frame, on="config", how="right").reset_index(drop=True)


def config_id(base_hash: str, params: Mapping[str, Any]) -> str:
    """The id of a configuration: a hash of the base model's hash and its overrides."""
    payload = json.dumps({"model": base_hash, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _configure(base: ModelSpec, base_data: dict[str, Any], params: Mapping[str, Any]) -> ModelSpec:
    """The base model with a configuration's overrides applied and validated."""
    base_dir = Path(base.source).parent if base.source else Path(".")
    return parse_model(base_data, source=base.source or "<model>", base_dir=base_dir, overrides=dict(params),
                       text=base.text, data_dirs=base.data_dirs)


CHECK_TRIES = 50
"""Configurations tried, at most, before a value that is invalid on the base model is reported."""


def _check_design(base: ModelSpec, base_data: dict[str, Any], design: list[dict[str, Any]],
                  grid: Mapping[str, Sequence[Any]], ranges: Mapping[str, Range]) -> None:
    """Validate every value of every axis before running anything, so an unknown path or a value of
    the wrong type is one line at once rather than a failure per task.

    A value is first tried alone on the base model; if that fails, it is tried within the
    design's configurations that contain it (a warmup of 2s is invalid with the base horizon of
    1s but fine with a swept horizon of 3s). Only a value no configuration accepts is an error;
    an invalid combination of valid values is reported at run time as a failed configuration.
    """
    checks: list[tuple[str, str, Any]] = [
        ("--grid", path, _value(v)) for path, values in grid.items() for v in values
    ]
    for path, r in ranges.items():
        for bound in (r.low, r.high):
            checks.append(("--range", path, round(bound) if r.integer else bound))
    for option, path, value in checks:
        try:
            _configure(base, base_data, {path: value})
            continue
        except SpecError as exc:
            first_error = exc
        if option == "--grid":
            candidates = (c for c in design if c.get(path) == value)
        else:
            candidates = ({**c, path: value} for c in design)
        if not any(_valid(base, base_data, c) for _, c in zip(range(CHECK_TRIES), candidates, strict=False)):
            raise SpecError(f"{option} {path}={_show(value)}: {first_error}") from None


def _check_budget(base: ModelSpec, base_data: dict[str, Any], design: list[dict[str, Any]],
                  grid: Mapping[str, Sequence[Any]], ranges: Mapping[str, Range], replications: int,
                  max_ops: float | None, max_memory: float | None) -> None:
    """Refuse a sweep estimated past the budget, before any task runs.

    Each axis contributes the largest factor any of its values (or range bounds) multiplies the
    base model's operations and memory by, and the design's size multiplies the whole: an upper
    bound that costs one validation per value, not one per configuration.
    """
    from toctou_sim.core.limits import RunEstimate, check_budget, check_limit, estimate_run

    check_limit(max_ops, "max_ops")
    check_limit(max_memory, "max_memory")
    one = estimate_run(base, 1.0)
    ops_factor = 1.0
    memory = one.memory
    axes: list[tuple[str, list[Any]]] = [(p, [_value(v) for v in values]) for p, values in grid.items()]
    axes += [(p, [round(r.low) if r.integer else r.low, round(r.high) if r.integer else r.high])
             for p, r in ranges.items()]
    for path, values in axes:
        largest = 1.0
        for value in values:
            try:
                configured = _configure(base, base_data, {path: value})
            except SpecError:
                continue  # only valid with other axes: counted at run time
            estimate = estimate_run(configured, 1.0)
            largest = max(largest, estimate.operations / one.operations if one.operations > 0 else 1.0)
            memory = max(memory, estimate.memory)
        ops_factor *= largest
    total = RunEstimate(one.operations * ops_factor * replications * len(design),
                        one.events * ops_factor * replications * len(design),
                        memory + 2000.0 * len(design), replications * len(design))
    check_budget(total, max_ops, max_memory)


def _valid(base: ModelSpec, base_data: dict[str, Any], params: Mapping[str, Any]) -> bool:
    try:
        _configure(base, base_data, params)
    except SpecError:
        return False
    return True


def _manifest_identity(base: ModelSpec, design: list[dict[str, Any]], ids: list[str], strategies: list[str],
                       baseline: str, rule: StoppingRule, seed: int, batch: int,
                       grid: Mapping[str, Sequence[Any]], lhs: int | None,
                       ranges: Mapping[str, Range]) -> dict[str, Any]:
    from toctou_sim.version import __version__

    return {
        "format": MANIFEST_FORMAT,
        "toctou_sim_version": __version__,
        "model": {"name": base.model.name, "source": base.source, "hash": base.content_hash(),
                  "content": base.model_dump(mode="json", by_alias=True)},
        "seed": seed,
        "strategies": strategies,
        "baseline": baseline,
        "reps": rule.reps,
        "precision": rule.precision,
        "max_reps": rule.max_reps,
        "metric": rule.metric,
        "batch": batch,
        "grid": {p: [_value(v) for v in values] for p, values in grid.items()},
        "lhs": None if lhs is None else {"n": lhs, "ranges": {p: r.describe() for p, r in ranges.items()}},
        "configurations": [{"config": cid, "params": p} for cid, p in zip(ids, design, strict=True)],
    }


_RESUME_KEYS = ("toctou_sim_version", "model", "seed", "strategies", "baseline", "reps", "precision",
                "max_reps", "metric", "batch", "configurations")


def _identity_value(manifest: Mapping[str, Any], key: str) -> str:
    value = manifest.get(key)
    if key == "model" and isinstance(value, Mapping):
        value = value.get("hash")  # the content, wherever the file now lives
    return json.dumps(value, sort_keys=True, default=str)


def _check_resume(old: Mapping[str, Any], new: Mapping[str, Any], folder: Path) -> None:
    for key in _RESUME_KEYS:
        if _identity_value(old, key) != _identity_value(new, key):
            what = "hash" if key == "model" else "value"
            was, now = _brief(old.get(key), key), _brief(new.get(key), key)
            raise SpecError(f"--resume: {folder} holds a different sweep (its {key} {what} was {was}, now "
                            f"{now}); use another --out")


def _brief(value: Any, key: str) -> str:
    if key == "model" and isinstance(value, Mapping):
        return str(value.get("hash"))
    if key == "configurations" and isinstance(value, list):
        return f"{len(value)} configurations"
    return json.dumps(value, default=str)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep, ready to run on any executor: the base model, the configurations in
    design order, the strategies and the stopping rule. Made by :func:`plan_sweep`; nothing has run
    and no process or cluster has been started yet, so bad input costs nothing."""

    base: ModelSpec
    design: list[dict[str, Any]]
    config_ids: list[str]
    parameters: list[str]
    strategies: list[str]
    baseline: str
    rule: StoppingRule
    seed: int
    batch: int
    identity: dict[str, Any]

    @property
    def first_round_tasks(self) -> int:
        """Tasks before any ``precision`` round: configurations x strategies x batches of ``reps``."""
        return len(self.design) * len(self.strategies) * math.ceil(self.rule.reps / self.batch)

    def describe(self) -> str:
        """One line: how much work this is."""
        more = " (more with --precision)" if self.rule.precision is not None else ""
        return (f"{len(self.design)} configurations x {len(self.strategies)} strategies x {self.rule.reps} "
                f"replications = {self.first_round_tasks} tasks{more}")

    def engines(self, engine: str = "auto") -> dict[str, tuple[str, str]]:
        """The engine each strategy of the base model runs on, and why (a configuration that
        changes the read path or the strategy may resolve differently; the numbers do not)."""
        from toctou_sim.engines.fastpath import resolve_engine

        return {name: resolve_engine(self.base.with_strategy(name), engine) for name in self.strategies}

    def open_folder(self, out: str | Path | None,
                    resume: bool) -> tuple[ResultsFolder | None, list[dict[str, Any]]]:
        """Check that ``out`` can take this sweep: a new or empty folder, or, with ``resume``, a
        folder holding this very sweep. Returns the folder and the earlier runs' records.

        Raises:
            SpecError: the folder holds another sweep, or files that are not a sweep's.
        """
        if out is None:
            if resume:
                raise SpecError("--resume: needs --out, the folder of the interrupted sweep")
            return None, []
        folder = ResultsFolder(out)
        old = folder.read_manifest()
        if old is not None and not resume:
            raise SpecError(f"--out {folder.path}: already holds a sweep; add --resume to finish it, or "
                            "choose another folder")
        if old is not None:
            _check_resume(old, self.identity, folder.path)
            return folder, list(old.get("runs", []))
        if folder.path.exists() and (not folder.path.is_dir()
                                     or any(not p.name.startswith(".") for p in folder.path.iterdir())):
            raise SpecError(f"--out {folder.path}: not an empty folder, and holds no sweep manifest")
        return folder, []

    def run(
        self,
        executor: Executor | None = None,
        *,
        out: str | Path | None = None,
        resume: bool = False,
        max_in_flight: int | None = None,
        progress: bool = False,
        on_failure: Callable[[TaskFailure], None] | None = None,
        notes: Mapping[str, Any] | None = None,
        engine: str = "auto",
    ) -> SweepResult:
        """Run the plan (see :func:`sweep` for the arguments)."""
        if any(name == "fast" for name, _ in self.engines(engine).values()):
            from toctou_sim.engines.kernel_driver import warm_up

            warm_up()  # load the compiled kernel once, before worker processes are forked
        if out is not None:
            with ResultsFolder(out).lock():
                return self._run(executor, out=out, resume=resume, max_in_flight=max_in_flight,
                                 progress=progress, on_failure=on_failure, notes=notes, engine=engine)
        return self._run(executor, out=out, resume=resume, max_in_flight=max_in_flight, progress=progress,
                         on_failure=on_failure, notes=notes, engine=engine)

    def _run(
        self,
        executor: Executor | None,
        *,
        out: str | Path | None,
        resume: bool,
        max_in_flight: int | None,
        progress: bool,
        on_failure: Callable[[TaskFailure], None] | None,
        notes: Mapping[str, Any] | None,
        engine: str,
    ) -> SweepResult:
        folder, runs = self.open_folder(out, resume)
        finished: set[str] = set()
        if folder is not None and runs:
            finished = folder.finished_tasks()
            folder.clear_failures()
        executor_name = type(executor).__name__ if executor is not None else "in process"
        record: dict[str, Any] = {"started": _now(), "status": "running", "command": None,
                                  "executor": executor_name, "python": platform.python_version(),
                                  "numpy": np.__version__, "platform": sys.platform, **dict(notes or {})}
        runs.append(record)
        if folder is not None:
            folder.write_manifest({**self.identity, "runs": runs})

        run_on = executor if executor is not None else SerialExecutor()
        window = max_in_flight if max_in_flight is not None else max(8, 4 * capacity(run_on))
        if window < 1:
            raise SpecError(f"max_in_flight: must be >= 1, got {window}")
        bar = _progress_bar(self.first_round_tasks, progress)
        driver = _Run(self.base, self.design, self.parameters, self.strategies, self.baseline, self.rule,
                      self.seed, self.batch, run_on, window, folder, finished, on_failure, bar, engine)
        try:
            driver.run()
        except BaseException:
            record.update(status="interrupted", finished=_now(), tasks_run=driver.tasks_run,
                          tasks_resumed=driver.tasks_resumed)
            if folder is not None:
                folder.write_manifest({**self.identity, "runs": runs})
            raise
        finally:
            if bar is not None:
                bar.close()
        table = driver.table()
        status = "complete" if not driver.failures and not driver.broken else "incomplete"
        record.update(status=status, finished=_now(), tasks_total=driver.tasks_total,
                      tasks_run=driver.tasks_run, tasks_resumed=driver.tasks_resumed,
                      tasks_failed=len(driver.failures), not_run=driver.not_run)
        if driver.broken:
            record["error"] = driver.broken
        if folder is not None:
            folder.write_results(table)
            folder.write_manifest({**self.identity, "runs": runs})
        return SweepResult(
            table=table, parameters=self.parameters, strategies=self.strategies, baseline=self.baseline,
            seed=self.seed, configurations=self.identity["configurations"], failures=driver.failures,
            tasks_total=driver.tasks_total, tasks_run=driver.tasks_run, tasks_resumed=driver.tasks_resumed,
            replications_run=driver.replications_run, not_run=driver.not_run,
            out=folder.path if folder is not None else None, _replications=driver.replication_rows,
        )


def plan_sweep(
    model: ModelSpec | str | Path,
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    lhs: int | None = None,
    ranges: Mapping[str, Range] | None = None,
    strategies: Sequence[str] | None = None,
    baseline: str | None = None,
    reps: int = 10,
    seed: int = 0,
    precision: float | None = None,
    max_reps: int | None = None,
    metric: str = PRIMARY_METRIC,
    batch: int = 1,
    max_ops: float | None = None,
    max_memory: float | None = None,
) -> SweepPlan:
    """Validate a sweep without running it (see :func:`sweep` for the arguments).

    Raises:
        SpecError: an unknown field path, a value no configuration accepts, an empty design, an
            unknown strategy or baseline, a bad ``reps``/``precision``/``batch``, or a sweep
            estimated past ``max_ops`` / ``max_memory``.
    """
    base = model if isinstance(model, ModelSpec) else load_model(model)
    check_seed(seed)
    rule = StoppingRule(reps, precision, max_reps, metric)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SpecError(f"batch: must be an integer >= 1, got {batch!r}")
    names = unique_strategies(strategies) if strategies is not None else base.default_strategies()
    for name in names:
        base.with_strategy(name)
    base_label = baseline if baseline is not None else names[0]
    if base_label not in names:
        raise SpecError(f"--baseline: {base_label!r} is not among the strategies {', '.join(names)}")
    grid = dict(grid or {})
    ranges = dict(ranges or {})
    design = _design(grid, lhs, ranges, seed)
    base_data = base.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    _check_design(base, base_data, design, grid, ranges)
    _check_budget(base, base_data, design, grid, ranges, len(names) * rule.limit, max_ops, max_memory)
    check_metric([base.with_strategy(name) for name in names], metric)
    ids = [config_id(base.content_hash(), params) for params in design]
    if len(set(ids)) != len(ids):
        raise SpecError("sweep: the design repeats a configuration; give each value once")
    identity = _manifest_identity(base, design, ids, names, base_label, rule, seed, batch, grid, lhs, ranges)
    return SweepPlan(base=base, design=design, config_ids=ids, parameters=[*grid, *ranges], strategies=names,
                     baseline=base_label, rule=rule, seed=seed, batch=batch, identity=identity)


def sweep(
    model: ModelSpec | str | Path,
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    lhs: int | None = None,
    ranges: Mapping[str, Range] | None = None,
    strategies: Sequence[str] | None = None,
    baseline: str | None = None,
    reps: int = 10,
    seed: int = 0,
    precision: float | None = None,
    max_reps: int | None = None,
    metric: str = PRIMARY_METRIC,
    batch: int = 1,
    max_ops: float | None = None,
    max_memory: float | None = None,
    executor: Executor | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    max_in_flight: int | None = None,
    progress: bool = False,
    on_failure: Callable[[TaskFailure], None] | None = None,
    notes: Mapping[str, Any] | None = None,
    engine: str = "auto",
) -> SweepResult:
    """Run every configuration of a design with every strategy, and estimate every metric.

    ``sweep(...)`` is ``plan_sweep(...).run(...)``: the first group of arguments defines the sweep
    (and its results), the second says where and how it runs (and never changes a number).

    Args:
        model: a validated model (overrides from ``--set`` already applied) or a model file path.
        grid: values per field path (``{"clients.arrival.poisson.rate": [500, 1000]}``); every
            combination is a configuration. Strings are read as TOML values (``"5s"``, ``"500"``).
        lhs: the number of Latin hypercube points over ``ranges`` (crossed with the grid, if any).
        ranges: the :class:`Range` of each field sampled by ``lhs``.
        strategies: strategy names (default: the model's own); the first is the ``baseline``
            unless one is named.
        reps: replications per configuration and strategy (the minimum with ``precision``).
        seed: the sweep's seed (also the seed of the Latin hypercube).
        precision, max_reps, metric: keep adding replications to a configuration until
            ``metric`` has a relative 95% half-width of at most ``precision`` for every strategy,
            or ``max_reps`` is reached, exactly as in :func:`toctou_sim.compare`.
        batch: replications per task (raise it when replications take milliseconds, so that the
            executor's per-task overhead does not dominate).
        max_ops, max_memory: the sweep's budget (see :func:`toctou_sim.core.limits.check_budget`),
            checked against an upper-bound estimate before anything runs.
        executor: any ``concurrent.futures.Executor`` (a ``ProcessPoolExecutor``,
            ``distributed.Client(...).get_executor()``); ``None`` runs in this process.
        out: a folder to stream results into (see :class:`ResultsFolder`); without it the
            per-replication rows are kept in memory.
        resume: ``out`` holds an interrupted run of the same sweep: run only the missing tasks.
        max_in_flight: tasks submitted but not finished, at most (default: 4 per worker, >= 8);
            this, not the number of tasks, bounds the driver's memory.
        progress: show a progress bar (``tqdm.auto``: a widget in notebooks).
        on_failure: called with each :class:`TaskFailure` as it happens (the sweep goes on).
        notes: extra entries for the manifest's record of this run (e.g. the command line).
        engine: ``auto`` (the fast engine wherever a configuration qualifies), ``des`` or ``fast``;
            the engines give the same numbers, so this never changes a result.

    Returns:
        A :class:`SweepResult`; configurations with a failed task have no rows in its table and are
        listed in ``failures``.

    Raises:
        SpecError: bad input (see :func:`plan_sweep`), or a results folder holding another sweep.
    """
    plan = plan_sweep(model, grid=grid, lhs=lhs, ranges=ranges, strategies=strategies,
                      baseline=baseline, reps=reps, seed=seed, precision=precision, max_reps=max_reps,
                      metric=metric, batch=batch, max_ops=max_ops, max_memory=max_memory)
    return plan.run(executor, out=out, resume=resume, max_in_flight=max_in_flight, progress=progress,
                    on_failure=on_failure, notes=notes, engine=engine)


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sweep", unit="task", dynamic_ncols=True, mininterval=0.5, smoothing=0.1)
