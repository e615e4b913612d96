"""The models that ship with the package, by name, and the starting model ``toctou-sim init`` writes.

The bundled models are package data (``toctou_sim/models/*.toml``), so an installed wheel has
them: ``flash_sale`` names ``<site-packages>/toctou_sim/models/flash_sale.toml`` wherever the
command runs. A model argument is a path when that file exists, else a bundled model's name.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from toctou_sim.core.errors import SpecError
from toctou_sim.spec.parts import INVARIANT_ACTIONS

__all__ = [
    "INIT_INVARIANTS",
    "INIT_READ_PATHS",
    "MODELS_DIR",
    "BundledModel",
    "bundled_models",
    "resolve_model",
    "starting_model",
]

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
"""Where the bundled model files are (inside the installed package)."""


@dataclass(frozen=True)
class BundledModel:
    """One bundled model: the name it is run by, its file and the first line of its description."""

    name: str
    path: Path
    description: str


def bundled_models() -> list[BundledModel]:
    """The bundled models, sorted by name."""
    rows = []
    for path in sorted(MODELS_DIR.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            lines = str(data.get("model", {}).get("description", "")).strip().splitlines()
            description = lines[0] if lines else ""
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
            description = "(unreadable)"
        rows.append(BundledModel(name=path.stem, path=path, description=description))
    return rows


def resolve_model(text: str | Path) -> Path:
    """The model file that a command-line argument means.

    An existing file wins; otherwise a bundled model's name (``flash_sale``, or
    ``flash_sale.toml``) means that bundled file.

    Raises:
        SpecError: neither an existing file nor a bundled name; the message lists close names.
    """
    path = Path(text)
    if path.is_file():
        return path
    names = {model.name: model.path for model in bundled_models()}
    name = path.name[: -len(".toml")] if path.name.endswith(".toml") else path.name
    if str(path) in (name, f"{name}.toml") and name in names:
        return names[name]
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `toctou-sim models` lists the bundled models"
    raise SpecError(f"{text}: file not found, and no bundled model of that name{hint}")


INIT_INVARIANTS = tuple(INVARIANT_ACTIONS)
"""Invariants ``toctou-sim init`` can start from."""

INIT_READ_PATHS = ("direct", "cache", "replica")
"""Read paths ``toctou-sim init`` can start from."""

_INVARIANT_TEXT = {
    "exists": ("create-if-absent: a create while the key is present is a duplicate",
               "0", "0 = absent, 1 = present", "delete", "something deletes keys, so creates race again"),
    "counter": ("decrement-if-positive: a decrement at zero or below is an oversell",
                "10", "units in stock at the start", "restock", "a feed adds units back"),
    "grant": ("act-if-allowed: an action while the grant is revoked is unauthorized",
              "1", "1 = allowed, 0 = revoked", "revoke", "an administrator revokes access"),
    "version": ("write-if-current: a write over a version other than the one read is a lost update",
                None, "", "bump", "another writer changes the key"),
    "unchanged": ("act-if-unchanged: acting after the key changed since the check is drift",
                  None, "", "bump", "a deploy or schema change changes the key"),
}

_EXTRA_MUTATOR = {
    "grant": '\n# ... and grants it again.\n[[mutators]]\naction = "grant"\nrate = 10\n',
}

_READ_PATH_TEXT = {
    "direct": """\
# How the check reads state: here the authoritative store itself (its read latency above).
[read_path]
kind = "direct"
""",
    "cache": """\
# How the check reads state: a look-aside cache in front of the store. A hit may be stale for
# up to the TTL; a write drops the entry after the invalidation delay (write_policy).
[read_path]
kind = "cache"
ttl = "2s"
write_policy = "invalidate"          # or "write_through", "none" (TTL only)
invalidation = { delay = { exponential = { mean = "100ms" } } }
read_latency = "0.5ms"
""",
    "replica": """\
# How the check reads state: an N/R/W quorum store. A read waits for r of n replicas and may
# miss a write that only w replicas have applied (R + W <= N can read stale data).
[read_path]
kind = "replica"
n = 3
r = 1
w = 1
write_delay = { lognormal = { median = "2ms", p99 = "40ms" } }
message_delay = { exponential = { mean = "1ms" } }
""",
}


def starting_model(*, name: str, invariant: str = "version", read_path: str = "direct",
                   file_name: str | None = None) -> str:
    """The text of a commented starting model with this invariant and read path (it validates).

    ``file_name`` is the name the run commands in its header comment use (default ``NAME.toml``).

    Raises:
        SpecError: an invariant or read path ``init`` does not know.
    """
    if invariant not in _INVARIANT_TEXT:
        raise SpecError(f"invariant {invariant}: expected one of {', '.join(INIT_INVARIANTS)}")
    if read_path not in _READ_PATH_TEXT:
        raise SpecError(f"read_path {read_path}: expected one of {', '.join(INIT_READ_PATHS)}")
    run_as = file_name or f"{name}.toml"
    rule, initial, initial_note, action, action_note = _INVARIANT_TEXT[invariant]
    initial_line = f"initial = {initial}                         # {initial_note}\n" if initial is not None else ""
    return f"""\
# {name}: a starting model written by `toctou-sim init`. Edit the numbers to your system's.
#
# Every operation of a client is check -> window -> use: it reads the key (the check), spends
# the window (business logic, a network hop, a queue), then acts on what it read (the use).
# Background mutators change keys meanwhile; a use whose check no longer holds is a mismatch,
# and a mismatch that breaks the invariant is a violation.
#
# Run it:   toctou-sim run {run_as} --reps 10
# Compare:  toctou-sim compare {run_as} --strategies none,recheck,cas,lock
# Durations are numbers of seconds or strings ("5ms", "2s", "1m"); a latency is a constant or a
# distribution ({{ exponential = {{ mean = "1ms" }} }}, {{ lognormal = {{ median = "1ms", p99 = "8ms" }} }}).

[model]
name = "{name}"
description = "A starting model: {invariant} invariant, {read_path} read path"
horizon = "1m"                      # simulated time per replication
warmup = "5s"                       # operations arriving earlier are not counted

# The key space and the invariant each check protects:
# {rule}.
[keys]
count = 100
popularity = {{ zipf = 1.1 }}         # or "uniform"
invariant = "{invariant}"
{initial_line}
# The authoritative, versioned store.
[store]
read_latency = {{ lognormal = {{ median = "1ms", p99 = "8ms" }} }}
write_latency = {{ lognormal = {{ median = "2ms", p99 = "12ms" }} }}

{_READ_PATH_TEXT[read_path]}
# Clients: operations arrive as a Poisson process (per second, whole system); the window is
# the time between the check's answer and sending the use.
[clients]
arrival = {{ poisson = {{ rate = 200 }} }}
window = {{ lognormal = {{ median = "20ms", p99 = "200ms" }} }}

# A background mutator: {action_note} (actions of "{invariant}": {", ".join(INVARIANT_ACTIONS[invariant])}).
[[mutators]]
action = "{action}"
rate = 10
{_EXTRA_MUTATOR.get(invariant, "")}
# The strategy `run` uses; `compare --strategies` tries others by kind or by the names below.
[strategy]
kind = "none"

[strategies.cas]
kind = "cas"
retry = {{ max_retries = 3, backoff = "10ms", jitter = "full" }}

[strategies.lock]
kind = "lock"
lease_ttl = "2s"
fencing = true

# The service level objective that violations and failed operations are charged against.
[slo]
target = 0.999
period = "30d"
"""
