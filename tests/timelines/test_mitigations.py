"""Unit tests of the guide's mitigation strategies and actors.

Each mitigation has an exact timeline with constant delays: operations are injected by hand at
chosen instants, processes append ``(name, env.now, outcome)`` to a log, and one assertion
checks the whole timeline. Then: actors, combinations, bad input, and hypothesis properties
(``two_phase`` and ``queue`` never violate for the operations they serialise).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.measure.metrics import OUTCOMES
from toctou_sim.plugins.actors.event_stream import EventStream
from toctou_sim.plugins.actors.policy_changer import PolicyChanger
from toctou_sim.plugins.actors.schema_changer import SchemaChanger
from toctou_sim.spec.model import ModelSpec, SpecError, parse_model
from toctou_sim.world import World
from toctou_sim.world.engine import Operation


def model(**sections: Any) -> ModelSpec:
    """A model with constant delays (read 1 s, window 2 s, write 1 s) unless overridden."""
    data: dict[str, Any] = {
        "model": {"horizon": 100, "warmup": 0},
        "keys": {"count": 4, "invariant": "version"},
        "store": {"read_latency": 1, "write_latency": 1},
        "clients": {"arrival": {"poisson": {"rate": 1}}, "window": 2},
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **value}
        else:
            data[name] = value
    return parse_model(data)


class Timeline:
    """A world driven by hand: operations and background writes at chosen instants."""

    def __init__(self, spec: ModelSpec) -> None:
        self.world = World(spec, RandomStreams(0, 0))
        self.log: list[tuple[Any, ...]] = []
        self.ops: dict[str, Operation] = {}
        self._names: dict[int, str] = {}
        self._request = 0
        world = self.world

        def finish(op: Operation, outcome: int) -> None:
            op.done = True
            name = self._names.get(id(op), "copy" if op.duplicate else "?")
            self.log.append((name, world.env.now, OUTCOMES[outcome]))

        world.finish = finish  # type: ignore[method-assign]

    def op(self, name: str, at: float, key: int = 0, request: str | None = None) -> None:
        """Deliver operation ``name`` at ``at``; ``request`` names a request shared by duplicates."""
        world = self.world
        spec = world.spec
        read = spec.store.read_latency.mean
        write = spec.store.write_latency.mean
        op = Operation(key, at, spec.clients.window.mean, read, write, counted=True)
        shared = request or name
        if shared not in self.ops:
            self._request += 1
            op.request_id = self._request
        else:
            op.request_id = self.ops[shared].request_id
            op.duplicate = True
        self.ops.setdefault(shared, op)
        self._names[id(op)] = name

        def run() -> Any:
            yield world.env.timeout(at)
            yield from world.strategy.operate(op)

        world.env.process(run())

    def write(self, name: str, at: float, key: int, value: Callable[[int], int]) -> None:
        """A background write of ``key`` at ``at`` through the strategy's mutate gate."""
        world = self.world

        def run() -> Any:
            yield world.env.timeout(at)

            def apply() -> None:
                world.store.write(key, value(world.store.value[key]))
                self.log.append((name, world.env.now))

            world.strategy.mutate(key, apply)

        world.env.process(run())

    def probe(self, name: str, at: float, key: int = 0) -> None:
        """Log the key's value at ``at``."""
        world = self.world

        def run() -> Any:
            yield world.env.timeout(at)
            self.log.append((name, world.env.now, world.store.value[key]))

        world.env.process(run())

    def run(self, until: float = 50.0) -> list[tuple[Any, ...]]:
        for fault in self.world.faults:
            fault.start()
        for actor in self.world.background:
            actor.start()
        self.world.env.run(until=until)
        return self.log


# ------------------------------------------------------------------------------------- queue


def test_queue_serialises_check_and_use_but_not_outside_writers() -> None:
    """A (t=0) and B (t=1) on one key: B waits in the queue until A's use at t=4, then runs its
    own check (5), window (7) and use (8). A writer bypassing the queue bumps the key at t=2,
    inside A's window: A's use is a lost update. B checked after it and is fine."""
    t = Timeline(model(strategy={"kind": "queue", "mutators_through_queue": False}))
    t.op("A", 0)
    t.op("B", 1)
    t.write("outside writer", 2, 0, lambda v: v)
    assert t.run() == [("outside writer", 2), ("A", 4, "violated"), ("B", 8, "ok")]


def test_queue_writer_through_the_queue_waits_its_turn() -> None:
    """The same writer, through the queue, takes its place in line after B (queued at t=1): it
    is applied when B's turn ends at t=8, never inside a queued operation's window."""
    t = Timeline(model(strategy={"kind": "queue", "mutators_through_queue": True}))
    t.op("A", 0)
    t.op("B", 1)
    t.write("queued writer", 2, 0, lambda v: v)
    assert t.run() == [("A", 4, "ok"), ("B", 8, "ok"), ("queued writer", 8)]


