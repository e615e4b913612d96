"""Bare, hand-written SimPy scripts of the flash-sale flows: the floor the engine is measured against.

Each function simulates the same flow as the engine's model (Poisson arrivals, Zipf keys, a read
latency, the check, the window, the write latency, the use; background restocks) with nothing
but SimPy, lists and numpy block draws, and counts the same outcomes. What they leave out is
everything that makes the engine a tool: registries, retries in general form, histograms,
warm-up accounting, lease expiry and fencing (rare in the flash-sale model), metrics plumbing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

__all__ = ["BareParams", "bare_cache_none", "bare_cas", "bare_lock", "bare_none", "bare_quorum_none",
           "params_from_model"]


@dataclass(frozen=True)
class BareParams:
    """The numbers of a flash-sale-like model that a bare script needs."""

    horizon: float
    arrival_rate: float
    keys: int
    zipf: float | None
    initial: int
    read_latency: Any
    write_latency: Any
    window: Any
    restock_rate: float
    restock_amount: int
    max_retries: int = 3
    backoff: float = 0.01
    acquire_latency: Any = None
    wait_timeout: float | None = None
    read_path: Any = None
    """The model's read path spec (cache or replica) for the read-path scripts."""


def params_from_model(model: Any) -> BareParams:
    """Extract the bare-script parameters from a validated flash-sale-like model."""
    zipf = getattr(model.keys.popularity, "zipf", None)
    mutator = model.mutators[0]
    strategy = model.strategy
    retry = getattr(strategy, "retry", None)
    return BareParams(
        horizon=model.model.horizon,
        arrival_rate=model.clients.arrival.poisson.rate,
        keys=model.keys.count,
        zipf=zipf,
        initial=model.keys.initial_value,
        read_latency=model.store.read_latency,
        write_latency=model.store.write_latency,
        window=model.clients.window,
        restock_rate=mutator.rate,
        restock_amount=mutator.amount,
        max_retries=retry.max_retries if retry is not None else 0,
        backoff=retry.backoff if retry is not None else 0.0,
        acquire_latency=getattr(strategy, "acquire_latency", None),
        wait_timeout=getattr(strategy, "wait_timeout", None),
        read_path=model.read_path,
    )


def _stream(sample: Callable[[int], np.ndarray[Any, Any]]) -> Callable[[], float]:
    buffer: list[float] = []

    def next_value() -> float:
        nonlocal buffer
        if not buffer:
            buffer = sample(4096).tolist()
        return buffer.pop()

    return next_value


def _streams(p: BareParams, seed: int) -> dict[str, Callable[[], Any]]:
    rng = np.random.default_rng(seed)
    if p.zipf is None:
        keys = _stream(lambda n: rng.integers(0, p.keys, n))
    else:
        weights = np.arange(1, p.keys + 1, dtype=np.float64) ** -p.zipf
        cdf = np.cumsum(weights / weights.sum())
        cdf[-1] = 1.0
        keys = _stream(lambda n: np.searchsorted(cdf, rng.random(n), side="right"))
    return {
        "gap": _stream(lambda n: rng.exponential(1.0 / p.arrival_rate, n)),
        "key": keys,
        "read": _stream(lambda n: p.read_latency.sample(rng, n)),
        "write": _stream(lambda n: p.write_latency.sample(rng, n)),
        "window": _stream(lambda n: p.window.sample(rng, n)),
        "restock_gap": _stream(lambda n: rng.exponential(1.0 / p.restock_rate, n)),
        "uniform": _stream(lambda n: rng.random(n)),
        "acquire": _stream(lambda n: p.acquire_latency.sample(rng, n)) if p.acquire_latency else (lambda: 0.0),
    }


def _arrivals(env: simpy.Environment, p: BareParams, s: dict[str, Callable[[], Any]], operate: Any) -> Any:
    gap, key, read, window, write = s["gap"], s["key"], s["read"], s["window"], s["write"]
    horizon = p.horizon
    timeout, process = env.timeout, env.process
    while True:
        g = gap()
        if env.now + g >= horizon:
            return
        yield timeout(g)
        process(operate(key(), env.now, read(), window(), write()))


def _restocks(env: simpy.Environment, p: BareParams, s: dict[str, Callable[[], Any]], apply: Any) -> Any:
    gap, key = s["restock_gap"], s["key"]
    while True:
        yield env.timeout(gap())
        if env.now >= 2 * p.horizon:
            return
        apply(key())


