"""The world's observer hook: what happens in a replication, told to whoever listens.

The world emits its events (an operation begins, a check observes, a use is judged, an operation
ends, a background write lands, ...) to its observers, in the order they were added; it never
writes a measurement itself. The :class:`~toctou_sim.measure.metrics.Recorder` is the first
observer of every world (it counts); the tracer (:mod:`toctou_sim.world.tracing`), reconcilers
and the explorer are others. An observer implements only the hooks it needs: :func:`broadcast`
binds, per hook, nothing (the engine then skips the call), the one listener's bound method, or a
fan-out, once when observers change, so listening costs a replication nothing it does not use.

Hooks are called synchronously at the simulated instant of the event (``world.env.now``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toctou_sim.world.operation import Operation

__all__ = ["HOOKS", "Broadcast", "HarmListener", "WorldObserver", "broadcast"]


class WorldObserver:
    """A listener of one world's events; every hook does nothing unless overridden.

    The recorder (in :mod:`toctou_sim.measure`, below the world) implements the hooks it needs
    without subclassing this: a hook is any method of that name.
    """

    def began(self, op: Operation) -> None:
        """A delivery of a request starts (its first attempt, or a redelivered copy)."""

    def check_began(self, op: Operation) -> None:
        """An attempt starts its check (before any pause or queue delays the read)."""

    def checked(self, op: Operation, held: bool, outdated: bool) -> None:
        """The check observed ``op.seen_version``/``op.seen_value``; ``held`` is the precondition
        on that observation, ``outdated`` whether the observation was older than the truth then."""

    def window_ended(self, op: Operation | None, window: float) -> None:
        """The window after the check (``window`` seconds, plus any pause) ended; the use is sent.
        ``op`` is ``None`` when the strategy did not name it (the operation of the active process)."""

    def judged(self, op: Operation, now: float, accepted: bool, holds: bool, duplicate: bool) -> None:
        """A use was judged at ``now``: ``accepted`` whether the store applied it, ``holds``
        whether the precondition held on the truth, ``duplicate`` whether it was a second effect
        of one request (a harm although the precondition held)."""

    def caught(self, op: Operation) -> None:
        """A mismatch caught before any check or use (a dedupe hit turning a duplicate away): an
        attempt refused as a conflict, with no window."""

    def lock_waited(self, op: Operation, wait: float) -> None:
        """``op`` waited ``wait`` seconds for a lock (granted, or given up at its wait timeout)."""

    def window_measured(self, op: Operation, seconds: float) -> None:
        """The check-to-use window of ``op``, measured by a strategy that uses on another
        operation's behalf (a controller's reconcile of a client's event)."""

    def tallied(self, op: Operation, attempts: int, violated: bool, conflicted: bool) -> None:
        """An operation carried out by several attempts elsewhere (a controller's reconciles of
        one event) is settled: ``attempts`` uses, and whether one was a violation or, failing
        that, a conflict."""

    def harmed(self, op: Operation, kind: str) -> None:
        """A use did harm: ``kind`` is the invariant's harm, ``"duplicate"`` or ``"orphan"``."""

    def retried(self, op: Operation) -> None:
        """A rejected attempt will be retried (``op.retries`` already counts it)."""

    def finished(self, op: Operation, outcome: int, now: float) -> None:
        """An operation ended with ``outcome`` (OK, DECLINED, VIOLATED, ABORTED)."""

    def redelivered(self, op: Operation) -> None:
        """``op`` is a redelivered (or timed-out and resent) copy of an earlier request."""

    def mutated(self, key: int) -> None:
        """A background write (a mutator, an actor) was applied to ``key``."""

    def fault_began(self, kind: str, target: str, duration: float) -> None:
        """A fault interval of ``kind`` on ``target`` begins, for ``duration`` seconds."""

    def fault_ended(self, kind: str, target: str) -> None:
        """A fault interval of ``kind`` on ``target`` ends."""


class HarmListener(WorldObserver):
    """An observer of harms only, calling ``callback(op, kind)`` (a reconciler, the explorer)."""

    def __init__(self, callback: Callable[[Operation, str], None]) -> None:
        self._callback = callback

    def harmed(self, op: Operation, kind: str) -> None:
        self._callback(op, kind)


HOOKS: tuple[str, ...] = tuple(
    name for name, value in vars(WorldObserver).items() if callable(value) and not name.startswith("_")
)
"""The hook names, in declaration order."""


class Broadcast:
    """Per hook, the callable the world calls, or ``None`` when nobody listens to it."""

    __slots__ = HOOKS

    began: Callable[[Operation], None] | None
    check_began: Callable[[Operation], None] | None
    checked: Callable[[Operation, bool, bool], None] | None
    window_ended: Callable[[Operation | None, float], None] | None
    judged: Callable[[Operation, float, bool, bool, bool], None] | None
    caught: Callable[[Operation], None] | None
    lock_waited: Callable[[Operation, float], None] | None
    window_measured: Callable[[Operation, float], None] | None
    tallied: Callable[[Operation, int, bool, bool], None] | None
    harmed: Callable[[Operation, str], None] | None
    retried: Callable[[Operation], None] | None
    finished: Callable[[Operation, int, float], None] | None
    redelivered: Callable[[Operation], None] | None
    mutated: Callable[[int], None] | None
    fault_began: Callable[[str, str, float], None] | None
    fault_ended: Callable[[str, str], None] | None


_HOOKS_OF: dict[type, tuple[str, ...]] = {}


def _hooks_of(kind: type) -> tuple[str, ...]:
    """The hooks a class of observers implements (a method other than the base's no-op), found
    once per class."""
    hooks = _HOOKS_OF.get(kind)
    if hooks is None:
        hooks = _HOOKS_OF[kind] = tuple(
            hook for hook in HOOKS
            if callable(method := getattr(kind, hook, None)) and method is not getattr(WorldObserver, hook))
    return hooks


def _fan_out(methods: list[Callable[..., None]]) -> Callable[..., None]:
    def call(*args: Any) -> None:
        for method in methods:
            method(*args)

    return call


def broadcast(observers: Sequence[Any]) -> Broadcast:
    """The hooks of ``observers`` bound once: per hook ``None``, one bound method, or a fan-out
    calling each listener in order."""
    bound = Broadcast()
    listening = [(observer, _hooks_of(type(observer))) for observer in observers]
    for hook in HOOKS:
        methods = [getattr(observer, hook) for observer, hooks in listening if hook in hooks]
        setattr(bound, hook, None if not methods else methods[0] if len(methods) == 1 else _fan_out(methods))
    return bound