def test_paused_consumer_holds_its_lane() -> None:
    """The consumer is paused from t=2 to 5 while serving A (check 1, window 1-3): A's write
    waits for it (5-6). B, queued at t=1, starts at 6: check 7, window 9, write 10."""
    t = Timeline(model(strategy={"kind": "queue"},
                       faults=[{"kind": "pause", "target": "consumer", "at": [2], "duration": 3}]))
    t.op("A", 0)
    t.op("B", 1)
    assert t.run() == [("A", 6, "ok"), ("B", 10, "ok")]


# ------------------------------------------------------------------------------------- idempotency


def _idempotency(ttl: str | None = None, consistency: str = "strong", lag: float = 0.0) -> ModelSpec:
    dedupe: dict[str, Any] = {"consistency": consistency, "lookup_latency": 0.5, "visibility_lag": lag}
    if ttl is not None:
        dedupe["ttl"] = ttl
    return model(
        keys={"invariant": "grant"},
        clients={"redelivery": {"probability": 0.0, "delay": 1}},
        strategy={"kind": "idempotency", "dedupe": dedupe, "retry": {"max_retries": 0}},
    )


def test_idempotency_conflict_then_dedupe_hit() -> None:
    """A claims request r at 0.5 and charges at 4.5. B (a copy, t=1) finds r in progress at 1.5:
    an idempotency conflict (409, aborted with no retries). C (a copy, t=5) finds r completed:
    the stored answer, a no-op (declined). One charge."""
    t = Timeline(_idempotency())
    t.op("A", 0, request="r")
    t.op("B", 1, request="r")
    t.op("C", 5, request="r")
    assert t.run() == [("B", 1.5, "aborted"), ("A", 4.5, "ok"), ("C", 5.5, "declined")]
    strategy = t.world.strategy
    assert strategy.metrics()["idempotency_conflicts"] == 1
    assert strategy.metrics()["dedupe_hits"] == 1
    assert t.world.recorder.duplicate_effects == 0


def test_idempotency_key_expired_lets_the_duplicate_charge_again() -> None:
    """With a 3 s TTL the key claimed at 0.5 is gone at 3.5: C (t=5) is served as new and
    charges a second time at 9.5 (a duplicate effect, a violation)."""
    t = Timeline(_idempotency(ttl="3s"))
    t.op("A", 0, request="r")
    t.op("C", 5, request="r")
    assert t.run() == [("A", 4.5, "ok"), ("C", 9.5, "violated")]
    assert t.world.recorder.duplicate_effects == 1


def test_idempotency_eventual_store_lets_concurrent_copies_through() -> None:
    """On an eventual dedupe store A's claim becomes visible only 2 s later (2.5): B looks up
    at 1.5, sees nothing, claims blindly and charges too."""
    t = Timeline(_idempotency(consistency="eventual", lag=2.0))
    t.op("A", 0, request="r")
    t.op("B", 1, request="r")
    assert t.run() == [("A", 4.5, "ok"), ("B", 5.5, "violated")]


def test_unreachable_dedupe_store_fails_the_request() -> None:
    """The dedupe store is partitioned from t=0 for 10 s and calls give up after 1 s: a request
    at t=0.5 cannot look its key up and fails at 1.5 (rather than charging unprotected)."""
    spec = model(keys={"invariant": "grant"}, clients={"redelivery": {"probability": 0.0, "delay": 1}},
                 strategy={"kind": "idempotency", "retry": {"max_retries": 0}},
                 faults=[{"kind": "partition", "target": "dedupe", "at": [0], "duration": 10, "timeout": 1}])
    t = Timeline(spec)
    t.op("A", 0.5)
    assert t.run() == [("A", 1.5, "aborted")]
    assert t.world.strategy.metrics()["dedupe_unreachable"] == 1


def test_without_idempotency_every_copy_charges() -> None:
    t = Timeline(model(keys={"invariant": "grant"}, clients={"redelivery": {"probability": 0.0, "delay": 1}}))
    t.op("A", 0, request="r")
    t.op("B", 1, request="r")
    assert t.run() == [("A", 4, "ok"), ("B", 5, "violated")]


# ------------------------------------------------------------------------------------- reconcile


