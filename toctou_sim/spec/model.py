"""Model files: parsing, validation, overrides and one-line error messages.

A model file is TOML data describing one architecture: the key space and its invariant, the
authoritative store, how the check reads state (the read path), the clients doing
check -> window -> use, background mutators, the mitigation strategy, faults and the SLO. It is
validated into frozen, typed objects; nothing in it is ever executed.

Strategies, read paths, faults and actors are plug-in kinds: a spec class (a subclass of
:class:`StrategySpec`, :class:`ReadPathSpec`, :class:`FaultSpec` or :class:`ActorSpec` with a
literal ``kind``) and a behaviour class in one module, registered together (see
:mod:`toctou_sim.spec.registry` and :mod:`toctou_sim.plugins`). This module imports none of
them: a ``kind`` is looked up in the registry, which discovers the plug-ins on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, PrivateAttr, ValidationError, model_validator

from toctou_sim.core.distributions import DistributionSpec, parse_distribution
from toctou_sim.core.limits import check_data, terminal_text
from toctou_sim.core.units import NonNegativeDuration, PositiveDuration, brief_repr
from toctou_sim.spec.bundled import resolve_model
from toctou_sim.spec.capacity import CAPACITY_SERVICES, ServiceCapacitySpec
from toctou_sim.spec.parts import (
    ACTOR_SPECS,
    FAULT_SPECS,
    INVARIANT_ACTIONS,
    READ_PATH_SPECS,
    STRATEGY_SPECS,
    ActorField,
    ActorSpec,
    FaultField,
    FaultSpec,
    ReadPathField,
    ReadPathSpec,
    Registered,
    RetryPolicy,
    SpecError,
    StrategyField,
    StrategySpec,
    StrictModel,
)
from toctou_sim.spec.slo import DEFAULT_ALERTS, BurnAlertSpec, RatePhase
from toctou_sim.spec.targets import model_targets

__all__ = [
    "ACTOR_SPECS",
    "FAULT_SPECS",
    "INVARIANT_ACTIONS",
    "READ_PATH_SPECS",
    "STRATEGY_SPECS",
    "ActorSpec",
    "ArrivalSpec",
    "ClientTimeoutSpec",
    "ClientsSpec",
    "FaultSpec",
    "KeysSpec",
    "ModelMeta",
    "ModelSpec",
    "MutatorSpec",
    "ReadPathSpec",
    "RedeliverySpec",
    "RetryPolicy",
    "SloSpec",
    "SpecError",
    "StoreSpec",
    "StrategySpec",
    "apply_overrides",
    "load_model",
    "parse_model",
    "parse_override_value",
]


# --------------------------------------------------------------------------------------------
# The model.

INVARIANT_HARMS: dict[str, str] = {
    "exists": "duplicate create",
    "counter": "oversell",
    "grant": "unauthorized action",
    "version": "lost update",
    "unchanged": "drift",
}
"""What a violation of each invariant is called when the model does not name it."""


class ModelMeta(StrictModel):
    """Identity and simulated time of the model."""

    name: str = "model"
    harm: str | None = Field(default=None, min_length=1, max_length=60)
    """What a violation is in this system ("double charge", "duplicate PVC"); default: from the
    invariant ("oversell", "duplicate create", "unauthorized action", "lost update", "drift")."""
    description: str = ""
    horizon: PositiveDuration = 60.0
    """Simulated time per replication; clients stop arriving then and in-flight operations drain."""
    warmup: NonNegativeDuration = 0.0
    """Operations arriving before this instant are simulated but not counted."""

    @model_validator(mode="after")
    def _warmup_before_horizon(self) -> ModelMeta:
        if self.warmup >= self.horizon:
            raise ValueError(f"warmup ({self.warmup:g}s) must be shorter than horizon ({self.horizon:g}s)")
        return self


class Zipf(StrictModel):
    """Key k (1-based rank) is chosen with probability proportional to k**-zipf."""

    zipf: float = Field(gt=0)


def _popularity(value: Any) -> Any:
    """``"uniform"`` or ``{ zipf = S }``; anything else gets the right form in the message."""
    form = 'expected "uniform" or a table such as { zipf = 1.1 }'
    if isinstance(value, str) and value != "uniform":
        hint = " (the Zipf exponent goes in the table)" if value.strip().lower().startswith("zipf") else ""
        raise ValueError(f"{form}, got {value!r}{hint}")
    if isinstance(value, Mapping) and set(value) != {"zipf"}:
        raise ValueError(f"{form}, got a table with {', '.join(map(str, value)) or 'no keys'}")
    if not isinstance(value, str | Mapping | Zipf) and value is not None:
        raise ValueError(f"{form}, got {value!r}")
    return value


Popularity = Annotated[Literal["uniform"] | Zipf, BeforeValidator(_popularity)]
"""How keys are chosen: uniformly, or Zipf with the given exponent."""


class KeysSpec(StrictModel):
    """The key space and the invariant that a check protects on each key.

    - ``exists``: create-if-absent; a create while present is a duplicate.
    - ``counter``: decrement-if-positive; a decrement at zero or below is an oversell.
    - ``grant``: act-if-allowed; an action while revoked is unauthorized.
    - ``version``: write-if-current; a write over a version other than the one read is a lost update.
    - ``unchanged``: act-if-unchanged; the use does not modify the key but relies on the version
      validated at check (deploy a validated artifact, write under a validated schema); acting
      after a change is drift.
    """

    count: int = Field(default=1, ge=1)
    popularity: Popularity = "uniform"
    invariant: Literal["exists", "counter", "grant", "version", "unchanged"] = "version"
    initial: int | None = None
    """Initial value of every key: stock for ``counter`` (default 10), 1 = present/allowed for
    ``exists`` (default 0) and ``grant`` (default 1); ignored for ``version``."""

    @model_validator(mode="after")
    def _initial_fits_invariant(self) -> KeysSpec:
        if self.initial is None:
            return self
        if self.initial < 0:
            what = "a counter's stock" if self.invariant == "counter" else "initial"
            raise ValueError(f"initial: {what} must be >= 0, got {self.initial}")
        return self

    @property
    def initial_value(self) -> int:
        """The initial value with the invariant's default filled in."""
        if self.initial is not None:
            return self.initial
        return {"exists": 0, "counter": 10, "grant": 1}.get(self.invariant, 0)


