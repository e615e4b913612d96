"""Registries of world behaviours, keyed by the ``kind`` names used in model files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Named classes of one role (strategy, read path, fault, invariant).

    A new behaviour is a class decorated with ``@REGISTRY.register("name")``; the engine looks it
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
