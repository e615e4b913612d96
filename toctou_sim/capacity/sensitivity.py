"""Global sensitivity: which of a model's parameters matter most for the harm and the error budget.

:func:`sensitivity` draws a Latin hypercube sample over parameter ranges (``SALib.sample.latin``),
runs the strategy once per sample point (a few replications, the same seed at every point: common
random numbers, so the differences between points come from the parameters, not from noise), and
estimates, per output (the harm rate and the error rate), each parameter's **PAWN** index
(``SALib.analyze.pawn``, Pianosi and Wagener 2015, which accepts any sample, a Latin hypercube
included): the sample is cut into slices by the parameter's value, and the index is the median,
over the slices, of the Kolmogorov-Smirnov distance between the output's distribution within the
slice and over the whole sample. 0: fixing the parameter does not move the output's distribution;
1: it separates it completely. PAWN is built for ranking and screening with small samples (it is
also deterministic: no bootstrap). A parameter without any effect still gets a positive index
from chance alone; :func:`chance_level` estimates how much (by permutation), and the chart draws
it. Read the ranking and that level, not the second decimal.

A parameter is a field path with a range: either absolute bounds (``clients.arrival.poisson.rate``
from 100 to 1000; durations in seconds or as text, ``"10ms"``) or multipliers of today's value,
written ``"x0.5"`` to ``"x2"``. A multiplier also scales a whole table: a distribution
(``clients.window``: every duration of it, so its shape is kept) or the arrival process
(``clients.arrival``: the Poisson rate and every phase of the rate profile).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from toctou_sim.experiment.settings import RunSettings
from toctou_sim.spec.model import ModelSpec, SpecError, parse_model

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "OUTPUTS",
    "Parameter",
    "SensitivityResult",
    "chance_level",
    "default_parameters",
    "pawn_slices",
    "sensitivity",
]

OUTPUTS = {"harm": "harm rate (per operation)", "error_rate": "error rate (per operation)"}
"""The outputs analysed: the harm rate (``harm_rate`` from the effect ledger, else the violation
rate) and the error rate the SLO's budget is spent on."""

_SCALED = {"value", "low", "high", "mean", "median", "p99", "scale", "rate"}
"""The fields a multiplier scales inside a table: every duration of a distribution, and rates."""


@dataclass(frozen=True)
class Parameter:
    """One sampled field and its range.

    Attributes:
        path: the field's dotted path (``clients.window``, ``mutators.0.rate``); ``strategy.*``
            paths address the strategy analysed.
        low, high: the bounds (``low < high``): absolute values (durations in seconds) or, with
            ``relative``, multipliers of today's value.
        relative: the bounds multiply today's value (a number, or every duration and rate in a
            table).
    """

    path: str
    low: float
    high: float
    relative: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low >= self.high:
            raise SpecError(f"params {self.path}: expected LOW < HIGH, got {self.low:g}:{self.high:g}")
        if self.relative and self.low <= 0:
            raise SpecError(f"params {self.path}: multipliers must be > 0, got x{self.low:g}")

    @property
    def label(self) -> str:
        """The parameter as a chart and table label: ``clients.window (x0.5-2)``."""
        if self.relative:
            return f"{self.path} (x{self.low:g}-{self.high:g})"
        return f"{self.path} ({self.low:g}-{self.high:g})"

    @classmethod
    def parse(cls, text: str) -> Parameter:
        """``PATH=LOW:HIGH``: numbers, durations (``10ms:200ms``) or multipliers (``x0.5:x2``)."""
        path, sep, bounds = text.partition("=")
        low_text, colon, high_text = bounds.partition(":")
        path = path.strip()
        if not sep or not colon or not path or not low_text.strip() or not high_text.strip():
            raise SpecError(f"params {text}: expected PATH=LOW:HIGH (numbers, durations, or x0.5:x2 multipliers)")
        return cls.of(path, (low_text.strip(), high_text.strip()))

    @classmethod
    def of(cls, path: str, bounds: tuple[Any, Any]) -> Parameter:
        """A parameter from ``(low, high)``: numbers (durations in seconds), duration texts, or
        multiplier texts (``"x0.5"``, ``"x2"``), both bounds of the same kind."""
        kinds = [isinstance(b, str) and b.strip().lower().startswith("x") for b in bounds]
        if kinds[0] != kinds[1]:
            raise SpecError(f"params {path}: give both bounds as multipliers (x0.5:x2) or neither")
        values = [_bound(path, b.strip()[1:] if kind else b) for b, kind in zip(bounds, kinds, strict=True)]
        return cls(path, values[0], values[1], relative=kinds[0])