class StoreSpec(StrictModel):
    """The authoritative, versioned store. A read is served at the end of its latency; a write
    takes effect at the end of its latency."""

    read_latency: DistributionSpec = parse_distribution(0.0)
    write_latency: DistributionSpec = parse_distribution(0.0)


class PoissonArrival(StrictModel):
    """Arrivals of a Poisson process, ``rate`` per second for the whole system."""

    rate: float = Field(gt=0)


class ArrivalSpec(StrictModel):
    """How client operations arrive: a Poisson process, optionally with a piecewise-constant
    ``profile`` of rates (``[{ until = "20m", rate = 50 }, { until = "30m", rate = 500 }]``) that
    overrides ``poisson.rate`` until the last phase ends."""

    poisson: PoissonArrival
    profile: tuple[RatePhase, ...] = ()

    @model_validator(mode="after")
    def _phases_in_order(self) -> ArrivalSpec:
        for index in range(1, len(self.profile)):
            if self.profile[index].until <= self.profile[index - 1].until:
                raise ValueError(f"profile.{index}.until: must be later than profile.{index - 1}.until")
        return self


class RedeliverySpec(StrictModel):
    """At-least-once delivery: each request is delivered again, with ``probability``, ``delay``
    after its first delivery (a webhook sender that did not see the acknowledgement). The copy
    carries the same request id (idempotency key)."""

    probability: float = Field(ge=0, le=1)
    delay: DistributionSpec


class ClientTimeoutSpec(StrictModel):
    """A client that has no answer ``after`` its request was sent sends it again (same request
    id), at most ``max_retries`` times, while the first attempt may still be running."""

    after: PositiveDuration
    max_retries: int = Field(default=1, ge=1)


