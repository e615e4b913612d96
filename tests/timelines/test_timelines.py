"""Exact timelines with constant delays, in SimPy's style: scripted operations log
``(who, what, env.now)`` and one assertion checks the whole timeline."""

from __future__ import annotations

from scripted_world import world_for


def test_cas_fails_on_a_write_in_the_window_and_its_retry_succeeds() -> None:
    """A checks v0 at t=3; B checks and writes at t=4 (v1); A's CAS at t=5 fails; A backs off 1s,
    re-checks v1 at t=6, waits its 2s window and its CAS succeeds at t=8."""
    world = world_for({"kind": "cas", "retry": {"max_retries": 2, "backoff": 1, "jitter": "none"}})
    world.at(3, "A", window=2.0)
    world.at(4, "B", window=0.0)
    world.env.run(until=20)
    assert world.log == [
        ("A", "check v0", 3),
        ("B", "check v0", 4),
        ("B", "ok", 4),
        ("A", "rejected", 5),
        ("A", "check v1", 6),
        ("A", "ok", 8),
    ]
    r = world.recorder
    assert (r.operations, r.ok, r.mismatches, r.conflicts, r.violations, r.retries) == (2, 2, 1, 1, 0, 1)


def test_none_lets_the_lost_update_through() -> None:
    world = world_for({"kind": "none"})
    world.at(3, "A", window=2.0)
    world.at(4, "B", window=0.0)
    world.env.run(until=20)
    assert world.log == [("A", "check v0", 3), ("B", "check v0", 4), ("B", "ok", 4), ("A", "violated", 5)]
    assert world.recorder.violations == 1 and world.recorder.mismatches == 1


def test_recheck_catches_a_write_before_the_recheck_but_not_one_after() -> None:
    """Recheck re-reads at t=5 (after the window); a write at t=4 is caught. With a 1s write
    latency, a write at t=5.5 lands between the re-check and the use at t=6 and is missed."""
    world = world_for({"kind": "recheck", "retry": {"max_retries": 0}})
    world.at(3, "A", window=2.0)
    world.at(4, "B", window=0.0)
    world.env.run(until=20)
    assert world.log == [("A", "check v0", 3), ("B", "check v0", 4), ("B", "ok", 4), ("A", "rejected", 5)]
    assert world.recorder.aborted == 1 and world.recorder.conflicts == 1

    world = world_for({"kind": "recheck"})
    world.at(3, "A", window=2.0, write_latency=1.0)
    world.at(5.5, "B", window=0.0)
    world.env.run(until=20)
    assert world.log == [("A", "check v0", 3), ("B", "check v0", 5.5), ("B", "ok", 5.5), ("A", "violated", 6)]


def test_lock_serialises_and_counts_wait() -> None:
    """A holds the lock 3..5 (check at 3, use at 5); B asks at 4 and gets it at 5."""
    world = world_for({"kind": "lock"})
    world.at(3, "A", window=2.0)
    world.at(4, "B", window=0.0)
    world.env.run(until=20)
    assert world.log == [("A", "check v0", 3), ("A", "ok", 5), ("B", "check v1", 5), ("B", "ok", 5)]
    assert world.recorder.lock_wait.mean == 0.5  # A waited 0s, B 1s
    assert world.recorder.lock_wait.maximum == 1.0


def test_expired_lease_without_fencing_loses_an_update() -> None:
    """A holds from 0 with a 1s lease and a 3s window; the lease expires at 1 and B, waiting since
    0.5, checks v0 at 1 and writes at 1.5; A writes at 3 over B's update: a lost update."""
    world = world_for({"kind": "lock", "lease_ttl": 1.0})
    world.at(0, "A", window=3.0)
    world.at(0.5, "B", window=0.5)
    world.env.run(until=20)
    assert world.log == [("A", "check v0", 0), ("B", "check v0", 1), ("B", "ok", 1.5), ("A", "violated", 3)]
    assert world.strategy.metrics()["lock_leases_expired"] == 1


def test_fencing_rejects_the_expired_holders_write() -> None:
    world = world_for({"kind": "lock", "lease_ttl": 1.0, "fencing": True, "retry": {"max_retries": 0}})
    world.at(0, "A", window=3.0)
    world.at(0.5, "B", window=0.5)
    world.env.run(until=20)
    assert world.log == [("A", "check v0", 0), ("B", "check v0", 1), ("B", "ok", 1.5), ("A", "rejected", 3)]
    assert world.recorder.violations == 0 and world.recorder.conflicts == 1


def test_fenced_read_stops_an_expired_holder_even_before_the_new_holder_writes() -> None:
    """B has checked (token 2 raised the watermark) but not yet written when A's stale write
    arrives: A is rejected, so B's check still holds when B writes."""
    world = world_for({"kind": "lock", "lease_ttl": 1.0, "fencing": True, "retry": {"max_retries": 0}})
    world.at(0, "A", window=1.5)
    world.at(0.5, "B", window=2.0)
    world.env.run(until=20)
    assert world.log == [("A", "check v0", 0), ("B", "check v0", 1), ("A", "rejected", 1.5), ("B", "ok", 3)]


def test_counter_oversell_and_decline() -> None:
    """One unit in stock: A and B both see it; A sells it at 5, B oversells at 6; C sees 0 at 7 and
    declines."""
    world = world_for({"kind": "none"}, keys={"invariant": "counter", "initial": 1})
    world.at(3, "A", window=2.0)
    world.at(4, "B", window=2.0)
    world.at(7, "C", window=2.0)
    world.env.run(until=20)
    assert world.log == [("A", "check v0", 3), ("B", "check v0", 4), ("A", "ok", 5), ("B", "violated", 6),
                         ("C", "check v2", 7)]
    assert world.store.value[0] == -1
    assert world.recorder.declined == 1


def test_grant_revoked_during_window_is_unauthorized() -> None:
    world = world_for({"kind": "none"}, keys={"invariant": "grant"})
    world.at(3, "A", window=2.0)

    def revoke():
        yield world.env.timeout(4)
        world.store.write(0, 0)

    world.env.process(revoke())
    world.env.run(until=20)
    assert world.log == [("A", "check v0", 3), ("A", "violated", 5)]
