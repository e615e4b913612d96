"""Model files: the typed, validated description of an architecture (no simulation here).

:mod:`toctou_sim.spec.model` holds the model file as a whole; :mod:`~toctou_sim.spec.parts` the
pluggable parts kinds build on; the other modules the schema of one family of parts each.
The public names are re-exported here: ``from toctou_sim.spec import load_model, ModelSpec``.
"""

from __future__ import annotations

from toctou_sim.spec.model import *  # noqa: F403  (the public names of the model file)
from toctou_sim.spec.model import __all__ as __all__