def bare_none(p: BareParams, seed: int = 0) -> dict[str, float]:
    """Check stock, wait, decrement: count oversells."""
    env = simpy.Environment()
    s = _streams(p, seed)
    stock = [p.initial] * p.keys
    counts = {"operations": 0, "violations": 0, "declined": 0, "latency_sum": 0.0}

    def operate(key: int, arrival: float, r: float, w: float, wl: float) -> Any:
        yield env.timeout(r)
        if stock[key] <= 0:
            counts["declined"] += 1
        else:
            yield env.timeout(w)
            yield env.timeout(wl)
            if stock[key] <= 0:
                counts["violations"] += 1
            stock[key] -= 1
        counts["operations"] += 1
        counts["latency_sum"] += env.now - arrival

    def restock(key: int) -> None:
        stock[key] += p.restock_amount

    env.process(_arrivals(env, p, s, operate))
    env.process(_restocks(env, p, s, restock))
    env.run(until=2 * p.horizon)
    return {**counts, "events": float(next(env._eid))}  # type: ignore[attr-defined]


def bare_cas(p: BareParams, seed: int = 0) -> dict[str, float]:
    """Check stock and version, wait, conditional decrement; retry with full-jitter backoff."""
    env = simpy.Environment()
    s = _streams(p, seed)
    stock = [p.initial] * p.keys
    version = [0] * p.keys
    uniform, read, window, write = s["uniform"], s["read"], s["window"], s["write"]
    counts = {"operations": 0, "violations": 0, "conflicts": 0, "aborted": 0, "latency_sum": 0.0}

    def operate(key: int, arrival: float, r: float, w: float, wl: float) -> Any:
        retries = 0
        while True:
            yield env.timeout(r)
            if stock[key] <= 0:
                break
            seen = version[key]
            yield env.timeout(w)
            yield env.timeout(wl)
            if version[key] == seen:
                stock[key] -= 1
                version[key] += 1
                break
            counts["conflicts"] += 1
            if retries >= p.max_retries:
                counts["aborted"] += 1
                break
            retries += 1
            yield env.timeout(min(p.backoff * 2 ** (retries - 1), 1.0) * uniform())
            r, w, wl = read(), window(), write()
        counts["operations"] += 1
        counts["latency_sum"] += env.now - arrival

    def restock(key: int) -> None:
        stock[key] += p.restock_amount
        version[key] += 1

    env.process(_arrivals(env, p, s, operate))
    env.process(_restocks(env, p, s, restock))
    env.run(until=2 * p.horizon)
    return {**counts, "events": float(next(env._eid))}  # type: ignore[attr-defined]


def bare_lock(p: BareParams, seed: int = 0) -> dict[str, float]:
    """A simpy.Resource per key held around check -> window -> decrement (no lease, no fencing)."""
    env = simpy.Environment()
    s = _streams(p, seed)
    stock = [p.initial] * p.keys
    locks = [simpy.Resource(env, capacity=1) for _ in range(p.keys)]
    acquire = s["acquire"]
    counts = {"operations": 0, "violations": 0, "aborted": 0, "latency_sum": 0.0, "wait_sum": 0.0}
    wait_timeout = p.wait_timeout

    def operate(key: int, arrival: float, r: float, w: float, wl: float) -> Any:
        yield env.timeout(acquire())
        lock = locks[key]
        request = lock.request()
        asked = env.now
        if wait_timeout is None:
            yield request
        else:
            yield request | env.timeout(wait_timeout)
        counts["wait_sum"] += env.now - asked
        if not request.triggered:
            request.cancel()
            counts["aborted"] += 1
        else:
            yield env.timeout(r)
            if stock[key] > 0:
                yield env.timeout(w)
                yield env.timeout(wl)
                if stock[key] <= 0:
                    counts["violations"] += 1
                stock[key] -= 1
            lock.release(request)
        counts["operations"] += 1
        counts["latency_sum"] += env.now - arrival

    def restock(key: int) -> None:
        request = locks[key].request()

        def apply(_event: Any) -> None:
            stock[key] += p.restock_amount
            locks[key].release(request)

        request.callbacks.append(apply)

    env.process(_arrivals(env, p, s, operate))
    env.process(_restocks(env, p, s, restock))
    env.run(until=2 * p.horizon)
    return {**counts, "events": float(next(env._eid))}  # type: ignore[attr-defined]


