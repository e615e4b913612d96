"""Probability distributions of durations, sampled in blocks from numpy Generators.

A distribution is written in a model file as a one-key table naming its family, e.g.
``{ exponential = { mean = "40ms" } }``; a plain duration (``"40ms"`` or ``0.04``) is the
``constant`` distribution. Every family knows its analytic mean and variance (``inf`` where the
moment does not exist), which the tests check against large samples.

The simulation never calls a Generator once per variate: :class:`VariateStream` draws a block of
values at once and hands them out one by one.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from functools import cache
from itertools import chain, repeat
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from pydantic import (
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    TypeAdapter,
    ValidationInfo,
    model_validator,
)

from toctou_sim.core.units import DataModel, NonNegativeDuration, PositiveDuration, parse_duration

__all__ = [
    "DISTRIBUTIONS",
    "Constant",
    "Distribution",
    "DistributionSpec",
    "Empirical",
    "Exponential",
    "Gamma",
    "KeyChooser",
    "LogNormal",
    "Mixture",
    "Pareto",
    "RandomStreams",
    "Uniform",
    "VariateStream",
    "Weibull",
    "parse_distribution",
]

_Z99 = 2.3263478740408408  # standard normal quantile at 0.99

DISTRIBUTIONS: dict[str, type[Distribution]] = {}
"""Registered distribution families by the name used in model files."""


class Distribution(DataModel):
    """A non-negative duration distribution (seconds)."""
    family: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.family:
            DISTRIBUTIONS[cls.family] = cls

    @model_validator(mode="after")
    def _moments_exist(self) -> Distribution:
        """Parameters that are finite but so extreme that the mean or variance overflows
        (``lognormal = { sigma = 1e308 }``, ``weibull = { shape = 1e-300 }``) are refused; only a
        Pareto's infinite moments (shape <= 1 or <= 2) are documented and kept."""
        if self.family in ("empirical", "mixture", ""):
            return self
        try:
            moments = (self.mean, self.variance)
        except (AssertionError, TypeError):  # incomplete parameters: the family's own check says so
            return self
        except (OverflowError, ZeroDivisionError, ValueError):
            moments = (math.nan, math.nan)
        if self.family != "pareto" and not all(math.isfinite(m) for m in moments):
            raise ValueError(f"{self.family}: parameters out of range (the mean or variance is not a finite number)")
        return self

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        """Draw ``size`` independent variates."""
        raise NotImplementedError

    @property
    def mean(self) -> float:
        """Analytic mean in seconds."""
        raise NotImplementedError

    @property
    def variance(self) -> float:
        """Analytic variance in seconds squared (``inf`` where it does not exist)."""
        raise NotImplementedError

    @property
    def is_zero(self) -> bool:
        """True when every variate is exactly 0 (the engine then skips the wait entirely)."""
        return False

    def to_data(self) -> dict[str, Any]:
        """The model-file form ``{family: {params}}`` (durations in seconds)."""
        return {self.family: self.model_dump(mode="json", by_alias=True, exclude_none=True)}

    def describe(self) -> str:
        """A short human-readable form, e.g. ``exponential(mean=0.04)``."""
        items = self.model_dump(by_alias=True, exclude_none=True).items()
        fields = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in items)
        return f"{self.family}({fields})"


class Constant(Distribution):
    """Every variate equals ``value``."""

    family: ClassVar[str] = "constant"
    value: NonNegativeDuration

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        return np.full(size, self.value)

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0

    @property
    def is_zero(self) -> bool:
        return self.value == 0.0


class Uniform(Distribution):
    """Uniform on ``[low, high]``."""

    family: ClassVar[str] = "uniform"
    low: NonNegativeDuration
    high: NonNegativeDuration

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high must be >= low, got low={self.low:g}s high={self.high:g}s")
        return self

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        return rng.uniform(self.low, self.high, size)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12


