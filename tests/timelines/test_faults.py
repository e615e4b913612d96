"""Faults, one exact timeline each: constant delays, scripted operations that log
``(who, what, env.now)``, and one assertion on the whole timeline.

A pause stops an actor (its steps wait), a partition makes a service unreachable (calls queue,
or fail after a timeout), a latency spike multiplies a service's latencies, a throttle rejects
requests above a quota, a clock skew makes an actor's own clock wrong, and a crash kills an
actor between two steps of a multi-step operation.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import model

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.measure.metrics import OUTCOMES
from toctou_sim.spec.model import SpecError, parse_model
from toctou_sim.world import World
from toctou_sim.world.engine import REJECTED_ATTEMPT, Actor, Quota


class LoggingWorld(World):
    """Logs every check, use decision and end of an operation, named by its key."""

    def __init__(self, *args: Any, names: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[tuple[str, str, float]] = []
        self.names = names

    def check(self, op, latency):  # type: ignore[override]
        holds = yield from super().check(op, latency)
        self.log.append((self.names[op.key], f"check v{op.seen_version}", self.env.now))
        return holds

    def decide(self, op, accepted):  # type: ignore[override]
        outcome = super().decide(op, accepted)
        what = "rejected" if outcome == REJECTED_ATTEMPT else OUTCOMES[outcome]
        self.log.append((self.names[op.key], what, self.env.now))
        return outcome

    def finish(self, op, outcome):  # type: ignore[override]
        if outcome == 2:  # aborted: no decide was logged for it
            self.log.append((self.names[op.key], "aborted", self.env.now))
        super().finish(op, outcome)

    def at(self, time: float, key: int, window: float = 1.0, **durations: float) -> None:
        def start():
            yield self.env.timeout(time)
            self.submit(key, window=window, **durations)

        self.env.process(start())


def world_for(strategy: dict[str, Any], faults: list[dict[str, Any]], names: str = "ABCD",
              **sections: Any) -> LoggingWorld:
    spec = model(
        model={"horizon": 100},
        keys={"count": len(names), **sections.pop("keys", {})},
        clients={"arrival": {"poisson": {"rate": 1e-9}}, "window": 1.0},
        strategy=strategy,
        faults=faults,
        **sections,
    )
    return LoggingWorld(spec, RandomStreams(0, 0), names=dict(enumerate(names)))


def test_pause_of_the_clients_stalls_checks_and_uses_until_it_ends() -> None:
    """Clients pause 4..7: A (checked at 3) uses at 7 instead of 5; B, arriving at 5, checks at 7
    and uses at 9; C at 8 is unaffected."""
    world = world_for({"kind": "none"}, [{"kind": "pause", "target": "clients", "at": [4], "duration": 3}])
    world.at(3, 0, window=2.0)
    world.at(5, 1, window=2.0)
    world.at(8, 2, window=2.0)
    world.run()
    assert world.log == [("A", "check v0", 3), ("B", "check v0", 7), ("A", "ok", 7), ("C", "check v0", 8),
                         ("B", "ok", 9), ("C", "ok", 10)]


def test_latency_spike_multiplies_the_store_latencies_of_operations_started_during_it() -> None:
    """Spike x10 during 2..4: A (start 3) reads in 1.25s and writes in 1.25s; B (start 5) in 0.125s."""
    world = world_for({"kind": "none"},
                      [{"kind": "latency_spike", "target": "store", "at": [2], "duration": 2, "factor": 10}])
    world.at(3, 0, window=1.0, read_latency=0.125, write_latency=0.125)
    world.at(5, 1, window=1.0, read_latency=0.125, write_latency=0.125)
    world.run()
    assert world.log == [("A", "check v0", 4.25), ("B", "check v0", 5.125), ("B", "ok", 6.25), ("A", "ok", 6.5)]
    assert world.actors["store"].latency_factor == 1.0


def test_store_partition_queues_reads_and_writes_until_heal() -> None:
    """Store unreachable 4..6: A's use (due at 5) lands at 6; B's check (due at 4.5) is answered
    at 6 and its use follows its 2s window."""
    world = world_for({"kind": "none"}, [{"kind": "partition", "target": "store", "at": [4], "duration": 2}])
    world.at(3, 0, window=2.0)
    world.at(4.5, 1, window=2.0)
    world.run()
    assert world.log == [("A", "check v0", 3), ("B", "check v0", 6), ("A", "ok", 6), ("B", "ok", 8)]


def test_lock_service_partition_with_timeout_fails_the_acquire_and_the_retry_aborts() -> None:
    """Lock service unreachable 0..5 with a 1s call timeout: A asks at 1, fails at 2, backs off
    0.5s, fails again at 3.5 and aborts. B asks at 4.5: the partition heals within its timeout,
    so B gets the lock at 5, checks and uses at 6."""
    strategy = {"kind": "lock", "retry": {"max_retries": 1, "backoff": 0.5, "jitter": "none"}}
    world = world_for(strategy, [{"kind": "partition", "target": "lock", "at": [0], "duration": 5, "timeout": 1}])
    world.at(1, 0)
    world.at(4.5, 1)
    world.run()
    assert world.log == [("A", "aborted", 3.5), ("B", "check v0", 5), ("B", "ok", 6)]
    assert world.strategy.metrics()["lock_wait_timeouts"] == 2


def test_throttle_rejects_uses_above_the_quota() -> None:
    """1 write/s (bucket of 1) during 0..10: A's use at 4 takes the token, B's at 4.5 is
    refused (half a token), C's at 5 gets the refilled token; after 10 D is not throttled."""
    world = world_for({"kind": "none"}, [{"kind": "throttle", "target": "store", "at": [0], "duration": 10,
                                          "limit": 1}])
    world.at(3, 0)
    world.at(3.5, 1)
    world.at(4, 2)
    world.at(11, 3)
    world.run()
    assert world.log == [("A", "check v0", 3), ("B", "check v0", 3.5), ("C", "check v0", 4), ("A", "ok", 4),
                         ("B", "rejected", 4.5), ("B", "aborted", 4.5), ("C", "ok", 5), ("D", "check v0", 11),
                         ("D", "ok", 12)]
    assert world.extra_metrics()["throttled_requests"] == 1


