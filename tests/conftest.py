"""Shared helpers for the test suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Compile each module once per run, not once per process. With PYTHONDONTWRITEBYTECODE set (some
# containers set it), every process of the suite (each xdist worker, each `toctou-sim` the CLI and
# documentation tests start) compiles the package and the test modules from source again, about a
# third of a second of CPU per process. Bytecode goes to __pycache__/, which git ignores. Set
# before the package is imported, and in the environment the workers and subprocesses inherit.
if sys.dont_write_bytecode or os.environ.get("PYTHONDONTWRITEBYTECODE"):
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
from typing import Any

import pytest
from unwritten import unwritten_save

from toctou_sim.measure.metrics import OUTCOMES
from toctou_sim.spec.model import ModelSpec, parse_model
from toctou_sim.world import World

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def model(**sections: Any) -> ModelSpec:
    """A model from keyword sections; ``clients`` defaults to a tiny Poisson rate."""
    data: dict[str, Any] = {"clients": {"arrival": {"poisson": {"rate": 1.0}}}}
    data.update(sections)
    return parse_model(data, source="<test>")


@pytest.fixture
def root() -> Path:
    return ROOT


def pytest_configure(config: pytest.Config) -> None:
    """Compile the event kernel once, before the xdist workers start: a fresh checkout has no
    numba cache, and every worker would otherwise compile the same kernel at once (a minute of CPU
    each); they load the cached kernel instead."""
    if hasattr(config, "workerinput") or config.getoption("numprocesses", None) in (None, 0):
        return
    from toctou_sim.engines.kernel_driver import warm_up

    warm_up()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (the default, ``pyproject.toml``): one worker more than this process may use
    cores. Many tests wait on a subprocess (a notebook kernel, a `toctou-sim` command, a wheel
    install) part of the time; a third worker on 2 cores fills those waits (measured: 386 s with 2
    workers, 341 s with 3)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores + 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the modules holding a test marked ``slow`` first: a worker that starts the longest test
    last keeps the whole suite waiting for it while the others sit idle. A module's tests stay
    together (a module-scoped fixture is built once per worker) and in their own order."""
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start ``mypy`` in the background when the lint test will run in a single process: it takes
    the longest of the checks and uses the second core while the simulations run on the first.
    Under xdist every worker collects every test, and the workers already use every core."""
    if hasattr(session.config, "workerinput"):
        return
    if any(item.nodeid.startswith("tests/unit/test_lint.py::test_mypy") for item in session.items):
        import subprocess
        import sys

        session.config.stash[MYPY] = subprocess.Popen(
            [sys.executable, "-m", "mypy"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )


MYPY = pytest.StashKey["subprocess.Popen[str]"]()
"""The background ``mypy`` run (see :func:`pytest_collection_finish`)."""
@pytest.fixture(autouse=True)
def _close_figures() -> Any:
    """Charts are pyplot-managed figures (so notebooks show them): release them after each test."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


class LoggingWorld(World):
    """A world that logs how each scripted operation ends, by name: ``at(time, name, **durations)``
    submits one operation on key 0; a copy the world sends again (a redelivery, a resent request)
    is logged as "A again"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[tuple[str, str, float]] = []
        self.names: dict[int, str] = {}

    def finish(self, op: Any, outcome: int) -> None:
        self.log.append((self.names.get(id(op), "A again"), OUTCOMES[outcome], self.env.now))
        super().finish(op, outcome)

    def at(self, time: float, name: str, **durations: float) -> None:
        def start() -> Any:
            yield self.env.timeout(time)
            op = self.submit(0, **durations)
            self.names[id(op)] = name

        self.env.process(start())


def unwritten_charts(monkeypatch: pytest.MonkeyPatch, keep: tuple[str, ...] = ()) -> None:
    """Build every chart a command draws but do not render it: ``plots.save`` closes the figure and
    leaves empty ``.png``/``.svg`` files where it would have written them. For tests whose subject
    is a command's flow (options, folders, the page's text), not its pictures: rendering is about
    a second of CPU per chart and format, and the chart tests (``tests/unit/test_charts.py``,
    ``tests/models/test_report.py``) render and check every one. Charts named in ``keep`` (file
    stems) are rendered as usual. (A notebook's kernel or a subprocess: ``unwritten.preamble``.)"""
    from toctou_sim.reporting import plots

    monkeypatch.setattr(plots, "save", unwritten_save(keep))