def test_reconciler_detects_and_repairs_an_oversell() -> None:
    """One unit of stock; A (t=0) and B (t=0.5) both check it (1, 1.5) and use it (4, 4.5): B
    oversells, stock -1. The reconciler runs at t=10, detects B's oversell (5.5 s later) and
    its compensating action (1 s) cancels it at t=11: stock back to 0."""
    t = Timeline(model(keys={"invariant": "counter", "initial": 1},
                       strategy={"kind": "reconcile", "period": 10, "phase": 10, "repair_latency": 1}))
    t.op("A", 0)
    t.op("B", 0.5)
    t.probe("stock", 10.5)
    t.probe("stock", 11.5)
    assert t.run(until=15) == [("A", 4, "ok"), ("B", 4.5, "violated"), ("stock", 10.5, -1), ("stock", 11.5, 0)]
    metrics = t.world.strategy.metrics()
    assert metrics["mean_time_to_detect_s"] == pytest.approx(5.5)
    assert metrics["time_in_violation_mean_s"] == pytest.approx(6.5)
    assert metrics["harms_repaired"] == 1


def test_reconciler_cleans_up_orphans_older_than_min_age() -> None:
    """A partial create at t=4 leaves an orphan; a run at t=10 skips it (younger than 8 s); the
    run at t=20 deletes it (1 s): orphan alive from 4 to 21."""
    t = Timeline(model(keys={"invariant": "exists"}, clients={"partial_failure": 0.5},
                       strategy={"kind": "reconcile", "period": 10, "phase": 10, "repair_latency": 1, "min_age": 8}))
    t.op("A", 0)
    t.ops["A"].partial = True
    t.probe("name", 15)
    t.probe("name", 22)
    assert t.run(until=30) == [("A", 4, "aborted"), ("name", 15, 1), ("name", 22, 0)]
    assert t.world.strategy.metrics()["orphan_cleanup_time_mean_s"] == pytest.approx(17.0)
    assert t.world.orphans.level == 0


# ------------------------------------------------------------------------------------- two-phase


def test_two_phase_holds_the_key_from_prepare_to_commit() -> None:
    """A (t=0): lock, prepare round trip (1), check (2), window (4), commit round trip (5),
    write (6). B (t=1) and a writer (t=2) queue for the key's lock: B runs 6-12, the writer is
    applied when B releases. Nothing changes the key between a check and its use."""
    t = Timeline(model(strategy={"kind": "two_phase", "participants": 3, "round_trip": 1}))
    t.op("A", 0)
    t.op("B", 1)
    t.write("writer", 2, 0, lambda v: v)
    assert t.run() == [("A", 6, "ok"), ("B", 12, "ok"), ("writer", 12)]


def test_two_phase_coordinator_crash_leaves_participants_in_doubt() -> None:
    """The coordinator crashes after the votes (t=4): the key stays locked in doubt for 5 s; the
    recovered coordinator presumes abort at t=9. B, queued since t=1, gets the lock only then."""
    t = Timeline(model(strategy={"kind": "two_phase", "round_trip": 1, "coordinator_crash": 0.999999,
                                 "recovery_time": 5, "retry": {"max_retries": 0}}))
    t.op("A", 0)
    t.op("B", 1)
    assert t.run(until=12) == [("A", 9, "aborted")]
    assert t.world.strategy.metrics()["in_doubt_time_mean_s"] == 5


def test_two_phase_coordinator_crash_fault_holds_locks_until_restart() -> None:
    """A crash fault on the coordinator at t=3 (down 4 s) hits A after its votes: A's
    participants stay in doubt, key locked, until the coordinator restarts at t=7 and presumes
    abort. B (t=1), waiting for the lock, had not prepared: its transaction died with the
    coordinator and is aborted when it gets the lock (t=7). C (t=8) commits at 14."""
    t = Timeline(model(strategy={"kind": "two_phase", "round_trip": 1, "retry": {"max_retries": 0}},
                       faults=[{"kind": "crash", "target": "coordinator", "at": [3], "duration": 4}]))
    t.op("A", 0)
    t.op("B", 1)
    t.op("C", 8)
    assert t.run(until=20) == [("A", 7, "aborted"), ("B", 7, "aborted"), ("C", 14, "ok")]
    assert t.world.strategy.metrics()["in_doubt_time_mean_s"] == 3


def test_two_phase_failed_prepare_creates_nothing() -> None:
    t = Timeline(model(keys={"invariant": "exists"}, clients={"partial_failure": 0.5},
                       strategy={"kind": "two_phase", "round_trip": 1, "retry": {"max_retries": 0}}))
    t.op("A", 0)
    t.ops["A"].partial = True
    assert t.run() == [("A", 2, "aborted")]
    assert t.world.store.value[0] == 0
    assert t.world.orphans.level == 0


# ------------------------------------------------------------------------------------- reservation


def test_reservation_never_promises_the_last_unit_twice() -> None:
    """One unit. A reserves it at t=1 and consumes it at t=4. B's reservation at t=1.5 finds
    nothing: declined at check instead of an oversell at use."""
    t = Timeline(model(keys={"invariant": "counter", "initial": 1}, strategy={"kind": "reservation"}))
    t.op("A", 0)
    t.op("B", 0.5)
    t.probe("stock", 2)
    assert t.run() == [("B", 1.5, "declined"), ("stock", 2, 0), ("A", 4, "ok")]


