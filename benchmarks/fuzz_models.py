"""Fuzz the command line with generated and mutated model files and option sets.

Every case must end in exit 0, or exit 2 with exactly one line on stderr, within a time limit;
anything else is a finding (a traceback, exit 1, several lines, or a run past the limit).

Run from the repository root::

    python benchmarks/fuzz_models.py --count 10000 --processes 2     # the long run
    python benchmarks/fuzz_models.py --count 200 --seed 7             # a quick look

Cases are Hypothesis strategies (no shrinking: every case is counted): a bundled model mutated
1-4 times (a value replaced by a hostile one: NaN, infinities, huge or negative numbers, wrong
types, deep nesting, unicode and control characters, paths out of the folder; a key deleted or
added; ``kind`` as a list or table; the file's text truncated or garbled), plus a command (run,
compare, trace, staleness, sweep) and options (seeds, replications, workers, metrics, strategies,
precision) drawn the same way. The time limit is CPU time (default 20 s; on a shared machine wall
time says little), with 6x that in wall-clock time to catch a case that waits on nothing. Each
case runs in process through click's ``CliRunner`` with ``--max-ops 20000`` where the command
has it, so a model only runs when it is small: the budget is part of what is tested. Findings are written to ``--findings`` (one JSON line each, with the
model text and the arguments) and summarised at the end.

The test suite runs the same strategies with a small budget (tests/unit/test_hardening.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"

# --------------------------------------------------------------------------------------------
# TOML output (tomllib reads only): inline tables and arrays for everything below the top level.


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() and key else json.dumps(key)


def _string(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    """One TOML value (inline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**4000 else "1" + "0" * 4400
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    return _string(str(value))


def toml_text(data: dict[str, Any]) -> str:
    """A model file: scalars first, then one ``[table]`` per top-level table, arrays inline."""
    lines = [f"{_key(k)} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"[{_key(key)}]")
            lines.extend(f"{_key(str(k))} = {toml_value(v)}" for k, v in value.items())
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Strategies.


def bundled() -> list[tuple[str, dict[str, Any]]]:
    import tomllib

    return [(p.name, tomllib.loads(p.read_text(encoding="utf-8"))) for p in sorted(MODELS.glob("*.toml"))]


FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 1e308, 1e-308, 5e-324, 1e12, 1e-9,
                          0.5, 1.0, 2.0, 1e6, -1e-300])
INTS = st.sampled_from([0, -5, -1, 1, 2, 3, 100, 2**31, 2**53 + 1, 2**63, 2**64, 10**30, 10**5000, 100_000_000])
NASTY_STRINGS = st.sampled_from([
    "", "nan", "inf", "-inf", "1e999s", "-5s", "1ns", "0s", "1e308s", "5e-324s", "10 years", "40ms", "1m", "$x$",
    "$", "a$b", "=cmd|' /C calc'!A0", "+1", "@SUM(A1)", "-2+3", "\x1b[31mred\x1b[0m", "\r\x07bell", "\u202eevil",
    "名前🙂", "../../etc/passwd", "/etc/passwd", "/proc/self/environ", "../x.txt", "none", "lock", "cas",
    "recheck", "lease", "replica", "cache", "exponential", "violation_rate", "x" * 20_000,
])
UNICODE = st.text(max_size=30)
KINDS = st.sampled_from(["none", "recheck", "cas", "lock", "lease", "queue", "token", "reservation",
                         "two_phase", "reconcile", "idempotency", "direct", "cache", "replica", "pause", "crash",
                         "latency_spike", "partition", "clock_skew", "throttle", "eviction_storm",
                         "replica_lag_spike", "replica_partition", "event_stream", "nope"])


def _deep(depth: int, leaf: Any, table: bool) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value} if table else [value]
    return value


