"""Option types and option groups shared by the commands (no command lives here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import click

from toctou_sim.cli.args import MODEL
from toctou_sim.core.limits import DEFAULT_MAX_OPS, MAX_REPS, MAX_WORKERS

__all__ = ["REPS", "SEED", "WORKERS", "ByteSize", "FiniteFloat", "engine_options", "model_options", "safety_options"]

F = TypeVar("F", bound=Callable[..., Any])


class FiniteFloat(click.ParamType):  # type: ignore[type-arg]  # generic only in click >= 8.2
    """A finite number in an optional range (click's FloatRange lets ``nan`` through)."""

    name = "number"

    def __init__(self, low: float | None = None, high: float | None = None, *, open_low: bool = False,
                 open_high: bool = False) -> None:
        self.low, self.high, self.open_low, self.open_high = low, high, open_low, open_high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        import math

        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"expected a finite number, got {value!r}", param, ctx)
        if self.low is not None and (number < self.low or (self.open_low and number == self.low)):
            self.fail(f"must be {'>' if self.open_low else '>='} {self.low:g}, got {value}", param, ctx)
        if self.high is not None and (number > self.high or (self.open_high and number == self.high)):
            self.fail(f"must be {'<' if self.open_high else '<='} {self.high:g}, got {value}", param, ctx)
        return number


class ByteSize(click.ParamType):  # type: ignore[type-arg]
    """A size in bytes: ``8GB``, ``512MB``, ``1e9``."""

    name = "size"
    _UNITS: ClassVar[dict[str, float]] = {"": 1.0, "b": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        import math
        import re

        match = re.fullmatch(r"\s*([0-9.eE+]+)\s*([a-zA-Z]*)\s*", str(value)[:40])
        unit = match.group(2).lower() if match else ""
        try:
            number = float(match.group(1)) * self._UNITS[unit] if match else math.nan
        except (ValueError, KeyError):
            number = math.nan
        if not (math.isfinite(number) and number > 0):
            self.fail(f"expected a size such as 8GB or 512MB, got {value!r}", param, ctx)
        return number


SEED = click.IntRange(min=0)
"""Seeds: >= 0 here; the library refuses one past ``MAX_SEED`` (2**128 - 1)."""
REPS = click.IntRange(1, MAX_REPS)
WORKERS = click.IntRange(0, MAX_WORKERS)


def safety_options(function: F) -> F:
    """``--max-ops``, ``--max-memory`` and ``--data-dir``, on every command that runs a model."""
    decorators = [
        click.option("--max-ops", type=FiniteFloat(0, open_low=True), default=None,
                     help=f"Refuse runs estimated past this many operations (default {DEFAULT_MAX_OPS:.0e})."),
        click.option("--max-memory", type=ByteSize(), default=None,
                     help="Refuse runs estimated past this memory, e.g. 8GB (default: half the machine's)."),
        click.option("--data-dir", "data_dirs", multiple=True,
                     type=click.Path(exists=True, file_okay=False, path_type=Path),
                     help="A folder besides the model's own that empirical files may be read from (repeatable)."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def model_options(function: F) -> F:
    """Options shared by every command that runs a model."""
    decorators = [
        click.argument("model", type=MODEL),
        click.option("--reps", type=REPS, default=10, show_default=True,
                     help="Replications (minimum with --precision)."),
        click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the run (>= 0)."),
        click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                     help="Override a model field by dotted path (repeatable)."),
        click.option("--precision", type=FiniteFloat(0, 1, open_low=True, open_high=True), default=None,
                     help="Add replications until the primary metric's relative 95% half-width is at most this."),
        click.option("--max-reps", type=REPS, default=None, help="Replication limit for --precision (default 1000)."),
        click.option("--metric", default="violation_rate", show_default=True, help="Primary metric for --precision."),
        click.option("--workers", type=WORKERS, default=0, show_default=True,
                     help="Processes to run replications on (0 = all cores; at most one per core and task)."),
        click.option("--json", "as_json", is_flag=True, help="Print machine-readable results."),
        click.option("--out", type=click.Path(path_type=Path), default=None,
                     help="Also write the tidy table to a .csv or .parquet file."),
        click.option("--all-metrics", is_flag=True, help="Show every metric in the table."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return safety_options(function)


def engine_options(function: F) -> F:
    """``--engine`` and ``--estimator`` (the fast path and conditional Monte Carlo)."""
    decorators = [
        click.option("--engine", type=click.Choice(["des", "fast", "auto"]), default="auto", show_default=True,
                     help="des: SimPy event loop; fast: the compiled event kernel, same numbers (the model "
                          "must qualify); auto: fast wherever the model qualifies (and says so)."),
        click.option("--estimator", type=click.Choice(["plain", "conditional", "episodes"]), default="plain",
                     show_default=True,
                     help="conditional: exact conflict probability per use instead of 0/1 (fast engine only); "
                          "episodes: harms per fault episode x episodes per operation (DES; one fault with a rate)."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function
