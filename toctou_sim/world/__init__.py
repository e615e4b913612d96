"""The simulated world: the engine, the store, invariants, services, and the machinery the kinds
share (per-key locks, the cache and quorum mechanics, scheduled faults) as SimPy processes.

The kinds themselves (strategies, read paths, faults, background actors) are plug-ins, one layer
up (:mod:`toctou_sim.plugins`); the world finds their behaviours through :mod:`.registry`.
"""

from __future__ import annotations

from toctou_sim.world import caching, faults, invariants, lease, load, mitigations, quorum, strategies, tracing
from toctou_sim.world.engine import (
    ACTORS,
    FAULTS,
    READ_PATHS,
    STRATEGIES,
    Actor,
    BackgroundActor,
    Fault,
    Operation,
    ReadPath,
    Store,
    Strategy,
    World,
)
from toctou_sim.world.invariants import INVARIANTS, Invariant

__all__ = [
    "ACTORS",
    "FAULTS",
    "INVARIANTS",
    "READ_PATHS",
    "STRATEGIES",
    "Actor",
    "BackgroundActor",
    "Fault",
    "Invariant",
    "Operation",
    "ReadPath",
    "Store",
    "Strategy",
    "World",
    "caching",
    "faults",
    "invariants",
    "lease",
    "load",
    "mitigations",
    "quorum",
    "strategies",
    "tracing",
]
