"""The command line's layout: one module per command, the group assembled in ``cli/main.py``.

The shared helpers (argument parsers, option groups, notes) live below the commands in
``cli/args.py``, ``cli/options.py`` and ``cli/common.py``. No import anywhere in ``cli/``, not even
one inside a function (which the import-graph test does not see), goes from a command module to
``cli/main.py`` or from one command module to another: a command can be read, and moved, alone.
"""

from __future__ import annotations

import ast
from pathlib import Path

import click

import toctou_sim.cli
from toctou_sim.cli.main import COMMANDS, main

CLI_DIR = Path(toctou_sim.cli.__file__).resolve().parent
SHARED = {"args", "options", "common"}
"""The modules below the commands."""


def _every_import(path: Path) -> set[str]:
    """The ``toctou_sim.cli.*`` modules ``path`` imports anywhere in its body (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {n.removeprefix("toctou_sim.cli.").split(".")[0] for n in names
                  if n.startswith("toctou_sim.cli.") and (CLI_DIR / f"{n.removeprefix('toctou_sim.cli.')}.py").exists()}
    return found


def test_no_command_module_imports_main_or_another_command() -> None:
    modules = {p.stem: p for p in CLI_DIR.glob("*.py") if p.stem != "__init__"}
    commands = set(modules) - SHARED - {"main"}
    assert commands >= {"run", "compare", "sweep", "report"}
    for name in sorted(set(modules) - {"main"}):
        imported = _every_import(modules[name]) - {name}
        assert "main" not in imported, name
        assert imported <= SHARED, (name, imported - SHARED)
    assert not _every_import(modules["args"]) - {"args"}  # args is the bottom of cli/


def test_main_registers_every_command_module() -> None:
    """Every click command defined in a command module is in the group, under its own name."""
    defined = set()
    for path in CLI_DIR.glob("*.py"):
        if path.stem in SHARED | {"main", "__init__"}:
            continue
        module = __import__(f"toctou_sim.cli.{path.stem}", fromlist=["__all__"])
        defined |= {getattr(module, n) for n in module.__all__ if isinstance(getattr(module, n), click.Command)}
    assert defined == set(COMMANDS)
    assert {c.name for c in COMMANDS} == set(main.commands)
    assert set(main.commands) >= {"run", "compare", "models", "init", "schema", "validate", "sweep", "report",
                                  "trace", "staleness", "fit", "timeline", "headroom", "sensitivity", "explore"}
