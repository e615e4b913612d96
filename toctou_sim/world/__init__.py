"""The simulated world: store, invariants, read paths, strategies and faults as SimPy processes.

Importing this package registers the built-in behaviours.
"""

from __future__ import annotations

from toctou_sim.world import (  # importing a module registers its behaviours: every built-in one, here
    caching,
    faults,
    invariants,
    lease,
    load,
    mitigations,
    quorum,
    read_paths,
    strategies,
    tracing,
)
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
    "read_paths",
    "strategies",
    "tracing",
]