class Exponential(Distribution):
    """Exponential with the given ``mean`` (memoryless: Poisson inter-arrival times)."""

    family: ClassVar[str] = "exponential"
    mean_: PositiveDuration = Field(alias="mean")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        return rng.exponential(self.mean_, size)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def variance(self) -> float:
        return self.mean_**2


class LogNormal(Distribution):
    """Log-normal, given either ``median`` and ``p99`` (durations) or ``mu`` and ``sigma``.

    ``mu`` and ``sigma`` are the mean and standard deviation of the natural log of the duration
    in seconds. Latency distributions are usually described by their median and 99th percentile,
    from which ``mu = ln(median)`` and ``sigma = ln(p99 / median) / z_0.99``.
    """

    family: ClassVar[str] = "lognormal"
    median: PositiveDuration | None = None
    p99: PositiveDuration | None = None
    mu: float | None = None
    sigma: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_parametrisation(self) -> LogNormal:
        by_quantiles = self.median is not None or self.p99 is not None
        by_moments = self.mu is not None or self.sigma is not None
        if by_quantiles == by_moments:
            raise ValueError("give either median and p99, or mu and sigma")
        if by_quantiles and (self.median is None or self.p99 is None):
            raise ValueError("give both median and p99")
        if by_moments and (self.mu is None or self.sigma is None):
            raise ValueError("give both mu and sigma")
        if by_quantiles and self.p99 is not None and self.median is not None and self.p99 < self.median:
            raise ValueError(f"p99 must be >= median, got median={self.median:g}s p99={self.p99:g}s")
        return self

    @property
    def log_mu(self) -> float:
        """Mean of ln(duration)."""
        if self.mu is not None:
            return self.mu
        assert self.median is not None
        return math.log(self.median)

    @property
    def log_sigma(self) -> float:
        """Standard deviation of ln(duration)."""
        if self.sigma is not None:
            return self.sigma
        assert self.median is not None and self.p99 is not None
        return math.log(self.p99 / self.median) / _Z99

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        return rng.lognormal(self.log_mu, self.log_sigma, size)

    @property
    def mean(self) -> float:
        return math.exp(self.log_mu + self.log_sigma**2 / 2)

    @property
    def variance(self) -> float:
        s2 = self.log_sigma**2
        return math.expm1(s2) * math.exp(2 * self.log_mu + s2)


class Gamma(Distribution):
    """Gamma with ``shape`` k and ``scale`` θ (mean kθ); give ``mean`` instead of ``scale`` if easier."""

    family: ClassVar[str] = "gamma"
    shape: float = Field(gt=0)
    scale: PositiveDuration | None = None
    mean_: PositiveDuration | None = Field(default=None, alias="mean")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _one_scale(self) -> Gamma:
        if (self.scale is None) == (self.mean_ is None):
            raise ValueError("give exactly one of scale or mean")
        return self

    @property
    def theta(self) -> float:
        """The scale parameter in seconds."""
        return self.scale if self.scale is not None else (self.mean_ or 0.0) / self.shape

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        return rng.gamma(self.shape, self.theta, size)

    @property
    def mean(self) -> float:
        return self.shape * self.theta

    @property
    def variance(self) -> float:
        return self.shape * self.theta**2


class Weibull(Distribution):
    """Weibull with ``shape`` k and ``scale`` λ: mean λΓ(1 + 1/k)."""

    family: ClassVar[str] = "weibull"
    shape: float = Field(gt=0)
    scale: PositiveDuration

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        return self.scale * rng.weibull(self.shape, size)

    @property
    def mean(self) -> float:
        return self.scale * math.gamma(1 + 1 / self.shape)

    @property
    def variance(self) -> float:
        return self.scale**2 * (math.gamma(1 + 2 / self.shape) - math.gamma(1 + 1 / self.shape) ** 2)