def test_clock_skew_drift_and_offset_then_ntp_correction() -> None:
    """controller.0's clock runs at half speed and jumps back 1s during 2..6; NTP fixes it at 6."""
    world = world_for({"kind": "lease", "replicas": 1, "election": False},
                      [{"kind": "clock_skew", "target": "controller.0", "at": [2], "duration": 4,
                        "drift": -0.5, "offset": -1}])
    clock = world.actors["controller.0"]
    seen: list[tuple[float, float]] = []

    def watch():
        for _ in range(8):
            seen.append((world.env.now, clock.local_time(world.env.now)))
            yield world.env.timeout(1)

    world.env.process(watch())
    world.run()
    assert seen == [(0, 0), (1, 1), (2, 1), (3, 1.5), (4, 2), (5, 2.5), (6, 6), (7, 7)]


def test_actor_clock_and_quota_units() -> None:
    actor = Actor("a")
    actor.set_clock(10.0, 2.0, step=5.0)
    assert (actor.local_time(10.0), actor.local_time(12.0), actor.true_duration(4.0)) == (15.0, 19.0, 2.0)
    quota = Quota(rate=2.0, burst=2.0, now=0.0)
    assert [quota.admit(t) for t in (0.0, 0.0, 0.0, 0.5, 0.5)] == [True, True, False, True, False]
    assert quota.rejected == 2


# --------------------------------------------------------------------------------------------
# Leader election: pause, crash and clock skew of the leader.

