"""The ``toctou-sim explore MODEL`` command: every ordering of a small scope of a model."""

from __future__ import annotations

import json
from pathlib import Path

import click

from toctou_sim.cli.args import MODEL, parse_sets
from toctou_sim.spec.model import SpecError

__all__ = ["explore_command"]


def _values(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _durations(items: tuple[str, ...]) -> dict[str, tuple[float, ...]]:
    """``--duration window=10ms,300ms`` options as stream name -> values in seconds."""
    from toctou_sim.core.units import parse_duration

    out: dict[str, tuple[float, ...]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise SpecError(f"--duration {item}: expected NAME=V1,V2,..., e.g. window=10ms,300ms")
        try:
            out[name.strip()] = tuple(parse_duration(v.strip()) for v in values.split(",") if v.strip())
        except ValueError as exc:
            raise SpecError(f"--duration {item}: {exc}") from None
    return out


@click.command("explore")
@click.argument("model", type=MODEL)
@click.option("--strategy", default=None, help="Explore this strategy instead of the model's own.")
@click.option("--ops", default=2, show_default=True, help="Client operations in scope.")
@click.option("--keys", default=1, show_default=True, help="Keys in scope.")
@click.option("--mutations", default=1, show_default=True, help="Background writes per mutator in scope.")
@click.option("--values", "values", default="min,max", show_default=True,
              help="Representative values of each duration: some of min,median,max.")
@click.option("--duration", "durations", multiple=True, metavar="NAME=V1,V2",
              help="Explicit values of one duration stream (window, read_latency, fault.0.duration, ...).")
@click.option("--no-faults", is_flag=True, help="Explore without injecting the model's faults.")
@click.option("--no-ties", is_flag=True, help="Keep simultaneous events in their FIFO order.")
@click.option("--horizon", default=None, help="Horizon of the scoped run (default: the model's).")
@click.option("--max-states", default=200_000, show_default=True, help="Stop after this many distinct states.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Override a model field (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def explore_command(model: Path, strategy: str | None, ops: int, keys: int, mutations: int, values: str,
                    durations: tuple[str, ...], no_faults: bool, no_ties: bool, horizon: str | None,
                    max_states: int, sets: tuple[str, ...], as_json: bool, progress: bool) -> None:
    """Every ordering of a small scope of MODEL: the shortest counterexample of each violation,
    or "no violation in N states" (bounded: it holds for the scope printed, not beyond)."""
    from toctou_sim.core.units import parse_duration
    from toctou_sim.spec.model import load_model
    from toctou_sim.validation.explore import Scope, explore

    if max_states < 1:
        raise SpecError(f"--max-states: must be >= 1, got {max_states}")
    try:
        scoped_horizon = parse_duration(horizon) if horizon is not None else None
    except ValueError as exc:
        raise SpecError(f"--horizon: {exc}") from None
    scope = Scope(ops=ops, keys=keys, mutations=mutations, values=_values(values), overrides=_durations(durations),
                  faults=not no_faults, ties=not no_ties, horizon=scoped_horizon)
    spec = load_model(model, parse_sets(sets))
    result = explore(spec, strategy=strategy, scope=scope, max_states=max_states, progress=progress and not as_json)
    if as_json:
        click.echo(json.dumps({
            "model": result.model, "strategy": result.strategy, "scope": scope.describe(),
            "states": result.states, "runs": result.runs, "complete": result.complete,
            "violations": [
                {"kind": c.kind, "key": c.key,
                 "steps": [{"time_s": s.time, "actor": s.actor, "what": s.what} for s in c.steps]}
                for c in result.counterexamples
            ],
        }, indent=2))
    else:
        click.echo(result.summary())
        click.echo(f"({result.seconds:.1f} s)")
