"""Every ``toctou-sim`` command and Python example shown in the README and in the documentation
(``docs/``) runs and succeeds (with every model's horizon capped by ``TOCTOU_SIM_SMOKE_HORIZON`` so
the whole manual runs in a few minutes)."""

from __future__ import annotations

import re
import shlex

import pytest
from click.testing import CliRunner
from conftest import ROOT, unwritten_charts

from toctou_sim.cli.main import main

PLACEHOLDER = re.compile(r"\b[A-Z]{3,}\b|\[|…|\.\.\.|<")


PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
MANUAL = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)


def readme_commands() -> list[str]:
    text = MANUAL
    commands = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip().removeprefix("$ ")
            if "&& toctou-sim " in line:
                line = line[line.index("toctou-sim "):]
            if not line.startswith("toctou-sim "):
                continue
            line = re.sub(r"\s+#.*$", "", line)
            if PLACEHOLDER.search(line):
                continue
            commands.append(line)
    # One run per command: the same command with a bundled model by path or by name runs once (the
    # name resolves to the same file: tests/unit/test_bundled.py).
    unique: dict[str, str] = {}
    for line in commands:
        unique.setdefault(" ".join(re.sub(r"\bmodels/(\w+)\.toml\b", r"\1", line).split()), line)
    return list(unique.values())


COMMANDS = readme_commands()

RUN_ELSEWHERE = {
    "toctou-sim explore tests/data/models_explore/lock_pause.toml --strategy fenced --ops 2 --mutations 0":
        "tests/properties/test_explore.py::test_unfenced_lock_lease_loses_an_update_and_fencing_does_not",
    "toctou-sim explore tests/data/models_explore/lock_pause.toml --strategy write_fenced --ops 2 --mutations 0":
        "tests/properties/test_explore.py::test_write_only_fencing_lets_the_zombie_write_land_between_the_new_holders_check_and_write",
}
"""Documented commands a test already runs with the same scope and asserts more of (exhaustive
explorations cannot be made smaller): run once, there."""


def test_the_readme_shows_commands() -> None:
    assert len(COMMANDS) >= 10
    assert "toctou-sim compare models/flash_sale.toml" in COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs(command: str, tmp_path, monkeypatch) -> None:
    if command in RUN_ELSEWHERE:
        pytest.skip(f"runs in {RUN_ELSEWHERE[command]}")
    monkeypatch.setenv("TOCTOU_SIM_SMOKE_HORIZON", "2s")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").symlink_to(ROOT / "models")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "tests").symlink_to(ROOT / "tests")  # the explore example's small scoped models
    # Smaller but the same command: fewer replications, trials, oracles and design points.
    small = command.replace("/tmp/", f"{tmp_path}/")
    if small == "toctou-sim validate":  # every oracle runs in test_oracles.py already
        small += " --oracle 'mismatch, constant window'"
    small = re.sub(r"--reps \d+", "--reps 2", small)
    small = re.sub(r"--max-reps \d+", "--max-reps 3", small)
    if "--precision" in small and "--max-reps" not in small:  # stop on precision, or after 4
        small += " --max-reps 4"
    small = re.sub(r"--grid-reps \d+", "--grid-reps 1", small)
    small = re.sub(r"--lhs \d+", "--lhs 3", small)
    small = re.sub(r"(--grid \S+?=[^,\s]+,[^,\s]+),\S+", r"\1", small)  # a grid's first two values
    args = shlex.split(small)[1:]
    for word in args:  # a page that starts a model with `init` and then runs it: init it here too
        if word.endswith(".toml") and "/" not in word and not (tmp_path / word).exists():
            init = next((c for c in COMMANDS if c.startswith(f"toctou-sim init {word}")), None)
            if init is not None and args[0] != "init":
                assert CliRunner().invoke(main, shlex.split(init)[1:]).exit_code == 0, init
    if args[0] in ("run", "compare", "sweep", "report") and "--reps" not in args:
        args += ["--reps", "2"]
    if args[0] == "sweep" and "--workers" not in args:
        args += ["--workers", "1"]
    if args[0] == "staleness":
        args += ["--reps", "2", "--trials", "2000"]
    # A command's charts are built but not rendered: each is rendered and checked by its command's own
    # tests (test_report.py, test_sweep.py, test_headroom_report.py, test_storms.py, test_calibrate.py).
    unwritten_charts(monkeypatch)
    if args[0] == "report":
        args += ["--trace-ops", "50"]
        if "--no-headroom" not in args and "headroom" not in command:  # the headroom has its own tests
            args.append("--no-headroom")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, f"{command}\n{result.output}\n{result.exception!r}"


# Blocks that connect to a cluster named by a placeholder host (tcp://HEAD:8786) only show the API.
PYTHON_BLOCKS = [block for block in dict.fromkeys(re.findall(r"```python\n(.*?)```", MANUAL, flags=re.S))
                 if "://HEAD:" not in block]


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_readme_python_runs(index: int, tmp_path, monkeypatch) -> None:
    """The README's Python examples run as written (model horizons capped)."""
    monkeypatch.setenv("TOCTOU_SIM_SMOKE_HORIZON", "2s")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").symlink_to(ROOT / "models")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "tests").symlink_to(ROOT / "tests")  # the explore example's small scoped models
    # The same code at small settings: two replications, fewer staleness trials.
    source = re.sub(r"\breps=\d+", "reps=2", PYTHON_BLOCKS[index])
    source = re.sub(r"\btrials=[\d_]+", "trials=2_000", source)
    source = source.replace('"/tmp/', f'"{tmp_path}/')
    import functools

    import toctou_sim

    # the headroom sweep a report adds has its own tests: the examples' reports skip it; so do
    # their charts' rendering (test_report.py renders and checks them)
    monkeypatch.setattr(toctou_sim, "report", functools.partial(toctou_sim.report, headroom=False))
    unwritten_charts(monkeypatch)
    exec(compile(source, f"README python block {index}", "exec"), {"__name__": "__readme__"})


def test_commands_run_elsewhere_are_shown_and_their_tests_exist() -> None:
    for command, test in RUN_ELSEWHERE.items():
        assert command in COMMANDS, command  # the manual still shows it
        path, _, name = test.partition("::")
        assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), test
