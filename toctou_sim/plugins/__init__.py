"""The built-in kinds: strategies, read paths, faults and background actors.

Each kind is one module (``toctou_sim/plugins/<family>/<kind>.py``) holding its typed spec (the
model-file table) and its behaviour (the world object), bound as one
:class:`~toctou_sim.spec.registry.Plugin` named ``PLUGIN``. :data:`BUILTIN_PLUGINS` lists them
all; the registry (:data:`toctou_sim.spec.registry.REGISTRY`) imports this package by name the
first time a kind is looked up, then adds the plug-ins of the ``toctou_sim.plugins`` entry-point
group. This layer sits between :mod:`toctou_sim.world` (the engine and the machinery kinds
share) and :mod:`toctou_sim.engines`.
"""

from __future__ import annotations

from toctou_sim.plugins import actors, faults, read_paths, strategies
from toctou_sim.spec.registry import Plugin

__all__ = ["BUILTIN_PLUGINS"]

BUILTIN_PLUGINS: tuple[Plugin, ...] = (
    *strategies.PLUGINS,
    *read_paths.PLUGINS,
    *faults.PLUGINS,
    *actors.PLUGINS,
)
"""Every built-in kind, once."""
