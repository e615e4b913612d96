"""The ``toctou-sim staleness MODEL`` command: PBS staleness curves of a quorum-store model."""

from __future__ import annotations

import math
from pathlib import Path

import click

from toctou_sim.cli.args import MODEL, parse_sets
from toctou_sim.cli.options import SEED, safety_options
from toctou_sim.core.limits import MAX_REPS, check_out_file, echo
from toctou_sim.spec.model import SpecError

__all__ = ["staleness"]


def _durations(text: str | None) -> list[float] | None:
    from toctou_sim.core.units import parse_duration

    if text is None:
        return None
    try:
        return [parse_duration(item.strip()) for item in text.split(",") if item.strip()]
    except ValueError as exc:
        raise SpecError(f"--t: {exc}") from None


def _cell(estimate: float, low: float, high: float) -> str:
    if math.isnan(low):
        return f"{estimate:.4f}"
    return f"{estimate:.4f} [{low:.4f}, {high:.4f}]"


@click.command()
@click.argument("model", type=MODEL)
@click.option("--reps", type=click.IntRange(2, MAX_REPS), default=20, show_default=True,
              help="Replications (the CI is over them).")
@click.option("--trials", type=click.IntRange(100, 10**12), default=20_000, show_default=True,
              help="Write/read pairs per replication.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the run (>= 0).")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
              help="Override a model field (repeatable).")
@click.option("--t", "t_grid", default=None, metavar="T1,T2,...",
              help="Instants after commit, e.g. 0,1ms,5ms (default: 0 to beyond the 99.9% time, 21 points).")
@click.option("--k-max", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Largest k of <k,t>-staleness.")
@click.option("--write-gap", default="0", show_default=True, help="Time between the k writes (a duration).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Also write the tidy table (.csv/.parquet).")
@safety_options
def staleness(model: Path, reps: int, trials: int, seed: int, sets: tuple[str, ...], t_grid: str | None,
              k_max: int, write_gap: str, as_json: bool, out: Path | None, max_ops: float | None,
              max_memory: float | None, data_dirs: tuple[Path, ...]) -> None:
    """PBS staleness of MODEL's quorum store: t-visibility with CIs, time to 99%/99.9%, k-staleness."""
    from toctou_sim.analytic import closed_forms as analytic
    from toctou_sim.core.units import parse_duration
    from toctou_sim.experiment.staleness import staleness as run_staleness
    from toctou_sim.reporting.present import results_json, write_table
    from toctou_sim.spec.model import load_model

    check_out_file(out, "--out", (".csv", ".parquet"))
    spec = load_model(model, parse_sets(sets), data_dirs=data_dirs)
    try:
        gap = parse_duration(write_gap)
    except ValueError as exc:
        raise SpecError(f"--write-gap: {exc}") from None
    result = run_staleness(spec, t_grid=_durations(t_grid), reps=reps, trials=trials, seed=seed, k_max=k_max,
                           write_gap=gap, max_ops=max_ops, max_memory=max_memory)
    frame = result.to_frame()
    if out is not None:
        write_table(frame, out)
    if as_json:
        echo(results_json(frame))
        return
    replica = spec.read_path
    n, r, w = replica.n, replica.r, replica.w  # type: ignore[attr-defined]
    echo(f"{spec.model.name}: N={n} R={r} W={w}, {reps} replications x {trials} trials, seed {seed} "
               f"(95% CI over replications)")
    echo("t-visibility: P(a read started t after a write commits returns it or newer)")
    curve = result.curve
    lines = []
    for t_ms in dict.fromkeys(curve["t_ms"]):
        rows = curve[curve["t_ms"] == t_ms]
        first = rows[rows["k"] == 1].iloc[0]
        line = f"  t={t_ms:9.4g} ms  {_cell(first.estimate, first.ci_low, first.ci_high)}"
        if not math.isnan(float(first.theory)):
            line += f"  theory {first.theory:.4f}"
        for row in rows[rows["k"] > 1].itertuples():
            line += f"  k={row.k}: {row.estimate:.4f}"
        lines.append(line)
    echo("\n".join(lines))
    for row in result.times.to_dict(orient="records"):
        theory = "" if math.isnan(float(row["theory"])) else f"  theory {row['theory']:.4g} ms"
        echo(f"time to {row['target']:.1%} consistent reads: {row['estimate']:.4g} ms "
                   f"[{row['ci_low']:.4g}, {row['ci_high']:.4g}]{theory}")
    k_line = ", ".join(f"k={k}: {analytic.pbs_k_staleness(n, r, w, k):.4f}" for k in range(1, k_max + 1))
    echo(f"k-staleness without timing (PBS Eq. 2, 1 - p_s^k): {k_line}")
    if out is not None:
        echo(f"wrote {out}")
