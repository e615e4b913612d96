"""Faults: one module per kind, holding its spec and its behaviour."""

from __future__ import annotations

from toctou_sim.plugins.faults import (
    clock_skew,
    crash,
    eviction_storm,
    latency_spike,
    partition,
    pause,
    replica_lag_spike,
    replica_partition,
    throttle,
)

__all__ = ["PLUGINS"]

PLUGINS = (
    pause.PLUGIN,
    crash.PLUGIN,
    latency_spike.PLUGIN,
    clock_skew.PLUGIN,
    throttle.PLUGIN,
    partition.PLUGIN,
    eviction_storm.PLUGIN,
    replica_lag_spike.PLUGIN,
    replica_partition.PLUGIN,
)
"""The built-in kinds of this family."""
