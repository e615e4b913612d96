"""Where the Quickstart's time goes: ``toctou-sim compare models/flash_sale.toml`` from a fresh process.

Run by hand (not a timed test)::

    python benchmarks/startup.py                 # the README's command, and with --reps 3, least of 3 runs
    python benchmarks/startup.py --runs 5 --json startup.json
    python benchmarks/startup.py --steps-only    # only the step-by-step breakdown in one process

Three measurements, each with the load average it was taken at (the machine may be shared):

1. the command itself, each run a fresh process: wall time, and CPU time (user + system) of the
   command's own process, of its worker processes, and of the interpreter's exit once the output
   is printed (``exit``; the final garbage collection, which ``toctou-sim`` skips: see
   ``cli.main._skip_final_collection``) apart; the least wall of ``--runs`` runs is reported with
   that run's CPU times. An idle 2-core machine needs about the parent's CPU plus half the
   workers' plus the exit (a lower bound when the workers' share is small: they are also forked
   then);
2. the same with a copy of the package that has no bytecode, run with ``PYTHONDONTWRITEBYTECODE=1``
   (as some CI and sandbox environments set it, so an editable install never gets any): every
   module of the package is then compiled from source at each start;
3. the steps in one process, CPU and wall each: importing the command line, the plug-ins, reading
   the model, importing numba and loading the compiled kernel, the replications (in process),
   the tidy rows, the table (printed from the rows: the command imports pandas only for ``--out``).

The command runs with bytecode writing enabled unless said otherwise (a user's installation writes
``__pycache__`` at the first run); the first run here also writes it, and is not counted when
``--runs`` > 1 (each row is the least of the runs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FLASH = ROOT / "models" / "flash_sale.toml"

RUSAGE = """
import json, os, resource, sys, time
started = time.perf_counter()
sys.argv = ["toctou-sim", *sys.argv[1:]]
import toctou_sim.cli.main as cli
from toctou_sim.cli.main import main
code = 0
try:
    main(standalone_mode=False)
except SystemExit as exc:
    code = exc.code or 0
own = resource.getrusage(resource.RUSAGE_SELF)
workers = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write("RUSAGE " + json.dumps({"parent_cpu_s": own.ru_utime + own.ru_stime,
                                         "workers_cpu_s": workers.ru_utime + workers.ru_stime,
                                         "inner_wall_s": time.perf_counter() - started, "exit_code": code}) + "\\n")
getattr(cli, "_skip_final_collection", lambda: None)()  # as the toctou-sim program (cli.main.entry) exits
"""
"""Runs the command line in a process that reports its own CPU time and its workers' apart (the
interpreter's exit after that is measured from outside: :func:`_run`)."""


SOURCE: Path | None = None
"""A source tree measured instead of the installed package (``--source``), e.g. an export of main."""


def _env(bytecode: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if SOURCE is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(SOURCE), *filter(None, [env.get("PYTHONPATH")])])
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


_NEUTRAL: Path | None = None


def _cwd() -> Path:
    """Where the measured processes run: an empty folder. ``python -c`` puts its working folder
    first on ``sys.path``, so a run inside the repository would import the repository's package
    whatever ``--source`` or the bytecode-less copy put on ``PYTHONPATH``."""
    global _NEUTRAL
    if _NEUTRAL is None:
        import atexit
        import shutil
        import tempfile

        _NEUTRAL = Path(tempfile.mkdtemp(prefix="toctou-startup-cwd-"))
        atexit.register(shutil.rmtree, _NEUTRAL, True)
    return _NEUTRAL


def _package_dir() -> Path:
    if SOURCE is not None:
        return SOURCE / "toctou_sim"
    done = subprocess.run([sys.executable, "-c", "import toctou_sim; print(toctou_sim.__file__)"], capture_output=True,
                          text=True, check=True, env=_env(True))
    return Path(done.stdout.strip()).parent


