"""The ``toctou-sim init`` command: a commented starting model."""

from __future__ import annotations

from pathlib import Path

import click

from toctou_sim.spec.model import SpecError

__all__ = ["init_command"]


@click.command("init")
@click.argument("path", type=click.Path(path_type=Path), default="model.toml")
@click.option("--invariant", type=click.Choice(["exists", "counter", "grant", "version", "unchanged"]),
              default="version", show_default=True, help="What each check protects (see the model file's [keys]).")
@click.option("--read-path", type=click.Choice(["direct", "cache", "replica"]), default="direct",
              show_default=True, help="How the check reads state.")
@click.option("--name", default=None, help="The model's name (default: the file's stem).")
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def init_command(path: Path, invariant: str, read_path: str, name: str | None, force: bool) -> None:
    """Write a commented starting model to PATH (default model.toml); - prints it instead."""
    import tomllib

    from toctou_sim.spec.bundled import starting_model
    from toctou_sim.spec.model import parse_model

    text = starting_model(name=name or (path.stem if str(path) != "-" else "model"), invariant=invariant,
                          read_path=read_path, file_name=None if str(path) == "-" else str(path))
    parse_model(tomllib.loads(text), source="<init>")  # the template is ours: a failure here is a bug
    if str(path) == "-":
        click.echo(text, nl=False)
        return
    if path.exists() and not force:
        raise SpecError(f"{path}: already exists (choose another PATH, or --force to overwrite)")
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path} ({invariant} invariant, {read_path} read path); "
               f"run it with: toctou-sim run {path}")
