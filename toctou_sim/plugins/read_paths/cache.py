"""The ``cache`` read path: a look-aside cache in front of the truth (the mechanics are
:class:`toctou_sim.world.caching.CacheRead`, which the ``eviction_storm`` fault also uses).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from toctou_sim.core.distributions import Constant, DistributionSpec, parse_distribution
from toctou_sim.spec.parts import ReadPathSpec, StrictModel
from toctou_sim.spec.read_paths import PositiveDistributionSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.spec.targets import CACHE, TargetKind
from toctou_sim.world.caching import CacheRead
from toctou_sim.world.engine import World

__all__ = ["PLUGIN", "CacheReadPath", "CacheSpec", "InvalidationSpec"]


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

    def targets(self) -> dict[str, TargetKind]:
        return {"cache": CACHE}
    on_miss: Literal["read_source", "assume_absent"] = "read_source"
    """What a miss does: read the truth and fill (correct), or take the miss itself as "absent"
    without reading the truth (the wrong fallback of guide failure mode F4)."""


class CacheReadPath(CacheRead):
    """The cache read path of a model with ``read_path.kind = "cache"``."""

    spec: CacheSpec

    def __init__(self, world: World, spec: CacheSpec) -> None:
        super().__init__(world, spec)


PLUGIN = Plugin(spec=CacheSpec, behaviour=CacheReadPath)
"""The kind ``cache``: its spec and its behaviour."""
