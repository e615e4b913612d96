"""Geo-distributed quorum stores: replicas placed in regions with their own WARS delays."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MODELS

from toctou_sim.analytic import closed_forms as analytic
from toctou_sim.core.distributions import RandomStreams
from toctou_sim.experiment.staleness import probe_visibility, staleness
from toctou_sim.plugins.read_paths.replica import ReplicaSpec
from toctou_sim.spec.model import SpecError, load_model, parse_model
from toctou_sim.world import World

EXP = {"exponential": {"mean": "10ms"}}


def regional(regions: list[dict], **fields) -> ReplicaSpec:
    return ReplicaSpec.model_validate({"kind": "replica", "n": 3, "r": 1, "w": 1, **fields, "regions": regions})


def test_equal_regions_meet_the_pbs_closed_form() -> None:
    """Three regions with the same exponential legs are PBS's exponential store: the simulated
    t-visibility lies inside its CI around the exact formula (Bailis et al.)."""
    legs = {leg: EXP for leg in ("write_delay", "ack_delay", "request_delay", "response_delay")}
    spec = regional([{"name": name, **legs} for name in ("a", "b", "c")])
    assert spec.uniform() is not None
    model = parse_model({"clients": {"arrival": {"poisson": {"rate": 1}}}, "read_path": spec.model_dump(mode="json")})
    result = staleness(model, t_grid=[0.0, 0.005, 0.02], reps=10, trials=4000, seed=2)
    curve = result.curve[result.curve["k"] == 1]
    exact = analytic.pbs_t_visibility_exact(3, 1, 1, np.array([0.0, 0.005, 0.02]), w_mean=0.01, a_mean=0.01,
                                            r_mean=0.01, s_mean=0.01)
    assert np.allclose(curve["theory"], exact)
    assert ((curve["ci_low"] <= exact) & (exact <= curve["ci_high"])).all(), curve.to_string()


def test_a_local_replica_makes_reads_fresher_than_remote_ones() -> None:
    """R=W=1 with one local replica (1 ms legs) and two 40 ms away: the first ack and the first
    answer are almost always the local replica's, so a read right after commit is nearly always
    fresh; with all three replicas remote at 40 ms it is not. No closed form applies (NaN)."""
    local = {leg: {"exponential": {"mean": "1ms"}} for leg in ("write_delay", "ack_delay", "request_delay",
                                                                "response_delay")}
    remote = {leg: {"exponential": {"mean": "40ms"}} for leg in local}
    geo = regional([{"name": "home", **local}, {"name": "away", "replicas": 2, **remote}])
    far = regional([{"name": "away", "replicas": 3, **remote}])
    assert geo.uniform() is None
    models = {name: parse_model({"clients": {"arrival": {"poisson": {"rate": 1}}},
                                 "read_path": spec.model_dump(mode="json")})
              for name, spec in (("geo", geo), ("far", far))}
    fresh = {name: staleness(model, t_grid=[0.0], reps=4, trials=3000, seed=1).curve.iloc[0]
             for name, model in models.items()}
    assert fresh["geo"]["ci_low"] > 0.95 > fresh["far"]["ci_high"]
    assert np.isnan(fresh["geo"]["theory"])
    # the vectorized estimator and the SimPy read path agree on the regional store
    probed = probe_visibility(geo, [0.0], trials=3000, seed=3)[0]
    assert probed == pytest.approx(fresh["geo"]["estimate"], abs=0.02)


def test_replicas_are_numbered_region_by_region_in_the_world() -> None:
    """The first region's replica gets its constant 1 ms write delay, the others 50 ms."""
    spec = load_model(MODELS / "geo_quorum_three_regions.toml", {
        "read_path.regions": [{"name": "home", "write_delay": 0.001},
                              {"name": "away", "replicas": 2, "write_delay": 0.05}]})
    world = World(spec, RandomStreams(0, 0))
    assert world.read_path._write_delay() == [0.001, 0.05, 0.05]


@pytest.mark.parametrize(("regions", "message"), [
    ([{"name": "a"}, {"name": "b"}], "the regions' replicas must add up to n=3, got 2"),
    ([{"name": "a"}, {"name": "a", "replicas": 2}], "region names must be unique"),
])
def test_bad_regions_are_one_line(regions: list[dict], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_model({"clients": {"arrival": {"poisson": {"rate": 1}}},
                     "read_path": {"kind": "replica", "n": 3, "regions": regions}})
