"""The fault hooks as exact timelines (SimPy style, constant delays): each hook seen from the
step that waits on it. A fault acts on its target only through these hooks (see
``tests/unit/test_fault_targets.py`` for which target honours which fault)."""

from __future__ import annotations

from typing import Any

import simpy
from conftest import model

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.world import World
from toctou_sim.world.engine import Actor, Quota


def steps(env: simpy.Environment, log: list[tuple[str, float]], name: str, step: Any) -> None:
    def run() -> Any:
        result = yield from step
        log.append((name if result is None else f"{name} {result}", env.now))

    env.process(run())


def test_stall_delays_the_actors_next_step_to_the_end_of_the_pause() -> None:
    """Paused at 1 until 4 (and again until 3, which merges): a step at 2 resumes at 4; one at 5
    goes on at once."""
    env = simpy.Environment()
    actor, log = Actor("x", frozenset({"pause"})), []

    def script() -> Any:
        yield env.timeout(1)
        actor.stall(4.0)
        actor.stall(3.0)
        yield env.timeout(1)
        steps(env, log, "a", actor.wait(env))
        yield env.timeout(3)
        steps(env, log, "b", actor.wait(env))

    env.process(script())
    env.run()
    assert log == [("a", 4.0), ("b", 5.0)]


def test_cut_off_queues_calls_until_heal_or_fails_them_after_the_timeout() -> None:
    """Cut off 0..5: without a timeout a call at 1 gets through at 5; with a 1 s timeout a call at
    1 fails at 2 and one at 4.5 waits for the heal at 5 (within its timeout)."""
    env = simpy.Environment()
    queued, timed, log = Actor("q"), Actor("t"), []
    queued.cut_off(5.0, None)
    timed.cut_off(5.0, 1.0)

    def script() -> Any:
        yield env.timeout(1)
        steps(env, log, "queued", queued.reach(env))
        steps(env, log, "timed", timed.reach(env))
        yield env.timeout(3.5)
        steps(env, log, "late", timed.reach(env))

    env.process(script())
    env.run()
    assert log == [("timed False", 2.0), ("queued True", 5.0), ("late True", 5.0)]


def test_crash_stops_an_operation_at_its_next_step_and_restarts_after_the_interval() -> None:
    """An operation starts at 0 (epoch 0); the actor crashes at 1, down until 3, and again at 2
    until 2.5 (the earlier restart is not the last): its step at 1.5 waits until 3, sees the crash,
    and the restart callbacks run once, at 3."""
    env = simpy.Environment()
    actor, log = Actor("x", frozenset({"crash"})), []
    actor.on_restart.append(lambda: log.append(("restarted", env.now)))

    def operation() -> Any:
        epoch = actor.epoch
        yield env.timeout(1.5)
        assert actor.is_down(env.now)
        yield from actor.wait(env)
        log.append(("crashed" if actor.crashed_since(epoch) else "went on", env.now))

    def fault() -> Any:
        yield env.timeout(1)
        actor.crash(3.0)
        yield env.timeout(1)
        actor.crash(2.5)
        yield env.timeout(0.5)
        actor.restarted(env.now)  # the second interval ends: not yet back
        yield env.timeout(0.5)
        actor.restarted(env.now)

    env.process(operation())
    env.process(fault())
    env.run()
    assert log == [("crashed", 3.0), ("restarted", 3.0)]  # the step was scheduled first
    assert actor.epoch == 2 and not actor.is_down(3.0)


def test_slow_throttle_and_clock_hooks_and_their_ends() -> None:
    actor = Actor("x")
    actor.slow(10.0)
    actor.slow(2.0)
    assert actor.scaled(0.5) == 10.0
    actor.unslow(10.0)
    actor.unslow(2.0)
    assert actor.scaled(0.5) == 0.5
    quota = Quota(1.0, 1.0, 0.0)
    actor.throttle(quota)
    assert actor.quota is quota and quota.admit(0.0) and not quota.admit(0.5)
    actor.unthrottle()
    assert actor.quota is None
    actor.skew_clock(10.0, 0.5, -4.0)  # jumps back 4 s at 10, then runs at half speed
    assert actor.local_time(12.0) == 7.0
    actor.correct_clock(12.0)
    assert actor.local_time(13.0) == 13.0


def test_take_pause_and_take_crash_hit_one_member_of_the_fleet_once() -> None:
    """``client``: the first client to reach the paused (or crashed) step takes the whole rest of
    the interval; the next one goes on."""
    client = Actor("client")
    client.stall(5.0)
    assert client.take_pause(2.0) == 5.0 and client.take_pause(2.5) == 0.0
    client.crash(6.0)
    assert client.take_crash(4.0) == 2.0 and client.take_crash(4.5) == 0.0


def test_pause_of_the_mutators_delays_their_next_write_to_its_end() -> None:
    """A mutator bumping every 0.5 s on one key (deterministic gaps are not available, so count):
    paused from 1 to 6, the key's version stays where it was at 1 until 6."""
    spec = model(model={"horizon": 10.0, "warmup": 0.0}, clients={"arrival": {"poisson": {"rate": 1e-9}}},
                 keys={"count": 1, "invariant": "version"}, mutators=[{"action": "bump", "rate": 20.0}],
                 faults=[{"kind": "pause", "target": "mutators", "at": [1.0], "duration": 5.0}])
    world = World(spec, RandomStreams(0, 0))
    versions: list[tuple[float, int]] = []

    def watch() -> Any:
        for instant in (1.0, 3.0, 5.999, 6.5):
            yield world.env.timeout(instant - world.env.now)
            versions.append((instant, world.store.version[0]))

    world.env.process(watch())
    world.run()
    at_pause = versions[0][1]
    assert versions[1][1] == at_pause and versions[2][1] == at_pause  # nothing written during the pause
    assert versions[3][1] > at_pause  # the mutator wrote again once it resumed
