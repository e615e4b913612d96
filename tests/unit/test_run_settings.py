"""``RunSettings``: how a run runs, in one frozen object validated in one place.

``simulate``, ``compare``, ``staleness``, ``plan_sweep``, ``sweep``, ``headroom``, ``sensitivity``
and ``report`` take ``settings=`` or their
old keywords; the keywords build a :class:`RunSettings`, so the two ways give the same numbers and
the same errors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from conftest import unwritten_charts

import toctou_sim
from toctou_sim.capacity.headroom import headroom
from toctou_sim.capacity.sensitivity import sensitivity
from toctou_sim.experiment.settings import RunSettings
from toctou_sim.spec.model import SpecError, load_model
from toctou_sim.sweeps.driver import plan_sweep

MODELS = Path(__file__).resolve().parents[2] / "models"
FLASH = str(MODELS / "flash_sale.toml")
QUORUM = str(MODELS / "quorum_stale_read.toml")
SMALL = {"model.horizon": "2s", "model.warmup": "0.5s"}


def test_settings_are_frozen_and_a_changed_copy_is_validated_again() -> None:
    run = RunSettings(reps=3, seed=7, precision=0.2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.reps = 4  # type: ignore[misc]
    assert dataclasses.replace(run, reps=5) == RunSettings(reps=5, seed=7, precision=0.2)
    with pytest.raises(SpecError, match=r"^reps: must be an integer >= 1, got 0$"):
        dataclasses.replace(run, reps=0)
    assert run.limit == 1000 and RunSettings(reps=3).limit == 3
    assert RunSettings(reps=3, precision=0.1, max_reps=50).limit == 50
    assert toctou_sim.RunSettings is RunSettings


BAD = [
    ({"reps": 0}, "reps: must be an integer >= 1, got 0"),
    ({"seed": -1}, "seed: must be between 0 and 2**128 - 1, got -1"),
    ({"precision": 1.5}, "precision: must be between 0 and 1, got 1.5"),
    ({"max_reps": 0}, "max_reps: must be between 1 and"),
    ({"metric": ""}, "metric: expected a metric name, got ''"),
    ({"engine": "warp"}, "engine: expected one of des, fast, auto, got 'warp'"),
    ({"estimator": "psychic"}, "estimator: expected one of plain, conditional, episodes, got 'psychic'"),
    ({"max_ops": -1}, "max_ops: expected a positive number, got -1"),
    ({"progress": "yes"}, "progress: expected True or False, got 'yes'"),
    ({"executor": 4}, "executor: expected a concurrent.futures.Executor or None, got int"),
]

ENTRY_POINTS: dict[str, Callable[..., object]] = {
    "simulate": lambda **kw: toctou_sim.simulate(FLASH, **kw),
    "compare": lambda **kw: toctou_sim.compare(FLASH, **kw),
    "plan_sweep": lambda **kw: plan_sweep(FLASH, grid={"keys.count": [1]}, **kw),
    "sweep": lambda **kw: toctou_sim.sweep(FLASH, grid={"keys.count": [1]}, **kw),
    "staleness": lambda **kw: toctou_sim.staleness(QUORUM, **kw),
    "headroom": lambda **kw: headroom(load_model(FLASH), **kw),
    "sensitivity": lambda **kw: sensitivity(load_model(FLASH), **kw),
    "report": lambda **kw: toctou_sim.report(FLASH, Path("never-written"), **kw),
}
TAKES = {  # the run keywords each entry point has (the others come only with settings=)
    "simulate": {"reps", "seed", "precision", "max_reps", "metric", "engine", "estimator", "max_ops", "progress",
                 "executor"},
    "compare": {"reps", "seed", "precision", "max_reps", "metric", "engine", "estimator", "max_ops", "progress",
                "executor"},
    "plan_sweep": {"reps", "seed", "precision", "max_reps", "metric", "max_ops"},
    "sweep": {"reps", "seed", "precision", "max_reps", "metric", "engine", "max_ops", "progress", "executor"},
    "staleness": {"reps", "seed", "max_ops"},
    "headroom": {"reps", "seed", "executor"},
    "sensitivity": {"reps", "seed", "engine", "executor"},
    "report": {"reps", "seed", "max_ops", "progress", "executor"},
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize(("bad", "message"), BAD, ids=[next(iter(b)) for b, _ in BAD])
def test_one_validation_path(entry: str, bad: dict[str, object], message: str) -> None:
    """The same bad value gives the same message from RunSettings and from every entry point's
    keyword, before any model is loaded or any replication runs."""
    with pytest.raises(SpecError) as direct:
        RunSettings(**bad)  # type: ignore[arg-type]
    assert str(direct.value).startswith(message), str(direct.value)
    if next(iter(bad)) not in TAKES[entry]:
        return
    with pytest.raises(SpecError) as through:
        ENTRY_POINTS[entry](**bad)
    assert str(through.value) == str(direct.value)


def test_keywords_build_settings_through_the_one_constructor(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[RunSettings] = []
    original = RunSettings.__post_init__

    def spy(self: RunSettings) -> None:
        original(self)
        built.append(self)

    monkeypatch.setattr(RunSettings, "__post_init__", spy)
    toctou_sim.simulate(FLASH, reps=1, seed=4, overrides=SMALL)
    assert [(r.reps, r.seed) for r in built] == [(1, 4)]


def test_settings_and_a_keyword_are_not_both_taken() -> None:
    with pytest.raises(SpecError, match=r"^settings and reps: give one or the other"):
        toctou_sim.simulate(FLASH, settings=RunSettings(reps=2), reps=3)
    with pytest.raises(SpecError, match=r"^settings: expected a RunSettings, got dict"):
        toctou_sim.compare(FLASH, settings={"reps": 2})  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"^estimator: a sweep does not use it"):
        plan_sweep(FLASH, grid={"keys.count": [1]}, settings=RunSettings(estimator="conditional"))
    with pytest.raises(SpecError, match=r"^precision: staleness does not use it"):
        toctou_sim.staleness(QUORUM, settings=RunSettings(precision=0.1))
    with pytest.raises(SpecError, match=r"^engine: headroom does not use it"):
        headroom(load_model(FLASH), settings=RunSettings(engine="des"))
    with pytest.raises(SpecError, match=r"^settings and seed: give one or the other"):
        sensitivity(load_model(FLASH), settings=RunSettings(), seed=3)
    with pytest.raises(SpecError, match=r"^progress: sensitivity does not use it"):
        sensitivity(load_model(FLASH), settings=RunSettings(progress=True))


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_the_same_numbers_through_keywords_and_settings() -> None:
    run = RunSettings(reps=2, seed=11, engine="des")
    by_keywords = toctou_sim.compare(FLASH, ["none", "cas"], reps=2, seed=11, engine="des", overrides=SMALL)
    by_settings = toctou_sim.compare(FLASH, ["none", "cas"], settings=run, overrides=SMALL)
    _same(by_keywords.to_frame(), by_settings.to_frame())
    one = toctou_sim.simulate(FLASH, strategy="cas", settings=run, overrides=SMALL).to_frame()
    assert one["estimate"].tolist() == by_settings.results["cas"].to_frame()["estimate"].tolist()
    stale = RunSettings(reps=2, seed=3)
    _same(toctou_sim.staleness(QUORUM, reps=2, seed=3, trials=200, t_grid=[0.01]).curve,
          toctou_sim.staleness(QUORUM, settings=stale, trials=200, t_grid=[0.01]).curve)
    small = toctou_sim.load_model(FLASH, SMALL)
    _same(toctou_sim.sweep(small, grid={"keys.count": [1, 2]}, strategies=["none"], reps=1, seed=2).to_frame(),
          toctou_sim.sweep(small, grid={"keys.count": [1, 2]}, strategies=["none"],
                           settings=RunSettings(reps=1, seed=2)).to_frame())


def test_the_settings_module_is_the_one_place_that_validates_the_stopping_rule() -> None:
    """``StoppingRule`` (which a sweep reads back from its results folder) checks through the
    settings module's function, not its own copy."""
    from toctou_sim.experiment.montecarlo import StoppingRule

    with pytest.raises(SpecError) as rule:
        StoppingRule(reps=0)
    with pytest.raises(SpecError) as run:
        RunSettings(reps=0)
    assert str(rule.value) == str(run.value)
    assert StoppingRule(3, 0.1, 50).limit == RunSettings(reps=3, precision=0.1, max_reps=50).limit == 50


