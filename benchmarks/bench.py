"""Benchmarks of toctou-sim: engine speed against a bare SimPy floor, memory, workers, estimators.

Run by hand (not a timed test)::

    python benchmarks/bench.py            # full: >= 1M operations per case, 10M for memory
    python benchmarks/bench.py --quick    # a minute or so: 100k operations per case
    python benchmarks/bench.py --json bench.json --only a,b
    python benchmarks/bench.py --only none --instructions a,b,d,e --ops 40000   # valgrind counts

Every engine case runs in a fresh subprocess (so its peak RSS is its own) which first runs the
engine and then the bare hand-written SimPy script of the same flow (``bare_simpy.py``) with the
same parameters, in the same process. Speeds are CPU seconds (``time.process_time``), and each case
is reported as a ratio to its bare script measured in the same session: the machine is shared,
so absolute ops/s are noisy while the ratio is stable.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

FLASH = ROOT / "models" / "flash_sale.toml"
STALE = ROOT / "models" / "f1_stale_validation.toml"
RARE = ROOT / "benchmarks" / "models" / "rare_revocation.toml"

# ---------------------------------------------------------------------------------------------
# Cases run in a child process.

CASES: dict[str, dict[str, Any]] = {
    "a": {"title": "(a) direct read, none", "model": FLASH, "strategy": "none", "bare": "none"},
    "b": {"title": "(b) direct read, cas (contended)", "model": FLASH, "strategy": "cas", "bare": "cas"},
    "c": {"title": "(c) lock (lease, fencing)", "model": FLASH, "strategy": "lock", "bare": "lock"},
    "d": {"title": "(d) cache read path, none", "model": FLASH, "strategy": "none", "bare": "cache_none",
          "read_path": "cache",
          "read_path_overrides": [{"read_path.kind": "cache", "read_path.ttl": "2s", "read_path.capacity": 10000,
                                   "read_path.read_latency": {"exponential": {"mean": "0.3ms"}},
                                   "read_path.invalidation": {"delay": {"exponential": {"mean": "150ms"}}}},
                                  {"read_path.kind": "cache"}]},
    "e": {"title": "(e) quorum N=3, none", "model": FLASH, "strategy": "none", "bare": "quorum_none",
          "read_path": "replica",
          "read_path_overrides": [{"read_path.kind": "replica", "read_path.n": 3},
                                  {"read_path.kind": "replica", "read_path.replicas": 3},
                                  {"read_path.kind": "replica", "read_path.N": 3},
                                  {"read_path.kind": "replica"}]},
    "f": {"title": "(f) fast engine: stale-validation, none", "model": STALE, "strategy": "none", "bare": None,
          "engine": "fast"},
    "g": {"title": "(g) DES engine: stale-validation, none", "model": STALE, "strategy": "none", "bare": None},
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _load_case(case: dict[str, Any], ops: int) -> tuple[Any, str | None]:
    from toctou_sim.spec.model import SpecError, load_model
    from toctou_sim.world import READ_PATHS

    base = load_model(case["model"])
    rate = base.clients.arrival.poisson.rate
    overrides: dict[str, Any] = {"model.horizon": max(ops / rate, 1.0), "model.warmup": 0}
    kind = case.get("read_path")
    if kind is not None:
        if kind not in READ_PATHS:
            return None, f"read path {kind!r} is not registered on this branch"
        errors = []
        for extra in case["read_path_overrides"]:
            try:
                return load_model(case["model"], {**overrides, **extra}).with_strategy(case["strategy"]), None
            except SpecError as exc:
                errors.append(str(exc))
        return None, f"could not configure read path {kind!r}: {errors[-1]}"
    return load_model(case["model"], overrides).with_strategy(case["strategy"]), None


def child(case_name: str, ops: int, seed: int) -> dict[str, Any]:
    """Run one case in this (fresh) process: the engine, then its bare script."""
    case = CASES[case_name]
    model, skipped = _load_case(case, ops)
    row: dict[str, Any] = {"case": case_name, "title": case["title"]}
    if model is None:
        row["skipped"] = skipped
        return row
    from toctou_sim.core.distributions import RandomStreams
    from toctou_sim.measure.metrics import ReplicationResult

    engine = case.get("engine", "des")
    rss_before = _rss_mb()
    start = time.process_time()
    if engine == "fast":
        from toctou_sim.engines.fastpath import run_fast

        result = run_fast(model, 0, seed)
        events = math.nan
        unfinished = result.metrics.get("unfinished", 0.0)
    else:
        from toctou_sim.world import World

        world = World(model, RandomStreams(seed, 0))
        world.run()
        result = ReplicationResult.from_recorder(
            world.recorder, replication=0, seed=seed, strategy=case["strategy"],
            measured_time=model.model.horizon - model.model.warmup, extra=world.extra_metrics())
        events = float(next(world.env._eid))
        unfinished = float(world.in_flight)
    cpu = time.process_time() - start
    simulated = result.metrics["operations"] + unfinished
    row.update({
        "engine": engine,
        "operations": simulated,
        "cpu_s": cpu,
        "ops_per_s": simulated / cpu,
        "events_per_s": events / cpu,
        "peak_rss_mb": _rss_mb(),
        "rss_after_imports_mb": rss_before,
        "violation_rate": result.metrics["violation_rate"],
    })
    if case["bare"] is not None:
        import bare_simpy

        params = bare_simpy.params_from_model(model)
        run_bare = getattr(bare_simpy, f"bare_{case['bare']}")
        start = time.process_time()
        bare = run_bare(params, seed)
        bare_cpu = time.process_time() - start
        row.update({
            "bare_operations": bare["operations"],
            "bare_cpu_s": bare_cpu,
            "bare_ops_per_s": bare["operations"] / bare_cpu,
            "bare_events_per_s": bare["events"] / bare_cpu,
            "bare_violation_rate": bare["violations"] / max(bare["operations"], 1),
            # time per operation of the engine over that of the bare script (1.0 = the floor)
            "time_ratio": (cpu / simulated) / (bare_cpu / bare["operations"]),
        })
    return row


def instruction_child(case_name: str, ops: int, seed: int) -> None:
    """Run a case's engine and then its bare script in this process, each inside its own
    ``eval`` call, for :func:`section_instructions` (valgrind counts inside ``eval`` calls only,
    and these are the last two): a tiny run of both first, so that imports and first-call costs
    fall outside the counts."""
    import bare_simpy

    from toctou_sim.core.distributions import RandomStreams
    from toctou_sim.world import World

    case = CASES[case_name]
    model, _ = _load_case(case, ops)
    small, _ = _load_case(case, 200)
    run_bare = getattr(bare_simpy, f"bare_{case['bare']}")
    World(small, RandomStreams(seed, 0)).run()
    run_bare(bare_simpy.params_from_model(small), seed)
    world = World(model, RandomStreams(seed, 0))
    params = bare_simpy.params_from_model(model)
    eval("world.run()", {"world": world})  # counted: the engine
    bare = eval("run_bare(params, seed)", {"run_bare": run_bare, "params": params, "seed": seed})  # counted
    print(json.dumps({"engine": world.recorder.operations + world.in_flight, "bare": bare["operations"]}))


def section_instructions(cases: list[str], ops: int, seed: int) -> list[dict[str, Any]]:
    """Instructions per operation of the DES engine over its bare SimPy script, counted by
    valgrind (callgrind): unlike CPU time, a count does not move with a shared machine's load.
    One process per case runs both, and callgrind counts only inside ``eval`` calls
    (``--toggle-collect``), writing one count per call (``--dump-after``); the last two are the
    engine's and the bare script's: no start-up work enters."""
    import shutil
    import tempfile

    if shutil.which("valgrind") is None:
        return [{"case": name, "skipped": "valgrind is not installed"} for name in cases]
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    rows = []
    for name in cases:
        with tempfile.TemporaryDirectory() as folder:
            spec = json.dumps({"case": name, "ops": ops, "seed": seed})
            out = subprocess.run(["valgrind", "--tool=callgrind", "--collect-atstart=no",
                                  "--toggle-collect=builtin_eval", "--dump-after=builtin_eval",
                                  f"--callgrind-out-file={folder}/cg", sys.executable, __file__,
                                  "--instruction-child", spec], capture_output=True, text=True, env=env, check=False)
            totals = []
            for dump in sorted(Path(folder).glob("cg.*"), key=lambda p: int(p.suffix[1:])):
                lines = [line for line in dump.read_text().splitlines() if line.startswith(("totals:", "summary:"))]
                if lines and int(lines[0].split()[1]) > 0:
                    totals.append(int(lines[0].split()[1]))
        totals = totals[-2:]
        if out.returncode != 0 or len(totals) != 2:
            last = out.stderr.strip().splitlines()[-1:] or [f"exit {out.returncode}"]
            rows.append({"case": name, "error": f"{last[0]} ({len(totals)} counts)"})
            continue
        operations = json.loads(out.stdout.strip().splitlines()[-1])
        engine, bare = totals[0] / operations["engine"], totals[1] / operations["bare"]
        rows.append({"case": name, "title": CASES[name]["title"], "ops": ops, "engine_per_op": engine,
                     "bare_per_op": bare, "instruction_ratio": engine / bare})
        print(f"done instructions {CASES[name]['title']}", file=sys.stderr)
    return rows


def _spawn(args: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------------------------------
# Sections run in the parent.


def section_workers(reps: int, ops_per_rep: int, seed: int) -> dict[str, Any]:
    """Wall time of the same replications on 1 and 2 worker processes."""
    from concurrent.futures import ProcessPoolExecutor

    from toctou_sim import load_model, simulate

    model = load_model(FLASH, {"model.horizon": ops_per_rep / 500.0, "model.warmup": 0})
    walls = {}
    for workers in (1, 2):
        with ProcessPoolExecutor(max_workers=workers) as pool:
            simulate(model, reps=workers, seed=seed + 99, executor=pool)  # warm the workers up
            start = time.perf_counter()
            simulate(model, reps=reps, seed=seed, executor=pool)
            walls[workers] = time.perf_counter() - start
    ops = reps * ops_per_rep
    return {
        "reps": reps,
        "ops_per_rep": ops_per_rep,
        "wall_1_worker_s": walls[1],
        "wall_2_workers_s": walls[2],
        "ops_per_s_1_worker": ops / walls[1],
        "ops_per_s_2_workers": ops / walls[2],
        "parallel_efficiency": walls[1] / (2 * walls[2]),
        "load_average": os.getloadavg()[0],
    }


def section_crn(reps: int, seed: int) -> dict[str, Any]:
    """CI half-width of the paired difference cas - none (common random numbers) vs independent streams.

    Two models: the contended flash sale (the strategies change the stock trajectory, and cas
    never violates, so little is shared) and stale-validation with uniform keys (low contention:
    the difference is small next to the workload's own noise, which is where pairing pays).
    """
    import numpy as np
    from scipy import stats

    from toctou_sim import compare, load_model, simulate

    out: dict[str, Any] = {"reps": reps, "models": {}}
    for name, path, overrides in (
        ("flash_sale (20 s)", FLASH, {"model.horizon": "20s", "model.warmup": "2s"}),
        ("stale_validation, uniform keys (30 s)", STALE, {"model.horizon": "30s", "keys.popularity": "uniform"}),
    ):
        model = load_model(path, overrides)
        paired = compare(model, ["none", "cas"], reps=reps, seed=seed)
        independent_cas = simulate(model, strategy="cas", reps=reps, seed=seed + 1)
        rows = {}
        for metric in ("throughput_ops_s", "latency_mean_ms", "latency_p99_ms", "mismatch_rate", "violation_rate"):
            d = paired.difference("cas", metric)
            none = np.array([r.metrics[metric] for r in paired.results["none"].replications])
            cas = np.array([r.metrics[metric] for r in independent_cas.replications])
            # half-width of the difference of two independent means at the same replications
            se = math.sqrt(none.var(ddof=1) / reps + cas.var(ddof=1) / reps)
            half_independent = float(stats.t.ppf(0.975, reps - 1)) * se
            rows[metric] = {
                "paired_half_width": d.half_width,
                "independent_half_width": half_independent,
                "narrower_by": half_independent / d.half_width if d.half_width > 0 else math.nan,
                "paired_estimate": d.estimate,
            }
        out["models"][name] = rows
    return out


def section_conditional(reps: int, seed: int) -> dict[str, Any]:
    """Variance of per-replication rates: plain 0/1 estimator vs conditional Monte Carlo."""
    import numpy as np

    from toctou_sim import load_model, simulate

    out = {}
    for name, path, overrides in (
        ("stale_validation", STALE, {"model.horizon": "60s"}),
        ("rare_revocation", RARE, {}),
    ):
        model = load_model(path, overrides)
        rows = {}
        for estimator in ("plain", "conditional"):
            start = time.process_time()
            result = simulate(model, reps=reps, seed=seed, engine="fast", estimator=estimator)
            cpu = time.process_time() - start
            values = np.array([r.metrics["violation_rate"] for r in result.replications])
            est = result.estimate("violation_rate")
            rows[estimator] = {"estimate": est.estimate, "ci_low": est.ci_low, "ci_high": est.ci_high,
                               "variance": float(values.var(ddof=1)), "cpu_s": cpu}
        rows["variance_ratio_plain_over_conditional"] = rows["plain"]["variance"] / rows["conditional"]["variance"]
        out[name] = rows
    return {"reps": reps, "models": out}


def section_precision(seed: int, include_des: bool) -> dict[str, Any]:
    """CPU time to reach a ±10% relative half-width on a violation rate near 1e-4."""
    from toctou_sim import load_model, simulate

    model = load_model(RARE)
    out = {}
    configs = [("fast", "conditional"), ("fast", "plain")]
    if include_des:
        configs.append(("des", "plain"))
    for engine, estimator in configs:
        start = time.process_time()
        result = simulate(model, reps=5, seed=seed, precision=0.1, max_reps=5000, engine=engine,
                          estimator=estimator)
        cpu = time.process_time() - start
        est = result.estimate("violation_rate")
        out[f"{engine}/{estimator}"] = {
            "cpu_s": cpu, "reps": result.n_reps, "stopped_by": result.stopped_by,
            "estimate": est.estimate, "relative_half_width": est.relative_half_width,
            "events": est.events,
            "operations": sum(r.metrics["operations"] for r in result.replications),
        }
    return out


# ---------------------------------------------------------------------------------------------


def section_fast(ops: int, seed: int, models: set[str] | None = None, repeats: int = 1) -> list[dict[str, Any]]:
    """Fast engine vs DES engine on every qualifying strategy of every bundled model (or of
    ``models``, file stems): CPU time of the same replication on each engine (the kernel loaded
    beforehand; the least of ``repeats`` runs of each, which a shared machine's load inflates
    least), and whether every metric is identical."""
    from toctou_sim.engines.fastpath import qualifies
    from toctou_sim.engines.kernel import COMPILED
    from toctou_sim.engines.kernel_driver import warm_up
    from toctou_sim.experiment.montecarlo import run_replication
    from toctou_sim.spec.model import load_model

    warm_up()
    rows = []
    for path in sorted((ROOT / "models").glob("*.toml")):
        if models is not None and path.stem not in models:
            continue
        base = load_model(path)
        rate = base.clients.arrival.poisson.rate
        horizon = max(ops / rate, 1.0)
        spec = load_model(path, {"model.horizon": horizon, "model.warmup": min(base.model.warmup, horizon / 10)})
        for name in spec.default_strategies():
            model = spec.with_strategy(name)
            if not qualifies(model)[0]:
                continue
            timings = {}
            results = {}
            for engine in ("des", "fast"):
                for _ in range(repeats):
                    started = time.process_time()
                    results[engine] = run_replication(model, 0, seed, engine=engine)
                    spent = time.process_time() - started
                    timings[engine] = min(timings.get(engine, math.inf), spent)
            des, fast = results["des"].metrics, results["fast"].metrics
            same = des.keys() == fast.keys() and all(
                des[k] == fast[k] or (math.isnan(des[k]) and math.isnan(fast[k])) for k in des)
            rows.append({"model": path.name, "strategy": name, "operations": des["operations"],
                         "des_cpu_s": timings["des"], "fast_cpu_s": timings["fast"],
                         "ratio": timings["des"] / timings["fast"] if timings["fast"] > 0 else math.nan,
                         "identical": same, "compiled": COMPILED, "repeats": repeats,
                         "load_average": os.getloadavg()[0]})
            print(f"done fast/des {path.name} {name}", file=sys.stderr)
    return rows


def section_sweep(configs: int, reps: int, seed: int) -> dict[str, Any]:
    """A capacity sweep of the flash sale (``configs`` configurations of load x stock x 4
    strategies x ``reps`` replications, engine ``auto``) on 1 and 2 worker processes: wall time,
    replications/s, and the 100 x 4 x 10 sweep's wall time these rates imply on 2 workers."""
    from concurrent.futures import ProcessPoolExecutor

    from toctou_sim import load_model, sweep
    from toctou_sim.engines.kernel_driver import warm_up

    warm_up()  # forked workers inherit the loaded kernel
    rates = [300 + 50 * i for i in range(max(1, configs // 10 or 1))]
    stock = [5 + 2 * i for i in range(max(1, configs // len(rates)))]
    grid = {"clients.arrival.poisson.rate": rates, "keys.initial": stock}
    strategies = ["none", "cas", "conditional_decrement", "lock"]
    model = load_model(FLASH)
    tasks = len(rates) * len(stock) * len(strategies) * reps
    out: dict[str, Any] = {"configurations": len(rates) * len(stock), "strategies": strategies, "reps": reps,
                           "replications": tasks, "load_average": os.getloadavg()[0]}
    for workers in (1, 2):
        cpu_before = time.process_time() + _children_cpu()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            started = time.perf_counter()
            result = sweep(model, grid=grid, strategies=strategies, reps=reps, seed=seed, executor=pool)
            wall = time.perf_counter() - started
        assert result.ok, result.failures
        out[f"wall_{workers}_s"] = wall
        out[f"reps_per_s_{workers}"] = tasks / wall
        # CPU of the driver and its (joined) workers: what an idle machine would need
        out[f"cpu_{workers}_s"] = time.process_time() + _children_cpu() - cpu_before
    out["implied_100x4x10_idle_2_cores_s"] = out["cpu_2_s"] * 4000 / tasks / 2
    from toctou_sim.engines.fastpath import resolve_engine

    out["engines"] = {name: resolve_engine(model.with_strategy(name), "auto")[0] for name in strategies}
    out["implied_100x4x10_wall_2_s"] = 4000 / out["reps_per_s_2"]
    return out


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def section_notebooks() -> list[dict[str, Any]]:
    """Wall time of each notebook run top to bottom at its full settings (no TOCTOU_SIM_FAST)."""
    import nbformat
    from nbclient import NotebookClient

    rows = []
    env_fast = os.environ.pop("TOCTOU_SIM_FAST", None)
    try:
        for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
            notebook = nbformat.read(path, as_version=4)
            started = time.perf_counter()
            error = ""
            try:
                NotebookClient(notebook, timeout=3600, kernel_name="python3",
                               resources={"metadata": {"path": str(path.parent)}}).execute()
            except Exception as exc:  # reported, not raised: the other notebooks still run
                error = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
            rows.append({"notebook": path.name, "wall_s": time.perf_counter() - started, "error": error,
                         "load_average": os.getloadavg()[0]})
            print(f"done notebook {path.name}", file=sys.stderr)
    finally:
        if env_fast is not None:
            os.environ["TOCTOU_SIM_FAST"] = env_fast
    return rows


def section_quickstart(runs: int = 1) -> dict[str, Any]:
    """Wall time of the Quickstart command, ``toctou-sim compare models/flash_sale.toml``, in a
    fresh process (imports, the kernel's load and the worker pool included), and the same with
    ``--reps 3``: the least of ``runs`` runs of each, and the CPU time (user + system, workers
    included) of that run."""
    script = Path(sys.executable).with_name("toctou-sim")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "toctou_sim.cli.main"]
    out: dict[str, Any] = {"cores": os.cpu_count(), "runs": runs}
    for label, extra in (("", []), ("_reps3", ["--reps", "3"])):
        best = (math.inf, math.nan)
        for _ in range(runs):
            cpu = _children_cpu()
            started = time.perf_counter()
            done = subprocess.run([*command, "compare", str(FLASH), "--quiet", *extra], capture_output=True, text=True,
                                  check=False)
            wall = time.perf_counter() - started
            best = min(best, (wall, _children_cpu() - cpu))
            out[f"exit_code{label}"] = done.returncode
            out["engine"] = next((line for line in done.stdout.splitlines() if line.startswith("engine:")), "")
        out[f"wall{label}_s"], out[f"cpu{label}_s"] = best
        out[f"load_average{label}"] = os.getloadavg()[0]
    return out


def _fmt(value: Any, spec: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def print_table(report: dict[str, Any]) -> None:
    print(f"\ntoctou-sim benchmark ({report['mode']}, seed {report['seed']}, load average at start "
          f"{report['load_average_start']:.2f}; speeds are CPU time, ratios are against the bare SimPy "
          f"script run in the same subprocess)")
    header = (f"{'case':<42} {'ops':>9} {'ops/s/core':>11} {'events/s':>10} {'peak RSS MB':>11} "
              f"{'bare ops/s':>11} {'time/bare':>9}")
    print(header)
    print("-" * len(header))
    for row in report["cases"]:
        if "skipped" in row or "error" in row:
            print(f"{row.get('title', row.get('case')):<42} skipped: {row.get('skipped') or row.get('error')}")
            continue
        print(f"{row['title']:<42} {row['operations']:>9.0f} {row['ops_per_s']:>11,.0f} "
              f"{_fmt(row['events_per_s'], ',.0f'):>10} {row['peak_rss_mb']:>11.1f} "
              f"{_fmt(row.get('bare_ops_per_s'), ',.0f'):>11} {_fmt(row.get('time_ratio'), '.2f'):>9}")
    if any(r.get("case") in ("d", "e") and "time_ratio" in r for r in report["cases"]):
        print("(d) and (e) against bare scripts of their own read path (bare_simpy.bare_cache_none, bare_quorum_none)")
    for row in report.get("instructions", []):
        if "instruction_ratio" not in row:
            print(f"instructions {row['case']}: {row.get('skipped') or row.get('error')}")
            continue
        print(f"instructions {row['title']:<36} {row['engine_per_op']:>9,.0f}/op, bare {row['bare_per_op']:>9,.0f}/op: "
              f"{row['instruction_ratio']:.3f}x the bare script ({row['ops']:,} operations, valgrind)")
    fast = {r["case"]: r for r in report["cases"] if "ops_per_s" in r}
    if "f" in fast and "g" in fast:
        ratio = fast["f"]["ops_per_s"] / fast["g"]["ops_per_s"]
        print(f"fast engine / DES engine ops/s on stale-validation none: {ratio:.0f}x")
    for row in report.get("memory", []):
        if "error" in row:
            print(f"memory: error {row['error']}")
            continue
        print(f"memory: {row['operations']:,.0f} operations (case a): peak RSS {row['peak_rss_mb']:.1f} MB "
              f"({row['rss_after_imports_mb']:.1f} MB after imports)")
    workers = report.get("workers")
    if workers:
        print(f"workers: {workers['reps']} reps x {workers['ops_per_rep']} ops: "
              f"1 worker {workers['wall_1_worker_s']:.2f} s, "
              f"2 workers {workers['wall_2_workers_s']:.2f} s -> parallel efficiency "
              f"{workers['parallel_efficiency']:.0%} (load average {workers['load_average']:.2f})")
    crn = report.get("crn")
    if crn:
        print(f"common random numbers ({crn['reps']} reps): CI half-width of cas - none, paired vs independent:")
        for name, rows in crn["models"].items():
            print(f"  {name}")
            for metric, row in rows.items():
                print(f"    {metric:<18} paired ±{row['paired_half_width']:.3g}  "
                      f"independent ±{row['independent_half_width']:.3g}"
                      f"  -> {_fmt(row['narrower_by'], '.1f')}x narrower")
    cond = report.get("conditional")
    if cond:
        print(f"conditional Monte Carlo ({cond['reps']} reps, fast engine): violation_rate")
        for name, rows in cond["models"].items():
            print(f"  {name:<18} plain {rows['plain']['estimate']:.4g} [{rows['plain']['ci_low']:.4g}, "
                  f"{rows['plain']['ci_high']:.4g}]  conditional {rows['conditional']['estimate']:.4g} "
                  f"[{rows['conditional']['ci_low']:.4g}, {rows['conditional']['ci_high']:.4g}]  "
                  f"variance ratio {rows['variance_ratio_plain_over_conditional']:.1f}")
    fast_rows = report.get("fast")
    if fast_rows:
        print("fast engine vs DES engine, same replication (CPU time; identical = every metric equal):")
        for row in fast_rows:
            print(f"  {row['model']:<28} {row['strategy']:<22} {row['operations']:>9,.0f} ops  "
                  f"des {row['des_cpu_s']:7.3f} s  fast {row['fast_cpu_s']:7.3f} s  {row['ratio']:6.1f}x  "
                  f"{'identical' if row['identical'] else 'DIFFERENT'}  (least of {row['repeats']}, load average "
                  f"{row['load_average']:.2f})")
    sweep = report.get("sweep")
    if sweep:
        print(f"sweep of flash_sale ({sweep['configurations']} configurations x {len(sweep['strategies'])} "
              f"strategies x {sweep['reps']} reps = {sweep['replications']} replications, load average "
              f"{sweep['load_average']:.2f}): 1 worker {sweep['wall_1_s']:.1f} s ({sweep['reps_per_s_1']:.1f} "
              f"reps/s), 2 workers {sweep['wall_2_s']:.1f} s ({sweep['reps_per_s_2']:.1f} reps/s); a 100 x 4 x 10 "
              f"sweep at that rate: {sweep['implied_100x4x10_wall_2_s']:.0f} s on 2 workers; CPU "
              f"{sweep['cpu_1_s']:.1f} s (1 worker), {sweep['cpu_2_s']:.1f} s (2 workers): the 100 x 4 x 10 sweep "
              f"needs {sweep['implied_100x4x10_idle_2_cores_s']:.0f} s on 2 idle cores")
    for row in report.get("notebooks", []):
        print(f"notebook {row['notebook']:<32} {row['wall_s']:7.1f} s wall at full settings "
              f"(load average {row['load_average']:.2f}){'  ERROR ' + row['error'] if row['error'] else ''}")
    quick = report.get("quickstart")
    if quick:
        for label, flag in (("", ""), ("_reps3", " --reps 3")):
            print(f"Quickstart `toctou-sim compare models/flash_sale.toml{flag}`: {quick[f'wall{label}_s']:.2f} s "
                  f"wall, {quick[f'cpu{label}_s']:.2f} s CPU (workers included) on {quick['cores']} cores, least "
                  f"of {quick['runs']} (load average {quick[f'load_average{label}']:.2f}, "
                  f"exit {quick[f'exit_code{label}']})")
        print(f"  {quick['engine']}")
    precision = report.get("precision")
    if precision:
        print("CPU time to reach ±10% on a violation rate near 1e-4 (benchmarks/models/rare_revocation.toml):")
        for name, row in precision.items():
            print(f"  {name:<18} {row['cpu_s']:7.2f} s  {row['reps']} reps, {row['operations']:,.0f} ops, "
                  f"{_fmt(row['events'], '.0f')} events, rate {row['estimate']:.3g} "
                  f"±{row['relative_half_width']:.1%} (stopped by {row['stopped_by']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100k operations per case; skip the 10M memory run.")
    parser.add_argument("--ops", type=int, default=None, help="Operations per engine case (default 1M, quick 100k).")
    parser.add_argument("--only", default=None, help="Comma-separated sections/cases: a..g,memory,workers,crn,"
                        "conditional,precision,fast,sweep,quickstart (and notebooks, with --notebooks).")
    parser.add_argument("--notebooks", action="store_true",
                        help="Also run every notebook at full settings and report its wall time (minutes).")
    parser.add_argument("--sweep-configs", type=int, default=None,
                        help="Configurations in the sweep section (default 100, quick 10).")
    parser.add_argument("--fast-models", default=None,
                        help="Comma-separated model file stems for the fast section (default: every bundled model).")
    parser.add_argument("--repeats", type=int, default=1,
                        help="Runs of each timing in the fast and quickstart sections; the least is reported "
                             "(a shared machine's load inflates it least).")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", dest="json_path", default=None, help="Also write the report as JSON here.")
    parser.add_argument("--instructions", default=None, metavar="CASES",
                        help="Also count instructions per operation of these DES cases (e.g. a,b,d,e) against "
                             "their bare scripts under valgrind: a ratio the machine's load does not move "
                             "(20,000 operations each unless --ops is given; minutes per case).")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--instruction-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        spec = json.loads(args.child)
        print(json.dumps(child(spec["case"], spec["ops"], spec["seed"])))
        return
    if args.instruction_child is not None:
        spec = json.loads(args.instruction_child)
        instruction_child(spec["case"], spec["ops"], spec["seed"])
        return
    ops = args.ops or (100_000 if args.quick else 1_000_000)
    only = set(args.only.split(",")) if args.only else None

    def wanted(name: str) -> bool:
        return only is None or name in only

    report: dict[str, Any] = {"mode": "quick" if args.quick else "full", "seed": args.seed,
                              "ops_per_case": ops, "load_average_start": os.getloadavg()[0], "cases": []}
    for name in CASES:
        if wanted(name):
            case_ops = ops * (20 if name == "f" else 1)
            row = _spawn(["--child", json.dumps({"case": name, "ops": case_ops, "seed": args.seed})])
            row.setdefault("case", name)
            row.setdefault("title", CASES[name]["title"])
            report["cases"].append(row)
            print(f"done {CASES[name]['title']}", file=sys.stderr)
    if wanted("memory"):
        sizes = [ops] if args.quick else [1_000_000, 10_000_000]
        report["memory"] = [_spawn(["--child", json.dumps({"case": "a", "ops": n, "seed": args.seed})]) for n in sizes]
    if wanted("workers"):
        report["workers"] = section_workers(reps=4 if args.quick else 8, ops_per_rep=ops // 4, seed=args.seed)
    if wanted("crn"):
        report["crn"] = section_crn(reps=10 if args.quick else 30, seed=args.seed)
    if wanted("conditional"):
        report["conditional"] = section_conditional(reps=10 if args.quick else 30, seed=args.seed)
    if wanted("precision"):
        report["precision"] = section_precision(seed=args.seed, include_des=not args.quick)
    if wanted("fast"):
        fast_models = set(args.fast_models.split(",")) if args.fast_models else None
        report["fast"] = section_fast(ops=30_000 if args.quick else 100_000, seed=args.seed, models=fast_models,
                                      repeats=args.repeats)
    if wanted("sweep"):
        configs = args.sweep_configs or (10 if args.quick else 100)
        report["sweep"] = section_sweep(configs=configs, reps=3 if args.quick else 10, seed=args.seed)
    if args.notebooks and wanted("notebooks"):
        report["notebooks"] = section_notebooks()
    if wanted("quickstart"):
        report["quickstart"] = section_quickstart(runs=args.repeats)
    if args.instructions:
        report["instructions"] = section_instructions(args.instructions.split(","), args.ops or 20_000, args.seed)
    print_table(report)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2, default=float) + "\n", encoding="utf-8")
        print(f"wrote {args.json_path}")


if __name__ == "__main__":
    main()
