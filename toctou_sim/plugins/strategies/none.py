"""The ``none`` strategy: check, wait, use; nothing guards the use (the baseline)."""

from __future__ import annotations

from typing import Literal

from toctou_sim.spec.parts import StrategySpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.strategies import CheckWaitUse

__all__ = ["PLUGIN", "NoMitigation", "NoMitigationSpec"]


class NoMitigationSpec(StrategySpec):
    """Check, wait, use: nothing guards the use."""

    kind: Literal["none"] = "none"


class NoMitigation(CheckWaitUse):
    """Check, wait, use: the use takes effect whatever happened in the window."""

    spec: NoMitigationSpec


PLUGIN = Plugin(spec=NoMitigationSpec, behaviour=NoMitigation)
"""The kind ``none``: its spec and its behaviour."""