def test_reservation_expires_and_the_late_use_is_throttled() -> None:
    """A's reservation (t=1) expires at t=3 and the unit goes back; C (t=2.2) reserves it at
    3.2. A's use at t=4 must reserve again and finds nothing: sold out, the correct answer
    (declined, not an abort). C's own reservation lapses at 5.2; C takes the unit again at its use
    (6.2): ok."""
    t = Timeline(model(keys={"invariant": "counter", "initial": 1}, strategy={"kind": "reservation", "ttl": 2}))
    t.op("A", 0)
    t.op("C", 2.2)
    assert t.run() == [("A", 4, "declined"), ("C", pytest.approx(6.2), "ok")]
    assert t.world.strategy.metrics()["reservations_expired"] == 2


# ------------------------------------------------------------------------------------- tokens


def _token(ttl: float, refresh: bool = True) -> ModelSpec:
    return model(
        keys={"invariant": "grant"},
        store={"read_latency": 0.5, "write_latency": 0.5},
        strategy={"kind": "token", "ttl": ttl, "refresh": refresh, "refresh_latency": 0.25,
                  "retry": {"max_retries": 1, "backoff": 0}},
    )


def test_short_token_is_refreshed_near_use_and_catches_the_revocation() -> None:
    """Token issued at 0.5 for 1.5 s; revoked at t=1; at use (2.5) the token has expired, the
    refresh (2.75) sees the revocation: 403 (a conflict), and the permission is gone, so that is
    the answer: declined, with no retry."""
    t = Timeline(_token(1.5))
    t.op("A", 0)
    t.write("revoke", 1, 0, lambda v: 0)
    assert t.run() == [("revoke", 1), ("A", 2.75, "declined")]
    assert t.world.recorder.conflicts == 1


def test_long_token_acts_on_a_revoked_permission() -> None:
    """The same revocation under a 5 s token: the token is still valid at use; the resource
    honours it and the action at t=3 is unauthorized."""
    t = Timeline(_token(5.0))
    t.op("A", 0)
    t.write("revoke", 1, 0, lambda v: 0)
    assert t.run() == [("revoke", 1), ("A", 3.0, "violated")]


def test_slow_verifier_clock_honours_an_expired_token() -> None:
    """Token issued at 0.5 for 1.5 s (expiry claim 2.0 on the issuer's clock), revoked at t=1, not
    refreshed by the client. With right clocks the verifier refuses it at use (2.5): a 401, and
    the retry's check declines. With the verifier's clock at half speed from t=0 it reads 1.25 at
    use, honours the token, and the action at t=3 is unauthorized (guide F10 meets F3)."""
    t = Timeline(_token(1.5, refresh=False))
    t.op("A", 0)
    t.write("revoke", 1, 0, lambda v: 0)
    assert t.run()[-1][2] == "declined"
    assert t.world.strategy.metrics()["token_expired_at_use"] == 1
    spec = _token(1.5, refresh=False).model_dump(mode="json", by_alias=True, exclude_defaults=True)
    spec["faults"] = [{"kind": "clock_skew", "target": "verifier", "at": [0], "duration": 100, "drift": -0.5}]
    t = Timeline(parse_model(spec))
    t.op("A", 0)
    t.write("revoke", 1, 0, lambda v: 0)
    assert t.run() == [("revoke", 1), ("A", 3.0, "violated")]


def test_fast_verifier_clock_refuses_a_valid_token_unless_leeway_covers_it() -> None:
    """No revocation; the verifier's clock is 2 s ahead, so the 1.5 s token issued at 0.5 looks
    expired at use (2.5 on true time): a 401, and so does the retry's fresh token: the operation
    aborts (authentication expiry errors, guide F10). A 3 s leeway covers the token's 2 s age plus
    the 2 s skew beyond its 1.5 s TTL, and the use succeeds at 3.0."""
    for leeway, expected in ((0.0, 2), (3.0, 0)):
        spec = _token(1.5, refresh=False).model_dump(mode="json", by_alias=True, exclude_defaults=True)
        spec["strategy"]["leeway"] = leeway
        spec["faults"] = [{"kind": "clock_skew", "target": "verifier", "at": [0], "duration": 100, "offset": 2}]
        t = Timeline(parse_model(spec))
        t.op("A", 0)
        outcome = t.run()
        assert t.world.strategy.metrics()["token_expired_at_use"] == expected
        if expected == 0:
            assert outcome == [("A", 3.0, "ok")]
        else:
            assert outcome[0][2] == "aborted"


