"""The ``cas`` strategy: a compare-and-swap (version or predicate) write."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from toctou_sim.spec.parts import RetryPolicy, StrategySpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.strategies import CheckWaitUse

__all__ = ["PLUGIN", "CasSpec", "CompareAndSwap"]


class CasSpec(StrategySpec):
    """Compare-and-swap: the store applies the use only if a condition holds when the write lands.

    ``compare = "version"`` (default): the key's version is still the one seen at check. Any
    concurrent write fails it, even one that leaves the precondition true (another sale while
    stock remains): a *spurious* rejection, retried with the flow up to ``retry.max_retries``,
    then aborted. ``compare = "predicate"``: a conditional write that tests the precondition
    itself on the truth (decrement-if-positive, create-if-absent, act-if-allowed): it never
    violates and never rejects while the precondition holds. A rejection when the precondition
    is false is the correct answer (declined), under either compare.
    """

    kind: Literal["cas"] = "cas"
    compare: Literal["version", "predicate"] = "version"
    retry: RetryPolicy = RetryPolicy()

    @model_validator(mode="after")
    def _compare_not_guard(self) -> CasSpec:
        if self.guard != "none":
            raise ValueError(f"guard: a cas is guarded by its compare; set compare = {self.guard!r} instead")
        return self

    def write_guard(self) -> str:
        return self.compare


class CompareAndSwap(CheckWaitUse):
    """Check, wait, then a guarded write: the world's write guard (the spec's ``compare``)
    applies the use only if the key's version is unchanged (``version``) or the precondition
    holds on the truth (``predicate``) at the instant the write lands (:meth:`World.decide`).

    A version CAS never violates: an unchanged version means an unchanged state, on which the
    precondition held when it was observed; a stale observation carries an old version and
    fails. A predicate CAS never violates either, and never fails while the precondition holds.
    """

    spec: CasSpec


PLUGIN = Plugin(spec=CasSpec, behaviour=CompareAndSwap)
"""The kind ``cas``: its spec and its behaviour."""
