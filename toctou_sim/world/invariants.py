"""Invariants: what a check protects on a key, and what each write does to the key's value.

The store keeps, per key, a version (bumped by every write) and an integer value. An invariant
says when the precondition holds on a state, what the client's use does, and what each mutator
action does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from toctou_sim.world.registry import Registry

__all__ = ["INVARIANTS", "Counter", "Exists", "Grant", "Invariant", "Unchanged", "Version"]


class Invariant:
    """Base class. ``holds(value, version, seen_version)`` is evaluated on the observed snapshot at
    check and on the authoritative state at use; a use that takes effect while it is false is a
    violation of kind ``harm``."""

    harm = "violation"
    harm_plural = "violations"
    """How violations of this invariant are called in tables."""
    use_writes = True
    """Whether the client's use changes the key (and so bumps its version)."""
    refusal_is_answer = True
    """Whether a use refused because the precondition is false has its answer (sold out, name
    taken, permission revoked: the operation ends declined). For write-if-current and
    act-if-unchanged the precondition is about the caller's own read, so the caller re-reads
    and retries instead."""

    @staticmethod
    def holds(value: int, version: int, seen_version: int) -> bool:
        """The precondition on a state of the key."""
        raise NotImplementedError

    @staticmethod
    def use(value: int) -> int:
        """The key's value after the client's use takes effect."""
        return value

    actions: ClassVar[dict[str, Callable[[int, int], int]]] = {}
    """Mutator actions: ``action(value, amount) -> new value``."""


INVARIANTS: Registry[Invariant] = Registry("invariant")


@INVARIANTS.register("exists")
class Exists(Invariant):
    """Create-if-absent: the check sees the key absent (0); a create while present is a duplicate."""

    harm = "duplicate"
    harm_plural = "duplicate creates"

    @staticmethod
    def holds(value: int, version: int, seen_version: int) -> bool:
        return value == 0

    @staticmethod
    def use(value: int) -> int:
        return 1

    actions: ClassVar[dict[str, Callable[[int, int], int]]] = {
        "create": lambda value, amount: 1,
        "delete": lambda value, amount: 0,
    }


@INVARIANTS.register("counter")
class Counter(Invariant):
    """Decrement-if-positive: stock > 0 at check; a decrement at zero or below is an oversell."""

    harm = "oversell"
    harm_plural = "oversells"

    @staticmethod
    def holds(value: int, version: int, seen_version: int) -> bool:
        return value > 0

    @staticmethod
    def use(value: int) -> int:
        return value - 1

    actions: ClassVar[dict[str, Callable[[int, int], int]]] = {
        "restock": lambda value, amount: value + amount,
        "consume": lambda value, amount: value - 1 if value > 0 else value,
    }


@INVARIANTS.register("grant")
class Grant(Invariant):
    """Act-if-allowed: permission (1) at check; acting while revoked is unauthorized. Acting does
    not change the permission."""

    harm = "unauthorized"
    harm_plural = "unauthorized actions"
    use_writes = False

    @staticmethod
    def holds(value: int, version: int, seen_version: int) -> bool:
        return value == 1

    actions: ClassVar[dict[str, Callable[[int, int], int]]] = {
        "grant": lambda value, amount: 1,
        "revoke": lambda value, amount: 0,
    }


@INVARIANTS.register("version")
class Version(Invariant):
    """Write-if-current: a write over a version other than the one read is a lost update."""

    harm = "lost_update"
    harm_plural = "lost updates"
    refusal_is_answer = False

    @staticmethod
    def holds(value: int, version: int, seen_version: int) -> bool:
        return version == seen_version

    actions: ClassVar[dict[str, Callable[[int, int], int]]] = {"bump": lambda value, amount: value}


@INVARIANTS.register("unchanged")
class Unchanged(Invariant):
    """Act-if-unchanged: the use relies on the state validated at check without modifying it
    (deploy the validated artifact, write rows under the validated schema, act on the flag
    version evaluated). Acting after the key changed is drift."""

    harm = "drift"
    harm_plural = "drifted uses"
    use_writes = False
    refusal_is_answer = False

    @staticmethod
    def holds(value: int, version: int, seen_version: int) -> bool:
        return version == seen_version

    actions: ClassVar[dict[str, Callable[[int, int], int]]] = {"bump": lambda value, amount: value}