def test_reused_token_skips_the_check() -> None:
    """With reuse, B (t=1) reuses A's token (issued at 0.5): no read, B uses at 1+2+0.5."""
    spec = model(keys={"invariant": "grant"}, store={"read_latency": 0.5, "write_latency": 0.5},
                 strategy={"kind": "token", "ttl": 10, "reuse": True})
    t = Timeline(spec)
    t.op("A", 0)
    t.op("B", 1)
    assert t.run() == [("A", 3.0, "ok"), ("B", 3.5, "ok")]
    assert t.world.strategy.metrics()["token_reuses"] == 1


# ------------------------------------------------------------------------------------- actors


def _writes(world: World) -> list[tuple[float, int, int]]:
    """Log every write ``(t, key, new value)`` through the read path's write hook."""
    log: list[tuple[float, int, int]] = []
    original = world.read_path.on_write

    def on_write(key: int) -> None:
        log.append((world.env.now, key, world.store.value[key]))
        original(key)

    world.read_path.on_write = on_write  # type: ignore[method-assign]
    return log


def test_policy_changer_revokes_at_the_enforcer_and_the_checker_learns_it_later() -> None:
    """Each revocation issued at t takes effect at the enforcer (the store) at t and is lifted at
    t + 3; the checker's view of the policy gets each change 0.5 s later, so a check of the key
    in [t, t + 0.5) still reads "allowed" (a stale check), and one in [t + 3, t + 3.5) "denied"."""
    spec = model(keys={"invariant": "grant", "count": 100_000}, model={"horizon": 20},
                 actors=[{"kind": "policy_changer", "rate": 2, "restore_after": 3, "propagation_delay": 0.5}])
    world = World(spec, RandomStreams(1, 0))
    writes = _writes(world)
    actor = world.background[0]
    assert isinstance(actor, PolicyChanger)
    assert world.read_path is actor.view
    views: list[tuple[float, int, int]] = []  # (t, key, value the checker reads)

    def probe(key: int, at: float) -> None:
        def read(_event: object) -> None:
            step = world.read_path.read(key, 0.0)
            try:
                next(step)
            except StopIteration as done:
                views.append((at, key, done.value[1]))
        world.env.timeout(at - world.env.now).callbacks.append(read)

    def on_revoke(t: float, key: int) -> None:
        for offset in (0.25, 0.75, 3.25, 3.75):
            probe(key, t + offset)

    actor.start()
    seen: set[int] = set()
    while world.env.peek() < 20:
        world.env.step()
        for t, key, value in writes:
            if value == 0 and key not in seen:
                seen.add(key)
                on_revoke(t, key)
    revokes = {key: t for t, key, value in writes if value == 0}
    restores = {key: t for t, key, value in writes if value == 1}
    assert len(revokes) > 20
    for key, t in revokes.items():
        if key in restores:
            assert restores[key] == pytest.approx(t + 3.0)
        else:
            assert t + 3.0 > 20
    expected = {0.25: 1, 0.75: 0, 3.25: 0, 3.75: 1}
    checked = 0
    for at, key, value in views:
        offset = round(at - revokes[key], 2)
        if at < 20:
            assert value == expected[offset], (key, offset)
            checked += 1
    assert checked > 40
    assert actor.metrics()["policy_revocations"] >= len(revokes)


def test_schema_changer_moves_every_key_at_once_with_scope_all() -> None:
    spec = model(keys={"count": 5}, model={"horizon": 30},
                 actors=[{"kind": "schema_changer", "rate": 0.5, "scope": "all", "duration": 1}])
    world = World(spec, RandomStreams(2, 0))
    writes = _writes(world)
    actor = world.background[0]
    assert isinstance(actor, SchemaChanger)
    actor.start()
    world.env.run(until=30)
    instants = sorted({t for t, _, _ in writes})
    assert len(writes) == 5 * len(instants) > 0
    assert all(world.store.version[k] == len(instants) for k in range(5))


def test_event_stream_ordering() -> None:
    """Out-of-order delivery: applying every event makes ordering errors; a sequence check at
    read time removes most (the read-to-write window remains); a conditional write removes all."""
    rates = {}
    for ordering in ("none", "check", "conditional"):
        spec = model(keys={"count": 50}, model={"horizon": 60},
                     store={"read_latency": 0.002, "write_latency": 0.003},
                     actors=[{"kind": "event_stream", "rate": 100, "ordering": ordering,
                              "delivery_delay": {"exponential": {"mean": "100ms"}},
                              "handling_time": {"exponential": {"mean": "50ms"}}}])
        world = World(spec, RandomStreams(3, 0))
        actor = world.background[0]
        assert isinstance(actor, EventStream)
        actor.start()
        world.env.run(until=70)
        metrics = actor.metrics()
        rates[ordering] = metrics["ordering_error_rate"]
        assert (metrics["stale_events_dropped"] > 0) == (ordering != "none")
    assert rates["none"] > rates["check"] > rates["conditional"] == 0