class Pareto(Distribution):
    """Pareto (type I) with minimum ``scale`` and tail index ``shape`` α: heavy-tailed pauses.

    The mean is finite only for α > 1 and the variance only for α > 2.
    """

    family: ClassVar[str] = "pareto"
    scale: PositiveDuration
    shape: float = Field(gt=0)

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        return self.scale * (1.0 + rng.pareto(self.shape, size))

    @property
    def mean(self) -> float:
        return math.inf if self.shape <= 1 else self.shape * self.scale / (self.shape - 1)

    @property
    def variance(self) -> float:
        a = self.shape
        return math.inf if a <= 2 else self.scale**2 * a / ((a - 1) ** 2 * (a - 2))


MAX_EMPIRICAL_BYTES = 100_000_000
"""Largest empirical sample file read."""


class Empirical(Distribution):
    """Resamples measured durations read from a text or CSV file.

    ``file`` is relative to the model file and must resolve inside the model's folder (or a
    folder named with ``data_dirs`` / ``--data-dir``): a model cannot read ``/etc/passwd`` or
    climb out with ``..``. A file with one number per line is read as is; a CSV needs ``column``.
    Values are in ``unit`` (default seconds). The file's SHA-256 is part of the model's dumped
    form (``sha256``), so the model hash changes when the samples do; a given ``sha256`` must
    match the file.
    """

    family: ClassVar[str] = "empirical"
    file: str
    column: str | None = None
    unit: str = "s"
    sha256: str | None = None
    _samples: NDArray[np.float64] = PrivateAttr()
    _digest: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo) -> Empirical:
        import hashlib

        context = info.context or {}
        base = Path(context.get("base_dir", ".")).resolve()
        roots = [base, *(Path(d).resolve() for d in context.get("data_dirs", ()))]
        if "\x00" in self.file:
            raise ValueError("file: expected a file name")
        path = (base / self.file).resolve()
        if not any(path.is_relative_to(root) for root in roots):
            raise ValueError(f"file: {self.file!r} is outside the model's folder {base}; "
                             "move it there or allow its folder (data_dirs)")
        if not path.is_file():
            raise ValueError(f"file not found: {path}")
        if path.stat().st_size > MAX_EMPIRICAL_BYTES:
            raise ValueError(f"file: {path} is larger than {MAX_EMPIRICAL_BYTES // 1_000_000} MB")
        scale = parse_duration(f"1{self.unit}")
        try:
            raw = path.read_bytes()
            if self.column is None:
                values = np.loadtxt(io.BytesIO(raw), dtype=np.float64, ndmin=1, comments="#")
            else:
                import pandas as pd

                values = pd.read_csv(io.BytesIO(raw))[self.column].to_numpy(dtype=np.float64)
        except (ValueError, KeyError, TypeError, OSError, UnicodeDecodeError, IndexError) as exc:
            # Never quote the file's content: it may not be ours to show.
            what = f"no column {self.column!r}" if isinstance(exc, KeyError) else "not numbers"
            raise ValueError(f"cannot read numbers from {path} ({what}); expected one number per line, "
                             "or a CSV file with column") from None
        except Exception:  # pandas' parser errors: same rule
            raise ValueError(f"cannot read numbers from {path}; expected one number per line, "
                             "or a CSV file with column") from None
        if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"{path} must hold at least one finite, non-negative number")
        digest = hashlib.sha256(raw).hexdigest()
        if self.sha256 is not None and self.sha256 != digest:
            raise ValueError(f"sha256: {path} changed since the model was read (its SHA-256 is now {digest[:12]}...)")
        self._samples = values * scale
        self._digest = digest
        return self

    def to_data(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        data["sha256"] = self._digest
        return {self.family: data}

    def describe(self) -> str:
        return f"empirical({self.file})"

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        return np.asarray(rng.choice(self._samples, size=size, replace=True), dtype=np.float64)

    @property
    def mean(self) -> float:
        return float(self._samples.mean())

    @property
    def variance(self) -> float:
        return float(self._samples.var())


@cache
def _adapter(cls: type[Distribution]) -> TypeAdapter[dict[str, Distribution]]:
    return TypeAdapter(dict[str, cls])  # type: ignore[valid-type]


def parse_distribution(value: Any, info: ValidationInfo | None = None) -> Distribution:
    """Build a distribution from its model-file form (a one-key table, or a plain duration)."""
    if isinstance(value, Distribution):
        return value
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return Constant(value=parse_duration(value))
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(
            "expected a duration or a one-key table naming a distribution "
            f"({', '.join(sorted(DISTRIBUTIONS))}), got {value!r}"
        )
    ((family, params),) = value.items()
    cls = DISTRIBUTIONS.get(family)
    if cls is None:
        raise ValueError(f"unknown distribution {family!r}; expected one of {', '.join(sorted(DISTRIBUTIONS))}")
    if cls is Constant and not isinstance(params, dict):
        params = {"value": params}
    context = info.context if info is not None else None
    return _adapter(cls).validate_python({family: params}, context=context)[family]


def _validate_distribution(value: Any, info: ValidationInfo) -> Distribution:
    return parse_distribution(value, info)


DistributionSpec = Annotated[
    Distribution,
    PlainValidator(_validate_distribution),
    PlainSerializer(lambda d: d.to_data(), return_type=dict),
]
"""A model-file field that holds a distribution of durations."""


class MixtureComponent(DataModel):
    """One branch of a mixture: a weight and a distribution."""
    weight: float = Field(gt=0)
    distribution: DistributionSpec


class Mixture(Distribution):
    """With probability proportional to each weight, draw from that component.

    Written as a list of tables, each with ``weight`` and one distribution:
    ``{ mixture = [ { weight = 0.99, exponential = { mean = "5ms" } }, { weight = 0.01, constant = "1s" } ] }``.
    """

    family: ClassVar[str] = "mixture"
    components: tuple[MixtureComponent, ...]

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, list):
            data = {"components": data}
        if isinstance(data, dict) and isinstance(data.get("components"), list):
            parts = []
            for index, item in enumerate(data["components"]):
                if not isinstance(item, dict) or "weight" not in item or len(item) != 2:
                    raise ValueError(
                        f"component {index}: expected {{ weight = w, <family> = {{...}} }}, got {item!r}"
                    )
                (family, params), = ((k, v) for k, v in item.items() if k != "weight")
                parts.append(
                    {"weight": item["weight"], "distribution": parse_distribution({family: params}, info)}
                )
            data = {"components": parts}
        return data

    @model_validator(mode="after")
    def _non_empty(self) -> Mixture:
        if not self.components:
            raise ValueError("a mixture needs at least one component")
        return self

    @property
    def _weights(self) -> NDArray[np.float64]:
        w = np.array([c.weight for c in self.components], dtype=np.float64)
        normalised: NDArray[np.float64] = w / w.sum()
        return normalised

    def sample(self, rng: np.random.Generator, size: int) -> NDArray[np.float64]:
        which = rng.choice(len(self.components), size=size, p=self._weights)
        out = np.empty(size)
        for index, component in enumerate(self.components):
            mask = which == index
            count = int(mask.sum())
            if count:
                out[mask] = component.distribution.sample(rng, count)
        return out

    @property
    def mean(self) -> float:
        return float(sum(w * c.distribution.mean for w, c in zip(self._weights, self.components, strict=True)))

    @property
    def variance(self) -> float:
        w = self._weights
        means = [c.distribution.mean for c in self.components]
        second = sum(wi * (c.distribution.variance + m**2) for wi, c, m in zip(w, self.components, means, strict=True))
        return float(second - self.mean**2)

    def to_data(self) -> dict[str, Any]:
        return {
            "mixture": [
                {"weight": c.weight, **c.distribution.to_data()} for c in self.components
            ]
        }

    def describe(self) -> str:
        pairs = zip(self._weights, self.components, strict=True)
        parts = ", ".join(f"{w:.3g}:{c.distribution.describe()}" for w, c in pairs)
        return f"mixture({parts})"


