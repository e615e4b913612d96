"""Hardening (issue 17): no input crashes the command line, runs away, reads outside the model's
folder or leaves a worker behind. Every reproduction of the issue is a case here."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from toctou_sim.cli.main import main
from toctou_sim.core.limits import (
    RunEstimate,
    check_budget,
    check_data,
    csv_cell,
    terminal_text,
    worker_count,
)
from toctou_sim.spec.model import SpecError, load_model, parse_model
from toctou_sim.spec.size import estimate_run

ROOT = Path(__file__).resolve().parents[2]
FLASH = str(ROOT / "models" / "flash_sale.toml")
QUORUM = str(ROOT / "models" / "quorum_stale_read.toml")

TINY = """
[model]
name = "tiny"
horizon = "2s"

[keys]
count = 5

[clients]
arrival = { poisson = { rate = 50 } }
window = "5ms"
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_exit_2(result: Any, expected: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]


# --------------------------------------------------------------------------------------------
# The reproductions, one line each: (arguments, text the one error line contains).

SETS: list[tuple[list[str], str]] = [
    # non-finite numbers
    (["--set", "model.horizon=inf"], "model.horizon: expected a finite duration"),
    (["--set", "model.horizon=nan"], "model.horizon: expected a finite duration"),
    (["--set", "model.warmup=nan"], "model.warmup: expected a finite duration"),
    (["--set", "model.horizon='1e999s'"], "model.horizon: expected a finite duration"),
    (["--set", "clients.arrival.poisson.rate=inf"], "clients.arrival.poisson.rate: expected a finite number"),
    (["--set", "clients.window=nan"], "clients.window: expected a finite duration"),
    (["--set", "clients.window=inf"], "clients.window: expected a finite duration"),
    (["--set", "clients.window={ mixture = [{ weight = inf, constant = 1 }] }"],
     "clients.window.mixture.components.0.weight: expected a finite number"),
    (["--set", "strategy={ kind = 'lock', lease_ttl = nan }"], "strategy.lease_ttl: expected a finite duration"),
    (["--set", "faults=[{ kind = 'pause', at = [nan] }]"], "faults.0.at.0: expected a finite duration"),
    (["--set", "slo.target=nan"], "slo.target: expected a finite number"),
    # types
    (["--set", "strategy.kind=['lock']"], "strategy: unknown strategy a list"),
    (["--set", "strategy={ kind = { a = 1 } }"], "strategy: unknown strategy a dict"),
    (["--set", "read_path={ kind = [1] }"], "read_path: unknown read path a list"),
    (["--set", "keys.count=true"], "keys.count: expected an integer, got True"),
    (["--set", "clients.arrival.poisson.rate=true"], "clients.arrival.poisson.rate: expected a number"),
    (["--set", "keys.invariant='counter'", "--set", "keys.initial=-5"],
     "keys: initial: a counter's stock must be >= 0"),
    # magnitudes
    (["--set", "keys.count=18446744073709551616"], "keys.count: integer too large"),
    (["--set", "keys.count=1" + "0" * 5000], "keys.count: integer too large"),
    (["--set", "a." * 3000 + "b=1"], "nested deeper than"),
    (["--set", "model.description='" + "x" * 20_000 + "'"], "model.description: string longer than 10000"),
    # budgets and the simulated clock
    (["--set", "clients.arrival.poisson.rate=1e12"], "too fast for a 60s horizon"),
    (["--set", "clients.arrival.poisson.rate=1e308"], "too fast for a 60s horizon"),
    (["--set", "model.horizon='1e9s'"], "pass --max-ops to allow it"),
    (["--set", "slo.timeline_bin='1ns'"], "pass --max-memory to allow it"),
    (["--set", "keys.count=100000000", "--reps", "1", "--max-memory", "1GB"], "over the memory limit of 1 GB"),
    (["--set", "read_path={ kind = 'replica', n = 1000000 }"], "pass --max-ops to allow it"),
    (["--set", "strategy={ kind = 'lease', retry_period = '1ns', renew_deadline = '2ns', lease_ttl = '3ns' }"],
     "pass --max-ops to allow it"),
    # options
    (["--seed", "-1"], "'--seed': -1 is not in the range x>=0"),
    (["--seed", str(2**130)], "--seed: must be between 0 and 2**128 - 1"),
    (["--max-reps", "0", "--precision", "0.1"], "'--max-reps': 0 is not in the range"),
    (["--precision", "nan"], "'--precision': expected a finite number"),
    (["--workers", "-1"], "'--workers': -1 is not in the range 0<=x<=1024"),
    (["--workers", "100000"], "'--workers': 100000 is not in the range 0<=x<=1024"),
    (["--metric", "nope", "--reps", "1", "--set", "model.horizon='1s'", "--set", "model.warmup=0"],
     "--metric: unknown metric 'nope'"),
    (["--max-ops", "nan"], "'--max-ops': expected a finite number"),
    (["--out", "/nonexistent-folder/x.csv"], "folder /nonexistent-folder does not exist"),
    (["--out", "/tmp"], "expected a .csv or .parquet file name"),
]


