"""The command line as a user meets it: exit codes, one-line errors, tables, JSON and files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import MODELS

from toctou_sim.cli.main import main

FLASH = str(MODELS / "flash_sale.toml")
SMALL = ["--set", "model.horizon=5s", "--set", "model.warmup=1s"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "m.toml"
    path.write_text(text)
    return str(path)


GOOD = """
[clients]
arrival = { poisson = { rate = 5 } }
window = "40ms"
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "file not found"),
        ("[clients\n", "invalid TOML"),
        (GOOD.replace("rate = 5", "rate = -3"), "clients.arrival.poisson.rate: must be > 0, got -3"),
        (GOOD.replace("rate = 5", 'rate = "many"'), "clients.arrival.poisson.rate: expected a number"),
        (GOOD + "\n[slo]\ntarget = 1.2\n", "slo.target: must be < 1, got 1.2"),
        (GOOD + "\n[strategy]\nkind = 'optimism'\n", "strategy: unknown strategy 'optimism'"),
        (GOOD.replace('"40ms"', "{ normal = { mean = 1 } }"), "clients.window: unknown distribution 'normal'"),
        (GOOD + "\n[keys]\ncount = 0\n", "keys.count: must be >= 1, got 0"),
        (GOOD + "\n[keys]\ncolour = 'red'\n", "keys.colour: unknown field"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, text, expected) -> None:
    path = str(tmp_path / "missing.toml") if text is None else write(tmp_path, text)
    result = invoke("run", path, "--reps", "1")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and path in lines[0]
    assert "Traceback" not in result.output


def test_unknown_strategy_on_the_command_line(tmp_path) -> None:
    result = invoke("compare", write(tmp_path, GOOD), "--strategies", "none,teleport", "--reps", "1")
    assert result.exit_code == 2
    assert "unknown strategy 'teleport'" in result.output


def test_bad_set_syntax(tmp_path) -> None:
    result = invoke("run", write(tmp_path, GOOD), "--set", "oops")
    assert result.exit_code == 2 and "expected PATH=VALUE" in result.output


def test_internal_error_exits_1_with_traceback(tmp_path, monkeypatch) -> None:
    import toctou_sim.experiment.montecarlo as mc

    def boom(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(mc, "simulate", boom)
    result = invoke("run", write(tmp_path, GOOD), "--reps", "1")
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)


def test_compare_prints_side_by_side_table() -> None:
    result = invoke("compare", FLASH, "--reps", "2", *SMALL)
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.split()[:1] == ["none"]).split()
    assert header == ["none", "cas", "conditional_decrement", "reservation", "lock"]  # none + the model's own
    assert "violation_rate" in result.output and "paired difference vs none" in result.output
    assert "(the harm: oversell)" in result.output and "retries: cas 3x from 10ms" in result.output


def test_json_rows_and_out_files(tmp_path) -> None:
    csv, parquet = tmp_path / "r.csv", tmp_path / "r.parquet"
    result = invoke("compare", FLASH, "--reps", "2", "--strategies", "none,cas", "--json", "--out", str(csv), *SMALL)
    assert result.exit_code == 0
    rows = json.loads(result.output)["results"]
    assert {"strategy", "metric", "estimate", "ci_low", "ci_high", "n_reps"} <= set(rows[0])
    assert {r["strategy"] for r in rows} == {"none", "cas"}
    assert len(pd.read_csv(csv)) == len(rows)
    assert invoke("run", FLASH, "--reps", "1", "--out", str(parquet), *SMALL).exit_code == 0
    assert len(pd.read_parquet(parquet)) > 10


@pytest.mark.slow
def test_json_is_byte_identical_across_processes() -> None:
    command = [sys.executable, "-m", "toctou_sim.cli.main", "compare", FLASH, "--reps", "2", "--seed", "7", "--json",
               *SMALL]
    first = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    second = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert first == second and len(first) > 1000


def test_workers_give_the_same_numbers_as_serial() -> None:
    serial = invoke("run", FLASH, "--reps", "3", "--json", *SMALL).output
    parallel = invoke("run", FLASH, "--reps", "3", "--json", "--workers", "2", *SMALL).output
    assert serial == parallel


def test_precision_says_what_stopped_it() -> None:
    result = invoke("run", FLASH, "--reps", "2", "--precision", "0.0001", "--max-reps", "3", *SMALL)
    assert result.exit_code == 0 and "--max-reps reached" in result.output


def test_models_lists_bundled_models() -> None:
    result = invoke("models")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert "flash_sale" in names and "oversell" in result.output
    assert names == sorted(path.stem for path in MODELS.glob("*.toml"))


def test_validate_passes() -> None:
    result = invoke("validate", "--oracle", "mismatch, constant window")
    assert result.exit_code == 0 and "3 of 3 checks passed" in result.output
