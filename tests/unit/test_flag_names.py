"""A library call names its parameters in its errors, the command line names its flags.

``toctou_sim.sweep(..., ranges=...)`` without ``lhs`` says ``ranges: give lhs, ...``: a Python
caller has no ``--lhs``. ``toctou-sim sweep --range ...`` without ``--lhs`` says ``--range: give
--lhs N, ...``: the command line translates the library's message (``cli.common.flag_names``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import toctou_sim
from toctou_sim.cli.common import flag_names
from toctou_sim.cli.main import main
from toctou_sim.experiment.executors import open_executor
from toctou_sim.reporting.present import write_table
from toctou_sim.spec.bundled import starting_model
from toctou_sim.spec.model import SpecError, load_model
from toctou_sim.sweeps.design import Range
from toctou_sim.sweeps.driver import plan_sweep
from toctou_sim.validation.calibrate import read_telemetry
from toctou_sim.validation.oracles import run_oracles

ROOT = Path(__file__).resolve().parents[2]
FLASH = str(ROOT / "models" / "flash_sale.toml")
QUORUM = str(ROOT / "models" / "quorum_stale_read.toml")
LOCK_PAUSE = str(ROOT / "tests" / "data" / "models_explore" / "lock_pause.toml")
FLAG = re.compile(r"--[a-z][a-z-]*")

CASES = [
    # (library keyword arguments of plan_sweep, the library's message, the command line's arguments, its message)
    ({"ranges": {"keys.count": Range(1, 3)}}, "ranges: give lhs, the number of Latin hypercube points",
     ["--range", "keys.count=1:3"], "--range: give --lhs N, the number of Latin hypercube points"),
    ({"grid": {"keys.count": [1]}, "baseline": "nope"}, "baseline: 'nope' is not among the strategies",
     ["--grid", "keys.count=1", "--baseline", "nope"], "--baseline: 'nope' is not among the strategies"),
    ({"grid": {"keys.count": [1]}, "batch": 0}, "batch: must be an integer >= 1",
     ["--grid", "keys.count=1", "--batch", "0"], "'--batch': 0 is not in the range"),
    ({}, "sweep: the design is empty; give grid values, or lhs points over ranges",
     [], "sweep: the design is empty; give --grid PATH=V1,V2, or --lhs N --range PATH=LOW:HIGH"),
]


@pytest.mark.parametrize(("kwargs", "library", "args", "command_line"), CASES)
def test_the_library_names_parameters_and_the_command_line_flags(
    kwargs: dict[str, object], library: str, args: list[str], command_line: str
) -> None:
    with pytest.raises(SpecError) as caught:
        plan_sweep(FLASH, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value).startswith(library) and "--" not in str(caught.value)
    result = CliRunner().invoke(main, ["sweep", FLASH, "--reps", "1", *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert command_line in result.stderr, result.stderr


def test_executor_errors_name_parameters() -> None:
    with pytest.raises(SpecError, match=r"^scheduler and dask_local: give one or the other$"):
        open_executor(scheduler="tcp://x:1", dask_local=True).__enter__()
    with pytest.raises(SpecError, match=r"^workers: must be between 0"):
        open_executor(-1).__enter__()
    with pytest.raises(SpecError, match=r"^scheduler localhost:8786: expected an address"):
        open_executor(scheduler="localhost:8786").__enter__()


def test_flag_names_translates_only_parameters() -> None:
    assert flag_names("scheduler and dask_local: give one or the other") == (
        "--scheduler and --dask-local: give one or the other")
    assert flag_names("scheduler tcp://h:1: cannot reach") == "--scheduler tcp://h:1: cannot reach"
    assert flag_names("max_reps: must be between 1 and 9") == "--max-reps: must be between 1 and 9"
    assert flag_names("grid and ranges: keys.count is given twice") == "--grid and --range: keys.count is given twice"
    assert flag_names("out /tmp/x: in use by another sweep") == "--out /tmp/x: in use by another sweep"
    for untouched in ("models/seed.toml: [keys] count: expected an integer", "seeds: x", "no colon here, reps",
                      "--reps: must be >= 2"):
        assert flag_names(untouched) == untouched


def _two_columns(folder: Path) -> Path:
    path = folder / "two.csv"
    path.write_text("a_ms,b_ms\n" + "".join(f"{i},{i + 1}\n" for i in range(1, 20)), encoding="utf-8")
    return path


PAIRS: list[tuple[Callable[[Path], object], str, Callable[[Path], list[str]], str]] = [
    # (a library call with a bad value, the start of its message,
    #  the same bad value on the command line, the text of the command line's one line)
    (lambda _: toctou_sim.Scope(ops=0), "ops: must be >= 1, got 0",
     lambda _: ["explore", LOCK_PAUSE, "--ops", "0"], "error: --ops: must be >= 1, got 0"),
    (lambda _: toctou_sim.Scope(mutations=-1), "mutations: must be >= 0",
     lambda _: ["explore", LOCK_PAUSE, "--mutations", "-1"], "error: --mutations: must be >= 0"),
    (lambda _: toctou_sim.sensitivity(load_model(FLASH), params={"clients.window": ("2", "1")}),
     "params clients.window: expected LOW < HIGH",
     lambda _: ["sensitivity", FLASH, "--param", "clients.window=2:1"],
     "error: --param clients.window: expected LOW < HIGH"),
    (lambda _: toctou_sim.sensitivity(load_model(FLASH), params={"clients.colour": ("x0.5", "x2")}),
     "params clients.colour: no field 'colour' in clients",
     lambda _: ["sensitivity", FLASH, "--param", "clients.colour=x0.5:x2"], "error: --param clients.colour: no field"),
    (lambda _: run_oracles(names=["nope"]), "names: unknown oracle 'nope'; expected one of",
     lambda _: ["validate", "--oracle", "nope"], "error: --oracle: unknown oracle 'nope'; expected one of"),
    (lambda _: read_telemetry(_two_columns(_)), "give the column as column (columns: a_ms, b_ms)",
     lambda _: ["fit", str(_two_columns(_))], "give the column with --column (columns: a_ms, b_ms)"),
    (lambda _: toctou_sim.compare(FLASH, engine="fast", estimator="episodes", reps=1),
     'estimator episodes: runs on the DES engine (engine="des" or "auto")',
     lambda _: ["compare", FLASH, "--engine", "fast", "--estimator", "episodes", "--reps", "1"],
     "error: --estimator episodes: runs on the DES engine (--engine des or auto)"),
    (lambda _: toctou_sim.compare(FLASH, engine="des", estimator="conditional", reps=1),
     'estimator conditional: needs the fast engine (engine="fast" or "auto")',
     lambda _: ["compare", FLASH, "--engine", "des", "--estimator", "conditional", "--reps", "1"],
     "error: --estimator conditional: needs the fast engine (--engine fast or auto)"),
    (lambda _: toctou_sim.compare(FLASH, baseline="nope", reps=1), "baseline: 'nope' is not among the strategies",
     lambda _: ["compare", FLASH, "--baseline", "nope", "--reps", "1"], "error: --baseline: 'nope' is not among"),
]


@pytest.mark.parametrize(("call", "library", "args", "command_line"), PAIRS,
                         ids=[case[1].split(":")[0] for case in PAIRS])
def test_a_bad_value_names_the_parameter_in_python_and_the_flag_on_the_command_line(
    tmp_path: Path, call: Callable[[Path], object], library: str, args: Callable[[Path], list[str]], command_line: str
) -> None:
    with pytest.raises(SpecError) as caught:
        call(tmp_path)
    message = str(caught.value)
    assert library in message and not FLAG.search(message), message
    result = CliRunner().invoke(main, args(tmp_path))
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert command_line in result.stderr and result.stderr.startswith("error: "), result.stderr
    assert command_line.removeprefix("error: ") in flag_names(message)


LIBRARY_ONLY: list[tuple[Callable[[Path], object], str]] = [
    # bad values the command line refuses itself (a click choice or range), so only the library's side
    (lambda _: toctou_sim.staleness(QUORUM, reps=1), "reps: must be >= 2"),
    (lambda _: toctou_sim.staleness(QUORUM, trials=10), "trials: must be >= 100"),
    (lambda _: toctou_sim.staleness(QUORUM, k_max=0), "k_max: must be >= 1"),
    (lambda _: toctou_sim.staleness(QUORUM, write_gap=-1.0), "write_gap: must be a finite duration >= 0"),
    (lambda _: toctou_sim.staleness(QUORUM, t_grid=[-0.001], trials=100), "t_grid: expected durations >= 0"),
    (lambda _: toctou_sim.simulate(FLASH, engine="warp", reps=1), "engine: expected one of"),
    (lambda _: toctou_sim.simulate(FLASH, estimator="psychic", reps=1), "estimator: expected one of"),
    (lambda _: toctou_sim.Scope(values=("huge",)), "values: expected some of"),
    (lambda _: toctou_sim.Scope(keys=0), "keys: must be >= 1"),
    (lambda _: read_telemetry(_two_columns(_), column="a_ms", unit="weeks"), "unit: expected one of"),
    (lambda _: starting_model(name="x", invariant="nope"), "invariant nope: expected one of"),
    (lambda _: starting_model(name="x", read_path="nope"), "read_path nope: expected one of"),
    (lambda _: write_table(pd.DataFrame(), _ / "x.txt"), "x.txt: expected a .csv or .parquet file name"),
    (lambda _: load_model(FLASH, {"mutators.9.rate": 1}), "flash_sale.toml: overrides mutators.9.rate: no item 9"),
]


@pytest.mark.parametrize(("call", "library"), LIBRARY_ONLY, ids=[case[1].split(":")[0] for case in LIBRARY_ONLY])
def test_library_errors_name_parameters(tmp_path: Path, call: Callable[[Path], object], library: str) -> None:
    with pytest.raises(SpecError) as caught:
        call(tmp_path)
    assert library in str(caught.value) and not FLAG.search(str(caught.value)), str(caught.value)


def test_flag_names_translates_the_new_parameters() -> None:
    assert flag_names("t_grid: expected durations >= 0") == "--t: expected durations >= 0"
    assert flag_names("write_gap: must be a finite duration >= 0") == "--write-gap: must be a finite duration >= 0"
    assert flag_names("params a.b: given twice") == "--param a.b: given twice"
    assert flag_names("m.toml: overrides a.0: no item 0 in a") == "m.toml: --set a.0: no item 0 in a"
    assert flag_names("m.toml: estimator episodes: needs a fault") == "m.toml: --estimator episodes: needs a fault"
    assert flag_names("m.toml: [x] file: move it there or allow its folder (data_dirs)") == (
        "m.toml: [x] file: move it there or allow its folder (--data-dir)")


# --------------------------------------------------------------------------------------------
# The scan: no `--flag` in a message the library raises or warns with.

LIBRARY = ROOT / "toctou_sim"

ALLOWED_STRINGS = {
    # Legitimately about the command line: text that is not an error or a warning of a library call.
    # (file, flag): why it may name a flag.
    ("reporting/verdict.py", "--strategy"): "a verdict's caveat gives the command that proves a guarantee "
                                            "(toctou-sim explore MODEL --strategy S)",
    ("measure/catalogue.py", "--estimator"): "the metric catalogue's 'when' column: the metric exists only "
                                             "under --estimator episodes (rendered in the docs reference)",
    ("spec/bundled.py", "--reps"): "the comments of the starting model `toctou-sim init` writes: how to run it",
    ("spec/bundled.py", "--strategies"): "the same comments: how to compare strategies",
}
"""Strings outside ``cli/`` (other than docstrings) that may name a flag. A raise or warn message may
never: :func:`test_no_library_error_names_a_flag` has no allow-list."""


def _modules() -> list[tuple[str, ast.Module]]:
    return [(path.relative_to(LIBRARY).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
            for path in sorted(LIBRARY.rglob("*.py")) if path.relative_to(LIBRARY).parts[0] != "cli"]


def _text(node: ast.AST) -> str:
    return "".join(c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str))


def _called(node: ast.Call) -> str:
    return str(getattr(node.func, "attr", None) or getattr(node.func, "id", ""))


def test_no_library_error_names_a_flag() -> None:
    found: set[str] = set()
    for name, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                message = _text(node.exc)
            elif isinstance(node, ast.Call) and _called(node) in ("warn", "warning", "SpecError", "FastPathError",
                                                                  "ValueError"):
                message = _text(node)
            else:
                continue
            found |= {f"{name}:{node.lineno}: {flag}" for flag in FLAG.findall(message)}
    assert not found, "library errors must name parameters (cli.common.flag_names shows flags):\n" + "\n".join(
        sorted(found))


def test_library_strings_name_flags_only_where_allowed() -> None:
    """Every string constant outside ``cli/`` (docstrings aside): a message built in a variable
    before it is raised is caught here too."""
    found: set[tuple[str, str]] = set()
    for name, tree in _modules():
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)
                      and isinstance(node.value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                found |= {(name, flag) for flag in FLAG.findall(node.value)}
    assert found - ALLOWED_STRINGS.keys() == set()
    assert ALLOWED_STRINGS.keys() - found == set(), "an allow-list entry no longer needed: remove it"
