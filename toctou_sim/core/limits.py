"""Limits that keep any input from crashing the simulator or running away with the machine.

Everything here runs before a simulation starts (and before any process is forked):

- :func:`check_data`: the shape of raw model data (a parsed TOML file, ``--set`` values, sweep
  values): nesting at most :data:`MAX_DEPTH` deep, integers within ``±2**53`` (past that a count
  is meaningless and numpy's 64-bit integers overflow), strings at most :data:`MAX_STRING` long.
  Non-finite numbers are refused field by field by the spec's types
  (:class:`toctou_sim.core.units.DataModel`).
- :class:`RunEstimate`: operations, events and memory a run will need (a model's is estimated by
  :func:`toctou_sim.spec.size.estimate_run`, one layer up); :func:`check_budget` refuses a run
  past ``max_ops`` or ``max_memory`` with the estimate in the message.
- :func:`check_seed`, :func:`check_out_file`, :func:`check_out_folder`, :func:`worker_count`:
  argument checks shared by the library and the command line.
- :func:`terminal_text` and :func:`csv_cell`: model text on its way to a terminal or a CSV file.

Library errors name the API argument (``max_ops``); the command line maps them to its flags.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toctou_sim.core.errors import SpecError

__all__ = [
    "DEFAULT_MAX_OPS",
    "MAX_CONFIGURATIONS",
    "MAX_DEPTH",
    "MAX_INT",
    "MAX_REPS",
    "MAX_STRING",
    "NOMINAL_OPS_PER_S",
    "RunEstimate",
    "check_budget",
    "check_data",
    "check_out_file",
    "check_out_folder",
    "check_seed",
    "csv_cell",
    "default_max_memory",
    "format_bytes",
    "terminal_text",
    "worker_count",
]

MAX_DEPTH = 24
"""Deepest nesting of tables and lists accepted in model data (the bundled models use 5)."""
MAX_INT = 2**53
"""Largest magnitude of an integer in model data (exact as a float; far below numpy's 2**63)."""
MAX_STRING = 10_000
"""Longest string accepted in model data (descriptions included)."""
MAX_SEED = 2**128 - 1
"""Largest seed (numpy's SeedSequence takes any non-negative integer; 128 bits is plenty)."""
DEFAULT_MAX_OPS = 1e9
"""Default operation budget of one command (``max_ops``): about 3 CPU-hours at the nominal speed."""
NOMINAL_OPS_PER_S = 100_000.0
"""Operations per second of one core used for the time estimate (benchmarks/results_full.json:
66k-127k on the reference machine, depending on the strategy)."""
MAX_REPS = 10_000_000
"""Most replications (``reps``, ``max_reps``) one run may ask for."""
MAX_CONFIGURATIONS = 100_000
"""Most configurations in one sweep (grid points x Latin hypercube points)."""
MAX_WORKERS = 1024
"""Most worker processes asked for explicitly (more is refused, not silently capped)."""
CLOCK_RESOLUTION = 1e-12
"""Smallest mean interval between events, relative to the horizon: below it simulated time
stops advancing in float arithmetic (``t + 1e-308 == t``)."""


class _Problem(ValueError):
    pass


def _spec_error(message: str) -> Exception:
    return SpecError(message)


def check_data(data: Any, source: str = "model") -> None:
    """Refuse model data nested past :data:`MAX_DEPTH`, with an integer past :data:`MAX_INT` or a
    string past :data:`MAX_STRING` characters (iteratively: deep data cannot overflow the stack).

    Raises:
        SpecError: ``source: path: what is wrong``.
    """
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack:
        node, path = stack.pop()
        where = ".".join(path) or "(top)"
        if len(path) > MAX_DEPTH:
            raise _spec_error(f"{source}: {'.'.join(path[:3])}...: nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, bool):
            continue
        if isinstance(node, int) and abs(node) > MAX_INT:
            raise _spec_error(f"{source}: {where}: integer too large (at most 2**53 = {MAX_INT})")
        if isinstance(node, str) and len(node) > MAX_STRING:
            raise _spec_error(f"{source}: {where}: string longer than {MAX_STRING} characters")
        if isinstance(node, Mapping):
            stack.extend((value, (*path, str(key)[:40])) for key, value in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((value, (*path, str(index))) for index, value in enumerate(node))


def check_seed(seed: Any, name: str = "seed") -> int:
    """A seed is an integer in ``[0, 2**128)``.

    Raises:
        SpecError: naming ``name``.
    """
    import operator

    if isinstance(seed, bool) or not isinstance(seed, int | _numpy_int()):
        raise _spec_error(f"{name}: expected a non-negative integer, got {type(seed).__name__}")
    value = operator.index(seed)  # type: ignore[arg-type]  # an int or a numpy integer
    if not 0 <= value <= MAX_SEED:
        raise _spec_error(f"{name}: must be between 0 and 2**128 - 1, got {value if abs(value) < 10**40 else '...'}")
    return value


def _numpy_int() -> type:
    import numpy as np

    return np.integer


# --------------------------------------------------------------------------------------------
# Output paths, checked before anything runs.


def check_out_file(path: str | Path | None, name: str = "out", suffixes: Iterable[str] = ()) -> None:
    """An output file can be written: its folder exists and is writable, the path is not a folder,
    and (if given) its suffix is one of ``suffixes``.

    Raises:
        SpecError: ``name PATH: why``.
    """
    if path is None:
        return
    path = Path(path)
    allowed = tuple(suffixes)
    if allowed and path.suffix not in allowed:
        raise _spec_error(f"{name} {path}: expected a {' or '.join(allowed)} file name")
    if path.is_dir():
        raise _spec_error(f"{name} {path}: is a folder; expected a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise _spec_error(f"{name} {path}: not writable")
    _writable_parent(path, name, create=False)


def check_out_folder(path: str | Path | None, name: str = "out") -> None:
    """An output folder can be used: it is a writable folder, or it does not exist and its nearest
    existing ancestor is a writable folder (it is created).

    Raises:
        SpecError: ``name PATH: why``.
    """
    if path is None:
        return
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise _spec_error(f"{name} {path}: exists and is not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise _spec_error(f"{name} {path}: folder not writable")
        return
    _writable_parent(path, name, create=True)


def _writable_parent(path: Path, name: str, *, create: bool) -> None:
    parent = path.absolute().parent
    if not create:
        if not parent.is_dir():
            raise _spec_error(f"{name} {path}: folder {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise _spec_error(f"{name} {path}: folder {parent} not writable")
        return
    ancestor = parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise _spec_error(f"{name} {path}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise _spec_error(f"{name} {path}: folder {ancestor} not writable")


# --------------------------------------------------------------------------------------------
# Workers.


def local_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def worker_count(requested: int | None, tasks: int | None = None, name: str = "workers") -> int:
    """Processes to start: ``min(requested, cores, tasks)``; ``None`` or 0 means all cores.

    Raises:
        SpecError: ``requested`` negative or past :data:`MAX_WORKERS`.
    """

    if requested is not None and (requested < 0 or requested > MAX_WORKERS):
        raise _spec_error(f"{name}: must be between 0 (all cores) and {MAX_WORKERS}, got {requested}")
    cores = local_cores()
    count = cores if not requested else min(requested, cores)
    if tasks is not None:
        count = min(count, max(1, tasks))
    return max(1, count)


# --------------------------------------------------------------------------------------------
# Budgets.


@dataclass(frozen=True)
class RunEstimate:
    """What a run will take, estimated from the model before it starts.

    Attributes:
        operations: client operations, mutator writes, fault onsets and background actor events,
            over every replication and strategy (times the replicas of a quorum store: each
            operation messages every replica), plus one per key (its state is built).
        events: scheduler events (operations times their steps, replica messages, lease renewals,
            timeline bins).
        memory: peak bytes of one replication (per-key state, timeline, replicas), plus what the
            caller adds (staleness trials, sweep points).
        replications: replications x strategies (x configurations) counted.
    """

    operations: float
    events: float
    memory: float
    replications: float

    def scaled(self, factor: float, memory_extra: float = 0.0) -> RunEstimate:
        """The estimate for ``factor`` times as many replications (memory per replication unchanged)."""
        return RunEstimate(self.operations * factor, self.events * factor, self.memory + memory_extra,
                           self.replications * factor)

    def describe(self) -> str:
        """``about 6e13 operations (~50 days on one core), 2.4 GB per replication``."""
        seconds = self.operations / NOMINAL_OPS_PER_S
        return (f"about {self.operations:.2g} operations (~{_human_time(seconds)} on one core), "
                f"{format_bytes(self.memory)} per replication")


def format_bytes(size: float) -> str:
    """``2.4 GB``."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size:.0f} B"


def _human_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "forever"
    for unit, scale in (("years", 3.15e7), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def default_max_memory() -> float:
    """Half of this machine's physical memory (8 GB if it cannot be read)."""
    try:
        return 0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 8e9


def check_budget(
    estimate: RunEstimate,
    max_ops: float | None = None,
    max_memory: float | None = None,
    *,
    ops_name: str = "max_ops",
    memory_name: str = "max_memory",
) -> None:
    """Refuse a run whose estimate exceeds ``max_ops`` operations (default
    :data:`DEFAULT_MAX_OPS`) or ``max_memory`` bytes (default: half the machine's memory).

    Raises:
        SpecError: with the estimate and the argument that would allow it.
    """
    ops_limit = DEFAULT_MAX_OPS if max_ops is None else max_ops
    memory_limit = default_max_memory() if max_memory is None else max_memory
    if not math.isfinite(estimate.operations) or estimate.operations > ops_limit:
        raise _spec_error(f"this run needs {estimate.describe()}, over the limit of {ops_limit:.2g} operations; "
                          f"shorten it or pass {ops_name} to allow it")
    if not math.isfinite(estimate.memory) or estimate.memory > memory_limit:
        raise _spec_error(f"this run needs {estimate.describe()}, over the memory limit of "
                          f"{format_bytes(memory_limit)}; shrink it or pass {memory_name} to allow it")


def check_limit(value: float | None, name: str) -> float | None:
    """A budget argument is ``None`` or a positive finite number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise _spec_error(f"{name}: expected a positive number, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------------------------
# Model text on its way out.

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def terminal_text(text: Any) -> str:
    """``text`` with control characters (escape sequences, carriage returns, bidi overrides)
    replaced by their ``\\x..`` escapes; newlines and tabs are kept."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def csv_cell(value: Any) -> Any:
    """A value safe in a spreadsheet: control characters escaped, and a string starting with
    ``= + - @`` (a formula) prefixed with ``'``. Numbers pass unchanged."""
    if not isinstance(value, str):
        return value
    text = terminal_text(value).replace("\t", " ")
    if text[:1] in ("=", "+", "-", "@") and not is_number(text):
        return "'" + text
    return text


def is_number(text: str) -> bool:
    """Whether ``text`` reads as a float."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_safe(frame: Any) -> Any:
    """A copy of a pandas frame whose text cells (and column names) pass through :func:`csv_cell`."""
    from pandas.api.types import is_numeric_dtype

    out = frame.copy()
    for column in out.columns:
        if not is_numeric_dtype(out[column].dtype):
            out[column] = out[column].map(csv_cell)
    out.columns = [csv_cell(str(c)) if isinstance(c, str) else c for c in out.columns]
    return out


def echo(message: Any = "", err: bool = False) -> None:
    """``click.echo`` of text that may hold model text: control characters escaped."""
    import click

    click.echo(terminal_text(message), err=err)
