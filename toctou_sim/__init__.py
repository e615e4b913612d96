"""toctou-sim: a discrete-event simulator of time-of-check-to-time-of-use windows.

Describe an architecture in a model file, then estimate how often a check no longer holds at
use, how often that becomes harm, and what each mitigation costs::

    import toctou_sim
    model = toctou_sim.load_model("models/flash_sale.toml")
    table = toctou_sim.compare(model, ["none", "cas", "lock"], reps=20, seed=1).to_frame()
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from toctou_sim.experiment.montecarlo import (
    ComparisonResult,
    Estimate,
    SimulationResult,
    compare,
    run_replication,
    simulate,
)
from toctou_sim.experiment.settings import RunSettings
from toctou_sim.spec.model import ModelSpec, SpecError, load_model, parse_model
from toctou_sim.version import __version__

if TYPE_CHECKING:
    from toctou_sim.capacity.sensitivity import SensitivityResult, sensitivity
    from toctou_sim.experiment.staleness import StalenessResult, staleness
    from toctou_sim.reporting import plots
    from toctou_sim.reporting.review import report
    from toctou_sim.sweeps.design import Range
    from toctou_sim.sweeps.driver import sweep
    from toctou_sim.sweeps.result import SweepResult
    from toctou_sim.validation.explore import ExploreResult, Scope, explore
    from toctou_sim.world.tracing import trace_replication as trace


__all__ = [
    "ComparisonResult",
    "Estimate",
    "ExploreResult",
    "ModelSpec",
    "Range",
    "RunSettings",
    "Scope",
    "SensitivityResult",
    "SimulationResult",
    "SpecError",
    "StalenessResult",
    "SweepResult",
    "__version__",
    "compare",
    "explore",
    "load_model",
    "parse_model",
    "plots",
    "report",
    "run_replication",
    "sensitivity",
    "simulate",
    "staleness",
    "sweep",
    "trace",
]


_LAZY = {
    "explore": ("toctou_sim.validation.explore", "explore"),
    "Scope": ("toctou_sim.validation.explore", "Scope"),
    "ExploreResult": ("toctou_sim.validation.explore", "ExploreResult"),
    "staleness": ("toctou_sim.experiment.staleness", "staleness"),
    "StalenessResult": ("toctou_sim.experiment.staleness", "StalenessResult"),
    "sweep": ("toctou_sim.sweeps.driver", "sweep"),
    "Range": ("toctou_sim.sweeps.design", "Range"),
    "SweepResult": ("toctou_sim.sweeps.result", "SweepResult"),
    "report": ("toctou_sim.reporting.review", "report"),
    "sensitivity": ("toctou_sim.capacity.sensitivity", "sensitivity"),
    "SensitivityResult": ("toctou_sim.capacity.sensitivity", "SensitivityResult"),
    "trace": ("toctou_sim.world.tracing", "trace_replication"),
    "plots": ("toctou_sim.reporting.plots", ""),
}
"""Public names that load their module on first use (name -> module, attribute): those modules
pull in pandas, scipy or matplotlib, which a process that only simulates (a worker, a benchmark)
does not need. An empty attribute names the module itself (``from toctou_sim import plots``)."""


class _Package(types.ModuleType):
    """The package's module type, for the names in ``_LAZY``.

    ``toctou_sim.experiment.staleness`` and ``toctou_sim.sweeps.driver`` are the functions (as they always were),
    even after the submodules of the same names have been imported: the import system's
    assignment of a submodule to those names is ignored.
    """

    def __getattr__(self, name: str) -> Any:
        where = _LAZY.get(name)
        if where is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        module = importlib.import_module(where[0])
        return getattr(module, where[1]) if where[1] else module

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