class ClientsSpec(StrictModel):
    """Clients doing check -> window -> use. ``window`` is the time between the check's answer and
    sending the use (business logic, a network hop, a queue).

    ``redelivery`` and ``timeout`` make duplicate deliveries of a request (guide F2);
    ``partial_failure`` is the probability that a use which took effect fails before it is
    finalised (a multi-step create whose second step fails: the resource is left orphaned and
    the client sees an error, guide F6).
    """

    arrival: ArrivalSpec
    window: DistributionSpec = parse_distribution(0.0)
    redelivery: RedeliverySpec | None = None
    timeout: ClientTimeoutSpec | None = None
    partial_failure: float = Field(default=0.0, ge=0, lt=1)


class MutatorSpec(StrictModel):
    """A background writer of the truth: a Poisson process of ``action`` at ``rate`` per second
    (whole system) on keys chosen with the key space's popularity (or its own)."""

    action: str
    rate: float = Field(gt=0)
    amount: int = Field(default=1, ge=1)
    """Units added by ``restock``."""
    popularity: Popularity | None = None


class HarmBudgetSpec(StrictModel):
    """The correctness budget: how many harms (oversells, double charges) per million operations
    the system may cause. Separate from the availability SLO: a harm is judged against this,
    while the error budget counts it as one more failed request."""

    per_million: float = Field(ge=0)


class SloSpec(StrictModel):
    """The service level objective that errors are charged against.

    ``harm_budget`` is the correctness budget (default: the availability allowance ``1 − target``
    per operation); ``harm_cost`` is what one harm costs (refund, support, write-off), in the
    currency ``currency``, shown as expected cost per day and per month at the modelled load.
    """

    target: float = Field(default=0.999, gt=0, lt=1)
    period: PositiveDuration = 30 * 86400.0
    latency_threshold: PositiveDuration | None = None
    alerts: tuple[BurnAlertSpec, ...] = DEFAULT_ALERTS
    """Multi-window burn-rate alerts evaluated on the simulated error timeline."""
    page_budget_fraction: float = Field(default=0.2, gt=0, le=1)
    """The guide's rule: page when one ``page_window`` spends more than this share of the budget."""
    page_window: PositiveDuration = 3600.0
    timeline_bin: PositiveDuration | None = None
    """Width of the error timeline's bins (default: horizon/100, at most 1 minute)."""
    harm_budget: HarmBudgetSpec | None = None
    harm_cost: float | None = Field(default=None, ge=0)
    currency: str = Field(default="$", max_length=8)

    @property
    def harm_allowed(self) -> float:
        """Harms allowed per operation: the harm budget, or ``1 − target`` when none is set."""
        if self.harm_budget is not None:
            return self.harm_budget.per_million * 1e-6
        return 1.0 - self.target


