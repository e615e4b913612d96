"""``toctou-sim fit``: read telemetry, fit the duration families, print the fits and the TOML."""

from __future__ import annotations

from pathlib import Path

import click

from toctou_sim.cli.args import files_backend

__all__ = ["fit_command"]

_DEFAULT_FIELD = {"window": "clients.window", "read": "store.read_latency", "write": "store.write_latency"}


@click.command("fit")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--column", default=None,
              help="CSV column, or Prometheus histogram name (default: the only one in the file).")
@click.option("--unit", default=None, type=click.Choice(["ns", "us", "ms", "s"]),
              help="Unit of CSV values (default: from a _ms/_us/_s column suffix, else seconds).")
@click.option("--quantity", default="window", show_default=True, type=click.Choice(["window", "read", "write"]),
              help="OpenTelemetry spans: the check → use window, or the store read / write span durations.")
@click.option("--check-span", default="check", show_default=True, help="Name of the check span.")
@click.option("--use-span", default="use", show_default=True, help="Name of the use span.")
@click.option("--read-span", default="store.read", show_default=True, help="Name of a store read span.")
@click.option("--write-span", default="store.write", show_default=True, help="Name of a store write span.")
@click.option("--field", "field_path", default=None,
              help="Model field the TOML is for (default: clients.window, store.read_latency or "
                   "store.write_latency by --quantity).")
@click.option("--plot", type=click.Path(path_type=Path), default=Path("fit.png"), show_default=True,
              help="The CDF and QQ chart (.png, and .svg next to it).")
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap intervals.")
def fit_command(data: Path, column: str | None, unit: str | None, quantity: str, check_span: str, use_span: str,
                read_span: str, write_span: str, field_path: str | None, plot: Path, seed: int) -> None:
    """Fit DATA's durations (a CSV column, a Prometheus histogram or OpenTelemetry JSON spans) with
    every supported family by maximum likelihood; print the goodness of fit and the TOML to paste."""
    from toctou_sim.validation.calibrate import fit_all, read_telemetry

    telemetry = read_telemetry(data, column=column, unit=unit, quantity=quantity, check_span=check_span,
                               use_span=use_span, read_span=read_span, write_span=write_span)
    fits = fit_all(telemetry, seed=seed)
    kind = "samples" if telemetry.samples is not None else "histogram buckets"
    click.echo(f"{data}: {telemetry.name}, {telemetry.size} durations ({kind}); best fit first (lowest AIC)")
    gof = "KS distance (p-value)" if telemetry.samples is not None else "largest CDF gap at a bucket bound"
    click.echo(f"{'family':<12} {'AIC':>10}  {gof:<24} parameters [95% bootstrap interval: best fit]")
    for fitted in fits:
        fit_text = f"{fitted.ks:.3f}" + (f" (p={fitted.ks_p:.2g})" if fitted.ks_p is not None else "")
        click.echo(f"{fitted.family:<12} {fitted.aic:>10.1f}  {fit_text:<24} {fitted.describe()}")
    files_backend()
    from toctou_sim.reporting import plots

    paths = plots.save(plots.plot_fit(telemetry, fits), plot.with_suffix(""), close=True)
    click.echo(f"wrote {paths[0]} and {paths[1]} (CDF and QQ plot)")
    best = fits[0]
    target = field_path or _DEFAULT_FIELD[quantity]
    click.echo(f"\n# paste into the model ({best.family}, the best fit):\n{best.toml(target)}")