# ------------------------------------------------------------------------------------- engine hooks


def test_duplicates_share_request_id_and_counts_hold() -> None:
    """Redelivered and timed-out copies are operations of their own; the identities hold."""
    from toctou_sim import simulate

    spec = model(model={"horizon": 20, "warmup": 1}, keys={"invariant": "grant", "count": 1000},
                 store={"read_latency": 0.002, "write_latency": 0.003},
                 clients={"arrival": {"poisson": {"rate": 300}}, "window": {"exponential": {"mean": "50ms"}},
                          "redelivery": {"probability": 0.3, "delay": {"exponential": {"mean": "30ms"}}},
                          "timeout": {"after": "60ms"}},
                 strategy={"kind": "idempotency"})
    metrics = simulate(spec, reps=1, seed=4).replications[0].metrics
    assert metrics["duplicate_deliveries"] > 0
    ops = metrics["operations"]
    ended = (metrics["ok_rate"] + metrics["violation_rate"]) * ops + metrics["aborts"]
    assert ended + metrics["unfinished_operations"] == pytest.approx(ops)
    assert metrics["mismatches"] == metrics["conflicts"] + metrics["violations"]
    assert metrics["duplicate_effects"] == 0
    assert metrics["idempotency_conflict_rate"] > 0


def test_same_seed_same_numbers() -> None:
    from toctou_sim import simulate

    spec = model(model={"horizon": 10}, keys={"invariant": "counter", "count": 10},
                 store={"read_latency": {"exponential": {"mean": "2ms"}}, "write_latency": 0.003},
                 clients={"arrival": {"poisson": {"rate": 100}}, "window": {"exponential": {"mean": "50ms"}},
                          "partial_failure": 0.05},
                 mutators=[{"action": "restock", "rate": 20}],
                 strategy={"kind": "reconcile", "period": 2, "jitter": 1, "repair_failure": 0.2,
                           "inner": {"kind": "reservation", "ttl": 0.1}})
    a = simulate(spec, reps=2, seed=9).replications
    b = simulate(spec, reps=2, seed=9).replications
    assert [r.metrics for r in a] == [r.metrics for r in b]


# ------------------------------------------------------------------------------------- combinations


def test_reconcile_around_cas_and_idempotency_around_lock() -> None:
    from toctou_sim import simulate

    base: dict[str, Any] = {
        "model": {"horizon": 10, "warmup": 1},
        "keys": {"invariant": "counter", "count": 5, "initial": 2},
        "store": {"read_latency": 0.002, "write_latency": 0.003},
        "clients": {"arrival": {"poisson": {"rate": 200}}, "window": {"exponential": {"mean": "20ms"}},
                    "redelivery": {"probability": 0.1, "delay": 0.01}},
        "mutators": [{"action": "restock", "rate": 100}],
    }
    both = parse_model({**base, "strategy": {"kind": "reconcile", "period": 1, "inner": {
        "kind": "idempotency", "inner": {"kind": "cas"}}}})
    metrics = simulate(both, reps=1, seed=5).replications[0].metrics
    assert metrics["violations"] == 0 and metrics["conflicts"] > 0
    assert metrics["reconcile_runs"] >= 9 and math.isnan(metrics["mean_time_to_detect_s"])
    locked = parse_model({**base, "strategy": {"kind": "idempotency", "inner": {"kind": "lock"}}})
    metrics = simulate(locked, reps=1, seed=5).replications[0].metrics
    assert metrics["violations"] == 0 and metrics["dedupe_hits"] > 0


