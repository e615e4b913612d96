"""Profile the DES engine with py-spy and print where the time goes, by function.

    pip install py-spy            # a tool for this script only, not a dependency of toctou-sim
    python benchmarks/profile_engine.py [--strategy none|cas|lock] [--ops 200000]

Runs one replication of the flash-sale model under ``py-spy record --format raw`` and prints the
functions with the largest share of samples taken inside ``Environment.run`` (self time, and
inclusive time).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGET = """
from toctou_sim import load_model
from toctou_sim.core.distributions import RandomStreams
from toctou_sim.world import World
model = load_model({model!r}, {{"model.horizon": {horizon}, "model.warmup": 0}}).with_strategy({strategy!r})
World(model, RandomStreams(1, 0)).run()
"""


def summarise(raw: Path, top: int) -> None:
    """Self and inclusive share of samples per function, inside the event loop."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)", ")", frame) for frame in stack.split(";")]
        if not any("Environment.run" in frame for frame in frames):
            continue
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"{total} samples inside Environment.run")
    for frame, n in own.most_common(top):
        print(f"{100 * n / total:5.1f}% self  {100 * inclusive[frame] / total:5.1f}% incl  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategy", default="none")
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    code = TARGET.format(model=str(ROOT / "models" / "flash_sale.toml"), horizon=args.ops / 500.0,
                         strategy=args.strategy)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "profile.txt"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run(["py-spy", "record", "--format", "raw", "--rate", "500", "--output", str(raw), "--",
                        sys.executable, "-c", code], check=True, env=env, capture_output=True)
        summarise(raw, args.top)


if __name__ == "__main__":
    main()
