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

The package is split by role: :mod:`~toctou_sim.sweeps.design` (ranges, grids, Latin
hypercubes, configurations), :mod:`~toctou_sim.sweeps.tasks` (what a worker runs),
:mod:`~toctou_sim.sweeps.folder` (the results folder), :mod:`~toctou_sim.sweeps.result` (the
outcome), :mod:`~toctou_sim.sweeps.planning` (validation, budget, resume identity) and this module,
the driver: :func:`plan_sweep`, :class:`SweepPlan` and :func:`sweep`.
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, CancelledError, Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from toctou_sim.experiment.executors import SerialExecutor, capacity
from toctou_sim.experiment.montecarlo import (
    ComparisonResult,
    SimulationResult,
    StoppingRule,
    check_metric,
    unique_strategies,
)
from toctou_sim.experiment.settings import PRIMARY_METRIC, RunSettings
from toctou_sim.measure.metrics import ReplicationResult
from toctou_sim.spec.model import ModelSpec, SpecError, load_model
from toctou_sim.sweeps.design import Range, config_id, configure, make_design
from toctou_sim.sweeps.folder import ResultsFolder
from toctou_sim.sweeps.planning import check_budget_of, check_design, check_resume, manifest_identity
from toctou_sim.sweeps.result import SweepResult, parameter_frame
from toctou_sim.sweeps.tasks import SweepTask, TaskFailure, TaskOutcome, run_task, task_id

__all__ = ["SweepPlan", "plan_sweep", "sweep"]


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
            configured = configure(self.base, self.base_data, params)
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
        params = parameter_frame(configurations, self.parameters)
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
        more = " (more rounds if precision asks)" if self.rule.precision is not None else ""
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
                raise SpecError("resume: needs out, the folder of the interrupted sweep")
            return None, []
        folder = ResultsFolder(out)
        old = folder.read_manifest()
        if old is not None and not resume:
            raise SpecError(f"out {folder.path}: already holds a sweep; pass resume=True to finish it, or "
                            "choose another folder")
        if old is not None:
            check_resume(old, self.identity, folder.path)
            return folder, list(old.get("runs", []))
        if folder.path.exists() and (not folder.path.is_dir()
                                     or any(not p.name.startswith(".") for p in folder.path.iterdir())):
            raise SpecError(f"out {folder.path}: not an empty folder, and holds no sweep manifest")
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
    settings: RunSettings | None = None,
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

    Of ``settings``, a plan uses what defines the sweep's results (``reps``, ``seed``,
    ``precision``, ``max_reps``, ``metric``, ``max_ops``, ``max_memory``); where and how it runs
    (``executor``, ``progress``, ``engine``) are arguments of :meth:`SweepPlan.run`.

    Raises:
        SpecError: an unknown field path, a value no configuration accepts, an empty design, an
            unknown strategy or baseline, a bad ``reps``/``precision``/``batch``, or a sweep
            estimated past ``max_ops`` / ``max_memory``.
    """
    run = RunSettings.resolve(settings, plan_sweep, reps=reps, seed=seed, precision=precision, max_reps=max_reps,
                              metric=metric, max_ops=max_ops, max_memory=max_memory)
    run.refuse("a sweep", "estimator")
    seed, rule = run.seed, StoppingRule(run.reps, run.precision, run.max_reps, run.metric)
    base = model if isinstance(model, ModelSpec) else load_model(model)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SpecError(f"batch: must be an integer >= 1, got {batch!r}")
    names = unique_strategies(strategies) if strategies is not None else base.default_strategies()
    for name in names:
        base.with_strategy(name)
    base_label = baseline if baseline is not None else names[0]
    if base_label not in names:
        raise SpecError(f"baseline: {base_label!r} is not among the strategies {', '.join(names)}")
    grid = dict(grid or {})
    ranges = dict(ranges or {})
    design = make_design(grid, lhs, ranges, seed)
    base_data = base.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    check_design(base, base_data, design, grid, ranges)
    check_budget_of(base, base_data, design, grid, ranges, len(names) * rule.limit, run.max_ops, run.max_memory)
    check_metric([base.with_strategy(name) for name in names], rule.metric)
    ids = [config_id(base.content_hash(), params) for params in design]
    if len(set(ids)) != len(ids):
        raise SpecError("sweep: the design repeats a configuration; give each value once")
    identity = manifest_identity(base, design, ids, names, base_label, rule, seed, batch, grid, lhs, ranges)
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
    settings: RunSettings | None = None,
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
        settings: ``reps``, ``seed``, ``precision``, ``max_reps``, ``metric``, ``max_ops``,
            ``max_memory``, ``executor``, ``progress`` and ``engine`` in one validated
            :class:`~toctou_sim.experiment.settings.RunSettings` (its ``estimator`` must be
            ``plain``); give it or those keywords, not both.
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
    run = RunSettings.resolve(settings, sweep, reps=reps, seed=seed, precision=precision, max_reps=max_reps,
                              metric=metric, max_ops=max_ops, max_memory=max_memory, executor=executor,
                              progress=progress, engine=engine)
    plan = plan_sweep(model, grid=grid, lhs=lhs, ranges=ranges, strategies=strategies, baseline=baseline,
                      settings=run, batch=batch)
    return plan.run(run.executor, out=out, resume=resume, max_in_flight=max_in_flight, progress=run.progress,
                    on_failure=on_failure, notes=notes, engine=run.engine)


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sweep", unit="task", dynamic_ncols=True, mininterval=0.5, smoothing=0.1)
