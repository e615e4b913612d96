"""Sweeps: designs, identical results on every executor, resume after SIGKILL, failures, bad input.

The contract under test: a sweep's final table is a pure function of (model, design, strategies,
replications, seed). Whether the tasks ran in process, on two local processes, on a Dask cluster,
in batches, or half before a SIGKILL and half after ``--resume``, the sorted table must be the same
bytes; and each configuration's rows must be exactly what ``compare`` gives for that configuration.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from unwritten import preamble

import toctou_sim
from toctou_sim.cli.main import main
from toctou_sim.spec.model import STRATEGY_SPECS, SpecError, StrategySpec
from toctou_sim.sweeps.design import Range, latin_hypercube
from toctou_sim.sweeps.folder import ResultsFolder
from toctou_sim.sweeps.tasks import SweepTask, TaskFailure, run_task, task_id

REPO = Path(__file__).resolve().parents[2]

TINY = """
[model]
name = "tiny"
horizon = "1s"

[keys]
count = 20
invariant = "counter"
initial = 3

[store]
read_latency = { exponential = { mean = "1ms" } }
write_latency = { exponential = { mean = "2ms" } }

[clients]
arrival = { poisson = { rate = 150 } }
window = { exponential = { mean = "20ms" } }

[[mutators]]
action = "restock"
rate = 10

[strategies.cas]
kind = "cas"
"""

GRID = {"clients.arrival.poisson.rate": [100, 200], "keys.count": [5, 20]}
STRATEGIES = ["none", "cas"]
REPS = 4
SEED = 11


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


@pytest.fixture
def model(model_file: Path) -> toctou_sim.ModelSpec:
    return toctou_sim.load_model(model_file)


def run_sweep(model: toctou_sim.ModelSpec, out: Path, **kwargs: Any) -> toctou_sim.SweepResult:
    options: dict[str, Any] = {"grid": GRID, "strategies": STRATEGIES, "reps": REPS, "seed": SEED}
    options.update(kwargs)
    return toctou_sim.sweep(model, out=out, **options)


def results_bytes(out: Path) -> tuple[bytes, bytes]:
    return (out / "results.csv").read_bytes(), (out / "results.parquet").read_bytes()


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """Two single-threaded in-process Dask workers (no sockets: the inproc transport)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        processes=False, n_workers=2, threads_per_worker=1, dashboard_address="127.0.0.1:0"
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close(timeout=30)
        cluster.close(timeout=30)


@pytest.fixture(scope="module")
def serial_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, toctou_sim.SweepResult]:
    """The in-process run every other executor must reproduce byte for byte."""
    folder = tmp_path_factory.mktemp("reference")
    path = folder / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    out = folder / "serial"
    return out, run_sweep(toctou_sim.load_model(path), out)


# --------------------------------------------------------------------------------------------
# Designs.


def test_range_parse_accepts_numbers_durations_and_flags() -> None:
    assert Range.parse("100:10000:log") == Range(100.0, 10000.0, log=True)
    assert Range.parse("1s:30s") == Range(1.0, 30.0)
    assert Range.parse("10ms:2s:log:int") == Range(0.01, 2.0, log=True, integer=True)
    for bad in ("5", "1:1", "2:1", "0:10:log", "1:x", "1:10:loud"):
        with pytest.raises(SpecError):
            Range.parse(bad)


def test_latin_hypercube_fills_every_stratum_once() -> None:
    """A Latin hypercube of n points puts exactly one point in each of the n equal strata of every
    range (equal in log space for a log range), whatever the seed."""
    n = 50
    ranges = {"a": Range(0.0, 1.0), "b": Range(100.0, 10000.0, log=True)}
    points = latin_hypercube(ranges, n, seed=3)
    a = np.array([p["a"] for p in points])
    b = np.array([p["b"] for p in points])
    assert sorted(np.floor(a * n).astype(int)) == list(range(n))
    log_position = (np.log(b) - np.log(100.0)) / (np.log(10000.0) - np.log(100.0))
    assert sorted(np.floor(log_position * n).astype(int)) == list(range(n))
    assert points == latin_hypercube(ranges, n, seed=3)
    assert points != latin_hypercube(ranges, n, seed=4)