def bare_cache_none(p: BareParams, seed: int = 0) -> dict[str, float]:
    """``bare_none`` with the check through a look-aside cache: a lookup latency, a hit while the
    entry's TTL runs, on a miss the store read and a fill; every write invalidates the key after
    an invalidation delay; an LRU capacity (the cache read path's flow, nothing else)."""
    from collections import OrderedDict

    rp = p.read_path
    env = simpy.Environment()
    s = _streams(p, seed)
    rng = np.random.default_rng(seed + 1)
    lookup = _stream(lambda n: rp.read_latency.sample(rng, n))
    ttl = _stream(lambda n: rp.ttl.sample(rng, n))
    invalidation = _stream(lambda n: rp.invalidation.delay.sample(rng, n))
    capacity = rp.capacity
    stock = [p.initial] * p.keys
    entries: OrderedDict[int, tuple[float, int]] = OrderedDict()
    counts = {"operations": 0, "violations": 0, "declined": 0, "latency_sum": 0.0, "hits": 0}

    def drop(key: int, _event: Any = None) -> None:
        entries.pop(key, None)

    def written(key: int) -> None:
        delay = invalidation()
        if delay > 0:
            env.timeout(delay).callbacks.append(lambda event, key=key: drop(key))
        else:
            drop(key)

    def operate(key: int, arrival: float, r: float, w: float, wl: float) -> Any:
        yield env.timeout(lookup())
        entry = entries.get(key)
        if entry is not None and entry[0] > env.now:
            entries.move_to_end(key)
            seen = entry[1]
            counts["hits"] += 1
        else:
            yield env.timeout(r)
            seen = stock[key]
            entries[key] = (env.now + ttl(), seen)
            entries.move_to_end(key)
            if capacity is not None and len(entries) > capacity:
                entries.popitem(last=False)
        if seen <= 0:
            counts["declined"] += 1
        else:
            yield env.timeout(w)
            yield env.timeout(wl)
            if stock[key] <= 0:
                counts["violations"] += 1
            stock[key] -= 1
            written(key)
        counts["operations"] += 1
        counts["latency_sum"] += env.now - arrival

    def restock(key: int) -> None:
        stock[key] += p.restock_amount
        written(key)

    env.process(_arrivals(env, p, s, operate))
    env.process(_restocks(env, p, s, restock))
    env.run(until=2 * p.horizon)
    return {**counts, "events": float(next(env._eid))}  # type: ignore[attr-defined]


def bare_quorum_none(p: BareParams, seed: int = 0) -> dict[str, float]:
    """``bare_none`` with the check through an N/R quorum (the WARS model, lean as the engine's:
    a write records when it reaches each replica; a read draws N request and response delays,
    waits for its R-th answer, and takes the newest version among the first R replicas, each
    judged at the instant the request reached it)."""
    rp = p.read_path
    n, quorum_r = rp.n, rp.r
    env = simpy.Environment()
    s = _streams(p, seed)
    rng = np.random.default_rng(seed + 1)
    write_delay = _stream(lambda k: rp.write_delay.sample(rng, k))
    request = _stream(lambda k: (rp.request_delay or rp.message_delay).sample(rng, k))
    response = _stream(lambda k: (rp.response_delay or rp.message_delay).sample(rng, k))
    stock = [p.initial] * p.keys
    # per key and replica: the (arrival instant, value) of each write, in the order written
    replicas: list[list[list[tuple[float, int]]]] = [[[(0.0, p.initial)] for _ in range(n)] for _ in range(p.keys)]
    counts = {"operations": 0, "violations": 0, "declined": 0, "latency_sum": 0.0, "stale": 0}

    def state(key: int, replica: int, at: float) -> int:
        records = replicas[key][replica]
        for i in range(len(records) - 1, -1, -1):
            arrived, value = records[i]
            if arrived <= at:
                return value
        return records[0][1]

    def written(key: int) -> None:
        now = env.now
        value = stock[key]
        for replica in replicas[key]:
            replica.append((now + write_delay(), value))
            if len(replica) > 64:  # older writes have reached every replica long since
                del replica[:32]

    def operate(key: int, arrival: float, r: float, w: float, wl: float) -> Any:
        start = env.now
        asked = [start + request() for _ in range(n)]
        answered = sorted((a + response(), j) for j, a in enumerate(asked))[:quorum_r]
        yield env.timeout(answered[-1][0] - start)
        seen = max((state(key, j, asked[j]) for _, j in answered), key=lambda v: v)
        if seen != stock[key]:
            counts["stale"] += 1
        if seen <= 0:
            counts["declined"] += 1
        else:
            yield env.timeout(w)
            yield env.timeout(wl)
            if stock[key] <= 0:
                counts["violations"] += 1
            stock[key] -= 1
            written(key)
        counts["operations"] += 1
        counts["latency_sum"] += env.now - arrival

    def restock(key: int) -> None:
        stock[key] += p.restock_amount
        written(key)

    env.process(_arrivals(env, p, s, operate))
    env.process(_restocks(env, p, s, restock))
    env.run(until=2 * p.horizon)
    return {**counts, "events": float(next(env._eid))}  # type: ignore[attr-defined]
