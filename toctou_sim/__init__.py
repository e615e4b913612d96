"""toctou-sim: a discrete-event simulator of time-of-check-to-time-of-use windows.

Describe an architecture in a model file, then estimate how often a check no longer holds at
use, how often that becomes harm, and what each mitigation costs::

    import toctou_sim
    model = toctou_sim.load_model("models/flash_sale.toml")
    table = toctou_sim.compare(model, ["none", "cas", "lock"], reps=20, seed=1).to_frame()
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from toctou_sim.montecarlo import (
    ComparisonResult,
    Estimate,
    SimulationResult,
    compare,
    run_replication,
    simulate,
)
from toctou_sim.spec import ModelSpec, SpecError, load_model, parse_model

if TYPE_CHECKING:
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



class _Package(types.ModuleType):
    """The package's module type: ``staleness`` and ``StalenessResult`` load on first use.

    They pull in pandas and scipy, which a process that only simulates (a sweep worker, a
    benchmark) does not need. ``toctou_sim.staleness`` is the function even after the submodule of
    the same name has been imported (the import system's assignment of the submodule is ignored).
    """

    @property
    def staleness(self) -> Any:
        import importlib

        return importlib.import_module("toctou_sim.staleness").staleness

    @staleness.setter
    def staleness(self, value: Any) -> None:
        """The import system sets the submodule here; the package attribute stays the function."""

    @property
    def StalenessResult(self) -> Any:
        import importlib

        return importlib.import_module("toctou_sim.staleness").StalenessResult


sys.modules[__name__].__class__ = _Package
