"""toctou-sim: a discrete-event simulator of time-of-check-to-time-of-use windows.

Describe an architecture in a model file, then estimate how often a check no longer holds at
use, how often that becomes harm, and what each mitigation costs::

    import toctou_sim
    model = toctou_sim.load_model("models/flash_sale.toml")
    table = toctou_sim.compare(model, ["none", "cas", "lock"], reps=20, seed=1).to_frame()
"""

from __future__ import annotations

from typing import Any

from toctou_sim.montecarlo import (
    ComparisonResult,
    Estimate,
    SimulationResult,
    compare,
    run_replication,
    simulate,
)
from toctou_sim.spec import ModelSpec, SpecError, load_model, parse_model
from toctou_sim.staleness import StalenessResult, staleness
from toctou_sim.sweep import Range, SweepResult, sweep

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``toctou_sim.report`` and ``toctou_sim.trace`` load matplotlib only when first used."""
    if name == "report":
        from toctou_sim.reporting import report

        return report
    if name == "trace":
        from toctou_sim.world.tracing import trace_replication

        return trace_replication
    raise AttributeError(f"module 'toctou_sim' has no attribute {name!r}")

__all__ = [
    "ComparisonResult",
    "Estimate",
    "ModelSpec",
    "Range",
    "SimulationResult",
    "SpecError",
    "StalenessResult",
    "SweepResult",
    "__version__",
    "compare",
    "load_model",
    "parse_model",
    "report",
    "run_replication",
    "simulate",
    "staleness",
    "sweep",
    "trace",
]