class ModelSpec(StrictModel):
    """A whole model file, validated."""

    model: ModelMeta = ModelMeta()
    keys: KeysSpec = KeysSpec()
    store: StoreSpec = StoreSpec()
    read_path: ReadPathField = Field(default="direct", validate_default=True)
    clients: ClientsSpec
    mutators: tuple[MutatorSpec, ...] = ()
    strategy: StrategyField = Field(default="none", validate_default=True)
    """The strategy ``run`` uses."""
    strategies: dict[str, StrategyField] = {}  # noqa: RUF012  (pydantic copies defaults)
    """Named strategy variants for ``compare`` (e.g. ``[strategies.lock_fenced]``); a name that is
    not here is taken as a strategy kind with its defaults."""
    faults: tuple[FaultField, ...] = ()
    actors: tuple[ActorField, ...] = ()
    """Background actors (policy changer, schema changer, event stream, ...)."""
    slo: SloSpec = SloSpec()
    capacity: dict[str, ServiceCapacitySpec] = Field(default_factory=dict, exclude_if=lambda value: not value)
    """Finite services by name (``[capacity.store]``); a service not named here is unbounded."""

    _source: str | None = PrivateAttr(default=None)
    _text: str | None = PrivateAttr(default=None)
    _data_dirs: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _actions_fit_invariant(self) -> ModelSpec:
        allowed = INVARIANT_ACTIONS[self.keys.invariant]
        for index, mutator in enumerate(self.mutators):
            if mutator.action not in allowed:
                raise ValueError(
                    f"mutators.{index}.action: {mutator.action!r} does not apply to invariant "
                    f"{self.keys.invariant!r}; expected one of {', '.join(allowed)}"
                )
        parts: list[tuple[str, Registered]] = [("strategy", self.strategy)]
        parts += [(f"strategies.{name}", variant) for name, variant in self.strategies.items()]
        parts += [(f"actors.{index}", actor) for index, actor in enumerate(self.actors)]
        for path, part in parts:
            problem = part.check_model(self)
            if problem is not None:
                raise ValueError(f"{path}.{problem}")
        return self

    @model_validator(mode="after")
    def _faults_fit_model(self) -> ModelSpec:
        for index, fault in enumerate(self.faults):
            problem = fault.check_model(self)
            if problem is not None:
                raise ValueError(f"faults.{index}.{problem}")
        return self

    @model_validator(mode="after")
    def _capacity_fits_model(self) -> ModelSpec:
        names = self.actor_names()
        for name, capacity in self.capacity.items():
            if name not in CAPACITY_SERVICES or name not in names:
                present = [service for service in CAPACITY_SERVICES if service in names]
                raise ValueError(f"capacity.{name}: no finite service {name!r} in this model; "
                                 f"expected one of {', '.join(present)}")
            if capacity.calls != "all" and name != "store":
                raise ValueError(f"capacity.{name}.calls: only the store's calls can be split into reads "
                                 f"and writes, got {capacity.calls!r}")
            if name == "store" and capacity.calls != "writes" and self.read_path.kind != "direct":
                raise ValueError(f"capacity.store.calls: reads through read path {self.read_path.kind!r} do not "
                                 "queue at the store; expected \"writes\"")
        return self

    def actor_names(self) -> tuple[str, ...]:
        """Every actor or service a fault may target in this model: ``clients`` (the whole fleet),
        ``client`` (one client of it), ``mutators``, ``store``, and those of the read path and of
        the strategy and its named variants."""
        return tuple(model_targets(self))

    @property
    def source(self) -> str | None:
        """The file the model was read from (``None`` when built in code)."""
        return self._source

    @property
    def data_dirs(self) -> tuple[str, ...]:
        """Folders besides the model's own that ``empirical`` files were allowed from."""
        return self._data_dirs

    @property
    def text(self) -> str | None:
        """The model file as written (before overrides)."""
        return self._text

    def content_hash(self) -> str:
        """A stable hash of the validated content (after overrides): identifies results."""
        payload = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def harm(self) -> str:
        """What a violation is called in this model."""
        return self.model.harm or INVARIANT_HARMS[self.keys.invariant]

    def resolve_strategy(self, name: str) -> StrategySpec:
        """The strategy called ``name``: a named variant, the model's own strategy, or a kind."""
        spec: Registered
        if name in self.strategies:
            spec = self.strategies[name]
        elif name in (self.strategy.kind, self.strategy.label):
            spec = self.strategy
        elif name in STRATEGY_SPECS:
            spec = StrategySpec.parse({"kind": name})
        else:
            names = sorted({*self.strategies, *STRATEGY_SPECS})
            raise SpecError(f"{self._source or 'model'}: strategy: unknown strategy {name!r}; "
                            f"expected one of {', '.join(names)}")
        assert isinstance(spec, StrategySpec)
        problem = spec.check_model(self)
        if problem is not None:
            raise SpecError(f"{self._source or 'model'}: strategies.{name}.{problem}")
        return spec.model_copy(update={"label": spec.label or name})

    def default_strategies(self) -> list[str]:
        """The strategies every command compares by default: ``none`` (the baseline), the model's
        own ``[strategy]`` and its ``[strategies.*]`` variants, in that order, each once."""
        own = self.strategy.label or self.strategy.kind
        return list(dict.fromkeys(["none", own, *self.strategies]))

    def with_strategy(self, name: str) -> ModelSpec:
        """A copy of this model that runs strategy ``name``."""
        clone = self.model_copy(update={"strategy": self.resolve_strategy(name)})
        clone._source, clone._text, clone._data_dirs = self._source, self._text, self._data_dirs
        return clone


