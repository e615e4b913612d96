"""The DES engine's inlined hot paths against the general paths they shortcut.

Steps of the hottest flow are shortcut for speed: :meth:`CheckWaitUse.operate` runs its attempt
inline (the general loop, :meth:`Strategy.operate`, calls :meth:`CheckWaitUse.attempt`) without
asking ``accepts``, :meth:`World.check` takes the direct read itself (``DirectRead.reads_store``)
instead of running the read path's :meth:`~toctou_sim.world.engine.ReadPath.observe`, and
:meth:`World.decide` does not tell the direct read path of uses (``DirectRead.hears_uses``), and
the arrival loop builds operations without calling :meth:`World.submit`. Every bundled model
whose strategies take these shortcuts (``none`` and ``cas``, any read path, finite services,
faults) is simulated both ways, on the same seed: every metric must be identical.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from conftest import MODELS

from toctou_sim.experiment import montecarlo
from toctou_sim.experiment.montecarlo import run_replication
from toctou_sim.plugins.read_paths.direct import DirectRead
from toctou_sim.spec.model import ModelSpec, load_model
from toctou_sim.world import World
from toctou_sim.world.engine import Operation, Strategy
from toctou_sim.world.strategies import CheckWaitUse

SHORTCUT_KINDS = ("none", "cas")


class Submitting(World):
    """A world whose arrivals go through :meth:`World.submit` (a subclass that overrides it is
    called for every arrival; the plain world's arrival loop builds operations itself)."""

    def submit(self, key: int, **durations: Any) -> Operation:
        return super().submit(key, **durations)


def _cases() -> list[tuple[str, str]]:
    """(model file, strategy name) for every strategy of a bundled model that takes the shortcuts."""
    cases = []
    for path in sorted(MODELS.glob("*.toml")):
        spec = load_model(path)
        for name in spec.default_strategies():
            if spec.with_strategy(name).strategy.kind in SHORTCUT_KINDS:
                cases.append((path.name, name))
    return cases


CASES = _cases()


def _short(path: str, strategy: str) -> ModelSpec:
    """About 1,000 arrivals of the model's clients, mutators and actors (at least 4 s), so that
    races, retries and faults occur."""
    spec = load_model(MODELS / path)
    rate = spec.clients.arrival.poisson.rate + sum(m.rate for m in spec.mutators)
    rate += sum(getattr(actor, "rate", 0.0) for actor in spec.actors)
    horizon = max(4.0, 1000 / rate)
    overrides = {"model.horizon": horizon, "model.warmup": min(spec.model.warmup, horizon / 10)}
    return load_model(MODELS / path, overrides).with_strategy(strategy)


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def test_the_shortcut_strategies_cover_direct_and_other_read_paths_retries_and_faults() -> None:
    """The cases exercise what the inlined code must get right: retries (cas), both read path
    kinds, and faults."""
    models = {path: load_model(MODELS / path) for path, _ in CASES}
    assert len(CASES) >= 20
    assert {"none", "cas"} <= {models[path].with_strategy(name).strategy.kind for path, name in CASES}
    assert {models[path].read_path.kind for path, _ in CASES} >= {"direct", "cache"}
    assert any(models[path].faults for path, _ in CASES)
    assert any(models[path].capacity for path, _ in CASES)


@pytest.mark.parametrize(("path", "strategy"), CASES)
def test_inlined_flow_gives_the_same_numbers_as_the_general_one(
    path: str, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _short(path, strategy)
    fast = run_replication(model, 0, 7, engine="des")
    with monkeypatch.context() as patched:
        patched.setattr(CheckWaitUse, "operate", Strategy.operate)
        patched.setattr(DirectRead, "reads_store", False)
        patched.setattr(DirectRead, "hears_uses", True)
        patched.setattr(CheckWaitUse, "accepts_every_use", False)
        patched.setattr(montecarlo, "World", Submitting)
        general = run_replication(model, 0, 7, engine="des")
    assert fast.metrics["operations"] > 0
    assert _same(fast.metrics, general.metrics), {
        k: (fast.metrics[k], general.metrics.get(k)) for k in fast.metrics if not _same(
            {k: fast.metrics[k]}, {k: general.metrics.get(k, math.nan)})}


def test_a_subclass_that_overrides_attempt_or_read_runs_through_it() -> None:
    """A subclass of the inlined classes that overrides the step they inline is not shortcut."""
    class Counting(CheckWaitUse):
        def attempt(self, op: Any, first: bool) -> Any:
            return (yield from super().attempt(op, first))

        def accepts(self, op: Any) -> bool:
            return True

    class Reading(DirectRead):
        def read(self, key: int, latency: float) -> Any:
            return (yield from super().read(key, latency))

        def on_write(self, key: int) -> None:
            pass

    assert Counting.operate is Strategy.operate and not Counting.accepts_every_use
    assert CheckWaitUse.operate is not Strategy.operate and CheckWaitUse.accepts_every_use
    assert DirectRead.reads_store and not Reading.reads_store
    assert not DirectRead.hears_uses and Reading.hears_uses
