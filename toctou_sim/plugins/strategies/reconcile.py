"""The ``reconcile`` strategy: a background reconciler that detects and repairs harms."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from toctou_sim.core.distributions import DistributionSpec, parse_distribution
from toctou_sim.core.units import NonNegativeDuration, PositiveDuration
from toctou_sim.spec.parts import StrategyField, StrategySpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.spec.strategies import inner_problem
from toctou_sim.spec.targets import ACTIVE_ACTOR, TargetKind
from toctou_sim.world.engine import STRATEGIES, Flow, Operation, Strategy, World
from toctou_sim.world.mitigations import UNIT, mean_or_nan, measured, measured_minutes
from toctou_sim.world.observer import HarmListener

if TYPE_CHECKING:
    from toctou_sim.spec.parts import ModelView

__all__ = ["PLUGIN", "ReconcileSpec", "Reconciler"]


_UNDO: dict[tuple[str, str], Callable[[int], int]] = {
    ("counter", "oversell"): lambda value: value + 1,
    ("counter", "orphan"): lambda value: value + 1,
    ("counter", "duplicate"): lambda value: value + 1,
    ("exists", "orphan"): lambda value: 0,
}
"""Compensating actions that change the key: cancelling an oversold or duplicate decrement gives
the unit back; deleting an orphan frees its capacity (``counter``) or its name (``exists``).
Other repairs (delete a duplicate copy, refund, revoke what was done) leave the key as it is."""


class ReconcileSpec(StrategySpec):
    """No prevention beyond ``inner``: a background reconciler runs every ``period`` (plus a
    uniform jitter in [0, ``jitter``]), finds the violations and orphans present, and repairs
    each with a compensating action taking ``repair_latency`` that fails with
    ``repair_failure`` probability (then it is retried at the next run). ``min_age`` ignores
    orphans younger than it (a cleanup job's grace period). Fault target: ``reconciler`` (a
    paused or crashed reconciler runs late)."""

    kind: Literal["reconcile"] = "reconcile"
    inner: StrategyField = Field(default="none", validate_default=True)
    period: PositiveDuration = 60.0
    jitter: NonNegativeDuration = 0.0
    repair_latency: DistributionSpec = parse_distribution(0.0)
    repair_failure: float = Field(default=0.0, ge=0, lt=1)
    min_age: NonNegativeDuration = 0.0
    phase: NonNegativeDuration | Literal["random"] = "random"
    """When the first run happens: ``"random"`` (uniform in [0, ``period``), from the
    ``reconcile.phase`` stream: a reconciler started at the same instant as the load would make
    the mean time to detect depend on the horizon) or a fixed instant."""

    def check_model(self, model: ModelView) -> str | None:
        if self.inner.kind == "reconcile":
            return "inner.kind: a reconciler inside a reconciler would repair every harm twice; give one"
        return inner_problem(self.inner, model)

    def targets(self) -> dict[str, TargetKind]:
        return {"reconciler": ACTIVE_ACTOR, **self.inner.targets()}


class _Harm:
    """Something a reconciler can find: a violation's lasting effect or an orphan."""

    __slots__ = ("detected", "key", "kind", "t")

    def __init__(self, key: int, kind: str, t: float) -> None:
        self.key = key
        self.kind = kind
        self.t = t
        self.detected = math.nan


