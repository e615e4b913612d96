"""Start-up discipline: what a process imports before it needs it.

The Quickstart (``toctou-sim compare models/flash_sale.toml``) spends most of its time importing
and loading, not simulating (``benchmarks/startup.py``). These tests hold the line without timing
anything: each runs a fresh interpreter and asserts on ``sys.modules`` (which libraries were
imported), and on which thread of which process imports the results table's modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from conftest import MODELS

from toctou_sim.cli.common import FRAME_MODULES, TABLE_MODULES, import_table_modules_meanwhile
from toctou_sim.experiment.executors import local_pool, when_workers_started

FLASH = str(MODELS / "flash_sale.toml")

HEAVY = ("pandas", "pyarrow", "matplotlib", "numba", "llvmlite", "scipy", "dask", "distributed", "jinja2", "tqdm",
         "SALib")
"""Libraries that cost 0.1-0.5 s each to import: only the code that uses one imports it."""


def imported_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has imported after running ``code``."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_command_line_imports_no_heavy_library() -> None:
    """(The command line imports the package's root, ``toctou_sim``, first: it is covered too.)"""
    loaded = imported_after("import toctou_sim.cli.main")
    assert "toctou_sim" in loaded and "numpy" in loaded and "click" in loaded  # the probe sees real imports
    assert sorted(loaded.intersection(HEAVY)) == []


def test_reading_a_model_and_the_help_import_no_heavy_library() -> None:
    code = ("from toctou_sim.cli.main import main\n"
            "from toctou_sim.spec.model import load_model\n"
            f"spec = load_model({FLASH!r})\n"
            "[spec.with_strategy(name) for name in spec.default_strategies()]\n"
            "try:\n"
            "    main(['compare', '--help'])\n"
            "except SystemExit:\n"
            "    pass\n")
    loaded = imported_after(code)
    assert "toctou_sim" in loaded and "pydantic" in loaded
    assert sorted(loaded.intersection(HEAVY)) == []


@pytest.mark.slow
def test_a_fast_replication_imports_numba_and_no_table_or_chart_library() -> None:
    """What a worker process imports to run a replication on the fast engine: numba (which
    itself imports scipy's top-level package, not its submodules), and none of pandas,
    matplotlib, Jinja2 or tqdm."""
    pytest.importorskip("numba")
    code = ("import sys\n"
            "from toctou_sim.experiment.montecarlo import run_replication\n"
            "from toctou_sim.spec.model import load_model\n"
            f"spec = load_model({FLASH!r}, {{'model.horizon': 2.0, 'model.warmup': 0.5}})\n"
            "result = run_replication(spec.with_strategy('cas'), 0, 0, engine='fast')\n"
            "assert result.metrics['operations'] > 0\n"
            "print([m for m in ('scipy.stats', 'scipy.special', 'scipy.linalg') if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", code + "import json\nprint(json.dumps(sorted({m.split('.')[0] "
                           "for m in sys.modules})))\n"], capture_output=True, text=True, check=True)
    scipy_parts, loaded = done.stdout.strip().splitlines()[-2:]
    assert "numba" in json.loads(loaded)
    assert sorted(set(json.loads(loaded)).intersection(HEAVY) - {"numba", "llvmlite", "scipy"}) == []
    assert scipy_parts == "[]"


SIMULATORS = {"numba", "llvmlite", "scipy"}
"""What a fast run may import (the kernel): numba, and with it scipy's top-level package."""


@pytest.mark.slow
def test_the_table_and_the_json_of_run_and_compare_import_no_pandas(tmp_path) -> None:
    """``run`` and ``compare`` print their table and ``--json`` from the result's rows; only
    ``--out`` builds the tidy frame, and imports pandas (which shows the probe sees it)."""
    code = ("import json, sys\n"
            "from toctou_sim.cli.main import main\n"
            "def heavy(*args):\n"
            f"    argv = [*args, {FLASH!r}, '--set', 'model.horizon=1s', '--set', 'model.warmup=0.25s',\n"
            "            '--reps', '2', '--workers', '1', '--quiet']\n"
            "    try:\n"
            "        main(argv)\n"
            "    except SystemExit as exc:\n"
            "        assert not exc.code, exc.code\n"
            f"    return sorted({{m.split('.')[0] for m in sys.modules}}.intersection({sorted(HEAVY)!r}))\n"
            "report = [heavy('compare', '--strategies', 'none,cas'), heavy('compare', '--json'), heavy('run'),\n"
            "          heavy('run', '--json'), heavy('run', '--out', sys.argv[1])]\n"
            "print(json.dumps(report))\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out.csv")], capture_output=True, text=True,
                          check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "estimates ± 95% CI" in done.stdout and '"results"' in done.stdout  # the commands printed
    assert [sorted(set(loaded) - SIMULATORS) for loaded in report[:4]] == [[]] * 4
    assert "pandas" in report[4] and (tmp_path / "out.csv").exists()