def _no_bytecode_env(tree: Path) -> dict[str, str]:
    """An environment that runs a copy of the package in ``tree`` without its bytecode: every
    module of the package is compiled from source at each start, as in an editable install run
    with ``PYTHONDONTWRITEBYTECODE=1`` (installed libraries keep the bytecode pip wrote). The
    copy keeps numba's cache of the kernel (with the sources' times, which the cache checks)."""
    import shutil

    package = _package_dir()
    if not (tree / "toctou_sim").exists():
        def ignore(folder: str, names: list[str]) -> set[str]:
            if Path(folder).name == "__pycache__":
                return {name for name in names if name.endswith(".pyc")}
            return set()

        shutil.copytree(package, tree / "toctou_sim", ignore=ignore)
    env = _env(False)
    env["PYTHONPATH"] = str(tree)
    return env


def _run(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run ``args``; its result, wall time, and CPU time (user + system) of the process and of
    every process it waited for, up to its exit (``wait4``: the interpreter's exit included)."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, stdout=out, stderr=err, text=True, env=env, cwd=_cwd())
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(args, process.returncode, out.read(), err.read())
    return done, wall, usage.ru_utime + usage.ru_stime


def command_runs(extra: list[str], runs: int, bytecode: bool = True) -> dict[str, Any]:
    """The least wall time of ``runs`` fresh processes running ``compare FLASH extra``, with that
    run's CPU times (the command's process and its workers), the least CPU time of the runs, and
    the load average. Without ``bytecode``: see :func:`_no_bytecode_env`."""
    import tempfile

    best: dict[str, Any] | None = None
    least_cpu = float("inf")
    scratch = tempfile.TemporaryDirectory(prefix="toctou-startup-")
    env = _env(True) if bytecode else _no_bytecode_env(Path(scratch.name))
    for _ in range(runs):
        load = os.getloadavg()[0]
        done, wall, total_cpu = _run([sys.executable, "-c", RUSAGE, "compare", str(FLASH), "--quiet", *extra], env)
        line = next((x for x in done.stderr.splitlines() if x.startswith("RUSAGE ")), None)
        if line is None:
            raise RuntimeError(f"the command failed: {done.stderr[-2000:]}")
        row: dict[str, Any] = json.loads(line[len("RUSAGE "):])
        row.update(wall_s=wall, cpu_s=total_cpu, exit_cpu_s=total_cpu - row["parent_cpu_s"] - row["workers_cpu_s"],
                   load_average=max(load, os.getloadavg()[0]),
                   engine=next((x for x in done.stdout.splitlines() if x.startswith("engine:")), ""))
        row["idle_2_cores_estimate_s"] = row["parent_cpu_s"] + row["workers_cpu_s"] / 2 + row["exit_cpu_s"]
        least_cpu = min(least_cpu, row["cpu_s"])
        if best is None or row["wall_s"] < best["wall_s"]:
            best = row
    scratch.cleanup()
    assert best is not None
    best["least_cpu_s"] = least_cpu
    best["runs"] = runs
    best["bytecode"] = bytecode
    return best


STEPS = """
import json, sys, time
marks = [(time.perf_counter(), time.process_time())]
steps = []
def mark(name):
    now = (time.perf_counter(), time.process_time())
    steps.append({"step": name, "wall_s": now[0] - marks[-1][0], "cpu_s": now[1] - marks[-1][1]})
    marks.append(now)
import toctou_sim.cli.main
mark("import the command line (numpy, pydantic, the package)")
from toctou_sim.spec.registry import REGISTRY
REGISTRY.load()
mark("plug-ins (built-ins and entry points)")
from toctou_sim.spec.model import load_model
spec = load_model(sys.argv[1])
names = spec.default_strategies()
models = [spec.with_strategy(name) for name in names]
mark("read the model, its strategies")
from toctou_sim.engines.fastpath import resolve_engine
engines = [resolve_engine(model, "auto") for model in models]
mark("import numba (choosing the engine)")
from toctou_sim.engines.kernel_driver import warm_up
warm_up()
mark("load the compiled kernel")
from toctou_sim.experiment.montecarlo import compare
result = compare(spec, names, reps=int(sys.argv[2]), seed=0)
mark(f"{sys.argv[2]} replications x {len(names)} strategies, in process")
if hasattr(result, "to_rows"):
    rows = result.to_rows()
    mark("the tidy rows (estimates, paired differences)")
else:  # a tree from before to_rows (--source): the table came from the frame
    import pandas
    mark("import pandas (a tree without to_rows)")
    rows = result.to_frame()
    mark("the tidy frame (a tree without to_rows)")
from toctou_sim.reporting.present import comparison_table, shown_metrics
text = comparison_table(rows, shown_metrics(rows))
mark("the table")
print(json.dumps({"steps": steps, "engines": [e[0] for e in engines]}))
"""
"""The command's steps in one process, in the order the command takes them (workers aside)."""


def steps(reps: int, runs: int) -> dict[str, Any]:
    """Each step's least CPU and wall time over ``runs`` fresh processes."""
    best: dict[str, dict[str, Any]] = {}
    load = os.getloadavg()[0]
    engines: list[str] = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", STEPS, str(FLASH), str(reps)], capture_output=True, text=True,
                              check=True, env=_env(True), cwd=_cwd())
        report = json.loads(done.stdout.strip().splitlines()[-1])
        engines = report["engines"]
        for row in report["steps"]:
            kept = best.setdefault(row["step"], dict(row))
            kept["cpu_s"] = min(kept["cpu_s"], row["cpu_s"])
            kept["wall_s"] = min(kept["wall_s"], row["wall_s"])
        load = max(load, os.getloadavg()[0])
    return {"reps": reps, "runs": runs, "engines": engines, "load_average": load, "steps": list(best.values())}


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return f"load average {os.getloadavg()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Fresh processes per measurement (the least is kept).")
    parser.add_argument("--steps-only", action="store_true", help="Only the step-by-step breakdown.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the numbers to this file.")
    parser.add_argument("--source", type=Path, default=None,
                        help="Measure this source tree instead of the installed package (for a before/after: an "
                             "export of another branch; copy engines/__pycache__ with the kernel's mtime to skip "
                             "numba's compilation).")
    args = parser.parse_args(argv)
    global SOURCE
    SOURCE = args.source.resolve() if args.source is not None else None
    report: dict[str, Any] = {"cores": len(os.sched_getaffinity(0)), "python": sys.version.split()[0],
                              "source": str(SOURCE or "installed"), "uptime_start": _uptime()}
    if not args.steps_only:
        for label, extra in (("readme", []), ("reps3", ["--reps", "3"])):
            report[label] = command_runs(extra, args.runs)
        report["reps3_no_bytecode"] = command_runs(["--reps", "3"], args.runs, bytecode=False)
    report["steps"] = steps(3, args.runs)
    report["uptime_end"] = _uptime()
    print(f"Quickstart start-up ({report['cores']} cores, Python {report['python']}, {report['source']})")
    print(f"  at start: {report['uptime_start']}")
    for label, title in (("readme", "compare models/flash_sale.toml"),
                         ("reps3", "compare models/flash_sale.toml --reps 3"),
                         ("reps3_no_bytecode", "the same, no bytecode of the package")):
        row = report.get(label)
        if row is None:
            continue
        print(f"  {title:<45} wall {row['wall_s']:5.2f} s  CPU {row['cpu_s']:5.2f} s (command "
              f"{row['parent_cpu_s']:.2f} s + workers {row['workers_cpu_s']:.2f} s + exit {row['exit_cpu_s']:.2f} s; "
              "idle 2 cores ~ "
              f"{row['idle_2_cores_estimate_s']:.2f} s)  least CPU {row['least_cpu_s']:.2f} s  load "
              f"{row['load_average']:.1f}  least wall of {row['runs']}")
    if "readme" in report:
        print(f"  {report['readme']['engine']}")
    block = report["steps"]
    print(f"  steps in one process ({block['reps']} reps, least of {block['runs']}, load {block['load_average']:.1f}):")
    for row in block["steps"]:
        print(f"    {row['step']:<52} CPU {row['cpu_s']:5.3f} s  wall {row['wall_s']:5.3f} s")
    total = sum(row["cpu_s"] for row in block["steps"])
    print(f"    {'total':<52} CPU {total:5.3f} s")
    print(f"  at end: {report['uptime_end']}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
