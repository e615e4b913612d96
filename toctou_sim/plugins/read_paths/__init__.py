"""Read paths: one module per kind, holding its spec and its behaviour."""

from __future__ import annotations

from toctou_sim.plugins.read_paths import (
    cache,
    direct,
    replica,
)

__all__ = ["PLUGINS"]

PLUGINS = (
    direct.PLUGIN,
    cache.PLUGIN,
    replica.PLUGIN,
)
"""The built-in kinds of this family."""