def _bound(path: str, raw: Any) -> float:
    from toctou_sim.core.limits import is_number
    from toctou_sim.core.units import parse_duration

    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise SpecError(f"params {path}: {raw!r} is not a number, a duration or a multiplier")
    if isinstance(raw, int | float):
        return float(raw)
    try:
        return float(raw) if is_number(raw) else parse_duration(raw)
    except (ValueError, TypeError):
        raise SpecError(f"params {path}: {raw!r} is not a number, a duration or a multiplier (x2)") from None


def _node(data: Any, path: str) -> tuple[Any, Any]:
    """The container holding the field at ``path``, and the field's key (or index)."""
    parts = path.split(".")
    node = data
    for depth, part in enumerate(parts):
        key: Any = int(part) if isinstance(node, list) and part.isdigit() else part
        missing = (key not in node) if isinstance(node, dict) else not (isinstance(key, int) and key < len(node))
        if not isinstance(node, dict | list) or missing:
            where = ".".join(parts[:depth]) or "the model"
            raise SpecError(f"params {path}: no field {part!r} in {where}")
        if depth == len(parts) - 1:
            return node, key
        node = node[key]
    raise SpecError(f"params {path}: empty path")  # pragma: no cover - split never returns []


def _scale(value: Any, factor: float, path: str) -> Any:
    """``value`` (a number, or a table of durations and rates) multiplied by ``factor``."""
    if isinstance(value, bool):
        raise SpecError(f"params {path}: a true/false field cannot be scaled")
    if isinstance(value, int | float):
        return value * factor
    if isinstance(value, list):
        return [_scale(item, factor, path) if isinstance(item, dict | list) else item for item in value]
    if isinstance(value, dict):
        if "file" in value:
            raise SpecError(f"params {path}: an empirical distribution cannot be scaled; give a range of a "
                            "number field instead")
        out = {}
        for key, item in value.items():
            if key == "mu" and isinstance(item, int | float):
                out[key] = item + math.log(factor)  # a lognormal's log-median
            elif key in _SCALED and isinstance(item, int | float) and not isinstance(item, bool):
                out[key] = item * factor
            elif isinstance(item, dict | list):
                out[key] = _scale(item, factor, path)
            else:
                out[key] = item
        return out
    raise SpecError(f"params {path}: {value!r} is not a number or a table that can be scaled")


def _apply(data: dict[str, Any], full: dict[str, Any], parameter: Parameter, value: float) -> None:
    """Set ``parameter`` to ``value`` in ``data`` (the model as written: defaults left out, so the
    fast engine still recognises it), copying the field from ``full`` (every default) if absent."""
    import copy

    node, key = _node(full, parameter.path)  # raises for a path the model does not have
    target: Any = data
    for part in parameter.path.split(".")[:-1]:
        index: Any = int(part) if isinstance(target, list) else part
        if isinstance(target, dict) and index not in target:
            target[index] = copy.deepcopy(_node(full, parameter.path[: parameter.path.index(part) + len(part)])[0][
                index])
        target = target[index]
    if isinstance(target, dict) and key not in target:
        target[key] = copy.deepcopy(node[key])
    today = target[key]
    if parameter.relative:
        target[key] = _scale(today, value, parameter.path)
    elif isinstance(today, bool) or not isinstance(today, int | float | None):
        raise SpecError(f"params {parameter.path}: is a table; give multipliers (x0.5:x2) to scale it, or the "
                        "path of one of its numbers")
    else:
        target[key] = round(value) if isinstance(today, int) else value


