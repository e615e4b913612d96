"""The parts of a model file that plug-in kinds build on (the layer below :mod:`toctou_sim.spec.model`).

:class:`SpecError`, the frozen :class:`StrictModel`, and the bases of pluggable parts: a
strategy, read path, fault or actor is a subclass of :class:`StrategySpec`, :class:`ReadPathSpec`,
:class:`FaultSpec` or :class:`ActorSpec` with a literal ``kind``, defined in its plug-in module
(:mod:`toctou_sim.plugins`) beside its behaviour and registered with it as one
:class:`~toctou_sim.spec.registry.Plugin`. A field of one of these types validates a table by
looking its ``kind`` up in :data:`~toctou_sim.spec.registry.REGISTRY`, which discovers the
plug-ins the first time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, Field, PlainSerializer, PlainValidator, TypeAdapter, ValidationInfo

from toctou_sim.core.errors import SpecError
from toctou_sim.core.units import DataModel, NonNegativeDuration, PositiveDuration
from toctou_sim.spec.capacity import RetryBudgetSpec
from toctou_sim.spec.registry import KindView
from toctou_sim.spec.targets import TargetedModel, TargetKind

__all__ = [
    "ACTOR_SPECS",
    "FAULT_SPECS",
    "INVARIANT_ACTIONS",
    "READ_PATH_SPECS",
    "STRATEGY_SPECS",
    "ActorField",
    "ActorSpec",
    "FaultField",
    "FaultSpec",
    "KeysView",
    "ModelView",
    "ReadPathField",
    "ReadPathSpec",
    "Registered",
    "RetryPolicy",
    "SpecError",
    "StrategyField",
    "StrategySpec",
    "StrictModel",
]

INVARIANT_ACTIONS: dict[str, tuple[str, ...]] = {
    "exists": ("create", "delete"),
    "counter": ("restock", "consume"),
    "grant": ("grant", "revoke"),
    "version": ("bump",),
    "unchanged": ("bump",),
}
"""Each invariant and the actions background mutators may take on it."""


class KeysView(Protocol):
    """What a part's check reads of the model's ``[keys]``."""

    @property
    def invariant(self) -> str: ...


class ModelView(TargetedModel, Protocol):
    """What a part's :meth:`Registered.check_model` may read of the whole model it is part of
    (:class:`~toctou_sim.spec.model.ModelSpec` is one; the parts sit below the model that holds
    them, so they name it by what they read)."""

    @property
    def keys(self) -> KeysView: ...
    @property
    def read_path(self) -> ReadPathSpec: ...
    @property
    def strategy(self) -> StrategySpec: ...
    @property
    def strategies(self) -> Mapping[str, StrategySpec]: ...


class StrictModel(DataModel):
    """Frozen, unknown fields are errors, numbers finite (see :class:`~toctou_sim.core.units.DataModel`)."""


# --------------------------------------------------------------------------------------------
# Registries of pluggable parts (strategy, read path, fault).


class Registered(StrictModel):
    """A pluggable part chosen by ``kind``; ``registry`` maps each kind of the family to its spec
    class (a lazy view of the plug-in registry)."""

    registry: ClassVar[Mapping[str, type[Any]]]
    category: ClassVar[str] = "part"
    kind: str

    def check_model(self, model: ModelView) -> str | None:
        """A problem with this part in the whole ``model`` (e.g. an invariant it needs, a target
        that does not exist), as ``field: message`` relative to the part, or ``None``."""
        return None

    @classmethod
    def parse(cls, value: Any, info: ValidationInfo | None = None) -> Registered:
        """Validate a table with ``kind`` into the registered subclass of that kind."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            value = {"kind": value}
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a table with kind = one of {', '.join(sorted(cls.registry))}")
        kind = value.get("kind")
        if not isinstance(kind, str) or kind not in cls.registry:
            got = f"{kind!r}"[:40] if isinstance(kind, str) or kind is None else f"a {type(kind).__name__}"
            raise ValueError(f"unknown {cls.category} {got}; expected one of {', '.join(sorted(cls.registry))}")
        context = info.context if info is not None else None
        spec_class: type[Registered] = cls.registry[kind]
        part: Registered = _registered_adapter(spec_class).validate_python(dict(value), context=context)
        return part


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _registered_adapter(cls: type[Registered]) -> TypeAdapter[Any]:
    if cls not in _ADAPTERS:
        _ADAPTERS[cls] = TypeAdapter(cls)
    return _ADAPTERS[cls]


