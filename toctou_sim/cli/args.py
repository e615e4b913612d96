"""Argument types and helpers every ``toctou-sim`` command shares (the layer below the commands).

The commands (:mod:`toctou_sim.cli.main` and ``cli_*``) import from here; nothing here imports a
command module, so the command modules do not import each other.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import click

from toctou_sim.spec.model import SpecError

__all__ = ["MODEL", "ModelArgument", "files_backend", "make_executor", "parse_sets"]


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


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    """``--set a.b=v`` options as a dict (values are parsed as TOML later)."""
    overrides = {}
    for item in values:
        path, sep, value = item.partition("=")
        if not sep or not path:
            raise SpecError(f"--set {item}: expected PATH=VALUE, e.g. clients.arrival.poisson.rate=500")
        overrides[path.strip()] = value.strip()
    return overrides


def make_executor(workers: int) -> Executor | None:
    """``--workers``: ``None`` (run in this process) for 1, else a process pool (0 = all cores)."""
    count = workers if workers > 0 else (os.cpu_count() or 1)
    if count == 1:
        return None
    return ProcessPoolExecutor(max_workers=count)


def files_backend() -> None:
    """Charts drawn by a command go to files: matplotlib's Agg backend (no window, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