def test_integer_range_gives_integers() -> None:
    points = latin_hypercube({"keys.count": Range(1, 100, integer=True)}, 10, seed=0)
    assert all(isinstance(p["keys.count"], int) and 1 <= p["keys.count"] <= 100 for p in points)


def test_lhs_sweep_runs_sampled_configurations(model: toctou_sim.ModelSpec) -> None:
    ranges = {
        "clients.arrival.poisson.rate": Range(50, 500, log=True),
        "keys.count": Range(2, 30, integer=True),
    }
    result = toctou_sim.sweep(model, lhs=3, ranges=ranges, strategies=["none"], reps=2, seed=5)
    frame = result.to_frame()
    assert result.ok and len(result.configurations) == 3
    assert frame["keys.count"].dtype == np.int64 and frame["clients.arrival.poisson.rate"].dtype == np.float64
    assert set(frame["config"]) == {c["config"] for c in result.configurations}


# --------------------------------------------------------------------------------------------
# The table is montecarlo's: every configuration equals a compare of that configuration.


def test_each_configuration_equals_compare(model: toctou_sim.ModelSpec) -> None:
    result = toctou_sim.sweep(model, grid=GRID, strategies=STRATEGIES, reps=REPS, seed=SEED)
    table = result.to_frame()
    assert result.ok and len(result.configurations) == 4
    assert set(table["stopped_by"]) == {"reps"}
    for configuration in result.configurations:
        params = configuration["params"]
        expected = toctou_sim.compare(model, STRATEGIES, reps=REPS, seed=SEED, overrides=params).to_frame()
        got = table[table["config"] == configuration["config"]].reset_index(drop=True)
        for column, value in params.items():
            assert (got[column] == value).all()
        got = got[list(expected.columns)]
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_precision_stops_each_configuration_like_compare(model: toctou_sim.ModelSpec) -> None:
    grid = {"clients.arrival.poisson.rate": [150, 300]}
    result = toctou_sim.sweep(model, grid=grid, strategies=["none"], reps=3, seed=2, precision=0.3, max_reps=12)
    table = result.to_frame()
    for rate in grid["clients.arrival.poisson.rate"]:
        expected = toctou_sim.compare(
            model,
            ["none"],
            reps=3,
            seed=2,
            precision=0.3,
            max_reps=12,
            overrides={"clients.arrival.poisson.rate": rate},
        )
        rows = table[table["clients.arrival.poisson.rate"] == rate]
        assert set(rows["n_reps"]) <= {expected.results["none"].n_reps, 0}
        assert rows["stopped_by"].iloc[0] == expected.results["none"].stopped_by
        violation = rows[rows["metric"] == "violation_rate"].iloc[0]
        assert violation["estimate"] == expected.results["none"].estimate("violation_rate").estimate


def test_paired_difference_against_baseline(model: toctou_sim.ModelSpec) -> None:
    """CAS never violates, so its paired difference to ``none`` is minus none's violation rate."""
    table = toctou_sim.sweep(model, grid={"keys.count": [5]}, strategies=STRATEGIES, reps=REPS, seed=SEED).to_frame()
    violation = table[table["metric"] == "violation_rate"].set_index("strategy")
    assert violation.loc["none", "estimate"] > 0
    assert violation.loc["cas", "diff"] == pytest.approx(-violation.loc["none", "estimate"])
    assert (violation["baseline"] == "none").all()


# --------------------------------------------------------------------------------------------
# Determinism across executors (byte-identical results files).


def test_process_pool_matches_serial_bytes(
    model: toctou_sim.ModelSpec, tmp_path: Path, serial_reference: tuple[Path, toctou_sim.SweepResult]
) -> None:
    reference, serial = serial_reference
    with ProcessPoolExecutor(max_workers=2) as pool:
        parallel = run_sweep(model, tmp_path / "pool", executor=pool)
    assert parallel.ok and parallel.tasks_run == serial.tasks_run == 4 * 2 * REPS
    assert results_bytes(tmp_path / "pool") == results_bytes(reference)
    pd.testing.assert_frame_equal(parallel.replications_frame(), serial.replications_frame())