class VariateStream:
    """Hands out variates of one distribution one at a time, drawing them in blocks.

    Each random source of a replication (arrivals, windows, each latency) owns one stream, so
    that strategies compared on common random numbers see the same values in the same order.

    Three ways to consume a stream, all giving the same sequence of values: call it (one value),
    iterate over it (an endless iterator, the cheapest per value on a hot loop), or :meth:`take`
    a numpy array of the next ``n`` values (the vectorized fast path). The sequence is the
    concatenation of ``distribution.sample(rng, block)`` blocks, however it is consumed.
    """

    __slots__ = ("_block", "_buffer", "_distribution", "_draw", "_rng", "constant")

    def __init__(self, distribution: Distribution, rng: np.random.Generator, block: int = 4096) -> None:
        self._draw: Callable[[], list[float]] = lambda: distribution.sample(rng, block)[::-1].tolist()
        self._buffer: list[float] = []
        self._block = block
        self._distribution = distribution
        self._rng = rng
        self.constant: float | None = distribution.value if isinstance(distribution, Constant) else None
        """The value when the distribution is constant (no Generator is touched then)."""

    def __call__(self) -> float:
        """The next variate."""
        if self.constant is not None:
            return self.constant
        buffer = self._buffer
        if not buffer:
            buffer = self._buffer = self._draw()
        return buffer.pop()

    def __iter__(self) -> Iterator[float]:
        """The following variates as an endless iterator (the stream itself is left empty: do not
        mix calling and iterating one stream)."""
        if self.constant is not None:
            return repeat(self.constant)
        head = self._buffer[::-1]
        self._buffer = []
        distribution, rng, block = self._distribution, self._rng, self._block
        blocks = iter(lambda: distribution.sample(rng, block).tolist(), None)
        return chain(head, chain.from_iterable(blocks))

    def take(self, n: int) -> NDArray[np.float64]:
        """The next ``n`` variates as an array (the same values ``n`` calls would give)."""
        if self.constant is not None:
            return np.full(n, self.constant)
        parts: list[NDArray[np.float64]] = []
        have = min(n, len(self._buffer))
        if have:
            parts.append(np.array(self._buffer[len(self._buffer) - have :][::-1], dtype=np.float64))
            del self._buffer[len(self._buffer) - have :]
        missing = n - have
        if missing > 0:
            blocks = -(-missing // self._block)
            drawn = [self._distribution.sample(self._rng, self._block) for _ in range(blocks)]
            flat = np.concatenate(drawn) if len(drawn) > 1 else drawn[0]
            parts.append(flat[:missing])
            self._buffer = flat[missing:][::-1].tolist()
        if not parts:
            return np.empty(0, dtype=np.float64)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class KeyChooser:
    """Hands out key indices ``0..count-1``, uniformly or with Zipf popularity, in blocks.

    Like :class:`VariateStream` it can be called, iterated, or asked to :meth:`take` an array;
    every way gives the same sequence.
    """

    __slots__ = ("_buffer", "_cdf", "_count", "_guide", "_rng", "_scale")

    def __init__(self, count: int, zipf: float | None, rng: np.random.Generator) -> None:
        self._rng = rng
        self._count = count
        self._buffer: list[int] = []
        self._guide: NDArray[np.int64] | None = None
        self._scale = 0.0
        if zipf is None or count == 1:
            self._cdf: NDArray[np.float64] | None = None
        else:
            weights = np.arange(1, count + 1, dtype=np.float64) ** -zipf
            self._cdf = np.cumsum(weights / weights.sum())
            self._cdf[-1] = 1.0
            # A guide table (Chen & Asau): bucket b of [0, 1) starts the search at the first key
            # whose cumulative probability exceeds b / buckets. Buckets are a power of two, so
            # u * buckets and b / buckets are exact and the result equals the binary search.
            buckets = 1 << max(4, min(20, math.ceil(math.log2(16 * count))))
            self._scale = float(buckets)
            self._guide = np.searchsorted(self._cdf, np.arange(buckets) / buckets, side="right")

    @property
    def probabilities(self) -> NDArray[np.float64]:
        """The probability of each key index."""
        if self._cdf is None:
            return np.full(self._count, 1.0 / self._count)
        return np.diff(self._cdf, prepend=0.0)

    def block(self) -> NDArray[np.int64]:
        """The next block of 4096 key indices (what calls, iteration and :meth:`take` hand out,
        block after block; do not mix with them)."""
        return self._block()

    def _block(self) -> NDArray[np.int64]:
        if self._cdf is None or self._guide is None:
            return self._rng.integers(0, self._count, 4096)
        return self._zipf_index(self._rng.random(4096))

    def _zipf_index(self, u: NDArray[np.float64]) -> NDArray[np.int64]:
        """``searchsorted(cdf, u, side="right")`` through the guide table (same result, faster)."""
        assert self._cdf is not None and self._guide is not None
        cdf = self._cdf
        index = self._guide[(u * self._scale).astype(np.int64)]
        behind = np.flatnonzero(cdf[index] <= u)
        while behind.size:
            index[behind] += 1
            behind = behind[cdf[index[behind]] <= u[behind]]
        return index

    def __call__(self) -> int:
        """The next key index."""
        if self._count == 1:
            return 0
        buffer = self._buffer
        if not buffer:
            buffer = self._buffer = self._block()[::-1].tolist()
        return buffer.pop()

    def __iter__(self) -> Iterator[int]:
        """The following key indices as an endless iterator (do not mix with calls)."""
        if self._count == 1:
            return repeat(0)
        head = self._buffer[::-1]
        self._buffer = []
        return chain(head, chain.from_iterable(iter(lambda: self._block().tolist(), None)))

    def take(self, n: int) -> NDArray[np.int64]:
        """The next ``n`` key indices as an array (the same values ``n`` calls would give)."""
        if self._count == 1:
            return np.zeros(n, dtype=np.int64)
        parts: list[NDArray[np.int64]] = []
        have = min(n, len(self._buffer))
        if have:
            parts.append(np.array(self._buffer[len(self._buffer) - have :][::-1], dtype=np.int64))
            del self._buffer[len(self._buffer) - have :]
        missing = n - have
        if missing > 0:
            blocks = -(-missing // 4096)
            drawn = [self._block() for _ in range(blocks)]
            flat = np.concatenate(drawn) if len(drawn) > 1 else drawn[0]
            parts.append(flat[:missing].astype(np.int64, copy=False))
            self._buffer = flat[missing:][::-1].tolist()
        if not parts:
            return np.empty(0, dtype=np.int64)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class RandomStreams:
    """The random sources of one replication, each an independent Generator named by its role.

    Stream ``name`` of replication ``rep`` under ``seed`` is derived from
    ``SeedSequence(seed, spawn_key=(rep, crc32(name)))``: it does not depend on which other
    streams exist or in which order they are created, so changing the strategy leaves the
    arrivals, keys and windows of a replication untouched (common random numbers), and any
    executor reproduces the same numbers bit for bit.
    """

    def __init__(self, seed: int, replication: int) -> None:
        self.seed = seed
        self.replication = replication

    def generator(self, name: str) -> np.random.Generator:
        """A fresh Generator for the source ``name``."""
        import zlib

        sequence = np.random.SeedSequence(self.seed, spawn_key=(self.replication, zlib.crc32(name.encode())))
        return np.random.Generator(np.random.PCG64(sequence))

    def variates(self, name: str, distribution: Distribution) -> VariateStream:
        """A block-drawn stream of ``distribution`` from the source ``name``."""
        return VariateStream(distribution, self.generator(name))

    def keys(self, name: str, count: int, zipf: float | None) -> KeyChooser:
        """A block-drawn stream of key indices from the source ``name``."""
        return KeyChooser(count, zipf, self.generator(name))
