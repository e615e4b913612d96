"""The ``toctou-sim validate`` command: the simulator against closed forms."""

from __future__ import annotations

import sys

import click

from toctou_sim.cli.options import SEED, FiniteFloat
from toctou_sim.core.limits import echo

__all__ = ["validate_command"]


@click.command("validate")
@click.option("--seed", type=SEED, default=1, show_default=True)
@click.option("--confidence", type=FiniteFloat(0, 1, open_low=True, open_high=True), default=0.99,
              show_default=True, help="Confidence of the intervals theory must fall in.")
@click.option("--scale", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Multiply replications (tighter checks, longer run).")
@click.option("--oracle", "names", multiple=True, help="Run only this oracle (repeatable).")
@click.option("--json", "as_json", is_flag=True)
def validate_command(seed: int, confidence: float, scale: int, names: tuple[str, ...], as_json: bool) -> None:
    """Check the simulator against closed forms; exit 1 if any check fails."""
    from toctou_sim.reporting.present import results_json
    from toctou_sim.validation.oracles import run_oracles

    frame = run_oracles(seed=seed, confidence=confidence, scale=scale, names=list(names) or None)
    if as_json:
        echo(results_json(frame))
    else:
        shown = frame.assign(result=frame["passed"].map({True: "pass", False: "FAIL"})).drop(columns=["passed"])
        echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        echo(f"{int(frame['passed'].sum())} of {len(frame)} checks passed "
                   f"(theory inside the simulation's {confidence:.0%} CI)")
    if not frame["passed"].all():
        sys.exit(1)