def test_batches_and_memory_mode_match_serial_bytes(
    model: toctou_sim.ModelSpec, tmp_path: Path, serial_reference: tuple[Path, toctou_sim.SweepResult]
) -> None:
    reference, serial = serial_reference
    batched = run_sweep(model, tmp_path / "batched", batch=3)
    assert batched.tasks_total == 4 * 2 * math.ceil(REPS / 3)
    assert results_bytes(tmp_path / "batched") == results_bytes(reference)
    in_memory = toctou_sim.sweep(model, grid=GRID, strategies=STRATEGIES, reps=REPS, seed=SEED)
    pd.testing.assert_frame_equal(in_memory.to_frame(), serial.to_frame())
    pd.testing.assert_frame_equal(in_memory.replications_frame(), serial.replications_frame())


@pytest.mark.timeout(120)
def test_dask_cluster_matches_serial_bytes(
    model: toctou_sim.ModelSpec,
    tmp_path: Path,
    dask_client: Any,
    serial_reference: tuple[Path, toctou_sim.SweepResult],
) -> None:
    reference, _ = serial_reference
    result = run_sweep(model, tmp_path / "dask", executor=dask_client.get_executor())
    assert result.ok
    assert results_bytes(tmp_path / "dask") == results_bytes(reference)


@pytest.mark.timeout(120)
def test_dask_runs_a_task_like_the_driver(model: toctou_sim.ModelSpec, dask_client: Any) -> None:
    """The seed and replication travel inside the task: Dask computes the same numbers, and two
    tasks that differ only by replication are two tasks (distinct keys), not one."""
    configured = model.with_strategy("cas")
    tasks = [SweepTask(task_id(configured.content_hash(), "cas", (i,), 7), configured, (i,), 7) for i in (0, 1)]
    futures = [dask_client.submit(run_task, task) for task in tasks]
    assert futures[0].key != futures[1].key
    outcomes = [future.result(timeout=60) for future in futures]
    assert outcomes == [run_task(task) for task in tasks]
    assert outcomes[0].rows[0][1] != outcomes[1].rows[0][1]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_dask_local_cluster_with_processes_smoke(
    model_file: Path, tmp_path: Path, serial_reference: tuple[Path, toctou_sim.SweepResult]
) -> None:
    """Real worker processes (they import toctou_sim afresh) give the same bytes."""
    distributed = pytest.importorskip("distributed")
    reference, _ = serial_reference
    with (
        distributed.LocalCluster(
            processes=True,
            n_workers=2,
            threads_per_worker=1,
            dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        probe = client.submit(len, "ok").result(timeout=60)
        assert probe == 2
        result = run_sweep(
            toctou_sim.load_model(model_file), tmp_path / "dask-processes", executor=client.get_executor()
        )
    assert result.ok
    assert results_bytes(tmp_path / "dask-processes") == results_bytes(reference)


# --------------------------------------------------------------------------------------------
# Interrupt and resume.


def _cli(model_file: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "toctou_sim.cli.main",
        "sweep",
        str(model_file),
        "--grid",
        "clients.arrival.poisson.rate=100,200,300",
        "--strategies",
        "none,cas",
        "--reps",
        "30",
        "--seed",
        "3",
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def _parts(out: Path) -> int:
    return len(list((out / "parts").glob("*/*.parquet"))) if (out / "parts").is_dir() else 0


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sigkill_then_resume_equals_uninterrupted(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    process = subprocess.Popen(
        _cli(model_file, out, "--workers", "2"),
        env=_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        # Poll the results folder (not the clock) until some tasks are on disk, then kill the
        # driver and its pool mid-sweep.
        while _parts(out) < 10:
            assert process.poll() is None, f"sweep ended before it could be killed: {process.stderr}"
            assert time.monotonic() < deadline, "no part files appeared"
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    done_before = _parts(out)
    assert 10 <= done_before < 180
    assert not (out / "results.csv").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"][-1]["status"] == "running"

    # The same command, in a process that builds the sweep page's chart without rendering it (the
    # subject is the resumed results; the chart: test_cli_sweep_writes_the_results_folder).
    command = _cli(model_file, out, "--workers", "2", "--resume")
    assert command[1:3] == ["-m", "toctou_sim.cli.main"]
    command[1:3] = ["-c", f"{preamble()}; from toctou_sim.cli.main import entry; entry()"]
    resumed = subprocess.run(
        command,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"{180 - done_before} run" in resumed.stdout and f"{done_before} resumed" in resumed.stdout

    fresh = tmp_path / "fresh"
    toctou_sim.sweep(
        toctou_sim.load_model(model_file),
        grid={"clients.arrival.poisson.rate": [100, 200, 300]},
        strategies=["none", "cas"],
        reps=30,
        seed=3,
        out=fresh,
    )
    assert results_bytes(out) == results_bytes(fresh)
    runs = json.loads((out / "manifest.json").read_text())["runs"]
    assert [run["status"] for run in runs] == ["running", "complete"]
    assert runs[-1]["command"][-1] == "--resume"


def test_resume_runs_only_missing_tasks(
    model: toctou_sim.ModelSpec, tmp_path: Path, serial_reference: tuple[Path, toctou_sim.SweepResult]
) -> None:
    reference, _ = serial_reference
    out = tmp_path / "partial"
    run_sweep(model, out)
    parts = sorted((out / "parts").glob("*/*.parquet"))
    for part in parts[::3]:
        part.unlink()
    (parts[1].parent / f".{parts[1].name}.123.tmp").write_bytes(b"half a file")
    again = run_sweep(model, out, resume=True)
    assert again.tasks_run == len(parts[::3]) and again.tasks_resumed == len(parts) - len(parts[::3])
    assert results_bytes(out) == results_bytes(reference)
    assert not list((out / "parts").glob("*/*.tmp"))


def test_resume_refuses_a_different_sweep(model: toctou_sim.ModelSpec, tmp_path: Path) -> None:
    out = tmp_path / "one"
    run_sweep(model, out)
    with pytest.raises(SpecError, match="already holds a sweep"):
        run_sweep(model, out)
    with pytest.raises(SpecError, match="seed"):
        run_sweep(model, out, resume=True, seed=SEED + 1)
    with pytest.raises(SpecError, match="configurations"):
        run_sweep(model, out, resume=True, grid={"keys.count": [5]})
    moved = tmp_path / "elsewhere.toml"
    moved.write_text(TINY, encoding="utf-8")
    assert run_sweep(toctou_sim.load_model(moved), out, resume=True).tasks_resumed == 4 * 2 * REPS
    with pytest.raises(SpecError, match="model hash"):
        run_sweep(model.with_strategy("cas"), out, resume=True)
    with pytest.raises(SpecError, match="resume: needs out"):
        toctou_sim.sweep(model, grid=GRID, resume=True)


# --------------------------------------------------------------------------------------------
# Memory: a bounded window of tasks in flight.


class CountingExecutor(Executor):
    """A thread pool that records the most futures ever outstanding at once."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.outstanding = 0
        self.most = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.outstanding += 1
        self.most = max(self.most, self.outstanding)
        future = self.pool.submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        self.outstanding -= 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def test_tasks_in_flight_stay_within_the_window(model: toctou_sim.ModelSpec) -> None:
    executor = CountingExecutor()
    try:
        result = toctou_sim.sweep(
            model,
            grid={"keys.count": [5, 10, 20]},
            strategies=STRATEGIES,
            reps=10,
            seed=1,
            executor=executor,
            max_in_flight=3,
        )
    finally:
        executor.shutdown()
    assert result.ok and result.tasks_run == 60
    assert executor.most <= 3


class BreakingExecutor(Executor):
    """Runs ``after`` tasks in process, then refuses every task as a broken process pool does."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        from concurrent.futures.process import BrokenProcessPool

        self.submitted += 1
        if self.submitted > self.after:
            raise BrokenProcessPool("A child process terminated abruptly")
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_broken_executor_stops_cleanly_and_resume_finishes(
    model: toctou_sim.ModelSpec, tmp_path: Path, serial_reference: tuple[Path, toctou_sim.SweepResult]
) -> None:
    reference, serial = serial_reference
    out = tmp_path / "broken"
    broken = run_sweep(model, out, executor=BreakingExecutor(after=5))
    assert not broken.ok and broken.tasks_run == 5 and broken.not_run == serial.tasks_total - 5
    assert json.loads((out / "manifest.json").read_text())["runs"][-1]["status"] == "incomplete"
    finished = run_sweep(model, out, resume=True)
    assert finished.ok and finished.tasks_resumed == 5
    assert results_bytes(out) == results_bytes(reference)


# --------------------------------------------------------------------------------------------
# Failures: reported with configuration and traceback; the rest complete.


@pytest.fixture
def exploding_strategy() -> Iterator[str]:
    """A test-only strategy whose world raises when the key space has exactly 5 keys."""
    from toctou_sim.plugins.strategies.none import NoMitigation
    from toctou_sim.spec.registry import REGISTRY, Plugin

    class ExplodingSpec(StrategySpec):
        kind: Literal["test_exploding"] = "test_exploding"

    class Exploding(NoMitigation):
        def attempt(self, op: Any, first: bool) -> Any:
            if self.world.spec.keys.count == 5:
                raise RuntimeError("boom: five keys")
            return (yield from super().attempt(op, first))

    plugin = REGISTRY.register(Plugin(spec=ExplodingSpec, behaviour=Exploding), "test_sweep")
    try:
        yield "test_exploding"
    finally:
        REGISTRY.unregister(plugin)
        assert "test_exploding" not in STRATEGY_SPECS


def test_failing_tasks_are_reported_and_the_rest_complete(
    model: toctou_sim.ModelSpec, tmp_path: Path, exploding_strategy: str
) -> None:
    seen: list[TaskFailure] = []
    out = tmp_path / "failing"
    result = toctou_sim.sweep(
        model,
        grid={"keys.count": [5, 20]},
        strategies=["none", exploding_strategy],
        reps=3,
        seed=1,
        out=out,
        on_failure=seen.append,
    )
    assert not result.ok and len(result.failures) == 3 == len(seen)
    failure = result.failures[0]
    assert failure.params == {"keys.count": 5} and failure.strategy == exploding_strategy
    assert "RuntimeError: boom: five keys" in failure.error and "Traceback" in failure.error
    assert "keys.count=5" in failure.summary()
    table = result.to_frame()
    assert set(table["keys.count"]) == {20}
    assert set(table["strategy"]) == {"none", exploding_strategy}
    assert result.tasks_run == 3 * 2 + 3  # every task of keys.count=20, and none's at 5
    assert len(list((out / "failures").glob("*.json"))) == 3
    assert json.loads((out / "manifest.json").read_text())["runs"][-1]["status"] == "incomplete"


@pytest.mark.slow
def test_cli_reports_failures_and_exits_nonzero(model_file: Path, tmp_path: Path, exploding_strategy: str) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "sweep",
            str(model_file),
            "--grid",
            "keys.count=5,20",
            "--strategies",
            f"none,{exploding_strategy}",
            "--reps",
            "2",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "cli-failing"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "failed: strategy test_exploding, replications 0 at keys.count=5: RuntimeError: boom" in result.stderr
    assert "2 failed" in result.stderr and "Traceback" in result.stderr
    assert "keys.count" in result.stdout and (tmp_path / "cli-failing" / "results.csv").is_file()


def test_invalid_combination_is_a_failed_configuration(model: toctou_sim.ModelSpec) -> None:
    """Each value is valid alone; the pair (warmup 2s, horizon 1s) is not."""
    result = toctou_sim.sweep(
        model,
        grid={"model.warmup": ["0s", "2s"], "model.horizon": ["1s", "3s"]},
        strategies=["none"],
        reps=1,
        seed=0,
    )
    assert len(result.failures) == 1 and result.failures[0].params == {
        "model.warmup": "2s",
        "model.horizon": "1s",
    }
    assert "warmup" in result.failures[0].error
    assert len(result.to_frame()["config"].unique()) == 3


# --------------------------------------------------------------------------------------------
# The command line.


@pytest.mark.slow
def test_cli_sweep_writes_the_results_folder(model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        main,
        [
            "sweep",
            str(model_file),
            "--grid",
            "clients.arrival.poisson.rate=100,200",
            "--strategies",
            "none,cas",
            "--reps",
            "2",
            "--workers",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "clients.arrival.poisson.rate" in result.stdout and "wrote" in result.stdout
    # The headline metrics, not one: harm, error budget, p99 and aborts, and a page with the chart.
    for heading in ("harm (violations/op)", "error budget (burn ×)", "p99 latency", "aborts/op"):
        assert heading in result.stdout
    page = (out / "sweep.html").read_text()
    assert "data:image/png;base64," in page and "harm (violations/op)" in page and (out / "sweep.svg").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["model"]["hash"] == toctou_sim.load_model(model_file).content_hash()
    assert manifest["toctou_sim_version"] == toctou_sim.__version__
    assert manifest["grid"] == {"clients.arrival.poisson.rate": [100, 200]}
    assert manifest["runs"][0]["command"][0] == "toctou-sim" and manifest["runs"][0]["executor"]
    csv = pd.read_csv(out / "results.csv")
    assert {
        "clients.arrival.poisson.rate",
        "strategy",
        "metric",
        "estimate",
        "ci_low",
        "ci_high",
        "n_reps",
        "diff",
        "diff_low",
        "diff_high",
    } <= set(csv.columns)
    assert len(ResultsFolder(out).finished_tasks()) == 2 * 2 * 2


def test_cli_json_and_lhs(model_file: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "sweep",
            str(model_file),
            "--lhs",
            "2",
            "--range",
            "clients.arrival.poisson.rate=100:1000:log",
            "--reps",
            "1",
            "--workers",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert {r["strategy"] for r in rows} == set(toctou_sim.load_model(model_file).default_strategies())
    assert len({r["clients.arrival.poisson.rate"] for r in rows}) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "clients.arrivl.poisson.rate=1,2"], "clients.arrivl: unknown field"),
        (["--grid", "clients.arrival.poisson.rate=fast,2"], "expected a number, got 'fast'"),
        (["--grid", "clients.arrival.poisson.rate="], "give at least one value"),
        ([], "the design is empty; give --grid PATH=V1,V2, or --lhs N --range"),
        (["--grid", "keys.count=1", "--strategies", "nope"], "unknown strategy 'nope'"),
        (["--lhs", "3"], "--range"),
        (["--lhs", "3", "--range", "keys.count=1"], "expected LOW:HIGH"),
        (["--grid", "keys.count=1", "--workers", "0"], "'--workers': 0 is not in the range 1<=x<=1024"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(model_file: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["sweep", str(model_file), "--reps", "1", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_unreachable_scheduler_fails_fast(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    from toctou_sim.experiment import executors

    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", 1.0)
    started = time.monotonic()
    result = CliRunner().invoke(
        main,
        [
            "sweep",
            str(model_file),
            "--grid",
            "keys.count=1",
            "--reps",
            "1",
            "--scheduler",
            "tcp://127.0.0.1:1",
        ],
    )
    assert result.exit_code == 2, result.output
    assert time.monotonic() - started < 10
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: --scheduler tcp://127.0.0.1:1: cannot reach the Dask scheduler"), line


def test_progress_bar_counts_tasks(model: toctou_sim.ModelSpec, capsys: pytest.CaptureFixture[str]) -> None:
    toctou_sim.sweep(model, grid={"keys.count": [5, 20]}, strategies=["none"], reps=3, seed=0, progress=True)
    err = capsys.readouterr().err
    assert "sweep" in err and "6/6" in err


def test_open_executor_choices() -> None:
    from toctou_sim.experiment.executors import SerialExecutor, open_executor

    with open_executor(1) as handle:
        assert isinstance(handle.executor, SerialExecutor)
        assert handle.executor.submit(sum, [1, 2]).result(timeout=1) == 3
    with open_executor(2) as handle:
        assert isinstance(handle.executor, ProcessPoolExecutor) and handle.description == "2 local processes"
    with pytest.raises(SpecError, match="one or the other"), open_executor(scheduler="tcp://x:1", dask_local=True):
        pass
    with pytest.raises(SpecError, match="expected an address"), open_executor(scheduler="localhost:8786"):
        pass
