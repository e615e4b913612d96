"""How a run runs, in one frozen, validated object: :class:`RunSettings`.

``simulate``, ``compare``, ``staleness``, ``plan_sweep`` and ``sweep`` each take the same dozen
run arguments (replications, seed, stopping rule, engine, estimator, executor, progress, budget).
They are validated here and only here: a function given keywords builds a :class:`RunSettings`
from them (:meth:`RunSettings.resolve`), and a function given ``settings=`` uses it as it is, so
the two ways give the same numbers and the same errors. The messages name the parameter
(``reps: must be an integer >= 1, got 0``); the command line shows its flags instead
(:func:`toctou_sim.cli.common.flag_names`).

What the model is (its horizon, warm-up, rates) stays in the model and its ``overrides``; a
:class:`RunSettings` says only how many replications of it to run, on what, and when to stop.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from toctou_sim.core.errors import SpecError
from toctou_sim.core.limits import MAX_REPS, check_limit, check_seed
from toctou_sim.engines.fastpath import ENGINES, ESTIMATORS

__all__ = ["PRIMARY_METRIC", "RUN_ESTIMATORS", "RunSettings", "check_stopping", "replication_limit"]

PRIMARY_METRIC = "violation_rate"
"""The metric a ``precision`` run watches unless told otherwise."""

RUN_ESTIMATORS = (*ESTIMATORS, "episodes")
"""The estimators a run may use: the fast engine's, and ``episodes`` (on the DES engine)."""


def check_stopping(reps: Any, precision: Any, max_reps: Any, metric: Any) -> None:
    """The stopping rule's arguments: ``reps`` an integer in ``[1, MAX_REPS]``, ``precision``
    ``None`` or in ``(0, 1)``, ``max_reps`` ``None`` or in ``[1, MAX_REPS]``, ``metric`` a name.
    :class:`RunSettings` and :class:`~toctou_sim.experiment.montecarlo.StoppingRule` (which a
    sweep also reads back from its results folder) both check through this one function.

    Raises:
        SpecError: naming the parameter.
    """
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise SpecError(f"reps: must be an integer >= 1, got {reps!r}")
    if reps > MAX_REPS:
        raise SpecError(f"reps: at most {MAX_REPS}, got {reps}")
    if precision is not None and not 0 < precision < 1:  # also refuses nan
        raise SpecError(f"precision: must be between 0 and 1, got {precision}")
    if max_reps is not None and not 1 <= max_reps <= MAX_REPS:
        raise SpecError(f"max_reps: must be between 1 and {MAX_REPS}, got {max_reps}")
    if not isinstance(metric, str) or not metric:
        raise SpecError(f"metric: expected a metric name, got {metric!r}")


def replication_limit(reps: int, precision: float | None, max_reps: int | None) -> int:
    """The most replications (per strategy) a stopping rule may ask for: ``reps`` without
    ``precision``, else ``max_reps`` (default 1000), never fewer than ``reps``."""
    if precision is None:
        return reps
    return max(reps, max_reps) if max_reps else max(reps, 1000)


@dataclass(frozen=True)
class RunSettings:
    """How to run a model: validated when built, never changed after (``dataclasses.replace``
    gives a new, validated copy).

    Attributes:
        reps: replications (per strategy, per configuration of a sweep); the minimum when
            ``precision`` is given.
        seed: the run's seed, an integer in ``[0, 2**128)``; the same seed gives the same numbers
            on any executor and any number of workers.
        precision: keep adding replications until the relative 95% half-width of ``metric`` is
            at most this (between 0 and 1), or ``max_reps`` is reached.
        max_reps: the limit for ``precision`` (default 1000).
        metric: the metric ``precision`` watches.
        engine: ``auto`` (the fast engine whenever the model qualifies), ``des`` or ``fast``.
            Never changes a number.
        estimator: ``plain``, ``conditional`` (needs the fast engine) or ``episodes`` (per fault
            episode, on the DES engine).
        executor: any ``concurrent.futures.Executor`` to run replications on (default: in this
            process). Never changes a number.
        progress: show a progress bar.
        max_ops, max_memory: the run's budget; a run estimated past it is refused before it
            starts (:func:`toctou_sim.spec.size.estimate_run`).
    """

    reps: int = 10
    seed: int = 0
    precision: float | None = None
    max_reps: int | None = None
    metric: str = PRIMARY_METRIC
    engine: str = "auto"
    estimator: str = "plain"
    executor: Executor | None = dataclasses.field(default=None, compare=False)
    progress: bool = False
    max_ops: float | None = None
    max_memory: float | None = None

    def __post_init__(self) -> None:
        check_stopping(self.reps, self.precision, self.max_reps, self.metric)
        object.__setattr__(self, "seed", check_seed(self.seed))  # a numpy integer becomes an int
        if self.engine not in ENGINES:
            raise SpecError(f"engine: expected one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.estimator not in RUN_ESTIMATORS:
            raise SpecError(f"estimator: expected one of {', '.join(RUN_ESTIMATORS)}, got {self.estimator!r}")
        if self.executor is not None and not isinstance(self.executor, Executor):
            raise SpecError(f"executor: expected a concurrent.futures.Executor or None, "
                            f"got {type(self.executor).__name__}")
        if not isinstance(self.progress, bool):
            raise SpecError(f"progress: expected True or False, got {self.progress!r}")
        check_limit(self.max_ops, "max_ops")
        check_limit(self.max_memory, "max_memory")

    @property
    def limit(self) -> int:
        """The most replications (per strategy) this run may take."""
        return replication_limit(self.reps, self.precision, self.max_reps)

    @classmethod
    def resolve(cls, settings: RunSettings | None, function: Callable[..., Any], **keywords: Any) -> RunSettings:
        """The settings of a call to ``function``: ``settings`` if given, else one built from the
        call's run ``keywords``. Giving ``settings`` and also a keyword that differs from its
        default in ``function``'s signature is refused (which one would win is a guess).

        Raises:
            SpecError: ``settings`` is not a :class:`RunSettings`, both are given, or a keyword's
                value is bad (naming the keyword).
        """
        if settings is None:
            return cls(**keywords)
        if not isinstance(settings, RunSettings):
            raise SpecError(f"settings: expected a RunSettings, got {type(settings).__name__}")
        defaults = _defaults(function)
        given = [name for name, value in keywords.items() if not _same(value, defaults[name])]
        if given:
            raise SpecError(f"settings and {given[0]}: give one or the other (settings=dataclasses.replace("
                            f"settings, {given[0]}=...) changes one field)")
        return settings

    def refuse(self, function: str, *fields: str) -> None:
        """Refuse settings that ``function`` cannot honour: any of ``fields`` away from its default.

        Raises:
            SpecError: naming the first such field.
        """
        for name in fields:
            value = getattr(self, name)
            default = next(f.default for f in dataclasses.fields(self) if f.name == name)
            if not _same(value, default):
                raise SpecError(f"{name}: {function} does not use it; leave it at {default!r}, got {value!r}")


def _same(value: Any, default: Any) -> bool:
    if value is default:
        return True
    if isinstance(value, float) and isinstance(default, float) and math.isnan(value) and math.isnan(default):
        return True
    return type(value) is type(default) and isinstance(value, int | float | str) and value == default


def _defaults(function: Callable[..., Any]) -> dict[str, Any]:
    return {name: parameter.default for name, parameter in inspect.signature(function).parameters.items()}
