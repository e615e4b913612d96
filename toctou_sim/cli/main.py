"""The ``toctou-sim`` command line: the group that assembles the commands, nothing else.

Each command lives in its own module (``run``, ``compare``, ``models``, ``init``, ``schema``,
``validate``, ``staleness``, ``sweep``, ``fit``, ``explore``; ``report`` with ``trace``;
``timeline``, ``headroom`` and ``sensitivity`` together); what they share lives below them in
:mod:`~toctou_sim.cli.args`, :mod:`~toctou_sim.cli.options` and :mod:`~toctou_sim.cli.common`.
No command module imports this one.

Exit codes: 0 ok; 2 bad input (one line on stderr naming the file, the field and what was
expected); 1 an internal error (a bug: the traceback is shown).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from toctou_sim.cli.capacity import headroom_command, sensitivity_command, timeline_command
from toctou_sim.cli.common import flag_names
from toctou_sim.cli.compare import compare_command
from toctou_sim.cli.explore import explore_command
from toctou_sim.cli.fit import fit_command
from toctou_sim.cli.init import init_command
from toctou_sim.cli.models import models_command
from toctou_sim.cli.report import report_command, trace_command
from toctou_sim.cli.run import run_command
from toctou_sim.cli.schema import schema_command
from toctou_sim.cli.staleness import staleness
from toctou_sim.cli.sweep import sweep
from toctou_sim.cli.validate import validate_command
from toctou_sim.core.limits import terminal_text
from toctou_sim.spec.model import SpecError

__all__ = ["entry", "main"]


class _Group(click.Group):
    """Turns :class:`SpecError` (bad input) and click's usage errors (a bad option value) into
    exit code 2 and one line on stderr."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpecError as exc:
            click.echo(f"error: {flag_names(terminal_text(str(exc)))}", err=True)
            ctx.exit(2)
        except click.UsageError as exc:
            command = f" {exc.ctx.command_path}" if exc.ctx is not None else ""
            message = " ".join(terminal_text(exc.format_message()).split())
            click.echo(f"error: {message} (see{command} -h)", err=True)
            ctx.exit(2)


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM: stop this process's worker processes now (wherever the main thread is, even
    while a pool is starting), then unwind as Ctrl-C does."""
    import multiprocessing

    global _TERMINATED
    _TERMINATED = True
    for child in multiprocessing.active_children():
        child.terminate()
    raise KeyboardInterrupt


_TERMINATED = False
"""Set when SIGTERM arrived: :func:`entry` then skips the interpreter's final clean-up."""


def entry() -> None:
    """The ``toctou-sim`` program: :func:`main`, and after an interrupt (SIGTERM, or exit code 130)
    an immediate exit once the output is flushed: the workers are already stopped and the
    sweep's files written, and the interpreter's final garbage collection of a large heap can
    take seconds."""
    import os

    try:
        main()
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    if _TERMINATED or code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 1)
    _skip_final_collection()
    sys.exit(code)


def _skip_final_collection() -> None:
    """Leave the objects alive now out of the interpreter's final garbage collection: the process
    ends, the system frees its memory at once. With the fast engine's kernel loaded, that
    collection finalizes numba's and llvmlite's objects one by one: 0.6-0.7 s of CPU after the
    output is printed (0.2 s with the package alone; measured, ``benchmarks/startup.py``). Exit
    handlers still run (``atexit``: pools, temporary folders, logging) and so does the normal
    shutdown; only objects kept alive by reference cycles are not finalized, which Python does not
    promise at exit either (every file the commands write is closed before they return)."""
    import gc

    gc.freeze()


def _on_sigterm(ctx: click.Context) -> None:
    """Make SIGTERM behave like SIGINT (KeyboardInterrupt: workers stopped, sweep parts kept)
    while a command runs; the previous handler is restored afterwards."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="toctou-sim")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Simulate time-of-check-to-time-of-use windows and what mitigations cost."""
    _on_sigterm(ctx)
    import warnings

    from toctou_sim.spec.sanity import ModelWarning

    shown = warnings.showwarning

    def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        if issubclass(category, ModelWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            shown(message, category, *args, **kwargs)

    warnings.showwarning = show


COMMANDS = (run_command, compare_command, models_command, init_command, schema_command, validate_command,
            staleness, sweep, report_command, trace_command, fit_command, timeline_command, headroom_command,
            sensitivity_command, explore_command)
"""Every command of the group, in the order ``toctou-sim -h`` lists them (alphabetically)."""

for _command in COMMANDS:
    main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    entry()
