"""The ``cache`` read path: a TTL/LRU look-aside cache in front of the source of truth; its
mechanics (:class:`CacheRead`) are also what the ``eviction_storm`` fault flushes.

A check that hits the cache sees the value the cache stored when the entry was filled; the
truth may have moved on since (a write whose invalidation has not arrived, or a write the cache
never hears about with TTL-only coherence). Such a check is a *stale read*; when the stale value
leads the check to a different decision than the truth would have (stock 1 cached, 0 in the
database), it is a *cache validation mismatch* (guide metric M7). Both are counted here, apart
from the mismatches that writes during the window cause (the engine's ``mismatch_window_rate``).
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from typing import Literal

import simpy
from pydantic import Field

from toctou_sim.core.distributions import Constant, DistributionSpec, parse_distribution
from toctou_sim.measure.metrics import Histogram
from toctou_sim.spec.parts import ReadPathSpec, StrictModel
from toctou_sim.spec.read_paths import PositiveDistributionSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.engine import Flow, Operation, ReadPath, World
from toctou_sim.world.invariants import Exists

__all__ = ["PLUGIN", "CacheRead", "CacheSpec", "InvalidationSpec"]


class InvalidationSpec(StrictModel):
    """How long after a write to the truth the cache entry of the key is dropped (the time the
    invalidation message takes: a CDC pipeline, a pub/sub hop). ``delay = 0`` drops it at once."""

    delay: DistributionSpec = parse_distribution(0.0)


class CacheSpec(ReadPathSpec):
    """A look-aside cache in front of the source of truth.

    A check first asks the cache (``read_latency``). A hit that has not expired answers with the
    cached ``(version, value)``, which may be stale. A miss (absent or expired entry) reads the
    truth with the store's read latency and fills the entry, which lives ``ttl`` seconds (a fixed
    duration, or a distribution for jittered TTLs) unless the write policy or LRU eviction drops it
    earlier.

    Write policies (what a write to the truth does to the cache):

    - ``invalidate``: the entry is dropped ``invalidation.delay`` after the write.
    - ``write_through``: the writer also sets the entry to the new value at once (fresh TTL).
    - ``none``: nothing; the entry is only ever refreshed by expiry (TTL-only coherence).
    """

    kind: Literal["cache"] = "cache"
    ttl: PositiveDistributionSpec = Constant(value=60.0)
    """Entry lifetime: seconds, a duration string, or a distribution (jitter). Must be > 0."""
    capacity: int | None = Field(default=None, ge=1)
    """Entries held at most; the least recently used one is evicted to make room. None = unbounded."""
    write_policy: Literal["invalidate", "write_through", "none"] = "invalidate"
    invalidation: InvalidationSpec = InvalidationSpec()
    """Used when ``write_policy = "invalidate"``."""
    negative_caching: bool = True
    """Cache answers that the key is absent (value 0 under the ``exists`` invariant). With false,
    an absent answer is never stored, so every check of an absent key reads the truth."""
    read_latency: DistributionSpec = parse_distribution(0.0)
    """Time a cache lookup takes (hit or miss); a miss adds the store's read latency."""
    fill_delay: DistributionSpec = parse_distribution(0.0)
    """Time from a miss reading the truth to the entry being stored (the reader's ``set``). An
    invalidation that lands in between is lost and the value read earlier is stored anyway: the
    stale-set race of look-aside caches. The check itself answers at once with the truth."""
    on_miss: Literal["read_source", "assume_absent"] = "read_source"
    """What a miss does: read the truth and fill (correct), or take the miss itself as "absent"
    without reading the truth (the wrong fallback of guide failure mode F4)."""


# Entry fields (a list per cached key): version, value, when the value was read from the truth,
# when the entry expires.
_VERSION, _VALUE, _FILLED, _EXPIRES = 0, 1, 2, 3