class StrategySpec(Registered):
    """How the use acts on the check: the mitigation being evaluated."""

    registry: ClassVar[Mapping[str, type[Any]]] = KindView("strategy")
    category: ClassVar[str] = "strategy"
    label: str | None = None
    """Name shown in tables (defaults to the name the strategy was selected by)."""
    guard: Literal["none", "version", "predicate"] = "none"
    """The store's write guard on this strategy's use (composes with any strategy):
    ``version`` applies the use only if the key's version is still the one seen at check (a
    version CAS, e.g. a Kubernetes ``resourceVersion`` precondition); ``predicate`` applies it
    only if the precondition holds on the authoritative state when the write lands (a
    conditional write: ``UPDATE ... SET n = n - 1 WHERE n > 0``, a create that fails with
    ``AlreadyExists``, an action the resource authorises itself). ``none``: a blind write."""

    def targets(self) -> dict[str, TargetKind]:
        """The actors and services this strategy adds to the world (or reads, like a clock), each
        with the fault effects it honours (see :mod:`toctou_sim.spec.targets`)."""
        return {}

    def actors(self) -> tuple[str, ...]:
        """Names of the actors and services this strategy adds to the world (fault targets).

        A part that lists a name here but not in :meth:`targets` declares an
        :data:`~toctou_sim.spec.targets.ACTIVE_ACTOR` (pause, partition, crash)."""
        return tuple(self.targets())

    def write_guard(self) -> str:
        """The guard the store applies to this strategy's use (a wrapper's ``inner`` guard when
        the wrapper declares none)."""
        if self.guard != "none":
            return self.guard
        inner = self.__dict__.get("inner")  # a field of wrappers only (no failed attribute lookup)
        return inner.write_guard() if isinstance(inner, StrategySpec) else "none"


class ReadPathSpec(Registered):
    """How the check observes state: the truth, a cache, or replicas."""

    registry: ClassVar[Mapping[str, type[Any]]] = KindView("read path")
    category: ClassVar[str] = "read path"

    def targets(self) -> dict[str, TargetKind]:
        """The parts of this read path faults can act on (a cache, the replicas), each with the
        fault effects it honours (see :mod:`toctou_sim.spec.targets`)."""
        return {}

    def actors(self) -> tuple[str, ...]:
        """Names of the actors and services this read path adds to the world (fault targets)."""
        return tuple(self.targets())


class FaultSpec(Registered):
    """A fault injected into the world during a replication."""

    registry: ClassVar[Mapping[str, type[Any]]] = KindView("fault")
    category: ClassVar[str] = "fault"

    def check_model(self, model: ModelView) -> str | None:
        """A problem with this fault in ``model`` (e.g. its target does not exist), as
        ``field: message``, or ``None``."""
        return None


class ActorSpec(Registered):
    """A background actor of the world (a policy changer, a schema changer, an event stream)."""

    registry: ClassVar[Mapping[str, type[Any]]] = KindView("actor")
    category: ClassVar[str] = "actor"


STRATEGY_SPECS = StrategySpec.registry
READ_PATH_SPECS = ReadPathSpec.registry
FAULT_SPECS = FaultSpec.registry
ACTOR_SPECS = ActorSpec.registry

def _dump(part: BaseModel) -> dict[str, Any]:
    return part.model_dump(mode="json", by_alias=True, exclude_none=True)


def _strategy(value: Any, info: ValidationInfo) -> Registered:
    return StrategySpec.parse(value, info)


def _read_path(value: Any, info: ValidationInfo) -> Registered:
    return ReadPathSpec.parse(value, info)


def _fault(value: Any, info: ValidationInfo) -> Registered:
    return FaultSpec.parse(value, info)


def _actor(value: Any, info: ValidationInfo) -> Registered:
    return ActorSpec.parse(value, info)


StrategyField = Annotated[StrategySpec, PlainValidator(_strategy), PlainSerializer(_dump)]
ReadPathField = Annotated[ReadPathSpec, PlainValidator(_read_path), PlainSerializer(_dump)]
FaultField = Annotated[FaultSpec, PlainValidator(_fault), PlainSerializer(_dump)]
ActorField = Annotated[ActorSpec, PlainValidator(_actor), PlainSerializer(_dump)]


# --------------------------------------------------------------------------------------------
# Shared by several strategies.


class RetryPolicy(StrictModel):
    """How a strategy retries the whole check -> window -> use flow after a rejected use.

    The n-th retry waits ``backoff * multiplier**(n-1)``, capped at ``max_backoff``, with
    ``jitter``: ``none`` (exact), ``full`` (uniform on [0, wait]) or ``equal`` (wait/2 + uniform on
    [0, wait/2]).
    """

    max_retries: int = Field(default=3, ge=0)
    backoff: NonNegativeDuration = 0.01
    multiplier: float = Field(default=2.0, ge=1.0)
    max_backoff: PositiveDuration = 1.0
    jitter: Literal["none", "full", "equal"] = "full"
    budget: RetryBudgetSpec | None = Field(default=None, exclude_if=lambda value: value is None)
    """A token-bucket retry budget (see :mod:`toctou_sim.spec.capacity`); ``None``: no budget."""

