"""Numbers of a few bundled models' ``compare --json`` output, captured before finite services.

``test_capacity.py::test_models_without_capacity_give_the_same_json`` checks that models which
declare no capacity give exactly these numbers (the same bytes, modulo metrics added later): the
finite-service hooks must not draw a random number or move an event when nothing is finite.

The models are frozen copies in ``tests/data/golden/`` (the bundled files may change). Recapture
only for a deliberate change of the numbers::

    python tests/golden_json.py   # rewrites tests/data/golden/expected.json
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "data" / "golden"
MODELS = ("flash_sale", "f2_double_execution", "scenario1_pvc_controller", "quorum_stale_read")
SETTINGS = {"model.horizon": "2s", "model.warmup": "0.25s"}
REPS = 2
SEED = 3


def strategies(name: str) -> list[str]:
    """The model's own strategy and its named variants."""
    data = tomllib.loads((HERE / f"{name}.toml").read_text(encoding="utf-8"))
    own = data.get("strategy", {}).get("kind", "none")
    return list(dict.fromkeys([own, *data.get("strategies", {})]))


def capture(name: str) -> dict[str, Any]:
    """``compare --json`` rows of one frozen model, as ``{strategy|metric|baseline: [estimate,
    ci_low, ci_high, diff, model_hash]}`` (the fields a change of the engine would move)."""
    from toctou_sim.experiment.montecarlo import compare
    from toctou_sim.reporting.present import results_json
    from toctou_sim.spec.model import load_model

    model = load_model(HERE / f"{name}.toml", SETTINGS)
    result = compare(model, strategies(name), reps=REPS, seed=SEED)
    rows = json.loads(results_json(result.to_frame()))["results"]
    return {f"{row['strategy']}|{row['metric']}|{row['baseline']}":
            [row["estimate"], row["ci_low"], row["ci_high"], row.get("diff"), row["model_hash"]]
            for row in rows}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    expected = {name: capture(name) for name in MODELS}
    (HERE / "expected.json").write_text(json.dumps(expected, sort_keys=True, indent=0) + "\n", encoding="utf-8")
