"""Planning a sweep before anything runs: every axis value validated, the budget estimated, and
the identity a results folder must match to be resumed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from toctou_sim.core.limits import RunEstimate, check_budget, check_limit
from toctou_sim.experiment.montecarlo import StoppingRule
from toctou_sim.spec.model import ModelSpec, SpecError
from toctou_sim.spec.size import estimate_run
from toctou_sim.sweeps.design import Range, configure, grid_value
from toctou_sim.sweeps.folder import MANIFEST_FORMAT
from toctou_sim.sweeps.tasks import show_value
from toctou_sim.version import __version__

__all__ = [
    "CHECK_TRIES",
    "check_budget_of",
    "check_design",
    "check_resume",
    "manifest_identity",
]


CHECK_TRIES = 50
"""Configurations tried, at most, before a value that is invalid on the base model is reported."""


def check_design(base: ModelSpec, base_data: dict[str, Any], design: list[dict[str, Any]],
                  grid: Mapping[str, Sequence[Any]], ranges: Mapping[str, Range]) -> None:
    """Validate every value of every axis before running anything, so an unknown path or a value of
    the wrong type is one line at once rather than a failure per task.

    A value is first tried alone on the base model; if that fails, it is tried within the
    design's configurations that contain it (a warmup of 2s is invalid with the base horizon of
    1s but fine with a swept horizon of 3s). Only a value no configuration accepts is an error;
    an invalid combination of valid values is reported at run time as a failed configuration.
    """
    checks: list[tuple[str, str, Any]] = [
        ("grid", path, grid_value(v)) for path, values in grid.items() for v in values
    ]
    for path, r in ranges.items():
        for bound in (r.low, r.high):
            checks.append(("ranges", path, round(bound) if r.integer else bound))
    for option, path, value in checks:
        try:
            configure(base, base_data, {path: value})
            continue
        except SpecError as exc:
            first_error = exc
        if option == "grid":
            candidates = (c for c in design if c.get(path) == value)
        else:
            candidates = ({**c, path: value} for c in design)
        if not any(_valid(base, base_data, c) for _, c in zip(range(CHECK_TRIES), candidates, strict=False)):
            raise SpecError(f"{option} {path}={show_value(value)}: {first_error}") from None


def check_budget_of(base: ModelSpec, base_data: dict[str, Any], design: list[dict[str, Any]],
                  grid: Mapping[str, Sequence[Any]], ranges: Mapping[str, Range], replications: int,
                  max_ops: float | None, max_memory: float | None) -> None:
    """Refuse a sweep estimated past the budget, before any task runs.

    Each axis contributes the largest factor any of its values (or range bounds) multiplies the
    base model's operations and memory by, and the design's size multiplies the whole: an upper
    bound that costs one validation per value, not one per configuration.
    """
    check_limit(max_ops, "max_ops")
    check_limit(max_memory, "max_memory")
    one = estimate_run(base, 1.0)
    ops_factor = 1.0
    memory = one.memory
    axes: list[tuple[str, list[Any]]] = [(p, [grid_value(v) for v in values]) for p, values in grid.items()]
    axes += [(p, [round(r.low) if r.integer else r.low, round(r.high) if r.integer else r.high])
             for p, r in ranges.items()]
    for path, values in axes:
        largest = 1.0
        for value in values:
            try:
                configured = configure(base, base_data, {path: value})
            except SpecError:
                continue  # only valid with other axes: counted at run time
            estimate = estimate_run(configured, 1.0)
            largest = max(largest, estimate.operations / one.operations if one.operations > 0 else 1.0)
            memory = max(memory, estimate.memory)
        ops_factor *= largest
    total = RunEstimate(one.operations * ops_factor * replications * len(design),
                        one.events * ops_factor * replications * len(design),
                        memory + 2000.0 * len(design), replications * len(design))
    check_budget(total, max_ops, max_memory)


def _valid(base: ModelSpec, base_data: dict[str, Any], params: Mapping[str, Any]) -> bool:
    try:
        configure(base, base_data, params)
    except SpecError:
        return False
    return True


def manifest_identity(base: ModelSpec, design: list[dict[str, Any]], ids: list[str], strategies: list[str],
                       baseline: str, rule: StoppingRule, seed: int, batch: int,
                       grid: Mapping[str, Sequence[Any]], lhs: int | None,
                       ranges: Mapping[str, Range]) -> dict[str, Any]:
    """What identifies a sweep in its ``manifest.json``: a resumed sweep must match it (see
    :func:`check_resume`)."""

    return {
        "format": MANIFEST_FORMAT,
        "toctou_sim_version": __version__,
        "model": {"name": base.model.name, "source": base.source, "hash": base.content_hash(),
                  "content": base.model_dump(mode="json", by_alias=True)},
        "seed": seed,
        "strategies": strategies,
        "baseline": baseline,
        "reps": rule.reps,
        "precision": rule.precision,
        "max_reps": rule.max_reps,
        "metric": rule.metric,
        "batch": batch,
        "grid": {p: [grid_value(v) for v in values] for p, values in grid.items()},
        "lhs": None if lhs is None else {"n": lhs, "ranges": {p: r.describe() for p, r in ranges.items()}},
        "configurations": [{"config": cid, "params": p} for cid, p in zip(ids, design, strict=True)],
    }


_RESUME_KEYS = ("toctou_sim_version", "model", "seed", "strategies", "baseline", "reps", "precision",
                "max_reps", "metric", "batch", "configurations")


def _identity_value(manifest: Mapping[str, Any], key: str) -> str:
    value = manifest.get(key)
    if key == "model" and isinstance(value, Mapping):
        value = value.get("hash")  # the content, wherever the file now lives
    return json.dumps(value, sort_keys=True, default=str)


def check_resume(old: Mapping[str, Any], new: Mapping[str, Any], folder: Path) -> None:
    """Refuse to resume into a folder that holds a different sweep (another model, seed, design...)."""
    for key in _RESUME_KEYS:
        if _identity_value(old, key) != _identity_value(new, key):
            what = "hash" if key == "model" else "value"
            was, now = _brief(old.get(key), key), _brief(new.get(key), key)
            raise SpecError(f"resume: {folder} holds a different sweep (its {key} {what} was {was}, now "
                            f"{now}); use another folder for out")


def _brief(value: Any, key: str) -> str:
    if key == "model" and isinstance(value, Mapping):
        return str(value.get("hash"))
    if key == "configurations" and isinstance(value, list):
        return f"{len(value)} configurations"
    return json.dumps(value, default=str)
