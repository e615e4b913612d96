"""Option types and option groups shared by the commands (no command lives here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import click

from toctou_sim.core.limits import DEFAULT_MAX_OPS, MAX_REPS, MAX_WORKERS

__all__ = ["REPS", "SEED", "WORKERS", "ByteSize", "FiniteFloat", "safety_options"]

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
