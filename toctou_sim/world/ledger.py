"""The effect ledger: what the world did, recorded by the world alone.

Every client use that the store applies is an *effect*: a request id, a key, an instant, whether
it was whole or partial (it took effect but the request failed before it was finalised), and
the harm it did, judged on the authoritative state at that instant:

- ``violation``: the precondition was false (an oversell, a duplicate create, an unauthorized
  action, a lost update, drift);
- ``duplicate``: the same request had already taken effect (a double charge after a redelivery
  or a retry);
- ``orphan``: a partial effect (a resource created and left behind).

No strategy writes here: harms are counted from the ledger, and tests assert against it rather
than against a strategy's own bookkeeping. The ledger streams (per-kind counts and the set of
request ids that took effect, only when a request can take effect twice: ``track=True``, set by
the world when there are redeliveries, client timeouts or partial failures); ``keep=True`` also
keeps every entry, for tests and traces.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HARM_KINDS", "Effect", "EffectLedger"]

HARM_KINDS = ("violation", "duplicate", "orphan")
"""The kinds of harm an effect can do (``""``: none)."""


@dataclass(frozen=True, slots=True)
class Effect:
    """One applied use."""

    request_id: int
    key: int
    time: float
    partial: bool
    harm: str
    """``""`` (a correct effect), or one of :data:`HARM_KINDS`."""
    counted: bool
    """Whether the operation is measured (arrived after the warm-up)."""


class EffectLedger:
    """Counts (and optionally keeps) every effect the world applies.

    Attributes:
        effects: counted effects applied.
        harms: counted harms by kind (``violation``, ``duplicate``, ``orphan``).
        entries: every effect, counted or not, when built with ``keep=True`` (else empty).
    """

    __slots__ = ("_effected", "effects", "entries", "harms", "keep", "track")

    def __init__(self, track: bool = False, keep: bool = False) -> None:
        self.track = track
        self.keep = keep
        self.effects = 0
        self.harms: dict[str, int] = dict.fromkeys(HARM_KINDS, 0)
        self.entries: list[Effect] = []
        self._effected: set[int] = set()

    def already_effected(self, request_id: int) -> bool:
        """Whether request ``request_id`` has taken effect before (whole or partial)."""
        return request_id in self._effected

    def record(self, request_id: int, key: int, time: float, partial: bool, holds: bool, counted: bool) -> str:
        """Record an applied use and return its harm (``""`` for none).

        ``holds`` is the precondition on the truth at the instant the use landed. A request that
        already took effect is a duplicate whatever the precondition says; otherwise a use while
        the precondition was false is a violation; a partial effect that did no other harm
        leaves an orphan.
        """
        track = self.track and request_id >= 0
        if track and request_id in self._effected:
            harm = "duplicate"
        elif not holds:
            harm = "violation"
        elif partial:
            harm = "orphan"
        else:
            harm = ""
        if track:
            self._effected.add(request_id)
        if counted:
            self.effects += 1
            if harm:
                self.harms[harm] += 1
        if self.keep:
            self.entries.append(Effect(request_id, key, time, partial, harm, counted))
        return harm

    def metrics(self, operations: int) -> dict[str, float]:
        """Harm counts and rates per counted operation (``nan`` rates without operations):
        ``harm_rate`` (violations and duplicates), ``precondition_violation_rate`` (uses applied
        while the precondition was false: an oversell, not a repeat), ``orphan_rate``."""
        out: dict[str, float] = {"effects": float(self.effects)}
        for kind, count in self.harms.items():
            out[f"ledger_{kind}s"] = float(count)
        total = sum(self.harms[kind] for kind in ("violation", "duplicate"))
        out["harms"] = float(total)
        out["harm_rate"] = total / operations if operations else float("nan")
        out["orphan_rate"] = self.harms["orphan"] / operations if operations else float("nan")
        out["precondition_violation_rate"] = (self.harms["violation"] / operations if operations
                                              else float("nan"))
        return out