# ------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"strategy": {"kind": "two_phase", "participants": 0}}, "strategy.participants: must be >= 1, got 0"),
        ({"strategy": {"kind": "reconcile", "period": 0}}, "strategy.period: must be > 0, got 0"),
        ({"strategy": {"kind": "reconcile", "period": "-5s"}}, "strategy.period: must be > 0, got '-5s'"),
        ({"strategy": {"kind": "reconcile", "inner": {"kind": "reconcile"}}},
         "strategy.inner.kind: a reconciler inside a reconciler would repair every harm twice; give one"),
        ({"strategy": {"kind": "reservation"}},
         "strategy.kind: reservation needs keys.invariant = 'counter', got 'version'"),
        ({"strategy": {"kind": "reconcile", "inner": {"kind": "token"}}},
         "strategy.inner.kind: token needs keys.invariant = 'grant', got 'version'"),
        ({"actors": [{"kind": "policy_changer", "rate": 1}]},
         "actors.0.kind: policy_changer needs keys.invariant = 'grant', got 'version'"),
        ({"actors": [{"kind": "telepathy"}]},
         "actors.0: unknown actor 'telepathy'; expected one of event_stream, policy_changer, schema_changer"),
        ({"clients": {"arrival": {"poisson": {"rate": 1}}, "redelivery": {"probability": 1.5, "delay": 1}}},
         "clients.redelivery.probability: must be <= 1, got 1.5"),
        ({"strategy": {"kind": "idempotency", "dedupe": {"consistency": "psychic"}}},
         "strategy.dedupe.consistency: expected 'strong' or 'eventual', got 'psychic'"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as info:
        model(**overrides)
    assert str(info.value) == f"<model>: {message}"


def test_cli_exit_2_on_bad_mitigation(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from toctou_sim.cli.main import main

    result = CliRunner().invoke(main, ["run", "models/f6_partial_create.toml", "--set", "strategy.kind=two_phase",
                                       "--set", "strategy.participants=0"])
    assert result.exit_code == 2
    assert "strategy.participants: must be >= 1, got 0" in result.output


# ------------------------------------------------------------------------------------- safety properties


@st.composite
def configurations(draw: st.DrawFn) -> dict[str, Any]:
    invariant = draw(st.sampled_from(["exists", "counter", "grant", "version"]))
    actions = {"exists": ["create", "delete"], "counter": ["restock", "consume"],
               "grant": ["grant", "revoke"], "version": ["bump"]}[invariant]
    ms = st.floats(min_value=0.0001, max_value=0.2)
    mutators = [{"action": a, "rate": draw(st.floats(min_value=0.5, max_value=100))}
                for a in actions if draw(st.booleans())]
    return {
        "model": {"horizon": draw(st.floats(min_value=0.5, max_value=3)), "warmup": 0},
        "keys": {"count": draw(st.integers(1, 6)), "invariant": invariant,
                 "initial": draw(st.integers(0, 3)) if invariant != "version" else None},
        "store": {"read_latency": {"exponential": {"mean": draw(ms)}},
                  "write_latency": {"exponential": {"mean": draw(ms)}}},
        "clients": {"arrival": {"poisson": {"rate": draw(st.floats(min_value=1, max_value=300))}},
                    "window": {"exponential": {"mean": draw(ms)}},
                    "partial_failure": draw(st.sampled_from([0.0, 0.1]))},
        "mutators": mutators,
        "seed": draw(st.integers(0, 2**16)),
    }


def _metrics(config: dict[str, Any], strategy: dict[str, Any]) -> dict[str, float]:
    from toctou_sim import run_replication

    config = dict(config)
    seed = config.pop("seed")
    config["keys"] = {k: v for k, v in config["keys"].items() if v is not None}
    spec = parse_model({**config, "strategy": strategy})
    return run_replication(spec, 0, seed).metrics


fault_schedules = st.lists(
    st.tuples(st.sampled_from(["crash", "pause"]), st.floats(min_value=0.1, max_value=5),
              st.floats(min_value=0.001, max_value=0.5)),
    max_size=3,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configurations(), st.floats(min_value=0, max_value=0.5), st.sampled_from(["commit", "abort"]),
       st.integers(1, 4), fault_schedules)
@pytest.mark.slow
def test_two_phase_never_violates(config: dict[str, Any], crash: float, recovery: str, participants: int,
                                  faults: list[tuple[str, float, float]]) -> None:
    """Whatever the coordinator crashes (drawn, or crash faults) and pauses of the coordinator."""
    config = {**config, "faults": [{"kind": kind, "target": "coordinator", "rate": rate,
                                    "duration": {"exponential": {"mean": mean}}} for kind, rate, mean in faults]}
    strategy = {"kind": "two_phase", "participants": participants, "coordinator_crash": crash,
                "recovery": recovery, "recovery_time": {"exponential": {"mean": "50ms"}},
                "round_trip": {"exponential": {"mean": "3ms"}}}
    metrics = _metrics(config, strategy)
    assert metrics["violations"] == 0
    assert metrics["partial_creates"] == 0  # a failing step aborts the whole transaction


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configurations(), st.sampled_from(["key", "partition", "global"]), st.integers(1, 4), fault_schedules)
def test_queue_never_violates_for_operations_through_it(config: dict[str, Any], scope: str, partitions: int,
                                                        faults: list[tuple[str, float, float]]) -> None:
    """Whatever the pauses and crashes of the consumer."""
    config = {**config, "faults": [{"kind": kind, "target": "consumer", "rate": rate,
                                    "duration": {"exponential": {"mean": mean}}} for kind, rate, mean in faults]}
    strategy = {"kind": "queue", "scope": scope, "partitions": partitions, "mutators_through_queue": True,
                "enqueue_latency": {"exponential": {"mean": "1ms"}}}
    assert _metrics(config, strategy)["violations"] == 0


# ------------------------------------------------------------------------------------- theory


def test_global_queue_is_an_mm1_queue() -> None:
    """One consumer, Poisson arrivals (rate 50/s) and exponential service (the window, mean
    10 ms, no read or write latency): an M/M/1 queue, mean wait rho / (mu - lambda) = 10 ms."""
    from toctou_sim import simulate
    from toctou_sim.analytic.closed_forms import mm1_mean_wait

    spec = model(model={"horizon": 200, "warmup": 10}, store={"read_latency": 0, "write_latency": 0},
                 clients={"arrival": {"poisson": {"rate": 50}}, "window": {"exponential": {"mean": "10ms"}}},
                 strategy={"kind": "queue", "scope": "global"})
    wait = simulate(spec, reps=8, seed=11).estimate("queue_wait_mean_ms")
    expected = mm1_mean_wait(50.0, 100.0) * 1e3
    assert wait.ci_low <= expected <= wait.ci_high


def test_reconciler_mean_time_to_detect_is_half_a_period() -> None:
    """Orphans appear at Poisson instants (partial creates), a reconciler runs every P = 4 s
    exactly: an orphan's age at the next run is uniform on [0, P), so the mean time to detect
    is P / 2, and with an instant repair so is the orphans' mean lifetime."""
    from toctou_sim import simulate

    spec = model(model={"horizon": 200, "warmup": 20}, store={"read_latency": 0.001, "write_latency": 0.001},
                 clients={"arrival": {"poisson": {"rate": 20}}, "window": {"exponential": {"mean": "50ms"}},
                          "partial_failure": 0.2},
                 strategy={"kind": "reconcile", "period": 4})
    result = simulate(spec, reps=6, seed=12)
    assert result.estimate("partial_creates").estimate > 500
    for metric in ("mean_time_to_detect_s", "orphan_cleanup_time_mean_s"):
        estimate = result.estimate(metric)
        assert estimate.ci_low <= 2.0 <= estimate.ci_high, metric


def test_redelivery_and_client_timeout_copy_the_request() -> None:
    """A request submitted at t=0 is answered at 4 (read 1, window 2, write 1). Its client times
    out at 2.5 and sends a copy (answered 6.5); the sender also redelivers it 3 s after the
    first delivery (answered 7). The copies carry the request's id, so without idempotency each
    charges again: two duplicate effects."""
    spec = model(keys={"invariant": "grant"},
                 clients={"redelivery": {"probability": 1.0, "delay": 3}, "timeout": {"after": 2.5}})
    t = Timeline(spec)
    world = t.world

    def client() -> Any:
        yield world.env.timeout(0)
        op = world.submit(0, window=2, read_latency=1, write_latency=1)
        t._names[id(op)] = "A"

    world.env.process(client())
    assert t.run() == [("A", 4, "ok"), ("copy", 6.5, "violated"), ("copy", 7, "violated")]
    assert world.recorder.duplicate_effects == 2


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configurations(), st.floats(min_value=0, max_value=1), st.floats(min_value=0.0005, max_value=0.3),
       st.floats(min_value=0.001, max_value=0.5), st.sampled_from(["none", "cas", "recheck"]))