LEASE = {"kind": "lease", "replicas": 2, "lease_ttl": 3, "renew_deadline": 2, "retry_period": 1}
"""controller.0 wins the lease at 0 and renews at 1, 2, 3 ...; the lease lasts 3s after the last
renewal; controller.1 tries every second."""


def lease_world(faults: list[dict[str, Any]], **strategy: Any) -> LoggingWorld:
    return world_for({**LEASE, **strategy}, faults, keys={"invariant": "exists"})


def test_paused_leader_is_fenced_off_after_its_lease_passed_on() -> None:
    """A at 0.5 is created by controller.0 at 1.5. B: controller.0 checks at 3 (absent), is paused
    3.2..8.2 mid-create; controller.1 saw the record last change at 3 (the last renewal), takes
    the lease over at 6, resyncs B, checks at 6 and creates at 7. The zombie wakes at 8.2 and its
    create, token 1 below the watermark 2, is rejected: no duplicate (the PVC exists, so the
    refusal is the right answer: declined)."""
    world = lease_world([{"kind": "pause", "target": "leader", "at": [3.2], "duration": 5}])
    world.at(0.5, 0)
    world.at(3, 1)
    world.run()
    assert world.log == [("A", "check v0", 0.5), ("A", "ok", 1.5), ("B", "check v0", 3), ("B", "check v0", 6),
                         ("B", "ok", 7), ("B", "declined", 8.2)]
    metrics = world.extra_metrics()
    assert (metrics["leader_transitions"], metrics["fenced_rejections"], metrics["zombie_writes"]) == (1, 1, 1)
    assert world.recorder.violations == 0


def test_paused_leader_without_fencing_creates_a_duplicate() -> None:
    world = lease_world([{"kind": "pause", "target": "leader", "at": [3.2], "duration": 5}], fencing=False)
    world.at(0.5, 0)
    world.at(3, 1)
    world.run()
    assert world.log == [("A", "check v0", 0.5), ("A", "ok", 1.5), ("B", "check v0", 3), ("B", "check v0", 6),
                         ("B", "ok", 7), ("B", "violated", 8.2)]
    assert world.recorder.violations == 1


def test_leader_killed_mid_create_leaves_the_event_to_the_next_leader() -> None:
    """controller.0 checks B at 3 and dies at 3.5 before sending the create; it restarts at 4.5 as a
    new incarnation, which cannot renew the old holding. controller.1 takes over at 6 (3s after
    the record last changed), resyncs B and creates it at 7: exactly one create."""
    world = lease_world([{"kind": "crash", "target": "leader", "at": [3.5], "duration": 1}])
    world.at(3, 1)
    world.run()
    assert world.log == [("B", "check v0", 3), ("B", "check v0", 6), ("B", "ok", 7)]
    assert world.store.value[1] == 1 and world.recorder.violations == 0


def test_leader_killed_after_sending_the_create_leaves_it_to_land() -> None:
    """The create was sent at 4 (2s write latency) when controller.0 dies at 4.5: it lands at 6
    (partial state: its sender never learns). controller.1 leads from 6 (after the write landed
    at the same instant it resyncs and finds the PVC): no duplicate either way."""
    world = lease_world([{"kind": "crash", "target": "leader", "at": [4.5], "duration": 1}])
    world.at(3, 1, write_latency=2.0)
    world.run()
    assert world.log[:2] == [("B", "check v0", 3), ("B", "ok", 6)]
    assert world.recorder.violations == 0 and world.store.value[1] == 1


