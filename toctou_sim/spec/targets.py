"""Fault targets and the fault effects each honours (the layer below the fault plug-ins).

A fault acts on a *target*: an actor (the client fleet, the mutators, a controller replica) or a
service (the store, the lock service, the cache). Whether the fault does anything depends on the
target: a latency spike on the store slows every read and write, but nothing reads a client
fleet's latency, so a spike there would change nothing. Every target therefore declares, as a
:class:`TargetKind`, the fault *effects* it honours (an effect is named after the fault kind that
causes it: ``pause``, ``partition``, ``latency_spike``, ``throttle``, ``crash``, ``clock_skew``,
``eviction_storm``, ``replica_lag_spike``, ``replica_partition``). The world reads the state those
faults set only for the effects declared here (see :class:`~toctou_sim.world.actor.Actor`), and a
model whose fault names a target that honours none of it is bad input at load time
(:func:`check_target`): there is no third state where a fault is accepted and does nothing.

The four targets every model has are :data:`BASE_TARGETS`; a strategy or a read path adds its
own by overriding ``targets()`` on its spec (:class:`~toctou_sim.spec.parts.StrategySpec`,
:class:`~toctou_sim.spec.parts.ReadPathSpec`). When several parts declare one name (the token
strategy reads the ``clients``' clock), the name honours the union of their declarations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "ACTIVE_ACTOR",
    "BASE_TARGETS",
    "CACHE",
    "CALL_SERVICE",
    "CLIENT_FLEET",
    "CLOCK",
    "CONTROLLER",
    "EFFECTS",
    "FINITE_SERVICE",
    "LEADER",
    "MUTATORS",
    "NO_CLIENT",
    "ONE_CLIENT",
    "PARTICIPANT",
    "REPLICAS",
    "STORE",
    "TargetKind",
    "TargetedModel",
    "check_target",
    "honouring",
    "model_targets",
    "running_targets",
]

class TargetedModel(Protocol):
    """What the functions here read of a model (:class:`~toctou_sim.spec.model.ModelSpec` is one):
    the parts that add targets, each asked for its :meth:`targets`."""

    @property
    def read_path(self) -> Any: ...
    @property
    def strategy(self) -> Any: ...
    @property
    def strategies(self) -> Mapping[str, Any]: ...
    @property
    def capacity(self) -> Mapping[str, Any]: ...


EFFECTS = (
    "pause", "partition", "latency_spike", "throttle", "crash", "clock_skew",
    "eviction_storm", "replica_lag_spike", "replica_partition",
)
"""The effects of the built-in fault kinds (each named after its kind); a third-party fault may
declare a new one, which only the targets that list it honour."""


@dataclass(frozen=True)
class TargetKind:
    """A kind of fault target: what it is, and the fault effects it honours.

    Attributes:
        role: what the target is, for messages and docs (``"a service clients call"``).
        honours: the effects the world applies to it; any other fault on it is bad input.
        alias: the name stands for another target resolved at each onset (``leader``).
        replaces: declared by a strategy for a name every model has (:data:`BASE_TARGETS`), this
            kind replaces the base one under that strategy instead of adding to it (the ``lease``
            strategy's events are served by controllers, so no single ``client`` can be paused).
    """

    role: str
    honours: frozenset[str]
    alias: bool = False
    replaces: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "honours", frozenset(self.honours))


def _kind(role: str, *honours: str, alias: bool = False, replaces: bool = False) -> TargetKind:
    return TargetKind(role, frozenset(honours), alias, replaces)


CLIENT_FLEET = _kind("the whole client fleet", "pause", "partition")
"""``clients``: a pause (or a partition, which acts as a pause) holds every check and use."""
ONE_CLIENT = _kind("one client of the fleet", "pause", "partition", "crash")
"""``client``: the first client to reach its use (pause) or its effect (crash) is hit."""
MUTATORS = _kind("the background mutators", "pause", "partition", "crash")
"""``mutators``: paused, cut off or down, they write when they resume."""
STORE = _kind("the authoritative store", "partition", "latency_spike", "throttle")
"""``store``: unreachable, slowed, or admitting writes above a quota."""
CALL_SERVICE = _kind("a service a strategy calls", "pause", "partition", "latency_spike")
"""``lock``, ``lease``, ``dedupe``: a call waits out a pause or partition (or fails after the
partition's ``timeout``) and its latency is multiplied during a spike."""
ACTIVE_ACTOR = _kind("an actor a strategy runs", "pause", "partition", "crash")
"""``coordinator``, ``reconciler``, ``consumer``: a step waits out a pause, a partition or a restart,
and a crash stops the multi-step operation it was running."""
CONTROLLER = _kind("a controller replica", "pause", "partition", "crash", "clock_skew")
"""``controller.N``: an active actor that judges its lease on its own clock."""
LEADER = _kind("the controller holding the lease (resolved at each onset)", "pause", "partition", "crash",
               "clock_skew", alias=True)
"""``leader``: whichever controller the lease names at the onset."""
PARTICIPANT = _kind("a two-phase-commit participant", "crash")
"""``participant.N``: a crash after it prepared leaves it in doubt until it restarts."""
NO_CLIENT = _kind("no single client (the strategy's controllers serve every event)", replaces=True)
"""``client`` under the ``lease`` strategy: no client takes a step of its own between check and use."""
CLOCK = _kind("a clock a strategy reads", "clock_skew")
"""``issuer``, ``verifier``, and the ``clients``' clock under the ``token`` strategy."""
FINITE_SERVICE = _kind("a finite service ([capacity.NAME])", "latency_spike")
"""A service declared in ``[capacity]``: a spike multiplies its service times."""
CACHE = _kind("the cache of the cache read path", "eviction_storm")
"""``cache``: an eviction storm flushes it."""
REPLICAS = _kind("the replicas of the replica read path", "replica_lag_spike", "replica_partition")
"""``replicas``: lag spikes slow their writes, a partition cuts one off."""

BASE_TARGETS: Mapping[str, TargetKind] = {
    "clients": CLIENT_FLEET,
    "client": ONE_CLIENT,
    "mutators": MUTATORS,
    "store": STORE,
}
"""The targets every model has."""


def _merge(into: dict[str, set[str]], targets: Mapping[str, TargetKind], aliases: set[str]) -> None:
    for name, kind in targets.items():
        into.setdefault(name, set()).update(kind.honours)
        if kind.alias:
            aliases.add(name)


def _strategy_view(part: Any) -> dict[str, TargetKind]:
    """The targets of a world running strategy ``part``: the base ones, replaced or extended by
    the strategy's own."""
    view = dict(BASE_TARGETS)
    for name, kind in _part_targets(part).items():
        base = view.get(name)
        if base is None or kind.replaces:
            view[name] = kind
        else:
            view[name] = TargetKind(base.role, base.honours | kind.honours, base.alias or kind.alias)
    return view


def _part_targets(part: Any) -> dict[str, TargetKind]:
    """A strategy's or read path's declared targets, plus any name it only lists in ``actors()``
    (a third-party part written before ``targets()``: an :data:`ACTIVE_ACTOR`)."""
    targets = dict(part.targets())
    for name in part.actors():
        targets.setdefault(name, ACTIVE_ACTOR)
    return targets


def _targets(read_path: Any, strategies: Iterable[Any], capacity: Iterable[str]) -> dict[str, frozenset[str]]:
    merged: dict[str, set[str]] = {}
    aliases: set[str] = set()
    for strategy in strategies:
        _merge(merged, _strategy_view(strategy), aliases)
    _merge(merged, _part_targets(read_path), aliases)
    for name in capacity:
        # a finite ``leader`` is the acting controller's work, not the alias a fault resolves
        if name in merged and name not in aliases:
            merged[name].update(FINITE_SERVICE.honours)
    return {name: frozenset(honours) for name, honours in merged.items()}


def model_targets(model: TargetedModel) -> dict[str, frozenset[str]]:
    """Every target a fault may name in ``model``, with the effects it honours under at least one
    of the model's strategies (its own and every ``[strategies.NAME]`` variant)."""
    return _targets(model.read_path, [model.strategy, *model.strategies.values()], model.capacity)


def running_targets(model: TargetedModel) -> dict[str, frozenset[str]]:
    """The targets of one world running ``model.strategy`` (not its variants), with what each
    honours there: a fault on a target only a variant honours does nothing in this world."""
    return _targets(model.read_path, [model.strategy], model.capacity)


def honouring(model: TargetedModel, effect: str) -> list[str]:
    """The targets of ``model`` that honour ``effect``, in declaration order."""
    return [name for name, honours in model_targets(model).items() if effect in honours]


def check_target(model: TargetedModel, effect: str, target: str) -> str | None:
    """Why a fault with ``effect`` on ``target`` is bad input in ``model`` (``target: message``),
    or ``None`` when the target exists and honours it."""
    targets = model_targets(model)
    if target not in targets:
        return f"target: no actor or service {target!r} in this model; expected one of {', '.join(targets)}"
    if effect in targets[target]:
        return None
    able = honouring(model, effect)
    expected = (f"expected a target that honours {effect}: {', '.join(able)}" if able
                else f"no target in this model honours {effect}")
    return f"target: {target!r} does not honour {effect} (it would do nothing); {expected}"
