"""Strategies: one module per kind, holding its spec and its behaviour."""

from __future__ import annotations

from toctou_sim.plugins.strategies import (
    cas,
    idempotency,
    lease,
    lock,
    none,
    queue,
    recheck,
    reconcile,
    reservation,
    token,
    two_phase,
)

__all__ = ["PLUGINS"]

PLUGINS = (
    none.PLUGIN,
    recheck.PLUGIN,
    cas.PLUGIN,
    lock.PLUGIN,
    idempotency.PLUGIN,
    queue.PLUGIN,
    reconcile.PLUGIN,
    two_phase.PLUGIN,
    reservation.PLUGIN,
    token.PLUGIN,
    lease.PLUGIN,
)
"""The built-in kinds of this family."""
