"""What several commands share beyond their options: the ``--out`` check,
the notes printed under a table (engine, stopping rule, retries), the table itself (and importing
its modules while worker processes run), and the library's parameter names in an error message
shown as this command line's flags.

A layer below the command modules: nothing here imports a command or :mod:`toctou_sim.cli.main`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toctou_sim.core.limits import check_out_file, echo

__all__ = [
    "FLAGS",
    "FRAME_MODULES",
    "TABLE_MODULES",
    "check_out",
    "emit",
    "engine_line",
    "flag_names",
    "import_table_modules_meanwhile",
    "results_engine_note",
    "retry_note",
    "stop_note",
]


FLAGS = {name: "--" + name.replace("_", "-") for name in (
    "seed", "reps", "max_reps", "precision", "metric", "strategies", "baseline", "batch", "workers", "max_ops",
    "max_memory", "confidence", "trials", "k_max", "scheduler", "dask_local", "grid", "lhs", "resume", "out",
    "engine", "estimator", "write_gap", "ops", "keys", "mutations", "values", "quantity", "unit", "column",
    "invariant", "read_path")}
FLAGS.update(ranges="--range", t_grid="--t", names="--oracle", overrides="--set", params="--param")
"""A library parameter and the flag that sets it, where the two differ in more than ``--``.

The library names its parameters in its errors (``reps: must be an integer >= 1``, ``scheduler
tcp://x:1: cannot reach ...``, ``grid and ranges: rate is given twice``); :func:`flag_names`
shows the command line's flags instead."""

PHRASES = {
    "pass max_ops": "pass --max-ops",
    "pass max_memory": "pass --max-memory",
    "give lhs,": "give --lhs N,",
    "sample as ranges": "sample with --range PATH=LOW:HIGH",
    "needs out,": "needs --out,",
    "pass resume=True": "add --resume",
    "another folder for out": "another --out",
    "give grid values, or lhs points over ranges": "give --grid PATH=V1,V2, or --lhs N --range PATH=LOW:HIGH",
    'engine="fast" or "auto"': "--engine fast or auto",
    'engine="des" or "auto"': "--engine des or auto",
    ": estimator episodes:": ": --estimator episodes:",
    ": overrides ": ": --set ",
    "give the column as column": "give the column with --column",
    "give one as column": "give one with --column",
    "allow its folder (data_dirs)": "allow its folder (--data-dir)",
}
"""Parameters named inside a library message (not at its start), as the command line says them."""


def flag_names(message: str) -> str:
    """A library error as this command line says it: the parameters the message starts with
    (``reps: ...``, ``scheduler ADDRESS: ...``, ``grid and ranges: ...``) and the phrases of
    :data:`PHRASES` become flags; anything else (a file name, a field path) is left alone."""
    for phrase, flag in PHRASES.items():
        message = message.replace(phrase, flag)
    subject, colon, rest = message.partition(":")
    if not colon:
        return message
    parts = []
    for part in subject.split(" and "):
        word, space, tail = part.partition(" ")
        parts.append(FLAGS.get(word, word) + space + tail)
    return " and ".join(parts) + colon + rest


def engine_line(engines: dict[str, tuple[str, str]], engine: str) -> str:
    """``engine: none=fast, lock=des (why)``: which engine runs each strategy, and (unless
    ``--engine des`` was asked for) why a strategy runs on the DES engine."""
    parts = [f"{name}={chosen}" + (f" ({why})" if chosen == "des" and engine != "des" else "")
             for name, (chosen, why) in engines.items()]
    return "engine: " + ", ".join(parts)


def results_engine_note(results: dict[str, Any], engine: str) -> str:
    """:func:`engine_line` for the results of ``run`` and ``compare`` (none with ``--engine des``)."""
    if engine == "des":
        return ""
    return engine_line({label: (r.engine, r.engine_reason) for label, r in results.items()}, engine)


def check_out(out: Path | None) -> None:
    """Refuse an ``--out`` file we cannot write (wrong suffix, missing or unwritable folder, a
    folder) before any simulation runs."""
    check_out_file(out, "--out", (".csv", ".parquet"))


def emit(result: Any, *, as_json: bool, out: Path | None, all_metrics: bool, header: str, footer: str) -> None:
    """Print a result's table (or its JSON), with a header and notes, and write its tidy frame to
    ``--out``. Without ``--out`` the table and the JSON come from the result's rows (``to_rows()``),
    the same bytes as from its frame, and pandas is not imported."""
    from toctou_sim.reporting.present import comparison_table, results_json, shown_metrics, write_table

    tidy = result.to_frame() if out is not None else result.to_rows()
    if out is not None:
        write_table(tidy, out)
    if as_json:
        echo(results_json(tidy))
        return
    echo(header)
    echo(comparison_table(tidy, None if all_metrics else shown_metrics(tidy)))
    if footer:
        echo(footer)
    if out is not None:
        echo(f"wrote {out}")


TABLE_MODULES = ("toctou_sim.reporting.present",)
"""What printing a results table or its JSON imports (:func:`emit`, from the result's rows)."""

FRAME_MODULES = ("pandas",)
"""What writing ``--out`` adds (:func:`emit` builds the tidy frame then): 0.3-0.5 s of CPU."""


def import_table_modules_meanwhile(executor: Any, frame: bool = False) -> bool:
    """Import :data:`TABLE_MODULES` (and with ``frame``, :data:`FRAME_MODULES`) on a thread of this
    process while ``executor``'s worker processes run the replications (the parent only waits for
    them then), instead of after the results are in; nothing when the replications run in this
    process.

    The thread starts once the workers exist (:func:`~toctou_sim.experiment.executors.when_workers_started`),
    so no worker inherits it; an import that fails there fails again, visibly, where the table
    needs it. On two idle cores this takes about half the import off the command's wall time.
    Without ``frame`` (the table, the JSON) it imports little: the rows need no pandas.
    Returns whether the thread (named ``toctou-sim table imports``) is started or will be."""
    import threading

    from toctou_sim.experiment.executors import when_workers_started

    def quietly() -> None:
        import importlib

        for name in TABLE_MODULES + (FRAME_MODULES if frame else ()):
            try:
                importlib.import_module(name)
            except Exception:  # the table's own import reports it
                return

    def start() -> None:
        threading.Thread(target=quietly, name="toctou-sim table imports").start()

    return when_workers_started(executor, start)


def retry_note(models: dict[str, Any]) -> str:
    """One line saying how each strategy that retries retries, so a comparison shows its terms."""
    from toctou_sim.core.units import format_duration

    parts = []
    for name, model in models.items():
        retry = getattr(model.strategy, "retry", None)
        if retry is None:
            continue
        guard = model.strategy.write_guard()
        parts.append(f"{name} {retry.max_retries}x from {format_duration(retry.backoff)} ({retry.jitter} jitter)"
                     + (f", {guard} guard" if guard != "none" else ""))
    return "retries: " + "; ".join(parts) if parts else ""


def stop_note(stopped_by: str, precision: float | None, metric: str) -> str:
    """Why a ``--precision`` run stopped (nothing without ``--precision``)."""
    if precision is None:
        return ""
    if stopped_by == "precision":
        return f"stopped: {metric} reached ±{precision:.0%} relative half-width"
    return f"stopped: --max-reps reached before {metric} got to ±{precision:.0%} (add replications or accept it)"
