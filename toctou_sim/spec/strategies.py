"""Model-file helpers shared by several strategy and actor kinds (the layer below their plug-ins).

The kinds themselves (``idempotency``, ``queue``, ``reconcile``, ``two_phase``, ``reservation``,
``token``, ``lease`` and the actors ``policy_changer``, ``schema_changer``, ``event_stream``) live
in :mod:`toctou_sim.plugins`, one module each with its behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toctou_sim.spec.parts import ModelView, StrategySpec

__all__ = ["inner_problem", "require_invariant"]


def require_invariant(model: ModelView, what: str, allowed: tuple[str, ...]) -> str | None:
    """``kind: ...`` when ``model``'s invariant is not one of ``allowed`` (what the kind ``what``
    needs), else ``None``."""
    if model.keys.invariant not in allowed:
        return (f"kind: {what} needs keys.invariant = {' or '.join(repr(a) for a in allowed)}, "
                f"got {model.keys.invariant!r}")
    return None


def inner_problem(inner: StrategySpec, model: ModelView) -> str | None:
    """The problem of a wrapper's ``inner`` strategy in ``model``, under ``inner.``, or ``None``."""
    problem = inner.check_model(model)
    return f"inner.{problem}" if problem is not None else None