def test_slow_clock_keeps_a_deposed_leader_acting_and_fencing_stops_it() -> None:
    """controller.0's clock runs at 0.2x from 2.5. It renews at 3 (by its clock 2.6), then waits
    "1s" by its clock: 5 true seconds. controller.1 has seen no renewal since 3 and takes the
    lease over at 6. At 7 controller.0 still believes (its clock says 0.8s since the renewal, under the 2s
    deadline): both replicas reconcile B, both check at 7; at 8 the deposed leader's create (token
    1 below the watermark 2) is rejected and the leader's lands."""
    skew = [{"kind": "clock_skew", "target": "controller.0", "at": [2.5], "duration": 20, "drift": -0.8}]
    world = lease_world(skew)
    world.at(7, 1)
    world.run()
    assert world.log == [("B", "check v0", 7), ("B", "check v0", 7), ("B", "rejected", 8), ("B", "ok", 8)]

    world = lease_world(skew, fencing=False)
    world.at(7, 1)
    world.run()
    assert world.log == [("B", "check v0", 7), ("B", "check v0", 7), ("B", "ok", 8), ("B", "violated", 8)]


def test_fast_follower_clock_takes_over_while_the_leader_still_believes() -> None:
    """controller.1's clock runs at 2x from 2.5; controller.0 is paused 3.2..4.7 (no renewal after
    3). controller.1 calls every 0.5 true seconds and, by its clock, sees the record unchanged for
    3s at 4.5: it takes over 1.5 true seconds after the last renewal. controller.0, back at 4.7,
    still believes (1.8s since its renewal by its correct clock, under the 2s deadline): B at 4.8
    is reconciled by both. Fencing refuses the deposed leader's create."""
    faults = [{"kind": "clock_skew", "target": "controller.1", "at": [2.5], "duration": 20, "drift": 1.0},
              {"kind": "pause", "target": "controller.0", "at": [3.2], "duration": 1.5}]
    world = lease_world(faults)
    world.at(4.8, 1)
    world.run()
    assert world.log == [("B", "check v0", 4.8), ("B", "check v0", 4.8), ("B", "rejected", 5.8), ("B", "ok", 5.8)]

    world = lease_world(faults, fencing=False)
    world.at(4.8, 1)
    world.run()
    assert world.log == [("B", "check v0", 4.8), ("B", "check v0", 4.8), ("B", "ok", 5.8), ("B", "violated", 5.8)]


def test_lease_service_partition_stalls_events_until_the_leader_renews() -> None:
    """The lease service is unreachable 3.5..8.5 (calls fail after 0.5s). controller.0's last
    renewal was at 3, so from 5 it no longer believes it leads and nobody reconciles B (arrived
    at 6). At 8.5 both replicas get through; controller.0 calls first, renews the holding it
    never lost, resyncs B and creates it at 9.5. No takeover, no duplicate: only delay."""
    world = lease_world([{"kind": "partition", "target": "lease", "at": [3.5], "duration": 5, "timeout": 0.5}])
    world.at(6, 1)
    world.run()
    assert world.log == [("B", "check v0", 8.5), ("B", "ok", 9.5)]
    assert world.extra_metrics()["leader_transitions"] == 0


def test_restarted_replica_without_election_resyncs_what_it_dropped() -> None:
    """One replica, no election: it checks A at 0.5, dies at 1 mid-create and is back at 2, when it
    lists everything again and reconciles A: check at 2, create at 3."""
    world = lease_world([{"kind": "crash", "target": "controller.0", "at": [1], "duration": 1}],
                        replicas=1, election=False)
    world.at(0.5, 0)
    world.run()
    assert world.log == [("A", "check v0", 0.5), ("A", "check v0", 2), ("A", "ok", 3)]


# --------------------------------------------------------------------------------------------
# Bad input: one line naming the field.