# --------------------------------------------------------------------------------------------
# Loading, overrides and error messages.


def parse_override_value(text: str) -> Any:
    """An override's value given as text (``--set``, a sweep's grid): a TOML value if it parses as
    one (``5``, ``true``, ``"5s"``, ``{ exponential = { mean = "40ms" } }``), else the text itself.

    The one parser of override values: :func:`apply_overrides` and the sweep's grid both use it, so
    a value means the same wherever it is given."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):  # ValueError: past int digit limit
        return text


def apply_overrides(data: dict[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Set values by dotted path (``clients.arrival.poisson.rate``); list items by index
    (``mutators.0.rate``). Missing tables are created; strings from the CLI are parsed as TOML values.
    """
    if not overrides:
        return data
    import copy

    data = copy.deepcopy(data)
    for path, raw in overrides.items():
        value = parse_override_value(raw) if isinstance(raw, str) else raw
        parts = path.split(".")
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise SpecError(f"overrides {path}: no item {part} in {'.'.join(parts[:depth])}")
                node = node[int(part)]
            else:
                if not isinstance(node.get(part, {}), dict | list):
                    raise SpecError(f"overrides {path}: {'.'.join(parts[: depth + 1])} is not a table")
                node = node.setdefault(part, {})
        last = parts[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise SpecError(f"overrides {path}: no item {last}")
            node[int(last)] = value
        else:
            node[last] = value
    return data


def _fields_at(loc: tuple[Any, ...], data: Any) -> list[str]:
    """The field names allowed at ``loc`` in a model file (for 'unknown field' messages)."""
    model: Any = ModelSpec
    for part in loc:
        data = data[part] if isinstance(data, Mapping | list) and _has(data, part) else None
        if isinstance(part, int) or model is None:
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        model = None
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
        if isinstance(model, type) and issubclass(model, Registered) and "registry" in model.__dict__:
            kind = data.get("kind") if isinstance(data, Mapping) else None
            model = model.registry.get(kind, model) if isinstance(kind, str) else model
    return sorted(getattr(model, "model_fields", {}))


def _has(data: Mapping[str, Any] | list[Any], part: Any) -> bool:
    if isinstance(data, list):
        return isinstance(part, int) and 0 <= part < len(data)
    return part in data


_BOUNDS = {
    "greater_than": (">", "gt"),
    "greater_than_equal": (">=", "ge"),
    "less_than": ("<", "lt"),
    "less_than_equal": ("<=", "le"),
}


def _describe_error(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    got = error.get("input")
    got = brief_repr(got)
    if kind in _BOUNDS:
        symbol, name = _BOUNDS[kind]
        return f"must be {symbol} {ctx[name]:g}, got {got}"
    if kind == "int_parsing_size":
        return "integer too large"
    if kind == "finite_number":
        return f"expected a finite number, got {got}"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, got {got}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"expected an integer, got {got}"
    if kind in ("float_parsing", "float_type"):
        return f"expected a number, got {got}"
    if kind in ("bool_parsing", "bool_type"):
        return f"expected true or false, got {got}"
    if kind in ("string_type",):
        return f"expected a string, got {got}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a table, got {got}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {got}"
    message = terminal_text(str(error.get("msg", kind)))[:300]
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def format_validation_error(source: str, exc: ValidationError, data: Any = None) -> str:
    """One line: ``file: field.path: what was expected, got what``."""
    errors = exc.errors()
    first = errors[0]
    loc = tuple(first["loc"])
    path = ".".join(str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-")))
    if first["type"] == "extra_forbidden":
        allowed = _fields_at(loc[:-1], data)
        hint = f"; expected one of {', '.join(allowed)}" if allowed else ""
        message = f"unknown field{hint}"
    else:
        message = _describe_error(first)
    line = f"{source}: {path}: {message}" if path else f"{source}: {message}"
    more = len(errors) - 1
    if more:
        line += f" (and {more} more error{'s' if more > 1 else ''})"
    return line


def parse_model(
    data: Mapping[str, Any],
    *,
    source: str = "<model>",
    base_dir: str | Path = ".",
    overrides: Mapping[str, Any] | None = None,
    text: str | None = None,
    data_dirs: Sequence[str | Path] = (),
) -> ModelSpec:
    """Validate a model given as a dict (the parsed TOML).

    ``data_dirs``: folders besides ``base_dir`` that an ``empirical`` distribution's ``file`` may
    be read from (a file must resolve inside one of them).

    Raises:
        SpecError: the model is invalid; the message is one line naming the field.
    """
    check_data(data, source)
    data = apply_overrides(dict(data), overrides)
    if overrides:
        check_data(data, source)
    context = {"base_dir": str(base_dir), "data_dirs": [str(d) for d in data_dirs]}
    try:
        spec = ModelSpec.model_validate(data, context=context)
    except ValidationError as exc:
        raise SpecError(format_validation_error(source, exc, data)) from None
    except RecursionError:  # pragma: no cover - check_data bounds the nesting first
        raise SpecError(f"{source}: nested too deeply") from None
    spec._source = source
    spec._text = text
    spec._data_dirs = tuple(str(d) for d in data_dirs)
    return spec


SMOKE_HORIZON_VARIABLE = "TOCTOU_SIM_SMOKE_HORIZON"
"""Environment variable that caps every loaded model's horizon (smoke tests of long models)."""


def _smoke_cap(data: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """With ``TOCTOU_SIM_SMOKE_HORIZON=5s`` set, shorten longer models to that horizon (and their
    warm-up to a tenth of it): every bundled model and README command then runs in seconds."""
    import os

    cap_text = os.environ.get(SMOKE_HORIZON_VARIABLE)
    if not cap_text:
        return overrides
    from toctou_sim.core.units import parse_duration

    merged = dict(overrides or {})
    meta = data.get("model", {}) if isinstance(data.get("model", {}), Mapping) else {}
    try:
        cap = parse_duration(cap_text)
        horizon = parse_duration(merged.get("model.horizon", meta.get("horizon", 60.0)))
        warmup = parse_duration(merged.get("model.warmup", meta.get("warmup", 0.0)))
    except ValueError:
        return overrides  # validation reports the bad value with its field

    if horizon > cap:
        merged["model.horizon"] = cap
        merged["model.warmup"] = min(warmup, cap / 10)
    return merged


MAX_MODEL_BYTES = 1_000_000
"""Largest model file read (the bundled ones are under 5 kB)."""


def load_model(path: str | Path, overrides: Mapping[str, Any] | None = None,
               data_dirs: Sequence[str | Path] = ()) -> ModelSpec:
    """Read and validate a model file.

    Args:
        path: a ``.toml`` model file, or the name of a bundled model (``"flash_sale"``).
        overrides: values by dotted field path, applied before validation
            (``{"clients.arrival.poisson.rate": 500}``).
        data_dirs: folders besides the model's own that ``empirical`` files may be read from.

    Raises:
        SpecError: missing file, bad TOML, or an invalid field; one line naming file and field.
    """
    path = resolve_model(path)
    try:
        if path.stat().st_size > MAX_MODEL_BYTES:
            raise SpecError(f"{path}: larger than {MAX_MODEL_BYTES // 1000} kB; not a model file")
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: invalid TOML: {terminal_text(str(exc))[:200]}") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError:  # an integer past Python's digit limit
        raise SpecError(f"{path}: invalid TOML: an integer with too many digits") from None
    except RecursionError:
        raise SpecError(f"{path}: invalid TOML: nested too deeply") from None
    try:
        overrides = _smoke_cap(data, overrides)
        spec = parse_model(data, source=str(path), base_dir=path.parent, overrides=overrides, text=text,
                           data_dirs=data_dirs)
    except SpecError as exc:
        message = str(exc)
        if message.startswith("overrides "):
            raise SpecError(f"{path}: {message}") from None
        raise
    if not os.environ.get(SMOKE_HORIZON_VARIABLE):  # a capped horizon makes every long duration "too long"
        import warnings

        from toctou_sim.spec.sanity import ModelWarning, duration_warnings

        for line in duration_warnings(spec, apply_overrides(dict(data), overrides)):
            warnings.warn(f"{path}: {line}", ModelWarning, stacklevel=2)
    return spec