@pytest.mark.parametrize(("args", "expected"), SETS, ids=[e[:40] for _, e in SETS])
def test_run_reproductions_are_one_line_exit_2(args: list[str], expected: str) -> None:
    one_line_exit_2(invoke("run", FLASH, *args), expected)


def test_every_command_refuses_a_negative_seed(tmp_path: Path) -> None:
    for command in (["run", FLASH], ["compare", FLASH], ["sweep", FLASH, "--grid", "keys.count=1"],
                    ["staleness", QUORUM], ["trace", FLASH, "--out", str(tmp_path / "t.json")],
                    ["report", FLASH, "--out", str(tmp_path / "r")], ["validate"]):
        one_line_exit_2(invoke(*command, "--seed", "-5"), "'--seed': -5 is not in the range")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["compare", FLASH, "--strategies", "none,none"], "--strategies: 'none' is given twice"),
        (["validate", "--confidence", "2"], "'--confidence': must be < 1"),
        (["trace", FLASH, "--out", "OUT/t.json", "--start", "-5s"], "--start: must be between 0 and the horizon"),
        (["report", FLASH, "--out", "OUT/r", "--trace-ops", "-1"], "'--trace-ops': -1 is not in the range"),
        (["staleness", QUORUM, "--trials", "2000000000"], "pass --max-ops to allow it"),
        (["sweep", FLASH, "--lhs", "100000000", "--range", "keys.count=1:10"], "'--lhs': 100000000 is not"),
        (["sweep", FLASH, "--grid", "keys.count=" + ",".join(map(str, range(1, 400))),
          "--grid", "keys.invariant=" + ",".join(["'version'"] * 1) , "--grid",
          "clients.window=" + ",".join(f"'{i}ms'" for i in range(1, 400))], "at most 100000 in one sweep"),
        (["sweep", FLASH, "--grid", "a." * 3000 + "b=1,2"], "nested deeper than"),
        (["sweep", FLASH, "--grid", "model.horizon='1e9s'"], "pass --max-ops to allow it"),
        (["sweep", FLASH, "--grid", "keys.count=1", "--workers", "-1"], "'--workers': -1 is not in the range"),
        (["run", "MODEL_DIR"], "file not found"),
        # found by benchmarks/fuzz_models.py
        (["sweep", FLASH, "--grid", "keys.count=1,2", "--metric", "nope", "--workers", "1"],
         "--metric: unknown metric 'nope'"),
        (["run", FLASH, "--set", "clients.window={ lognormal = { mu = -1e-300, sigma = 1e308 } }"],
         "lognormal: parameters out of range"),
        (["run", FLASH, "--set", "clients.window={ weibull = { shape = 1e-300, scale = 1 } }"],
         "weibull: parameters out of range"),
    ],
)
def test_option_reproductions_are_one_line_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    args = [a.replace("OUT", str(tmp_path)) if a.startswith("OUT") else a for a in args]
    args = [str(tmp_path) if a == "MODEL_DIR" else a for a in args]
    one_line_exit_2(invoke(*args), expected)


