"""Tracing: an exact scripted timeline, trace-event JSON that Perfetto accepts, and no effect on results."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import MODELS

from toctou_sim.cli.main import main
from toctou_sim.core.distributions import RandomStreams
from toctou_sim.experiment.montecarlo import run_replication
from toctou_sim.spec.model import load_model, parse_model
from toctou_sim.world import World
from toctou_sim.world.tracing import Tracer, trace_replication, traced_world

REQUIRED = {"name", "ph", "pid", "tid"}


def validate_trace_events(document: dict[str, Any]) -> None:
    """The Chrome trace-event format as Perfetto reads it: required keys per phase, durations
    non-negative, and on every track timestamps that never go back (spans do not overlap)."""
    assert isinstance(document["traceEvents"], list)
    tracks: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for event in document["traceEvents"]:
        assert set(event) >= REQUIRED, event
        assert event["ph"] in {"X", "i", "M"}, event
        if event["ph"] == "M":
            assert "name" in event["args"] or "sort_index" in event["args"]
            continue
        assert isinstance(event["ts"], int | float) and event["ts"] >= 0
        if event["ph"] == "X":
            assert event["dur"] >= 0
        else:
            assert event["s"] in {"t", "p", "g"}
        tracks[(event["pid"], event["tid"])].append(event)
    for events in tracks.values():
        stamps = [e["ts"] for e in events]
        assert stamps == sorted(stamps)
        spans = [e for e in events if e["ph"] == "X"]
        for before, after in itertools.pairwise(spans):
            assert before["ts"] + before["dur"] <= after["ts"] + 0.01  # rounding to ns


def test_scripted_lost_update_is_traced() -> None:
    """A checks v0 at t=0 with a 1 s window; B checks v0 at t=0.5, writes v1 at t=0.6; A's use at
    t=1 overwrites it: a lost update, flagged on A's use span."""
    model = parse_model({"clients": {"arrival": {"poisson": {"rate": 1}}}, "keys": {"invariant": "version"}})
    world, tracer = traced_world(model, RandomStreams(0, 0), max_ops=10)
    world.submit(0, window=1.0)
    world.env.run(until=0.5)
    world.submit(0, window=0.1)
    world.env.run(until=2.0)
    a, b = tracer.traced
    assert [(s.name, s.start, s.end) for s in a.spans] == [
        ("check", 0.0, 0.0),
        ("window", 0.0, 1.0),
        ("use", 1.0, 1.0),
    ]
    assert a.spans[-1].args["violation"] and a.spans[-1].args["mismatch"]
    assert a.outcome == "violated" and b.outcome == "ok"
    assert [(s.name, s.start, s.end) for s in b.spans] == [
        ("check", 0.5, 0.5),
        ("window", 0.5, 0.6),
        ("use", 0.6, 0.6),
    ]
    validate_trace_events(json.loads(json.dumps(world_trace(tracer))))


def world_trace(tracer: Tracer) -> dict[str, Any]:
    from toctou_sim.world.tracing import Trace

    return Trace("m", "none", 0, 0, 0.0, tracer.traced, tracer.instants).to_chrome()


@pytest.mark.parametrize("strategy", ["none", "cas", "lock"])
def test_trace_json_validates(strategy: str) -> None:
    model = load_model(MODELS / "flash_sale.toml").with_strategy(strategy)
    trace = trace_replication(model, max_ops=150)
    assert len(trace.ops) == 150
    document = json.loads(json.dumps(trace.to_chrome("test")))
    validate_trace_events(document)
    names = {e["name"] for e in document["traceEvents"]}
    assert {"check", "window", "use"} <= names
    if strategy == "lock":
        assert "lock wait" in names
    if strategy == "none":
        uses = [e for e in document["traceEvents"] if e["name"] == "use"]
        assert all({"mismatch", "violation", "conflict"} <= set(e["args"]) for e in uses)


def test_tracing_does_not_change_the_run() -> None:
    # The traced world draws the same numbers and makes the same decisions: with every operation
    # traced, its counters equal the untraced replication's.
    model = load_model(MODELS / "flash_sale.toml", {"model.horizon": "3s", "model.warmup": "0s"})
    plain = World(model, RandomStreams(4, 1))
    plain.run()
    traced, tracer = traced_world(model, RandomStreams(4, 1), max_ops=10**9)
    traced.run()
    assert traced.recorder.operations == plain.recorder.operations > 0
    assert traced.recorder.violations == plain.recorder.violations
    assert sum(op.violation for op in tracer.traced) == plain.recorder.violated
    assert run_replication(model, 1, 4).metrics["operations"] == plain.recorder.operations


def test_plain_world_binds_no_tracing_hook() -> None:
    """Untraced, the hooks only the tracer listens to are unbound (the engine skips them); traced,
    the world's own methods are untouched (an observer, not a patch)."""
    model = load_model(MODELS / "flash_sale.toml", {"model.horizon": "1s", "model.warmup": "0s"})
    plain = World(model, RandomStreams(0, 0))
    assert plain.notify.check_began is None and plain.notify.window_ended is None
    assert plain.notify.began is None and plain.notify.mutated is None
    assert plain.notify.finished == plain.recorder.finished  # the recorder's bound method itself
    traced, tracer = traced_world(model, RandomStreams(0, 0))
    assert traced.notify.check_began == tracer.check_began
    assert "check" not in vars(traced) and "operate" not in vars(traced.strategy)


@pytest.mark.slow
def test_trace_cli(tmp_path) -> None:
    out = tmp_path / "run.json"
    result = CliRunner().invoke(
        main,
        [
            "trace",
            str(MODELS / "flash_sale.toml"),
            "--out",
            str(out),
            "--max-ops",
            "40",
            "--png",
            str(tmp_path / "t.png"),
        ],
    )
    assert result.exit_code == 0, result.output
    validate_trace_events(json.loads(out.read_text()))
    assert (tmp_path / "t.png").stat().st_size > 10_000
    assert "the chart draws all 40 operations" in result.output
    fewer = CliRunner().invoke(main, ["trace", str(MODELS / "flash_sale.toml"), "--out", str(out), "--max-ops", "40",
                                      "--png", str(tmp_path / "t.png"), "--png-ops", "15"])
    assert fewer.exit_code == 0, fewer.output
    assert "the chart draws 15 of 40 operations" in fewer.output
    bad = CliRunner().invoke(main, ["trace", str(MODELS / "flash_sale.toml"), "--out", str(tmp_path / "x.txt")])
    assert bad.exit_code == 2
    assert "expected a .json file name" in bad.output



def test_fault_intervals_are_traced() -> None:
    # A 200 ms stop-the-world pause of the clients at t=1 s: the faults track shows it begin and end,
    # and the trace still validates.
    model = parse_model(
        {
            "model": {"horizon": "3s"},
            "keys": {"count": 10, "invariant": "version"},
            "clients": {"arrival": {"poisson": {"rate": 50}}, "window": "20ms"},
            "faults": [{"kind": "pause", "target": "clients", "at": ["1s"], "duration": "200ms"}],
        }
    )
    trace = trace_replication(model, max_ops=100, start=0.0)
    faults = [(i.name, round(i.time, 6), i.args.get("target")) for i in trace.instants if i.key is None]
    assert faults == [("pause begins", 1.0, "clients"), ("pause ends", 1.2, "clients")]
    document = trace.to_chrome()
    validate_trace_events(document)
    assert {"pause begins", "pause ends"} <= {e["name"] for e in document["traceEvents"] if e["pid"] == 3}
