"""The ``toctou-sim schema`` command: the JSON Schema of a model file."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["schema_command"]


@click.command("schema")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write to this file instead of stdout.")
def schema_command(out: Path | None) -> None:
    """Print the JSON Schema of a model file (for editor completion, e.g. with Taplo or Even Better TOML)."""
    import json

    from toctou_sim.spec.schema import model_file_schema

    text = json.dumps(model_file_schema(), indent=2, sort_keys=True) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")
