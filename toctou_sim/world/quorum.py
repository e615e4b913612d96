"""The delay streams of an N/R/W quorum store (the WARS model of PBS): a write's arrival times at
each replica, drawn a row at a time, per region when the replicas are placed in regions. The store
itself is the ``replica`` read path, :class:`toctou_sim.plugins.read_paths.replica.QuorumRead`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from toctou_sim.core.distributions import Distribution

__all__ = ["INF", "RegionalRowStream", "RowStream", "WriteRecord", "leg_stream"]

INF = math.inf


class WriteRecord:
    """One version on its way to the replicas: when it arrives at each, and when it committed."""

    __slots__ = ("arrivals", "commit", "done_at", "value", "version")

    def __init__(self, version: int, value: int, commit: float, arrivals: list[float],
                 done_at: float) -> None:
        self.version = version
        self.value = value
        self.commit = commit
        """When W acks were in (``inf`` for a read-repair message, which is not a write)."""
        self.arrivals = arrivals
        """Arrival time at each replica (``inf``: never sent there)."""
        self.done_at = done_at
        """After this instant the record changes nothing any more (its last arrival or its commit)."""


class RowStream:
    """Rows of ``width`` variates (one per replica) drawn in blocks: one call per message fan-out.

    Like :class:`~toctou_sim.core.distributions.VariateStream`, but a write or a read takes its N
    delays in one call, which matters because every operation fans out to N replicas.
    """

    __slots__ = ("_buffer", "_draw")

    def __init__(self, distribution: Distribution, rng: np.random.Generator, width: int,
                 block: int = 1024) -> None:
        self._draw: Callable[[], list[list[float]]] = (
            lambda: distribution.sample(rng, block * width).reshape(block, width)[::-1].tolist()
        )
        self._buffer: list[list[float]] = []

    def __call__(self) -> list[float]:
        """The next row."""
        buffer = self._buffer
        if not buffer:
            buffer = self._buffer = self._draw()
        return buffer.pop()


class RegionalRowStream:
    """Rows of per-replica variates for a store placed in regions: each region's replicas draw
    from that region's distribution of the leg, on the region's own stream
    (``<stream>.<region>``), and the rows are joined region by region."""

    __slots__ = ("_parts",)

    def __init__(self, parts: list[RowStream]) -> None:
        self._parts = parts

    def __call__(self) -> list[float]:
        """The next row (all replicas, region by region)."""
        row: list[float] = []
        for part in self._parts:
            row.extend(part())
        return row


def leg_stream(spec: Any, leg: str, streams: Any, name: str) -> RowStream | RegionalRowStream:
    """The row stream of one WARS ``leg`` of a replica read path (regional when it has regions)."""
    columns = spec.columns(leg)
    if not spec.regions:
        return RowStream(columns[0][1], streams.generator(name), spec.n)
    return RegionalRowStream([RowStream(dist, streams.generator(f"{name}.{region}"), count)
                              for region, dist, count in columns])
