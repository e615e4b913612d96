"""What faults aimed at a read path share: a fault's position among the model's faults, and the
check that the model's read path is the kind a fault needs (the read paths themselves are plugins:
:mod:`toctou_sim.plugins.read_paths`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toctou_sim.spec.model import SpecError
from toctou_sim.world.engine import ReadPath

if TYPE_CHECKING:
    from toctou_sim.world.engine import World

__all__ = ["fault_index", "require_read_path"]


def fault_index(world: World, spec: Any) -> int:
    """The position of ``spec`` among the model's faults (names its random streams uniquely)."""
    return next(i for i, fault in enumerate(world.spec.faults) if fault is spec)


def require_read_path(world: World, spec: Any, cls: type[ReadPath], kind: str) -> Any:
    """The world's read path if it is a ``cls``; otherwise bad input (exit 2)."""
    if not isinstance(world.read_path, cls):
        source = world.spec.source or "model"
        index = fault_index(world, spec)
        raise SpecError(f"{source}: faults.{index}.kind: {spec.kind!r} needs read_path.kind = {kind!r}, "
                        f"got {world.spec.read_path.kind!r}")
    return world.read_path