def _data(spec: ModelSpec, defaults: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = spec.model_dump(mode="json", by_alias=True, exclude_none=True,
                                           exclude_defaults=not defaults)
    return data


def _configure(spec: ModelSpec, data: dict[str, Any], full: dict[str, Any], parameters: Sequence[Parameter],
               values: Sequence[float]) -> ModelSpec:
    import copy
    from pathlib import Path

    data = copy.deepcopy(data)
    for parameter, value in zip(parameters, values, strict=True):
        _apply(data, full, parameter, float(value))
    base_dir = Path(spec.source).parent if spec.source else Path(".")
    parsed = parse_model(data, source=spec.source or "<model>", base_dir=base_dir, text=spec.text,
                         data_dirs=spec.data_dirs)
    if any(p.path.startswith("strategy.") for p in parameters):
        return parsed
    # The strategy as chosen (a dump and parse marks its defaulted fields as set, which the fast engine
    # reads as options it does not know).
    return parsed.model_copy(update={"strategy": spec.strategy})


def default_parameters(model: ModelSpec, strategy: str | None = None) -> list[Parameter]:
    """x0.5 to x2 of: the load (``clients.arrival``), the check-to-use window, the store's read
    and write latencies, each background mutator's rate, and every TTL the model or the strategy
    has (a cache's ``read_path.ttl``, a lock's or a lease's ``strategy.lease_ttl``)."""
    spec = model.with_strategy(strategy) if strategy is not None else model
    data = _data(spec)
    paths = ["clients.arrival", "clients.window", "store.read_latency", "store.write_latency"]
    paths += [f"mutators.{i}.rate" for i, _ in enumerate(data.get("mutators") or [])]
    for table in ("read_path", "strategy"):
        for key, value in (data.get(table) or {}).items():
            if key.endswith("ttl") and isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                paths.append(f"{table}.{key}")
    present = []
    for path in paths:
        try:
            _node(data, path)
        except SpecError:
            continue
        low = 0.5
        if path == "strategy.lease_ttl" and data["strategy"].get("renew_deadline"):  # a lease outlives its renewal
            low = max(low, 1.05 * data["strategy"]["renew_deadline"] / data["strategy"]["lease_ttl"])
        present.append(Parameter(path, low, 2.0, relative=True))
    return present


@dataclass(frozen=True)
class SensitivityResult:
    """The sample, the outputs and the indices of one strategy's sensitivity analysis.

    Attributes:
        model: the model's name; ``strategy``: the strategy analysed; ``harm``: what a harm is.
        parameters: the parameters sampled, in order.
        samples: one row per sample point: each parameter's value (multipliers for relative ones)
            and each output's mean over the replications.
        indices: tidy rows: ``strategy``, ``output``, ``parameter``, ``pawn_median`` (the index),
            ``pawn_mean``, ``pawn_max``, ``pawn_cv`` (over the slices), ``rank`` (1: the largest
            index), ``varied`` (false: the output was the same at every point, its indices are 0
            and its ranks mean nothing), ``chance`` (the output's :func:`chance_level`).
        n, reps, seed: sample points, replications per point, and the seed.
    """

    model: str
    strategy: str
    harm: str
    parameters: list[Parameter]
    samples: pd.DataFrame
    indices: pd.DataFrame
    n: int
    reps: int
    seed: int
    slices: int = 10
    """PAWN's conditioning slices."""

    def chance(self, output: str = "harm") -> float:
        """The PAWN index a parameter without effect on ``output`` reaches by chance (95%; see
        :func:`chance_level`)."""
        rows = self.indices[self.indices["output"] == output]
        return float(rows["chance"].iloc[0]) if len(rows) else 0.0

    def ranking(self, output: str = "harm") -> list[str]:
        """Parameter paths, the most influential on ``output`` first."""
        rows = self.indices[self.indices["output"] == output].sort_values("rank")
        return [str(path) for path in rows["parameter"]]

    def to_frame(self) -> pd.DataFrame:
        """The indices (see ``indices``)."""
        return self.indices.copy()

    def table(self) -> pd.DataFrame:
        """Parameters down (ranked by their effect on the harm), the PAWN index and rank of each output across."""
        import pandas as pd

        rows = []
        for path in self.ranking("harm"):
            label = next(p.label for p in self.parameters if p.path == path)
            row: dict[str, Any] = {"parameter": label}
            for output in OUTPUTS:
                found = self.indices[(self.indices["output"] == output) & (self.indices["parameter"] == path)]
                if len(found):
                    record = found.iloc[0]
                    varied = bool(record["varied"])
                    row[f"{output} PAWN"] = f"{record['pawn_median']:.2f}" if varied else "no variation"
                    row[f"{output} rank"] = str(int(record["rank"])) if varied else "-"
            rows.append(row)
        return pd.DataFrame(rows)


def _parameters(model: ModelSpec, strategy: str | None,
                params: Mapping[str, tuple[Any, Any]] | Sequence[Parameter] | None) -> list[Parameter]:
    if params is None:
        chosen = default_parameters(model, strategy)
    elif isinstance(params, Mapping):
        chosen = [Parameter.of(path, (bounds[0], bounds[1])) for path, bounds in params.items()]
    else:
        chosen = list(params)
    if not chosen:
        raise SpecError("params: give at least one parameter (PATH=LOW:HIGH)")
    paths = [p.path for p in chosen]
    twice = sorted({p for p in paths if paths.count(p) > 1})
    if twice:
        raise SpecError(f"params {twice[0]}: given twice")
    return chosen


def sensitivity(
    model: ModelSpec,
    strategy: str | None = None,
    params: Mapping[str, tuple[Any, Any]] | Sequence[Parameter] | None = None,
    *,
    n: int = 64,
    reps: int = 1,
    seed: int = 0,
    executor: Executor | None = None,
    engine: str = "auto",
    num_resamples: int = 100,
    settings: RunSettings | None = None,
) -> SensitivityResult:
    """Rank ``params`` by their effect on ``strategy``'s harm rate and error rate (see the module
    docstring).

    Args:
        model: the model; ``strategy``: the strategy to analyse (default: the model's own).
        params: ``{path: (low, high)}`` (numbers, duration texts, or ``"x0.5"``-style multipliers)
            or :class:`Parameter` objects; default :func:`default_parameters`.
        n: Latin hypercube points (each is one configuration, run ``reps`` times); 32 to 64 give a
            usable ranking, more narrow the intervals.
        reps: replications per point (all on ``seed``: common random numbers across points).
        seed: the seed of the sample, of the replications and of the bootstrap.
        executor: runs the replications (any ``concurrent.futures.Executor``).
        engine: ``auto``, ``des`` or ``fast`` (never changes a number).
        num_resamples: bootstrap resamples for the confidence intervals.
        settings: ``reps``, ``seed``, ``executor`` and ``engine`` in one
            :class:`~toctou_sim.experiment.settings.RunSettings` (give it or those keywords, not
            both); settings the analysis would ignore are refused.

    Raises:
        SpecError: a bad parameter (unknown path, bad range, a value the model rejects), ``n < 4``
            or a bad run setting (``reps < 1``, ...).
    """
    import zlib

    import pandas as pd
    from SALib.analyze import pawn
    from SALib.sample import latin

    from toctou_sim.experiment.montecarlo import _map

    if n < 4:
        raise SpecError(f"sensitivity n: must be >= 4 sample points, got {n}")
    run = RunSettings.resolve(settings, sensitivity, reps=reps, seed=seed, executor=executor, engine=engine)
    run.refuse("sensitivity", "precision", "max_reps", "metric", "estimator", "progress", "max_ops", "max_memory")
    reps, seed, executor, engine = run.reps, run.seed, run.executor, run.engine
    spec = model.with_strategy(strategy) if strategy is not None else model
    label = spec.strategy.label or spec.strategy.kind
    parameters = _parameters(spec, None, params)
    data, full = _data(spec, defaults=False), _data(spec)
    names = [p.path for p in parameters]
    problem: dict[str, Any] = {"num_vars": len(parameters), "names": names,
                               "bounds": [[p.low, p.high] for p in parameters]}
    stream = np.random.SeedSequence(seed, spawn_key=(zlib.crc32(b"sensitivity.lhs"),))
    sample = latin.sample(problem, n, seed=np.random.Generator(np.random.PCG64(stream)))
    configured = []
    for index, values in enumerate(sample):
        try:
            configured.append(_configure(spec, data, full, parameters, values))
        except SpecError as exc:
            if index == 0 or str(exc).startswith("params"):
                raise
            raise SpecError(f"params: the sample point {dict(zip(names, values, strict=True))} "
                            f"is rejected by the model: {exc}") from None
    tasks = [(config, replication, seed, engine, "plain") for config in configured for replication in range(reps)]
    results = list(_map(tasks, executor, None))
    harm_metric = "harm_rate" if "harm_rate" in results[0].metrics else "violation_rate"
    outputs = {"harm": harm_metric, "error_rate": "error_rate"}
    frame = pd.DataFrame(sample, columns=names)
    for output, metric in outputs.items():
        values = np.array([result.metrics.get(metric, math.nan) for result in results], dtype=np.float64)
        frame[output] = np.nanmean(values.reshape(n, reps), axis=1)
    slices = pawn_slices(n)
    rows = []
    for output in outputs:
        y = frame[output].to_numpy(dtype=np.float64)
        found: Mapping[str, Any]
        if not np.all(np.isfinite(y)) or np.ptp(y) == 0:
            found = {key: np.zeros(len(parameters)) for key in ("median", "mean", "maximum", "CV")}
        else:
            found = pawn.analyze(problem, sample, y, S=slices)
        varied = bool(np.all(np.isfinite(y)) and np.ptp(y) > 0)
        chance = chance_level(y, slices, seed) if varied else 0.0
        pawn_index = np.asarray(found["median"], dtype=np.float64)
        order = np.argsort(-pawn_index, kind="stable")
        ranks = np.empty(len(parameters), dtype=int)
        ranks[order] = np.arange(1, len(parameters) + 1)
        for j, parameter in enumerate(parameters):
            rows.append({"strategy": label, "output": output, "parameter": parameter.path,
                         "pawn_median": float(found["median"][j]), "pawn_mean": float(found["mean"][j]),
                         "pawn_max": float(found["maximum"][j]), "pawn_cv": float(np.nan_to_num(found["CV"][j])),
                         "rank": int(ranks[j]), "varied": varied, "chance": chance})
    frame.insert(0, "strategy", label)
    return SensitivityResult(spec.model.name, label, spec.harm, parameters, frame, pd.DataFrame(rows), n, reps, seed,
                             slices)


def pawn_slices(n: int) -> int:
    """PAWN's conditioning slices for ``n`` points: about 12 points per slice, 2 to 10 slices."""
    return max(2, min(10, n // 12))


def chance_level(y: Any, slices: int, seed: int, draws: int = 200, confidence: float = 0.95) -> float:
    """The PAWN index a parameter without any effect reaches by chance with these outputs: the
    ``confidence`` quantile, over ``draws`` random orderings of ``y`` (a dummy parameter), of the
    median over ``slices`` equal slices of the Kolmogorov-Smirnov distance between the slice's
    outputs and all of them. Ties (many runs without a harm) are accounted for, as they are in
    the real index."""
    import zlib

    from scipy.stats import ks_2samp

    values = np.asarray(y, dtype=np.float64)
    if values.size == 0 or np.ptp(values) == 0:
        return 0.0
    stream = np.random.SeedSequence(seed, spawn_key=(zlib.crc32(b"sensitivity.chance"),))
    rng = np.random.Generator(np.random.PCG64(stream))
    medians = []
    for _ in range(draws):
        chunks = np.array_split(rng.permutation(values), slices)
        medians.append(float(np.median([ks_2samp(chunk, values).statistic for chunk in chunks])))
    return float(np.quantile(medians, confidence))