@pytest.mark.slow
def test_strong_idempotency_never_executes_a_request_twice(
    config: dict[str, Any], probability: float, delay: float, timeout: float, inner: str
) -> None:
    """Whatever the redeliveries, client timeouts and the inner strategy, a strongly consistent
    dedupe store without TTL lets at most one delivery of a request take effect whole. A use
    that took effect but failed before it was recorded (a partial failure) releases the claim, so
    a redelivery may take effect again: the ledger counts that duplicate, and only that one."""
    config = {**config, "clients": {**config["clients"],
                                    "redelivery": {"probability": probability,
                                                   "delay": {"exponential": {"mean": delay}}},
                                    "timeout": {"after": timeout, "max_retries": 2}}}
    metrics = _metrics(config, {"kind": "idempotency", "inner": inner})
    assert metrics["ledger_duplicates"] <= metrics["partial_creates"]
    if not config["clients"].get("partial_failure"):
        assert metrics["ledger_duplicates"] == 0
    assert metrics["duplicate_effects"] == metrics["ledger_duplicates"]
    assert metrics["mismatches"] == metrics["conflicts"] + metrics["violations"]


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configurations(), st.one_of(st.none(), st.floats(min_value=0.001, max_value=0.3)))
def test_reservation_never_oversells(config: dict[str, Any], ttl: float | None) -> None:
    """Stock taken atomically at check and consumed at use is never promised twice, whatever
    the TTL, the windows and the other consumers (whose own consume never goes below zero)."""
    config = {**config, "keys": {**config["keys"], "invariant": "counter"},
              "mutators": [{"action": "restock", "rate": 20}, {"action": "consume", "rate": 20}]}
    metrics = _metrics(config, {"kind": "reservation", "ttl": ttl})
    assert metrics["ledger_violations"] == 0  # never an oversell; a retry after a partial use is a duplicate
