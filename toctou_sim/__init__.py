"""toctou-sim: a discrete-event simulator of time-of-check-to-time-of-use windows.

Describe an architecture in a model file, then estimate how often a check no longer holds at
use, how often that becomes harm, and what each mitigation costs::

    import toctou_sim
    model = toctou_sim.load_model("models/flash_sale.toml")
    table = toctou_sim.compare(model, ["none", "cas", "lock"], reps=20, seed=1).to_frame()
"""

from __future__ import annotations

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

__version__ = "0.1.0"

__all__ = [
    "ComparisonResult",
    "Estimate",
    "ModelSpec",
    "SimulationResult",
    "SpecError",
    "StalenessResult",
    "__version__",
    "compare",
    "load_model",
    "parse_model",
    "run_replication",
    "simulate",
    "staleness",
]
