"""Behaviour classes by kind, for the world (views of the one plug-in registry), and the
registry of invariants.

A kind's behaviour is registered with its spec as one :class:`~toctou_sim.spec.registry.Plugin`
(see :mod:`toctou_sim.plugins`); a :class:`Behaviours` view (the engine's ``STRATEGIES``,
``READ_PATHS``, ``FAULTS`` and ``ACTORS``, typed there by their base classes) looks the behaviour
class up by the ``kind`` of the validated model, so the engine never branches on a kind.
:class:`Registry` holds the invariants, which are part of the world, not plug-ins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar, cast

from toctou_sim.spec.registry import REGISTRY

__all__ = ["Behaviours", "Registry"]

T = TypeVar("T")


class Behaviours(Generic[T]):
    """The behaviour classes of one family of kinds (``strategy``, ``read path``, ``fault``,
    ``actor``) by kind: a read-only view of :data:`~toctou_sim.spec.registry.REGISTRY`."""

    def __init__(self, family: str) -> None:
        self.family = family

    def __getitem__(self, kind: str) -> type[T]:
        return cast("type[T]", REGISTRY.get(self.family, kind).behaviour)

    def __contains__(self, kind: object) -> bool:
        return any(plugin.kind == kind for plugin in REGISTRY.plugins(self.family))

    def names(self) -> list[str]:
        """Registered kinds, sorted."""
        return [plugin.kind for plugin in REGISTRY.plugins(self.family)]


class Registry(Generic[T]):
    """Named classes of one role that is not a plug-in kind (the invariants).

    A new one is a class decorated with ``@REGISTRY.register("name")``; the engine looks it
    up by the name in the validated model and never branches on it.
    """

    def __init__(self, role: str) -> None:
        self.role = role
        self._classes: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator registering a behaviour under ``name``."""

        def decorate(cls: type[T]) -> type[T]:
            if name in self._classes:
                raise ValueError(f"{self.role} {name!r} is already registered")
            self._classes[name] = cls
            return cls

        return decorate

    def __getitem__(self, name: str) -> type[T]:
        try:
            return self._classes[name]
        except KeyError:
            raise KeyError(f"no {self.role} registered as {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._classes)
