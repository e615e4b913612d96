"""A behaviour fingerprint of every bundled model under its default strategies, held in
``tests/data/golden/models.json`` and checked by ``tests/models/test_golden_models.py``.

Each model runs ``compare`` over ``none`` and its own strategies (four seconds of simulated time,
two replications, seed 7); the fingerprint is the SHA-256 of the core metrics' estimates and
intervals printed with ``repr`` (every bit of every float), with the harm and violation rates kept
readable beside it. Metrics added later do not move it; a change of what the world does does.
A move of the code (issue 14's package layout, plugins, an observer hook) must leave every
fingerprint unchanged.

Recapture only for a deliberate change of the numbers, and say why in the commit::

    python tests/golden_models.py
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HELD = ROOT / "tests" / "data" / "golden" / "models.json"
SETTINGS = {"model.horizon": "4s", "model.warmup": "0.5s"}
REPS = 2
SEED = 7
CORE = ("operations", "harm_rate", "violation_rate", "mismatch_rate", "conflict_rate", "abort_rate",
        "declined_rate", "unfinished_rate", "latency_p50_ms", "latency_p99_ms", "error_rate")


def bundled() -> list[str]:
    return sorted(p.stem for p in (ROOT / "toctou_sim" / "models").glob("*.toml"))


def fingerprint(name: str) -> dict[str, Any]:
    from toctou_sim.experiment.montecarlo import compare
    from toctou_sim.spec.model import load_model

    model = load_model(ROOT / "toctou_sim" / "models" / f"{name}.toml", SETTINGS)
    frame = compare(model, model.default_strategies(), reps=REPS, seed=SEED, engine="des").to_frame()
    frame = frame[frame.metric.isin(CORE)].sort_values(["strategy", "metric"])
    text = "\n".join(f"{r.strategy}|{r.metric}|{r.estimate!r}|{r.ci_low!r}|{r.ci_high!r}"
                     for r in frame.itertuples())
    readable = {f"{r.strategy}|{r.metric}": r.estimate for r in frame.itertuples()
                if r.metric in ("harm_rate", "violation_rate")}
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "rates": readable}


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")  # durations past the short horizon: expected here
    sys.path.insert(0, str(ROOT))
    HELD.write_text(json.dumps({name: fingerprint(name) for name in bundled()}, sort_keys=True, indent=1) + "\n",
                    encoding="utf-8")
