"""The design of a sweep: which configurations run.

A cartesian ``grid`` of values, a Latin hypercube of ``lhs`` points over :class:`Range` s
(``scipy.stats.qmc``), or both crossed; each configuration is a set of overrides of one model,
identified by :func:`config_id` and built by :func:`configure`.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from toctou_sim.core.limits import MAX_CONFIGURATIONS, is_number
from toctou_sim.spec.model import ModelSpec, SpecError, parse_model, parse_override_value

__all__ = [
    "Range",
    "cartesian",
    "config_id",
    "configure",
    "grid_value",
    "latin_hypercube",
    "make_design",
]


@dataclass(frozen=True)
class Range:
    """An interval a Latin hypercube samples one parameter from.

    Attributes:
        low, high: the bounds (``low < high``); durations are in seconds.
        log: sample ``log(value)`` uniformly (log-uniform), for rates and times spanning decades;
            needs ``low > 0``.
        integer: round each sample to the nearest integer (for counts such as ``keys.count``).
    """

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low >= self.high:
            raise SpecError(f"range {self.low:g}:{self.high:g}: expected low < high")
        if self.log and self.low <= 0:
            raise SpecError(f"range {self.low:g}:{self.high:g}:log: a log-uniform range needs low > 0")

    @classmethod
    def parse(cls, text: str) -> Range:
        """``LOW:HIGH`` with optional ``:log`` and ``:int`` flags; bounds are numbers or durations
        (``100:10000:log``, ``1s:30s``, ``10:5000:log:int``)."""
        from toctou_sim.core.units import parse_duration

        low_text, _, rest = text.partition(":")
        high_text, _, flags_text = rest.partition(":")
        flags = [f.strip() for f in flags_text.split(":") if f.strip()]
        unknown = [f for f in flags if f not in ("log", "int")]
        if not low_text.strip() or not high_text.strip() or unknown:
            raise SpecError(f"range {text}: expected LOW:HIGH[:log][:int], e.g. 100:10000:log")
        bounds = []
        for bound in (low_text.strip(), high_text.strip()):
            try:
                bounds.append(float(bound) if is_number(bound) else parse_duration(bound))
            except (ValueError, TypeError):
                raise SpecError(f"range {text}: {bound!r} is not a number or a duration") from None
        return cls(bounds[0], bounds[1], log="log" in flags, integer="int" in flags)

    def scale(self, unit: np.ndarray[Any, Any]) -> list[float] | list[int]:
        """Map points of [0, 1) onto the range."""
        if self.log:
            values = np.exp(np.log(self.low) + unit * (np.log(self.high) - np.log(self.low)))
        else:
            values = self.low + unit * (self.high - self.low)
        values = np.clip(values, self.low, self.high)
        if self.integer:
            return [int(v) for v in np.rint(values)]
        return [float(v) for v in values]

    def describe(self) -> dict[str, Any]:
        """The range as plain data (for the manifest)."""
        return {"low": self.low, "high": self.high, "log": self.log, "integer": self.integer}


def grid_value(raw: Any) -> Any:
    """A grid value: strings are read as TOML values where they parse (``500``, ``true``,
    ``{ exponential = { mean = "40ms" } }``), exactly as ``--set`` overrides are
    (:func:`~toctou_sim.spec.model.parse_override_value`); otherwise kept."""
    return parse_override_value(raw) if isinstance(raw, str) else raw


def cartesian(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the last parameter varying fastest."""
    paths = list(grid)
    for path in paths:
        if not list(grid[path]):
            raise SpecError(f"grid {path}: give at least one value")
    values = [[grid_value(v) for v in grid[path]] for path in paths]
    return [dict(zip(paths, combo, strict=True)) for combo in product(*values)]


def latin_hypercube(ranges: Mapping[str, Range], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` points of a Latin hypercube over ``ranges``: each range is cut into ``n`` equal
    strata (equal in log space for a log range) and each stratum is sampled exactly once, so a
    few hundred points cover every parameter's whole range. The points are a pure function of
    ``seed`` (their own named stream, ``sweep.lhs``)."""
    from scipy.stats import qmc

    if n < 1:
        raise SpecError(f"lhs: must be >= 1, got {n}")
    if not ranges:
        raise SpecError("lhs: give the parameters to sample as ranges")
    sequence = np.random.SeedSequence(seed, spawn_key=(zlib.crc32(b"sweep.lhs"),))
    sampler = qmc.LatinHypercube(d=len(ranges), rng=np.random.Generator(np.random.PCG64(sequence)))
    unit = sampler.random(n)
    columns = {path: r.scale(unit[:, j]) for j, (path, r) in enumerate(ranges.items())}
    return [{path: columns[path][i] for path in ranges} for i in range(n)]


def make_design(
    grid: Mapping[str, Sequence[Any]] | None, lhs: int | None, ranges: Mapping[str, Range] | None, seed: int
) -> list[dict[str, Any]]:
    """The configurations of a sweep, in design order: the grid's combinations, each crossed with
    the ``lhs`` points of a Latin hypercube over ``ranges`` (seeded by ``seed``).

    Raises:
        SpecError: an empty design, ``ranges`` without ``lhs`` or the reverse, a field in both, or
            more than :data:`~toctou_sim.core.limits.MAX_CONFIGURATIONS` configurations.
    """
    grid = dict(grid or {})
    ranges = dict(ranges or {})
    if ranges and lhs is None:
        raise SpecError("ranges: give lhs, the number of Latin hypercube points")
    if lhs is not None and not ranges:
        raise SpecError("lhs: give the parameters to sample as ranges")
    both = sorted(set(grid) & set(ranges))
    if both:
        raise SpecError(f"grid and ranges: {both[0]} is given twice")
    if not grid and lhs is None:
        raise SpecError("sweep: the design is empty; give grid values, or lhs points over ranges")
    size = math.prod(len(values) for values in grid.values()) * (lhs if lhs is not None and lhs > 0 else 1)
    if size > MAX_CONFIGURATIONS:
        raise SpecError(f"sweep: {size:.3g} configurations; at most {MAX_CONFIGURATIONS} in one sweep "
                        "(split it, or sample fewer points with lhs)")
    points = cartesian(grid) if grid else [{}]
    if lhs is None:
        return points
    samples = latin_hypercube(ranges, lhs, seed)
    return [{**point, **sample} for point in points for sample in samples]


def config_id(base_hash: str, params: Mapping[str, Any]) -> str:
    """The id of a configuration: a hash of the base model's hash and its overrides."""
    payload = json.dumps({"model": base_hash, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def configure(base: ModelSpec, base_data: dict[str, Any], params: Mapping[str, Any]) -> ModelSpec:
    """The base model with a configuration's overrides applied and validated."""
    base_dir = Path(base.source).parent if base.source else Path(".")
    return parse_model(base_data, source=base.source or "<model>", base_dir=base_dir, overrides=dict(params),
                       text=base.text, data_dirs=base.data_dirs)