DISTRIBUTIONS = st.one_of(
    st.builds(lambda m: {"exponential": {"mean": m}}, st.one_of(FLOATS, NASTY_STRINGS)),
    st.builds(lambda a, b: {"uniform": {"low": a, "high": b}}, FLOATS, FLOATS),
    st.builds(lambda s, c: {"pareto": {"scale": s, "shape": c}}, FLOATS, FLOATS),
    st.builds(lambda m, p: {"lognormal": {"median": m, "p99": p}}, FLOATS, FLOATS),
    st.builds(lambda mu, s: {"lognormal": {"mu": mu, "sigma": s}}, FLOATS, FLOATS),
    st.builds(lambda w, v: {"mixture": [{"weight": w, "constant": v}, {"weight": 1, "constant": "1ms"}]},
              FLOATS, st.one_of(FLOATS, NASTY_STRINGS)),
    st.builds(lambda f: {"empirical": {"file": f}}, NASTY_STRINGS),
    st.builds(lambda k, s: {"gamma": {"shape": k, "scale": s}}, FLOATS, FLOATS),
    st.builds(lambda k, s: {"weibull": {"shape": k, "scale": s}}, FLOATS, FLOATS),
)

VALUES = st.one_of(
    FLOATS, INTS, NASTY_STRINGS, UNICODE, st.booleans(), DISTRIBUTIONS,
    st.just([]), st.just({}), st.lists(FLOATS, max_size=3), st.lists(NASTY_STRINGS, max_size=3),
    st.builds(lambda k: {"kind": k}, KINDS),
    st.builds(lambda k: {"kind": [k]}, KINDS),
    st.builds(lambda k: {"kind": {"k": k}}, KINDS),
    st.builds(_deep, st.integers(20, 400), st.just(1), st.booleans()),
)

_SECTIONS = {
    "model": ["name", "description", "horizon", "warmup"],
    "keys": ["count", "invariant", "initial", "popularity"],
    "store": ["read_latency", "write_latency"],
    "clients": ["window", "partial_failure", "arrival", "redelivery", "timeout"],
    "slo": ["target", "period", "latency_threshold", "timeline_bin", "page_window", "page_budget_fraction"],
    "strategy": ["kind", "lease_ttl", "fencing", "replicas", "retry_period", "renew_deadline", "retry", "period"],
    "read_path": ["kind", "n", "r", "w", "ttl", "capacity", "write_delay", "message_delay"],
}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, (*prefix, index)))
    return out


def _set(data: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    node = data
    for part in path[:-1]:
        node = node[part]
    if delete and isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


@st.composite
def model_texts(draw: st.DrawFn, models: list[tuple[str, dict[str, Any]]]) -> tuple[str, str]:
    """``(name, TOML text)`` of a bundled model with 1-4 mutations."""
    import copy

    name, base = draw(st.sampled_from(models))
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["replace", "replace", "replace", "known", "known", "delete", "add",
                                       "kind"]))
        paths = _paths(data)
        if action == "replace" and paths:
            _set(data, draw(st.sampled_from(paths)), draw(VALUES))
        elif action == "known":
            section = draw(st.sampled_from(sorted(_SECTIONS)))
            field = draw(st.sampled_from(_SECTIONS[section]))
            table = data.setdefault(section, {})
            if isinstance(table, dict):
                table[field] = draw(VALUES)
        elif action == "delete" and paths:
            _set(data, draw(st.sampled_from(paths)), None, delete=True)
        elif action == "add":
            section = draw(st.sampled_from(sorted(_SECTIONS)))
            table = data.setdefault(section, {})
            if isinstance(table, dict):
                table[draw(st.sampled_from(["bogus", "kind", "rate", "名", "a b"]))] = draw(VALUES)
        elif action == "kind":
            where = draw(st.sampled_from(["strategy", "read_path"]))
            data[where] = {"kind": draw(st.one_of(KINDS, st.lists(KINDS, max_size=2),
                                                  st.builds(lambda k: {"x": k}, KINDS)))}
    text = toml_text(data)
    garble = draw(st.sampled_from(["none"] * 8 + ["truncate", "insert"]))
    if garble == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif garble == "insert":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["\x00", "[[[", "= =", "\ufffe", '"', "{"])) + text[at:]
    return name, text


