"""Calibration from telemetry: fit the model's duration families to measured latencies.

Three sources (:func:`read_telemetry` picks by the file):

- a CSV column of durations (``.csv``; the unit from the column name's ``_ms``/``_us``/``_s``
  suffix, else ``unit``);
- a Prometheus histogram in the text exposition format (``.prom``/``.txt``: ``NAME_bucket{le=...}``
  cumulative counts, in seconds as Prometheus recommends): fitted by binned (interval-censored)
  maximum likelihood;
- OpenTelemetry spans as OTLP JSON (``.json``): in each trace, the time from the end of the check
  span to the start of the use span is one window; store read and write spans give the read and
  write latencies.

:func:`fit` fits every supported family by maximum likelihood (scipy), ranks them by AIC, and gives
each a goodness of fit (the Kolmogorov-Smirnov distance, with its p-value for raw samples) and
95% bootstrap intervals for the parameters; :meth:`Fit.toml` is the model-file text to paste.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, stats

from toctou_sim.core.units import format_duration
from toctou_sim.spec.model import SpecError

__all__ = ["FAMILIES", "Fit", "Telemetry", "fit", "fit_all", "read_telemetry"]

FAMILIES = ("exponential", "lognormal", "gamma", "weibull", "mixture")
"""Families fitted (the mixture: two log-normal components, by EM on the logs)."""

_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


@dataclass
class Telemetry:
    """Durations read from one file, in seconds: raw ``samples`` and/or a histogram
    (``edges`` upper bounds with ``counts`` per bucket, the first from 0)."""

    name: str
    samples: NDArray[np.float64] | None = None
    edges: NDArray[np.float64] | None = None
    counts: NDArray[np.float64] | None = None

    @property
    def size(self) -> int:
        if self.samples is not None:
            return int(self.samples.size)
        return int(self.counts.sum()) if self.counts is not None else 0


# --------------------------------------------------------------------------------------------
# Readers.


def _csv(path: Path, column: str | None, unit: str | None) -> Telemetry:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        names = reader.fieldnames or []
        if column is None:
            if len(names) != 1:
                raise SpecError(f"{path}: give the column as column (columns: {', '.join(names)})")
            column = names[0]
        if column not in names:
            raise SpecError(f"{path}: no column {column!r}; columns are {', '.join(names)}")
        values = []
        for line, row in enumerate(reader, start=2):
            text = (row.get(column) or "").strip()
            if not text:
                continue
            try:
                values.append(float(text))
            except ValueError:
                raise SpecError(f"{path}: line {line}, column {column}: expected a number, got {text!r}") from None
    suffix = column.rsplit("_", 1)[-1] if "_" in column else ""
    scale = _UNITS.get(unit or suffix, 1.0)
    samples = np.asarray(values, dtype=float) * scale
    return Telemetry(name=column, samples=_positive(samples, path))


_BUCKET = re.compile(r'^(?P<name>[a-zA-Z_:][\w:]*)_bucket\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)')
_LE = re.compile(r'le="(?P<le>[^"]+)"')


def _prometheus(path: Path, metric: str | None) -> Telemetry:
    buckets: dict[str, dict[float, float]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _BUCKET.match(line.strip())
        if not match:
            continue
        le = _LE.search(match["labels"])
        if le is None:
            continue
        bound = math.inf if le["le"] in ("+Inf", "Inf", "inf") else float(le["le"])
        series = buckets.setdefault(match["name"], {})
        series[bound] = series.get(bound, 0.0) + float(match["value"])  # summed over other labels
    if not buckets:
        raise SpecError(f"{path}: no Prometheus histogram (lines NAME_bucket{{le=\"...\"}} COUNT)")
    if metric is None:
        if len(buckets) > 1:
            raise SpecError(f"{path}: several histograms; give one as column ({', '.join(buckets)})")
        metric = next(iter(buckets))
    if metric not in buckets:
        raise SpecError(f"{path}: no histogram {metric!r}; found {', '.join(buckets)}")
    bounds = sorted(buckets[metric])
    cumulative = np.array([buckets[metric][b] for b in bounds])
    counts = np.diff(np.concatenate(([0.0], cumulative)))
    if (counts < 0).any():
        raise SpecError(f"{path}: {metric}: bucket counts must be cumulative (non-decreasing in le)")
    return Telemetry(name=metric, edges=np.array(bounds, dtype=float), counts=counts)


def _spans(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: invalid JSON: {exc}") from None
    spans: list[dict[str, Any]] = []
    for resource in data.get("resourceSpans", []) if isinstance(data, dict) else []:
        for scope in resource.get("scopeSpans", resource.get("instrumentationLibrarySpans", [])):
            spans.extend(scope.get("spans", []))
    if not spans:
        raise SpecError(f"{path}: no spans (expected OTLP JSON: resourceSpans[].scopeSpans[].spans[])")
    return spans


def _otel(path: Path, quantity: str, check: str, use: str, read: str, write: str) -> Telemetry:
    spans = _spans(path)

    def times(span: dict[str, Any]) -> tuple[float, float]:
        return int(span["startTimeUnixNano"]) * 1e-9, int(span["endTimeUnixNano"]) * 1e-9

    if quantity in ("read", "write"):
        name = read if quantity == "read" else write
        durations = [end - start for start, end in (times(s) for s in spans if s.get("name") == name)]
        if not durations:
            raise SpecError(f"{path}: no span named {name!r}")
        return Telemetry(name=f"{name} span duration", samples=_positive(np.asarray(durations), path))
    if quantity != "window":
        raise SpecError(f"quantity: expected window, read or write, got {quantity!r}")
    by_trace: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for span in spans:
        if span.get("name") in (check, use):
            by_trace.setdefault(str(span.get("traceId")), {}).setdefault(span["name"], []).append(times(span))
    windows = []
    for named in by_trace.values():
        for check_start, check_end in named.get(check, []):
            later = [start for start, _ in named.get(use, []) if start >= check_start]
            if later:
                windows.append(min(later) - check_end)
    if not windows:
        raise SpecError(f"{path}: no trace with a {check!r} span followed by a {use!r} span")
    return Telemetry(name=f"{check} → {use} window", samples=_positive(np.asarray(windows), path))


def _positive(samples: NDArray[np.float64], path: Path) -> NDArray[np.float64]:
    samples = samples[np.isfinite(samples)]
    positive = samples[samples > 0]
    if positive.size < 10:
        raise SpecError(f"{path}: need at least 10 positive durations to fit, found {positive.size}")
    return positive


def read_telemetry(path: str | Path, *, column: str | None = None, unit: str | None = None,
                   quantity: str = "window", check_span: str = "check", use_span: str = "use",
                   read_span: str = "store.read", write_span: str = "store.write") -> Telemetry:
    """Read durations from a CSV column, a Prometheus histogram or OTLP JSON spans (by suffix)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: file not found")
    if unit is not None and unit not in _UNITS:
        raise SpecError(f"unit: expected one of {', '.join(_UNITS)}, got {unit!r}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv(path, column, unit)
    if suffix in (".prom", ".txt"):
        return _prometheus(path, column)
    if suffix == ".json":
        return _otel(path, quantity, check_span, use_span, read_span, write_span)
    raise SpecError(f"{path}: expected a .csv, .prom/.txt (Prometheus) or .json (OpenTelemetry) file")


# --------------------------------------------------------------------------------------------
# Fitting.


@dataclass
class Fit:
    """One family fitted to the data."""

    family: str
    params: dict[str, float]
    loglik: float
    n_params: int
    ks: float
    ks_p: float | None
    cdf: Any = field(repr=False)
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def aic(self) -> float:
        return 2 * self.n_params - 2 * self.loglik

    def model_value(self) -> str:
        """The distribution in model-file form (inline TOML)."""
        p = self.params
        if self.family == "exponential":
            return f'{{ exponential = {{ mean = "{_d(p["mean"])}" }} }}'
        if self.family == "lognormal":
            median = math.exp(p["mu"])
            p99 = math.exp(p["mu"] + stats.norm.ppf(0.99) * p["sigma"])
            return f'{{ lognormal = {{ median = "{_d(median)}", p99 = "{_d(p99)}" }} }}'
        if self.family == "gamma":
            return f'{{ gamma = {{ shape = {p["shape"]:.4g}, mean = "{_d(p["shape"] * p["scale"])}" }} }}'
        if self.family == "weibull":
            return f'{{ weibull = {{ shape = {p["shape"]:.4g}, scale = "{_d(p["scale"])}" }} }}'
        parts = []
        for i in (1, 2):
            median = math.exp(p[f"mu{i}"])
            p99 = math.exp(p[f"mu{i}"] + stats.norm.ppf(0.99) * p[f"sigma{i}"])
            parts.append(f'{{ weight = {p[f"weight{i}"]:.4g}, lognormal = {{ median = "{_d(median)}", '
                         f'p99 = "{_d(p99)}" }} }}')
        return "{ mixture = [ " + ", ".join(parts) + " ] }"

    def toml(self, field_path: str) -> str:
        """``section.key = value`` lines ready to paste (the table header, then the key)."""
        section, _, key = field_path.rpartition(".")
        line = f"{key} = {self.model_value()}"
        return f"[{section}]\n{line}" if section else line

    def describe(self) -> str:
        def one(name: str, value: float) -> str:
            shown = _d(value) if name in ("mean", "scale") else f"{value:.4g}"
            if name in self.ci:
                low, high = self.ci[name]
                span = (f"{_d(low)}..{_d(high)}" if name in ("mean", "scale") else f"{low:.4g}..{high:.4g}")
                return f"{name}={shown} [{span}]"
            return f"{name}={shown}"

        return ", ".join(one(k, v) for k, v in self.params.items())


def _d(seconds: float) -> str:
    """A duration for a model file, 4 significant digits."""
    return format_duration(float(f"{seconds:.4g}"))


def _fit_family(family: str, x: NDArray[np.float64]) -> tuple[dict[str, float], Any]:
    if family == "exponential":
        mean = float(x.mean())
        return {"mean": mean}, stats.expon(scale=mean)
    if family == "lognormal":
        logs = np.log(x)
        mu, sigma = float(logs.mean()), float(logs.std())
        return {"mu": mu, "sigma": sigma}, stats.lognorm(s=sigma, scale=math.exp(mu))
    if family == "gamma":
        shape, _, scale = stats.gamma.fit(x, floc=0)
        return {"shape": float(shape), "scale": float(scale)}, stats.gamma(shape, scale=scale)
    if family == "weibull":
        shape, _, scale = stats.weibull_min.fit(x, floc=0)
        return {"shape": float(shape), "scale": float(scale)}, stats.weibull_min(shape, scale=scale)
    if family == "mixture":
        return _lognormal_mixture(x)
    raise ValueError(f"unknown family {family!r}")


class _MixtureCdf:
    def __init__(self, params: dict[str, float]) -> None:
        self.params = params

    def _parts(self) -> list[tuple[float, Any]]:
        p = self.params
        return [(p[f"weight{i}"], stats.lognorm(s=p[f"sigma{i}"], scale=math.exp(p[f"mu{i}"]))) for i in (1, 2)]

    def cdf(self, x: Any) -> Any:
        return sum(w * d.cdf(x) for w, d in self._parts())

    def logpdf(self, x: Any) -> Any:
        return np.log(np.maximum(sum(w * d.pdf(x) for w, d in self._parts()), 1e-300))

    def ppf(self, q: Any) -> Any:
        """Quantiles by inverting the CDF on a fine log grid (monotone: interpolation is exact enough
        for a QQ plot and cheap for thousands of points)."""
        p = self.params
        lows = [p[f"mu{i}"] - 9 * p[f"sigma{i}"] for i in (1, 2)]
        highs = [p[f"mu{i}"] + 9 * p[f"sigma{i}"] for i in (1, 2)]
        grid = np.exp(np.linspace(min(lows), max(highs), 20_000))
        return np.interp(np.asarray(q, dtype=float), self.cdf(grid), grid)


def _lognormal_mixture(x: NDArray[np.float64], iterations: int = 200) -> tuple[dict[str, float], Any]:
    """Two log-normal components by EM on the logs (a two-Gaussian mixture), started at the
    lower and upper quartile."""
    y = np.log(x)
    mu = np.quantile(y, [0.25, 0.75])
    sigma = np.array([y.std(), y.std()]) / 2 + 1e-6
    weight = np.array([0.5, 0.5])
    previous = -math.inf
    for _ in range(iterations):
        dens = weight * np.exp(-0.5 * ((y[:, None] - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        total = dens.sum(axis=1, keepdims=True) + 1e-300
        resp = dens / total
        loglik = float(np.log(total).sum())
        n = resp.sum(axis=0) + 1e-12
        weight = n / n.sum()
        mu = (resp * y[:, None]).sum(axis=0) / n
        sigma = np.sqrt((resp * (y[:, None] - mu) ** 2).sum(axis=0) / n) + 1e-9
        if loglik - previous < 1e-7 * abs(loglik):
            break
        previous = loglik
    order = np.argsort(mu)
    params = {}
    for rank, i in enumerate(order, start=1):
        params[f"weight{rank}"] = float(weight[i])
        params[f"mu{rank}"] = float(mu[i])
        params[f"sigma{rank}"] = float(sigma[i])
    return params, _MixtureCdf(params)


_N_PARAMS = {"exponential": 1, "lognormal": 2, "gamma": 2, "weibull": 2, "mixture": 5}


def _binned_fit(family: str, edges: NDArray[np.float64], counts: NDArray[np.float64]) -> tuple[dict[str, float], Any]:
    """Interval-censored maximum likelihood on histogram buckets (started at a fit to the bucket
    midpoints)."""
    lower = np.concatenate(([0.0], edges[:-1]))
    finite_upper = np.where(np.isfinite(edges), edges, lower * 2)
    mids = np.where(lower > 0, np.sqrt(np.maximum(lower, 1e-12) * finite_upper), finite_upper / 2)
    start = np.repeat(mids, np.round(counts).astype(int))
    params, _ = _fit_family(family if family != "mixture" else "lognormal", np.maximum(start, 1e-9))
    names = list(params)

    def build(values: Sequence[float]) -> Any:
        p = dict(zip(names, values, strict=True))
        if family == "exponential":
            return stats.expon(scale=abs(p["mean"]))
        if family == "lognormal":
            return stats.lognorm(s=abs(p["sigma"]), scale=math.exp(p["mu"]))
        if family == "gamma":
            return stats.gamma(abs(p["shape"]), scale=abs(p["scale"]))
        return stats.weibull_min(abs(p["shape"]), scale=abs(p["scale"]))

    def nll(values: Sequence[float]) -> float:
        dist = build(values)
        mass = np.diff(np.concatenate(([0.0], dist.cdf(edges))))
        return float(-(counts * np.log(np.maximum(mass, 1e-300))).sum())

    if family == "mixture":
        raise SpecError("a histogram is fitted with exponential, lognormal, gamma or weibull (not mixture)")
    result = optimize.minimize(nll, [params[n] for n in names], method="Nelder-Mead",
                               options={"xatol": 1e-8, "fatol": 1e-8, "maxiter": 4000})
    fitted = {n: abs(float(v)) if n != "mu" else float(v) for n, v in zip(names, result.x, strict=True)}
    return fitted, build([fitted[n] for n in names])


def fit(data: Telemetry, family: str, *, bootstrap: int = 100, seed: int = 0) -> Fit:
    """Fit one family by maximum likelihood; goodness of fit and 95% bootstrap parameter intervals."""
    if data.samples is not None:
        x = data.samples
        params, dist = _fit_family(family, x)
        loglik = float(np.sum(dist.logpdf(x)))
        ks = stats.kstest(x, dist.cdf)
        fitted = Fit(family, params, loglik, _N_PARAMS[family], float(ks.statistic), float(ks.pvalue), dist)
        if bootstrap:
            rng = np.random.default_rng(seed)
            draws: dict[str, list[float]] = {k: [] for k in params}
            for _ in range(bootstrap):
                again, _ = _fit_family(family, rng.choice(x, size=x.size, replace=True))
                for k, v in again.items():
                    draws[k].append(v)
            fitted.ci = {k: (float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))) for k, v in draws.items()}
        return fitted
    assert data.edges is not None and data.counts is not None
    params, dist = _binned_fit(family, data.edges, data.counts)
    mass = np.diff(np.concatenate(([0.0], dist.cdf(data.edges))))
    loglik = float((data.counts * np.log(np.maximum(mass, 1e-300))).sum())
    empirical = np.cumsum(data.counts) / data.counts.sum()
    finite = np.isfinite(data.edges)
    distance = float(np.max(np.abs(empirical[finite] - dist.cdf(data.edges[finite])))) if finite.any() else math.nan
    return Fit(family, params, loglik, _N_PARAMS[family], distance, None, dist)


def fit_all(data: Telemetry, families: Sequence[str] = FAMILIES, *, bootstrap: int = 100,
            seed: int = 0) -> list[Fit]:
    """Every family that can be fitted, best (lowest AIC) first; the best one with its 95%
    bootstrap intervals (``bootstrap`` resamples)."""
    chosen = [f for f in families if data.samples is not None or f != "mixture"]
    fits = sorted((fit(data, family, bootstrap=0) for family in chosen), key=lambda f: f.aic)
    if bootstrap and data.samples is not None and fits:
        fits[0] = fit(data, fits[0].family, bootstrap=bootstrap, seed=seed)
    return fits