class CacheRead(ReadPath):
    """Look-aside cache with TTL expiry, LRU capacity and a write policy
    (see :class:`~toctou_sim.plugins.read_paths.cache.CacheSpec`).

    Attributes:
        entries: cached keys in LRU order (least recently used first), each
            ``[version, value, filled_at, expires_at]``.
    """

    spec: CacheSpec

    def __init__(self, world: World, spec: CacheSpec) -> None:
        super().__init__(world, spec)
        self.entries: OrderedDict[int, list[float]] = OrderedDict()
        self._ttl = world.streams.variates("cache.ttl", spec.ttl)
        self._lookup = world.streams.variates("cache.read_latency", spec.read_latency)
        self._invalidation = world.streams.variates("cache.invalidation_delay", spec.invalidation.delay)
        self._fill_delay = world.streams.variates("cache.fill_delay", spec.fill_delay)
        self._capacity: int | None = spec.capacity
        absence_exists = isinstance(world.invariant, Exists)
        self._cache_absent: bool = spec.negative_caching or not absence_exists
        self._assume_absent: bool = spec.on_miss == "assume_absent"
        self._policy: str = spec.write_policy
        self._warmup = world.spec.model.warmup
        self.reads = 0
        self.hits = 0
        self.stale_hits = 0
        self.validation_mismatches = 0
        self.evictions = 0
        self.invalidations = 0
        self.flushes = 0
        self.age = Histogram()
        """Age (now - filled) of the entry each counted hit returned."""

    # ------------------------------------------------------------------ the check's read

    def observe(self, op: Operation, latency: float) -> Flow:
        return self.lookup(op.key, latency, op.counted)

    def read(self, key: int, latency: float) -> Flow:
        return self.lookup(key, latency, self.world.env.now >= self._warmup)

    def lookup(self, key: int, latency: float, counted: bool) -> Flow:
        """Look the key up; on a hit answer from the entry, on a miss read the truth and fill.
        ``counted`` says whether the read enters the metrics (the operation is past warm-up)."""
        world = self.world
        env = world.env
        lookup = self._lookup()
        if lookup > 0:
            yield env.timeout(lookup)
        entries = self.entries
        entry = entries.get(key)
        now = env.now
        hit = entry is not None and entry[_EXPIRES] > now
        if hit:
            assert entry is not None
            entries.move_to_end(key)
            version, value = int(entry[_VERSION]), int(entry[_VALUE])
        else:
            if entry is not None:
                del entries[key]
            if self._assume_absent:
                # The wrong fallback: a miss is taken as "absent" without asking the truth.
                version, value = -1, 0
            else:
                if latency > 0:
                    yield env.timeout(latency)
                    now = env.now
                store = world.store
                version, value = store.version[key], store.value[key]
                if self._cache_absent or value != 0:
                    delay = self._fill_delay()
                    if delay > 0:
                        # The set reaches the cache later: an invalidation in between is lost,
                        # and the value stored is the one read now (the stale-set race).
                        late = partial(self._late_fill, key, version, value, now)
                        env.timeout(delay).callbacks.append(late)
                    else:
                        self._fill(key, version, value, now, now)
        if counted:
            self._count(key, version, value, entry if hit else None, now)
        return version, value

    def _count(self, key: int, version: int, value: int, entry: list[float] | None, now: float) -> None:
        store = self.world.store
        self.reads += 1
        if entry is not None:
            self.hits += 1
            self.age.add(now - entry[_FILLED])
        truth_version = store.version[key]
        if version != truth_version:
            if entry is not None:
                self.stale_hits += 1
            holds = self.world.invariant.holds
            if holds(value, version, version) != holds(store.value[key], truth_version, version):
                self.validation_mismatches += 1

    # ------------------------------------------------------------------ coherence

    def _fill(self, key: int, version: int, value: int, read_at: float, now: float) -> None:
        entries = self.entries
        entries[key] = [version, value, read_at, now + self._ttl()]
        entries.move_to_end(key)
        capacity = self._capacity
        if capacity is not None and len(entries) > capacity:
            entries.popitem(last=False)
            self.evictions += 1

    def on_write(self, key: int) -> None:
        """Apply the write policy after the truth of ``key`` changed."""
        policy = self._policy
        if policy == "invalidate":
            delay = self._invalidation()
            if delay > 0:
                self.world.env.timeout(delay).callbacks.append(partial(self._invalidate, key))
            else:
                self._invalidate(key)
        elif policy == "write_through":
            store = self.world.store
            value = store.value[key]
            if self._cache_absent or value != 0:
                now = self.world.env.now
                self._fill(key, store.version[key], value, now, now)
            elif key in self.entries:
                del self.entries[key]

    def _late_fill(self, key: int, version: int, value: int, read_at: float, _event: simpy.Event) -> None:
        self._fill(key, version, value, read_at, self.world.env.now)

    def _invalidate(self, key: int, _event: simpy.Event | None = None) -> None:
        if self.entries.pop(key, None) is not None:
            self.invalidations += 1

    def flush(self) -> None:
        """Drop every entry (a restart or an eviction storm)."""
        self.entries.clear()
        self.flushes += 1

    def metrics(self) -> dict[str, float]:
        reads = self.reads
        nan = float("nan")
        metrics = {
            "cache_reads": float(reads),
            "cache_hit_rate": self.hits / reads if reads else nan,
            "cache_stale_read_rate": self.stale_hits / reads if reads else nan,
            "cache_stale_hit_fraction": self.stale_hits / self.hits if self.hits else nan,
            "cache_validation_mismatch_rate": self.validation_mismatches / reads if reads else nan,
            "cache_evictions": float(self.evictions),
            "cache_invalidations": float(self.invalidations),
            "cache_flushes": float(self.flushes),
        }
        if self.hits:
            metrics["cache_hit_age_mean_ms"] = self.age.mean * 1e3
            metrics["cache_hit_age_p99_ms"] = self.age.quantile(0.99) * 1e3
        return metrics



PLUGIN = Plugin(spec=CacheSpec, behaviour=CacheRead)
"""The kind ``cache``: its spec and its behaviour."""