@pytest.mark.parametrize("command", ["run", "compare", "staleness", "trace", "report", "sweep"])
@pytest.mark.parametrize("bad", ["missing", "folder", "unwritable"])
def test_bad_out_is_refused_before_simulating(tmp_path: Path, command: str, bad: str) -> None:
    if bad == "unwritable" and os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    suffix = {"trace": ".json", "report": "", "sweep": ""}.get(command, ".csv")
    target = {"missing": tmp_path / "no" / f"x{suffix}", "unwritable": locked / f"x{suffix}",
              "folder": tmp_path / f"d{suffix}"}[bad]
    if bad == "folder":
        target.mkdir()
        if command in ("report", "sweep"):  # folders are their targets: give them a file instead
            target.rmdir()
            target.write_text("not a folder")
    if bad == "missing" and command in ("report", "sweep"):
        target = locked / "sub" / "x"
        if os.geteuid() == 0:
            pytest.skip("root writes anywhere")
    model = QUORUM if command == "staleness" else FLASH
    extra = ["--grid", "keys.count=1"] if command == "sweep" else []
    started = time.monotonic()
    result = invoke(command, model, "--out", str(target), *extra)
    one_line_exit_2(result, "--out")
    assert time.monotonic() - started < 10  # refused up front, not after a 60-second model ran


@pytest.mark.slow
def test_a_dollar_in_names_and_labels_does_not_break_the_report(tmp_path: Path) -> None:
    """Text between two ``$`` that matplotlib's mathtext cannot parse (it raises when drawing):
    the charts draw model text as is (``plots.literal``)."""
    path = tmp_path / "m.toml"
    path.write_text(TINY.replace('name = "tiny"', 'name = "cost $x^{2$ and $y_$"'), encoding="utf-8")
    strategies = "[strategies.a]\nkind = \"none\"\nlabel = \"pay $\\\\frac{1$ now\"\n"
    path.write_text(path.read_text() + strategies, encoding="utf-8")
    result = invoke("report", path, "--out", tmp_path / "r", "--reps", "2", "--strategies", "a",
                    "--trace-ops", "10", "--no-headroom")
    assert result.exit_code == 0, result.output
    assert "cost $x^{2$ and $y_$" in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")