def _thread_names() -> list[str]:
    return sorted(thread.name for thread in threading.enumerate())


def test_callbacks_run_once_the_pool_has_started_its_workers() -> None:
    calls: list[str] = []
    assert when_workers_started(None, lambda: calls.append("in process")) is False
    with local_pool(2) as pool:
        assert when_workers_started(pool, lambda: calls.append("first")) is True
        assert calls == [] and not getattr(pool, "_processes", None)  # nothing submitted, no worker yet
        assert pool.submit(_thread_names).result()
        assert calls == ["first"] and len(pool._processes) == 2  # every worker forked (or spawned) by then
        pool.submit(int).result()
        assert calls == ["first"]  # once
        assert when_workers_started(pool, lambda: calls.append("late")) is True
        assert calls == ["first", "late"]  # registered after the start: at once
    assert "in process" not in calls


def test_the_table_modules_are_imported_on_a_thread_of_the_parent_while_workers_run() -> None:
    """With ``--out``, the command line imports pandas while the workers simulate; the thread
    starts after the workers exist, so no worker has it (or pandas)."""
    code = ("import json, sys, threading\n"
            "from toctou_sim.cli.common import import_table_modules_meanwhile\n"
            "from toctou_sim.experiment.executors import local_pool\n"
            "def probe():\n"
            "    import sys, threading\n"
            "    return sorted(t.name for t in threading.enumerate()), 'pandas' in sys.modules\n"
            "before = 'pandas' in sys.modules\n"
            "with local_pool(2) as pool:\n"
            "    assert import_table_modules_meanwhile(pool, frame=True)\n"
            "    in_workers = [pool.submit(probe).result() for _ in range(4)]\n"
            "    for thread in threading.enumerate():\n"
            "        if thread.name == 'toctou-sim table imports':\n"
            "            thread.join()\n"
            "print(json.dumps({'before': before, 'after': [m in sys.modules for m in sys.argv[1:]],\n"
            "                  'workers': in_workers}))\n")
    modules = TABLE_MODULES + FRAME_MODULES
    assert "pandas" in modules
    done = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["before"] is False and report["after"] == [True] * len(modules)
    for threads, pandas in report["workers"]:
        assert "toctou-sim table imports" not in threads and pandas is False


def test_in_process_runs_start_no_import_thread() -> None:
    assert import_table_modules_meanwhile(None) is False
    assert "toctou-sim table imports" not in _thread_names()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is chosen on Linux only")
def test_local_pools_fork_on_linux_whatever_pythons_default() -> None:
    """Forked workers inherit the imported package and the loaded kernel; spawned ones (Python
    3.14 makes forkserver Linux's default) would import them again, seconds of CPU each."""
    import multiprocessing

    previous = multiprocessing.get_start_method(allow_none=True)
    with local_pool(1) as pool:
        assert pool._mp_context.get_start_method() == "fork"  # type: ignore[attr-defined]
    assert multiprocessing.get_start_method(allow_none=True) == previous  # the process's default untouched


def test_the_first_run_says_it_compiles_the_kernel(monkeypatch, capsys) -> None:
    """The first fast run after installing compiles the kernel (tens of seconds of CPU): it says
    so on stderr instead of looking hung; a run that loads the cached kernel says nothing."""
    pytest.importorskip("numba")
    from toctou_sim.engines import kernel_driver

    for cached, said in ((False, True), (True, False)):
        monkeypatch.setattr(kernel_driver, "_LOADED", False)
        monkeypatch.setattr(kernel_driver.os.path, "exists", lambda path, cached=cached: cached)
        kernel_driver._load_kernel()
        assert ("compiling the fast engine's kernel" in capsys.readouterr().err) is said


def test_the_program_leaves_its_objects_out_of_the_final_collection() -> None:
    """``toctou-sim`` (``entry``) freezes the garbage collector once the command has returned, so
    the interpreter's exit does not finalize numba's objects one by one; exit handlers still run.
    A command that failed on bad input exits the same way, with its code."""
    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
            "print('frozen before:', gc.get_freeze_count() > 0)\n"
            "sys.argv = ['toctou-sim', *sys.argv[1:]]\n"
            "from toctou_sim.cli.main import entry\n"
            "entry()\n")
    done = subprocess.run([sys.executable, "-c", code, "models"], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[0] == "frozen before: False"
    assert done.stdout.splitlines()[-1] == "frozen at exit: True"
    done = subprocess.run([sys.executable, "-c", code, "run", "no-such-model.toml"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout.splitlines()[-1] == "frozen at exit: True"
