"""Argument types and the parsers of repeated arguments (``--set``, ``--grid``, ``--range``,
``--strategies``) that several ``toctou-sim`` commands share: the layer below the commands.

Every command module imports from here (and from :mod:`~toctou_sim.cli.options` and
:mod:`~toctou_sim.cli.common`); nothing here imports a command module or
:mod:`toctou_sim.cli.main`, which only assembles the commands into the group.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from toctou_sim.spec.model import SpecError

__all__ = ["MODEL", "ModelArgument", "files_backend", "parse_grid", "parse_ranges", "parse_sets", "split_values",
           "strategy_names"]


class ModelArgument(click.ParamType):  # type: ignore[type-arg]
    """A model file's path, or a bundled model's name (``flash_sale``); an existing file wins.

    An unknown name raises :class:`SpecError` (exit code 2 and one line listing close names).
    """

    name = "model"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        from toctou_sim.spec.bundled import resolve_model

        return resolve_model(value)


MODEL = ModelArgument()
"""The ``MODEL`` argument of every command that reads a model."""


def _assignments(items: tuple[str, ...], flag: str, expected: str, *, twice: str | None = None
                 ) -> Iterator[tuple[str, str]]:
    """The ``(path, text)`` of repeated ``PATH=...`` options (``--set``, ``--grid``, ``--range``),
    each path stripped and non-empty; with ``twice``, a path given twice is an error ending so."""
    seen: set[str] = set()
    for item in items:
        path, sep, text = item.partition("=")
        path = path.strip()
        if not sep or not path:
            raise SpecError(f"{flag} {item}: expected {expected}")
        if twice is not None and path in seen:
            raise SpecError(f"{flag} {path}: given twice{twice}")
        seen.add(path)
        yield path, text.strip()


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    """``--set a.b=v`` options as a dict (values are parsed as TOML later; the last of a path wins)."""
    return dict(_assignments(values, "--set", "PATH=VALUE, e.g. clients.arrival.poisson.rate=500"))


def strategy_names(text: str) -> list[str]:
    """``--strategies a,b``: the names, none empty and none twice."""
    from toctou_sim.experiment.montecarlo import unique_strategies

    return unique_strategies([s.strip() for s in text.split(",") if s.strip()])


def split_values(text: str) -> list[str]:
    """Split ``v1,v2,...`` at the commas that are not inside quotes, ``{}`` or ``[]``, so inline
    tables (``{ exponential = { mean = "40ms" } }``) can be grid values."""
    values: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        elif char == "," and depth == 0:
            values.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    values.append("".join(current).strip())
    return values


def parse_grid(items: tuple[str, ...]) -> dict[str, list[str]]:
    """``--grid PATH=V1,V2`` options as ``{path: [values]}``."""
    grid: dict[str, list[str]] = {}
    for path, values in _assignments(items, "--grid", "PATH=V1,V2,..., e.g. clients.arrival.poisson.rate=500,1000",
                                     twice="; list all its values in one --grid"):
        grid[path] = [v for v in split_values(values) if v]
        if not grid[path]:
            raise SpecError(f"--grid {path}: give at least one value")
    return grid


def parse_ranges(items: tuple[str, ...]) -> dict[str, Any]:
    """``--range PATH=LOW:HIGH[:log][:int]`` options as ``{path: Range}``."""
    from toctou_sim.sweeps.design import Range

    ranges: dict[str, Range] = {}
    for path, text in _assignments(items, "--range",
                                   "PATH=LOW:HIGH[:log][:int], e.g. clients.arrival.poisson.rate=100:10000:log",
                                   twice=""):
        try:
            ranges[path] = Range.parse(text)
        except SpecError as exc:
            raise SpecError(f"--range {path}: {exc}") from None
    return ranges


def files_backend() -> None:
    """Charts drawn by a command go to files: matplotlib's Agg backend (no window, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