BAD_FAULTS = [
    ({"kind": "pause", "target": "nobody", "rate": 1}, "faults.0.target: no actor or service 'nobody'"),
    ({"kind": "pause", "target": "clients", "at": [1], "duration": 0}, "faults.0.duration: must be > 0"),
    ({"kind": "pause", "target": "clients", "at": [1], "duration": "-1s"}, "faults.0.duration.value: must be >= 0"),
    ({"kind": "pause", "target": "clients", "at": [1], "rate": 2}, "faults.0: give exactly one of rate"),
    ({"kind": "pause", "target": "clients"}, "faults.0: give exactly one of rate"),
    ({"kind": "pause", "target": "clients", "rate": -1}, "faults.0.rate: must be > 0"),
    ({"kind": "crash", "target": "clients", "rate": 1}, "faults.0.target: crashing 'clients' is not modelled"),
    ({"kind": "throttle", "target": "clients", "rate": 1, "limit": 3}, "faults.0.target: throttle applies"),
    ({"kind": "throttle", "target": "store", "rate": 1, "limit": 0}, "faults.0.limit: must be > 0"),
    ({"kind": "clock_skew", "target": "clients", "rate": 1}, "faults.0: drift: give a drift"),
    ({"kind": "clock_skew", "target": "clients", "rate": 1, "drift": -1}, "faults.0.drift: must be > -1"),
    ({"kind": "latency_spike", "rate": 1, "factor": 0}, "faults.0.factor: must be > 0"),
    ({"kind": "partition", "rate": 1, "timeout": 0}, "faults.0.timeout: must be > 0"),
    ({"kind": "partition", "target": "lock", "rate": 1}, "faults.0.target: no actor or service 'lock'"),
    ({"kind": "pause", "target": "store", "rate": 1}, "faults.0.target: a paused store is a partition"),
]


@pytest.mark.parametrize(("fault", "message"), BAD_FAULTS)
def test_bad_faults_name_the_field(fault: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as error:
        parse_model({"clients": {"arrival": {"poisson": {"rate": 1}}}, "faults": [fault]}, source="m.toml")
    text = str(error.value)
    assert text.startswith(f"m.toml: {message}") and "\n" not in text


@pytest.mark.parametrize(("strategy", "message"), [
    ({"renew_deadline": 16}, "strategy: renew_deadline: must be <= lease_ttl"),
    ({"retry_period": 10}, "strategy: retry_period: must be < renew_deadline"),
    ({"replicas": 0}, "strategy.replicas: must be >= 1"),
])
def test_bad_lease_settings_name_the_field(strategy: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=f"^m.toml: {message}"):
        parse_model({"clients": {"arrival": {"poisson": {"rate": 1}}}, "strategy": {"kind": "lease", **strategy}},
                    source="m.toml")


def test_fault_targets_include_actors_of_named_strategy_variants() -> None:
    spec = parse_model({"clients": {"arrival": {"poisson": {"rate": 1}}},
                        "strategies": {"lock": {"kind": "lock"}},
                        "faults": [{"kind": "partition", "target": "lock", "at": [1]}]})
    assert "lock" in spec.actor_names()


def test_cli_bad_fault_exits_2_with_one_line(tmp_path) -> None:
    from click.testing import CliRunner

    from toctou_sim.cli.main import main

    path = tmp_path / "m.toml"
    path.write_text('[clients]\narrival = { poisson = { rate = 5 } }\n\n[[faults]]\nkind = "crash"\n'
                    'target = "controller.7"\nrate = 0.1\n')
    result = CliRunner().invoke(main, ["run", str(path), "--reps", "1"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "faults.0.target: no actor or service 'controller.7'" in lines[0]


@pytest.mark.parametrize("kind", ["pause", "crash"])
def test_paused_or_crashed_mutators_write_nothing_until_they_resume(kind: str) -> None:
    """Mutators bump key 0 at 20/s; stopped from 0 for longer than the run, they never write."""
    def version_after(faults: list[dict[str, Any]]) -> int:
        spec = model(model={"horizon": 5}, clients={"arrival": {"poisson": {"rate": 1e-9}}},
                     mutators=[{"action": "bump", "rate": 20}], faults=faults)
        world = World(spec, RandomStreams(0, 0))
        world.run()
        return world.store.version[0]

    assert version_after([]) > 50
    assert version_after([{"kind": kind, "target": "mutators", "at": [0], "duration": 100}]) == 0
    assert version_after([{"kind": kind, "target": "mutators", "at": [0], "duration": 4}]) < 40