SETS = st.one_of(
    st.builds(lambda v: f"clients.arrival.poisson.rate={v}", st.sampled_from(["1e12", "1e308", "inf", "nan", "-1",
                                                                               "0", "5", "true", "'x'"])),
    st.builds(lambda v: f"model.horizon={v}", st.sampled_from(["'1e9s'", "inf", "nan", "'1ns'", "0", "'2s'"])),
    st.builds(lambda v: f"keys.count={v}", st.sampled_from(["true", "100000000", "-1", "2", "1" + "0" * 5000])),
    st.builds(lambda v: f"slo.timeline_bin={v}", st.sampled_from(["'1ns'", "nan", "1"])),
    st.builds(lambda d: "a." * d + "b=1", st.integers(1, 3000)),
    st.builds(lambda d: "model.name=" + "[" * d + "]" * d, st.integers(1, 3000)),
    st.builds(lambda v: f"model.name={v}", st.sampled_from(["'$x'", "'=1+1'", "'\\u001b[2J'"])),
)


def _mostly(good: list[str], bad: list[str]) -> st.SearchStrategy[str]:
    """Valid option values nine times in ten, so that the model itself gets exercised."""
    return st.tuples(st.integers(0, 9), st.sampled_from(good), st.sampled_from(bad)).map(
        lambda t: t[2] if t[0] == 0 else t[1])


@st.composite
def commands(draw: st.DrawFn, model: str) -> list[str]:
    """A command line (without the program name) for the model file ``model``."""
    command = draw(st.sampled_from(["run", "run", "run", "compare", "compare", "trace", "staleness", "sweep"]))
    args = [command, model]
    seeds = _mostly(["0", "1", "7", "123456789"], ["-1", "99999999999999999999999", "nan", "x", "-5"])
    if command == "trace":
        args += ["--out", "OUTJSON"]
        if draw(st.booleans()):
            args += ["--start", draw(_mostly(["0", "1s", "10ms"], ["-5s", "nan", "inf", "1e999s", "x"]))]
        if draw(st.booleans()):
            args += ["--max-ops", draw(_mostly(["5", "50"], ["0", "-1", "99999999999"]))]
    else:
        args += ["--max-ops", "20000"]
        args += ["--reps", draw(_mostly(["1", "2"], ["0", "-1", "99999999999"]))]
    if draw(st.booleans()):
        args += ["--seed", draw(seeds)]
    if command in ("run", "compare") and draw(st.integers(0, 4)) == 0:
        args += ["--workers", draw(st.sampled_from(["-1", "0", "1", "2", "100000"]))]
    if command in ("run", "compare", "sweep") and draw(st.integers(0, 3)) == 0:
        args += ["--precision", draw(_mostly(["0.5"], ["nan", "2", "-1", "inf"])),
                 "--max-reps", draw(_mostly(["2", "3"], ["0", "-3"]))]
    if command in ("run", "compare", "sweep") and draw(st.integers(0, 3)) == 0:
        args += ["--metric", draw(st.sampled_from(["nope", "violation_rate", "", "$", "mismatch_rate"]))]
    if command == "compare" and draw(st.booleans()):
        args += ["--strategies", draw(_mostly(["none,cas", "none,recheck", "none"],
                                              ["none,none", "", ",", "nope"]))]
    if command == "sweep":
        args += ["--workers", "1", "--grid", draw(_mostly(["keys.count=1,2", "clients.arrival.poisson.rate=5,10"],
                                                           ["keys.count=true", "model.horizon=inf,1s",
                                                            "a." * 100 + "b=1",
                                                            "model.name=" + "[" * 500 + "]" * 500]))]
    if command == "staleness":
        args += ["--trials", draw(_mostly(["100", "1000"], ["2000000000", "0"]))]
    if draw(st.integers(0, 2)) > 0:  # short enough to run under the budget, most of the time
        args += ["--set", "model.horizon='2s'", "--set", "model.warmup=0"]
    for _ in range(draw(st.integers(0, 2)) if draw(st.booleans()) else 0):
        args += ["--set", draw(SETS)]
    return args


# --------------------------------------------------------------------------------------------
# Running a case.


class _Timeout(BaseException):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout


