"""A leader (strategy ``lease``) or a single queue consumer with a finite throughput
(``[capacity.leader]``, ``[capacity.consumer]``), on the finite-service machinery of
``world/services.py``: saturated, it completes ``1/service_time`` operations per second; without
it, a model's numbers do not move."""

from __future__ import annotations

import hashlib
import statistics
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import model
from scipy import stats

from toctou_sim.cli.main import main
from toctou_sim.core.distributions import RandomStreams
from toctou_sim.world import World

HERE = Path(__file__).resolve().parents[1] / "data" / "leader_capacity"

SERVICE = 0.01
"""Mean service time of the finite leader or consumer: saturated, 100 completions per second."""
HORIZON, WARMUP, REPS = 10.0, 1.0, 6


class CountingWorld(World):
    """Records the instant every operation ends (the world's own record, not the service's)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ends: list[float] = []

    def finish(self, op, outcome):  # type: ignore[override]
        self.ends.append(self.env.now)
        super().finish(op, outcome)


def throughputs(strategy: dict[str, Any], service: str, invariant: str) -> list[float]:
    """Operations ended per second over the measured span of each replication, with 200 arrivals
    per second offered to a service of mean 10 ms (exponential): twice what it can serve."""
    spec = model(
        model={"horizon": HORIZON, "warmup": WARMUP},
        keys={"count": 100000, "invariant": invariant},
        clients={"arrival": {"poisson": {"rate": 200}}, "window": 0},
        strategy=strategy,
        capacity={service: {"servers": 1, "service_time": {"exponential": {"mean": SERVICE}}}},
    )
    out = []
    for rep in range(REPS):
        world = CountingWorld(spec, RandomStreams(7, rep))
        world.run()
        ended = sum(1 for t in world.ends if WARMUP <= t < HORIZON)
        out.append(ended / (HORIZON - WARMUP))
    return out


def assert_saturates_at_one_over_service_time(values: list[float]) -> None:
    """The oracle 1/service_time lies in the 99% confidence interval of the mean throughput."""
    mean = statistics.fmean(values)
    half = stats.t.ppf(0.995, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    assert abs(mean - 1 / SERVICE) <= half, (mean, half)
    assert half < 0.1 / SERVICE  # the interval is tight enough to mean something


def test_a_leader_with_a_service_time_saturates_at_one_over_it() -> None:
    lease = {"kind": "lease", "replicas": 1, "fencing": False}
    values = throughputs(lease, "leader", "exists")
    assert_saturates_at_one_over_service_time(values)


def test_a_single_queue_consumer_with_a_service_time_saturates_at_one_over_it() -> None:
    queue = {"kind": "queue", "scope": "global"}
    values = throughputs(queue, "consumer", "grant")
    assert_saturates_at_one_over_service_time(values)


def test_an_unbounded_leader_keeps_up_with_the_load() -> None:
    """The control: the same load without a capacity ends about 200 operations per second."""
    spec = model(model={"horizon": HORIZON, "warmup": WARMUP}, keys={"count": 100000, "invariant": "exists"},
                 clients={"arrival": {"poisson": {"rate": 200}}, "window": 0},
                 strategy={"kind": "lease", "replicas": 1, "fencing": False})
    world = CountingWorld(spec, RandomStreams(7, 0))
    world.run()
    assert sum(1 for t in world.ends if WARMUP <= t < HORIZON) / (HORIZON - WARMUP) > 170


PVC_JSON_SHA256 = "f60145e591f0804b115cae02557ed4a67f48ffa2786dc0c087bda15e725bcddb"
"""sha256 of the ``compare --json`` output below, captured on main before leader and consumer
capacities existed (405 rows; a frozen copy of scenario1_pvc_controller in
tests/data/leader_capacity/). Recapture only for a deliberate change of the numbers."""


def test_a_lease_model_without_a_capacity_gives_byte_identical_json() -> None:
    args = ["compare", str(HERE / "scenario1_pvc_controller.toml"), "--reps", "2", "--seed", "5",
            "--set", "model.horizon=10s", "--set", "model.warmup=1s", "--workers", "1", "--quiet", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(result.stdout.encode()).hexdigest() == PVC_JSON_SHA256


@pytest.mark.parametrize(
    ("capacity", "strategy", "expected"),
    [
        ({"consumer": {"service_time": "10ms"}}, 'kind = "none"', "capacity.consumer: no finite service"),
        ({"leader": {"servers": 0, "service_time": "10ms"}}, 'kind = "lease"', "capacity.leader.servers"),
        ({"leader": {"service_time": "10ms", "calls": "reads"}}, 'kind = "lease"', "capacity.leader.calls"),
    ],
)
def test_bad_leader_or_consumer_capacity_is_one_line_and_exit_2(tmp_path: Path, capacity: dict[str, Any],
                                                                strategy: str, expected: str) -> None:
    tables = "".join(
        f"\n[capacity.{name}]\n" + "".join(
            f"{key} = {value!r}\n".replace("'", '"') for key, value in fields.items())
        for name, fields in capacity.items())
    path = tmp_path / "m.toml"
    path.write_text('[model]\nname = "m"\n[clients]\narrival = { poisson = { rate = 5 } }\n'
                    f"[strategy]\n{strategy}\n{tables}", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(path), "--reps", "1", "--quiet"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and expected in lines[0], lines
