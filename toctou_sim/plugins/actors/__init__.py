"""Background actors: one module per kind, holding its spec and its behaviour."""

from __future__ import annotations

from toctou_sim.plugins.actors import (
    event_stream,
    policy_changer,
    schema_changer,
)

__all__ = ["PLUGINS"]

PLUGINS = (
    policy_changer.PLUGIN,
    schema_changer.PLUGIN,
    event_stream.PLUGIN,
)
"""The built-in kinds of this family."""