def run_case(folder: Path, name: str, text: str, args: list[str], limit: float) -> tuple[str, str]:
    """Run one case in process; ``(outcome, detail)`` with outcome ``ok``, ``exit2``, or a finding:
    ``traceback``, ``timeout``, ``multiline``, ``exit<N>``."""
    from click.testing import CliRunner

    from toctou_sim.cli.main import main

    model = folder / "model.toml"
    model.write_text(text, encoding="utf-8", errors="surrogatepass")
    places = {"MODEL": str(model), "OUTJSON": str(folder / "trace.json")}
    args = [places.get(a, a) for a in args]
    # The limit is CPU time (the machine may be shared: wall time says little), with a wall-clock
    # limit of 6x as well, so a case waiting on nothing (a hang) is caught too.
    previous = signal.signal(signal.SIGALRM, _alarm), signal.signal(signal.SIGPROF, _alarm)
    signal.setitimer(signal.ITIMER_PROF, limit)
    signal.setitimer(signal.ITIMER_REAL, 6 * limit)
    try:
        result = CliRunner().invoke(main, args, catch_exceptions=True)
    except _Timeout:
        return "timeout", f"over {limit:g}s of CPU or {6 * limit:g}s of wall-clock time"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGALRM, previous[0])
        signal.signal(signal.SIGPROF, previous[1])
    if isinstance(result.exception, _Timeout):
        return "timeout", f"over {limit:g}s"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        return "traceback", "".join(traceback.format_exception(result.exception))[-3000:]
    if result.exit_code == 0:
        return "ok", ""
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        if len(lines) == 1 and lines[0].startswith("error: "):
            return "exit2", lines[0][:200]
        return "multiline", result.stderr[-2000:]
    if result.exit_code == 1 and args[0] == "sweep" and "failed" in result.stderr:
        return "ok", "sweep: some configurations failed (exit 1, reported)"
    return f"exit{result.exit_code}", result.output[-2000:]


def fuzz(count: int, seed: int, limit: float, findings: Path | None, progress: bool = True) -> Counter[str]:
    """Run ``count`` generated cases; returns the count of each outcome."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    models = bundled()
    counts: Counter[str] = Counter()
    started = time.monotonic()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        @hypothesis_seed(seed)
        @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=model_texts(models), args=commands("MODEL"))
        def one(case: tuple[str, str], args: list[str]) -> None:
            name, text = case
            outcome, detail = run_case(folder, name, text, args, limit)
            counts[outcome] += 1
            if outcome not in ("ok", "exit2") and findings is not None:
                with findings.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps({"outcome": outcome, "base": name, "args": args, "model": text[:5000],
                                             "detail": detail}) + "\n")
            done = sum(counts.values())
            if progress and done % 100 == 0:
                rate = done / (time.monotonic() - started)
                print(f"[seed {seed}] {done}/{count} {dict(counts)} ({rate:.1f}/s)", file=sys.stderr, flush=True)

        one()
    return counts


def _worker(job: tuple[int, int, float, str | None]) -> Counter[str]:
    count, seed, limit, findings = job
    import warnings

    warnings.simplefilter("ignore")
    from toctou_sim.engines.kernel_driver import warm_up

    warm_up()  # numba compiles the kernel once per checkout (cached on disk after): not a case's cost
    return fuzz(count, seed, limit, Path(findings) if findings else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="Generated cases in all.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=1, help="Run the cases on this many processes.")
    parser.add_argument("--time-limit", type=float, default=20.0,
                        help="CPU seconds one case may take (and 6x that in wall-clock time).")
    parser.add_argument("--findings", type=Path, default=Path("fuzz_findings.jsonl"))
    options = parser.parse_args()
    options.findings.unlink(missing_ok=True)
    started = time.monotonic()
    share = [options.count // options.processes + (i < options.count % options.processes)
             for i in range(options.processes)]
    jobs = [(n, options.seed * 1000 + i, options.time_limit, str(options.findings)) for i, n in enumerate(share)]
    if options.processes == 1:
        results = [_worker(jobs[0])]
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(options.processes) as pool:
            results = list(pool.map(_worker, jobs))
    total: Counter[str] = Counter()
    for counts in results:
        total.update(counts)
    elapsed = time.monotonic() - started
    findings = sum(v for k, v in total.items() if k not in ("ok", "exit2"))
    print(json.dumps({"cases": sum(total.values()), "outcomes": dict(total), "findings": findings,
                      "tracebacks": total.get("traceback", 0), "timeouts": total.get("timeout", 0),
                      "seconds": round(elapsed, 1), "seed": options.seed, "processes": options.processes,
                      "time_limit_s": options.time_limit, "cpu_count": os.cpu_count()}, indent=1))
    if findings:
        print(f"findings in {options.findings}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
