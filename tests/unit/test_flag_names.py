"""A library call names its parameters in its errors, the command line names its flags.

``toctou_sim.sweep(..., ranges=...)`` without ``lhs`` says ``ranges: give lhs, ...``: a Python
caller has no ``--lhs``. ``toctou-sim sweep --range ...`` without ``--lhs`` says ``--range: give
--lhs N, ...``: the command line translates the library's message (``cli.common.flag_names``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from toctou_sim.cli.common import flag_names
from toctou_sim.cli.main import main
from toctou_sim.experiment.executors import open_executor
from toctou_sim.spec.model import SpecError
from toctou_sim.sweeps.design import Range
from toctou_sim.sweeps.driver import plan_sweep

FLASH = str(Path(__file__).resolve().parents[2] / "models" / "flash_sale.toml")

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