class Reconciler(Strategy):
    """Detect and repair instead of prevent: the inner strategy serves the operations and a
    background reconciler runs every period (plus jitter).

    Each run finds every harm present (an oversold unit, a duplicate, an unauthorized action,
    an orphan older than ``min_age``) and repairs them, concurrently, each with a compensating
    action (cancel the order, delete the duplicate or the orphan, refund) that takes
    ``repair_latency`` and fails with ``repair_failure`` probability; a failed repair waits for
    the next run. Measured: time from harm to detection (guide M10), time in violation,
    failures per minute (M2). The first run comes at a random phase of the period (or at
    ``phase``); harms of the measured span still undetected when the replication ends are
    censored detections, counted in ``detections_censored`` (the mean time to detect is over
    the detected ones, so a large censored share means it is biased low).
    """

    spec: ReconcileSpec

    def __init__(self, world: World, spec: ReconcileSpec) -> None:
        super().__init__(world, spec)
        self.inner = STRATEGIES[spec.inner.kind](world, spec.inner)
        streams = world.streams
        self._period: float = spec.period
        self._jitter: float = spec.jitter
        self._min_age: float = spec.min_age
        self._failure: float = spec.repair_failure
        self._jitter_draw = streams.variates("reconcile.jitter", UNIT)
        phase = spec.phase
        self._first_wait: float = (
            streams.variates("reconcile.phase", UNIT)() * spec.period if phase == "random" else float(phase)
        )
        self._repair_latency = streams.variates("reconcile.repair_latency", spec.repair_latency)
        self._repair_draw = streams.variates("reconcile.repair_failure", UNIT)
        self.actor = world.add_actor("reconciler")
        self.pending: list[_Harm] = []
        self.runs = 0
        self.failures = 0
        self.repaired = 0
        self._detect_total = 0.0
        self._detected = 0
        self._harms_measured = 0
        self._violation_total = 0.0
        self._resolved = 0
        self._orphan_total = 0.0
        self._orphans_cleaned = 0
        world.listen(HarmListener(self._on_harm))
        world.env.process(self._loop())

    def attempt(self, op: Operation, first: bool) -> Flow:
        return (yield from self.inner.attempt(op, first))

    def mutate(self, key: int, apply: Callable[[], None]) -> None:
        self.inner.mutate(key, apply)

    def _on_harm(self, op: Operation, kind: str) -> None:
        now = self.world.env.now
        self.pending.append(_Harm(op.key, kind, now))
        if measured(self.world, now):
            self._harms_measured += 1

    def _loop(self) -> Flow:
        world = self.world
        env = world.env
        end = 2 * world.spec.model.horizon
        wait = self._first_wait
        while True:
            if wait > 0:
                yield env.timeout(wait)
            yield from self.actor.wait(env)  # a paused or crashed reconciler runs late
            if env.now >= end:
                return
            yield from self.run_once()
            wait = self._period + self._jitter * self._jitter_draw() if self._jitter else self._period

    def run_once(self) -> Flow:
        """One reconcile pass: detect everything present now, then repair it all concurrently;
        the pass ends when every compensating action has finished or failed."""
        world = self.world
        env = world.env
        self.runs += 1
        now = env.now
        found = [h for h in self.pending if h.kind != "orphan" or now - h.t >= self._min_age]
        for harm in found:
            if math.isnan(harm.detected):
                harm.detected = now
                if measured(world, harm.t):
                    self._detect_total += now - harm.t
                    self._detected += 1
        if found:
            yield env.all_of([env.process(self._repair_one(harm)) for harm in found])

    def _repair_one(self, harm: _Harm) -> Flow:
        """One compensating action (the run issues them concurrently)."""
        world = self.world
        env = world.env
        latency = self._repair_latency()
        if latency > 0:
            yield env.timeout(latency)
        if self._failure > 0 and self._repair_draw() < self._failure:
            if measured(world, env.now):
                self.failures += 1
            return
        self._repair(harm)

    def _repair(self, harm: _Harm) -> None:
        world = self.world
        now = world.env.now
        self.pending.remove(harm)
        self.repaired += 1
        if measured(world, harm.t):
            self._violation_total += now - harm.t
            self._resolved += 1
            if harm.kind == "orphan":
                self._orphan_total += now - harm.t
                self._orphans_cleaned += 1
        if harm.kind == "orphan":
            world.orphans.change(now, -1)
        undo = _UNDO.get((world.spec.keys.invariant, harm.kind))
        if undo is not None:
            store = world.store
            key = harm.key
            on_write = world.read_path.on_write

            def apply() -> None:
                store.write(key, undo(store.value[key]))
                on_write(key)

            self.mutate(key, apply)

    def metrics(self) -> dict[str, float]:
        extra = self.inner.metrics()
        minutes = measured_minutes(self.world)
        extra.update({
            "reconcile_runs": float(self.runs),
            "reconcile_failures": float(self.failures),
            "reconcile_failures_per_min": self.failures / minutes if minutes > 0 else math.nan,
            "mean_time_to_detect_s": mean_or_nan(self._detect_total, self._detected),
            "detections_censored": float(self._harms_measured - self._detected),
            "time_in_violation_mean_s": mean_or_nan(self._violation_total, self._resolved),
            "violation_seconds_per_min": self._violation_total / minutes if minutes > 0 else math.nan,
            "harms_repaired": float(self.repaired),
            "harms_outstanding": float(len(self.pending)),
            "orphan_cleanup_time_mean_s": mean_or_nan(self._orphan_total, self._orphans_cleaned),
        })
        return extra


PLUGIN = Plugin(spec=ReconcileSpec, behaviour=Reconciler)
"""The kind ``reconcile``: its spec and its behaviour."""
