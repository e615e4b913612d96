"""The ``toctou-sim models`` command: the bundled models, by name (or file)."""

from __future__ import annotations

import click

__all__ = ["models_command"]


@click.command("models")
@click.option("--paths", is_flag=True, help="Print each model's file instead of its name.")
def models_command(paths: bool) -> None:
    """List the bundled models (run one by name: toctou-sim run flash_sale)."""
    from toctou_sim.spec.bundled import bundled_models

    rows = [(str(m.path) if paths else m.name, m.description) for m in bundled_models()]
    width = max((len(name) for name, _ in rows), default=0)
    for name, description in rows:
        click.echo(f"{name:<{width}}  {description}")
