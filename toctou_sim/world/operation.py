"""One client operation and the types every part of the world shares (the layer below the engine)."""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

__all__ = ["ACCEPTED", "REJECTED", "Flow", "Operation", "ServiceRefused"]

Flow = Generator[simpy.Event, Any, Any]
"""A SimPy process body (or a step of one, run with ``yield from``)."""

ACCEPTED, REJECTED = True, False
_NAN = math.nan  # read once per operation: a module constant, not an attribute of ``math``


class ServiceRefused(Exception):
    """A call to a finite service failed: refused by a full waiting room (429) or not answered by
    the caller's deadline. Raised inside an attempt; :meth:`Strategy.operate` turns it into a
    rejected attempt, which the retry policy retries or aborts."""


class Operation:
    """One client operation: the key it touches and its first attempt's variates.

    The variates are drawn when the operation arrives, in arrival order, so that every strategy
    sees the same workload in a replication (common random numbers). Retries draw from separate
    streams.
    """

    __slots__ = (
        "arrival",
        "counted",
        "deliveries",
        "done",
        "duplicate",
        "key",
        "left_orphan",
        "mismatched",
        "origin",
        "partial",
        "raced",
        "read_latency",
        "request_id",
        "retries",
        "seen_value",
        "seen_version",
        "stale",
        "t_check",
        "token",
        "window",
        "write_latency",
    )

    def __init__(self, key: int, arrival: float, window: float, read_latency: float, write_latency: float,
                 counted: bool, request_id: int = -1) -> None:
        self.key = key
        self.arrival = arrival
        self.window = window
        self.read_latency = read_latency
        self.write_latency = write_latency
        self.counted = counted
        self.retries = 0
        self.raced = False
        """A use of this operation was rejected by the store or a re-check (a race was caught)."""
        self.seen_version = -1
        self.seen_value = 0
        self.t_check = _NAN
        self.stale = False
        self.token = 0
        self.request_id = request_id
        """The request this delivery belongs to (its idempotency key); duplicates share it."""
        self.duplicate = False
        """Whether this is a redelivered or timed-out copy of an earlier delivery."""
        self.deliveries = 0
        """How many deliveries of the request preceded this one."""
        self.done = False
        """Whether the operation has ended."""
        self.partial = False
        """Whether this attempt's use fails after taking effect (``clients.partial_failure``)."""
        self.left_orphan = False
        """Whether an attempt of this operation took effect partially (an orphan was left)."""
        self.mismatched = False
        """Whether an attempt of this operation met a mismatch (guide M1 counts operations)."""
        self.origin: Operation | None = None
        """The client operation this one works for (a controller's reconcile of an event): its
        effects are measured when the origin is."""