def test_model_text_is_neutralised_for_terminals_and_spreadsheets(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(TINY.replace('name = "tiny"', 'name = "=HYPERLINK(1)\\u001b[2J\\r"'), encoding="utf-8")
    out = tmp_path / "r.csv"
    result = invoke("run", path, "--reps", "1", "--out", out)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\r" not in result.output
    assert "\\x1b[2J" in result.output
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and csv_cell("-1.5") == "-1.5" and csv_cell(3) == 3
    assert terminal_text("a\x1b[31mb\u202e\n") == "a\\x1b[31mb\\u202e\n"
    with out.open(newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not any(cell[:1] in "=+@" or (cell[:1] == "-" and not _number(cell)) for cell in cells if cell)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_a_sweep_whose_tasks_all_fail_prints_its_summary(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sweep_module = sys.modules["toctou_sim.sweeps.tasks"]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("every replication fails")

    monkeypatch.setattr(sweep_module, "run_replication", broken)
    result = invoke("sweep", tiny, "--grid", "keys.count=1,2", "--reps", "1", "--workers", "1")
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "(no results: every configuration failed)" in result.output
    assert "2 failed" in result.output


def test_a_lease_model_without_store_latencies_traces(tmp_path: Path) -> None:
    """Found by the fuzzer: with zero store latencies a resync could start a reconcile of an event
    already judged and forgotten (KeyError in the lease strategy)."""
    import tomllib

    data = tomllib.loads((ROOT / "models" / "f5_controller_thrash.toml").read_text(encoding="utf-8"))
    data.pop("store")
    from toctou_sim.world.tracing import trace_replication

    trace = trace_replication(parse_model(data), max_ops=50)
    assert len(trace.ops) == 50


# --------------------------------------------------------------------------------------------
# Files the model reads.


@pytest.mark.parametrize("name", ["/etc/passwd", "../../../../etc/passwd", "/proc/self/environ"])
def test_an_empirical_file_outside_the_model_folder_is_refused(tmp_path: Path, name: str) -> None:
    model = TINY.replace('window = "5ms"', f'window = {{ empirical = {{ file = "{name}" }} }}')
    path = tmp_path / "m.toml"
    path.write_text(model, encoding="utf-8")
    result = invoke("run", path, "--reps", "1")
    one_line_exit_2(result, "is outside the model's folder")
    assert "root:" not in result.output


def test_empirical_errors_never_quote_the_file(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("SECRET-TOKEN-123\n", encoding="utf-8")
    path = tmp_path / "m.toml"
    path.write_text(TINY.replace('window = "5ms"', 'window = { empirical = { file = "secret.txt" } }'))
    result = invoke("run", path, "--reps", "1")
    one_line_exit_2(result, "cannot read numbers from")
    assert "SECRET" not in result.output


def test_data_dir_allows_a_folder_and_the_hash_follows_the_samples(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    samples = data / "w.txt"
    samples.write_text("0.001\n0.002\n", encoding="utf-8")
    models = tmp_path / "models"
    models.mkdir()
    path = models / "m.toml"
    path.write_text(TINY.replace('window = "5ms"', 'window = { empirical = { file = "../data/w.txt" } }'))
    with pytest.raises(SpecError, match="outside the model's folder"):
        load_model(path)
    first = load_model(path, data_dirs=[data]).content_hash()
    assert load_model(path, data_dirs=[data]).content_hash() == first
    samples.write_text("0.001\n0.003\n", encoding="utf-8")
    assert load_model(path, data_dirs=[data]).content_hash() != first
    assert invoke("run", path, "--reps", "1", "--data-dir", data).exit_code == 0


# --------------------------------------------------------------------------------------------
# Limits and estimates.


def test_the_operation_estimate_matches_a_run() -> None:
    from toctou_sim.experiment.montecarlo import simulate

    spec = parse_model({"model": {"horizon": "20s"}, "clients": {"arrival": {"poisson": {"rate": 200}}},
                        "mutators": [{"action": "bump", "rate": 50}]})
    estimate = estimate_run(spec, 3)
    assert estimate.operations == pytest.approx(3 * (20 * 250 + 1))  # operations and the one key
    measured = sum(r.metrics["operations"] for r in simulate(spec, reps=3).replications)
    assert measured == pytest.approx(3 * 20 * 200, rel=0.05)  # client operations; mutator writes on top
    with pytest.raises(SpecError, match=r"about 1.5e\+04 operations .* pass max_ops"):
        simulate(spec, reps=3, max_ops=10_000)


def test_budget_and_workers() -> None:
    check_budget(RunEstimate(1e6, 4e6, 1e8, 10))
    with pytest.raises(SpecError, match="over the limit of 1e\\+03 operations"):
        check_budget(RunEstimate(1e6, 4e6, 1e8, 10), max_ops=1e3)
    with pytest.raises(SpecError, match="memory limit"):
        check_budget(RunEstimate(1, 1, math.inf, 1))
    cores = len(os.sched_getaffinity(0))
    assert worker_count(300, tasks=4) == min(4, cores)
    assert worker_count(0, tasks=1) == 1
    assert worker_count(None) == cores
    with pytest.raises(SpecError, match="workers"):
        worker_count(-1)


def test_check_data_is_iterative_and_names_the_path() -> None:
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(SpecError, match="nested deeper than"):
        check_data({"a": deep})
    with pytest.raises(SpecError, match=r"keys\.count: integer too large"):
        check_data({"keys": {"count": 2**63}})


def test_a_deeply_nested_model_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    one_line_exit_2(invoke("run", path), "deep.toml")
    path.write_text("x = " + "9" * 5000 + "\n", encoding="utf-8")
    one_line_exit_2(invoke("run", path), "too many digits")


# --------------------------------------------------------------------------------------------
# Integrity: the folder lock, signals, parent death.


@pytest.mark.slow
def test_a_sweep_folder_is_held_for_the_whole_run(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from toctou_sim.sweeps.folder import ResultsFolder\n"
         f"with ResultsFolder({str(out)!r}).lock():\n    print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = invoke("sweep", tiny, "--grid", "keys.count=1,2", "--reps", "1", "--workers", "1", "--out", out)
        one_line_exit_2(result, f"in use by another sweep (pid {holder.pid})")
        result = invoke("sweep", tiny, "--grid", "keys.count=1,2", "--reps", "1", "--workers", "1", "--out", out,
                        "--resume")
        one_line_exit_2(result, f"pid {holder.pid}")
    finally:
        holder.communicate("")
    result = invoke("sweep", tiny, "--grid", "keys.count=1,2", "--reps", "1", "--workers", "1", "--out", out)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text())["runs"][-1]["status"] == "complete"


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_killing_a_sweep_leaves_no_process(tmp_path: Path, signum: int) -> None:
    command = [sys.executable, "-m", "toctou_sim.cli.main", "sweep", FLASH, "--grid", "keys.count=1,2,3,4", "--reps",
               "100", "--workers", "2", "--quiet", "--out", str(tmp_path / "out")]
    sweep = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while len(workers) < 2 and time.monotonic() < deadline and sweep.poll() is None:
            workers = _children(sweep.pid)
            time.sleep(0.05)
        assert len(workers) == 2, "the sweep did not start its 2 workers"
        sweep.send_signal(signum)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (sweep.poll() is None or any(_alive(p) for p in workers)):
            time.sleep(0.05)
        assert sweep.poll() is not None and not any(_alive(p) for p in workers), "left behind"
        if signum == signal.SIGTERM:
            assert sweep.returncode == 130 and "--resume" in (sweep.stderr.read() if sweep.stderr else "")
    finally:
        if sweep.poll() is None:
            sweep.kill()
        sweep.wait()


# --------------------------------------------------------------------------------------------
# Dask.


def test_a_scheduler_address_that_is_not_dask_is_one_line(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from toctou_sim.experiment import executors

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"dashboard")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", 1.0)
    try:
        started = time.monotonic()
        result = invoke("sweep", tiny, "--grid", "keys.count=1", "--reps", "1", "--scheduler",
                        f"tcp://127.0.0.1:{server.server_address[1]}")
        one_line_exit_2(result, "is this the scheduler port (8786), not the dashboard (8787)?")
        assert time.monotonic() - started < 10
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------------------------
# Fuzzing with a small budget (the long run: benchmarks/fuzz_models.py).


def _fuzzer() -> Any:
    spec = importlib.util.spec_from_file_location("fuzz_models", ROOT / "benchmarks" / "fuzz_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fuzzed_models_and_options_exit_0_or_one_line_2(tmp_path: Path) -> None:
    pytest.importorskip("hypothesis")
    fuzzer = _fuzzer()
    counts = fuzzer.fuzz(count=20, seed=17, limit=20.0, findings=tmp_path / "findings.jsonl", progress=False)
    findings = (tmp_path / "findings.jsonl").read_text() if (tmp_path / "findings.jsonl").exists() else ""
    assert set(counts) <= {"ok", "exit2"}, findings[:3000]
    assert sum(counts.values()) == 20