@pytest.mark.slow
def test_report_headroom_and_sensitivity_give_the_same_numbers_through_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The three entry points that took only keywords now take ``settings=`` too: the same run
    either way, and the report hands every setting to its comparison (``engine`` shows in it)."""
    spec = load_model(FLASH, SMALL)
    run = RunSettings(reps=2, seed=5)
    by_keywords = headroom(spec, "cas", reps=2, seed=5, refine=1, max_multiplier=2.0)
    by_settings = headroom(spec, "cas", settings=run, refine=1, max_multiplier=2.0)
    _same(by_keywords.to_frame(), by_settings.to_frame())
    a = sensitivity(spec, "none", n=4, reps=1, seed=5, num_resamples=10)
    b = sensitivity(spec, "none", n=4, settings=RunSettings(reps=1, seed=5), num_resamples=10)
    _same(a.samples, b.samples)
    unwritten_charts(monkeypatch)
    done = toctou_sim.report(spec, tmp_path / "r", strategies=["none", "cas"], trace_ops=0, headroom=False,
                             settings=RunSettings(reps=2, seed=5, engine="des"))
    assert {r.engine for r in done.comparison.results.values()} == {"des"}
    plain = toctou_sim.compare(spec, ["none", "cas"], reps=2, seed=5)  # auto: the fast engine, the same numbers
    _same(done.frame.drop(columns="engine"), plain.to_frame().drop(columns="engine"))
