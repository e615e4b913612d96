"""Model-file schema of finite services and of retry budgets.

By default every service of the world (the store, the lock service, the dedupe store, the lease
service of leader election, the leader's own reconcile work, a queue's consumer) is an
infinite-server delay: a call takes its latency whatever the load. A ``[capacity.<service>]``
table makes the service finite: ``servers`` identical servers, each call holding one for a
variate of ``service_time``, FIFO waiting room of ``queue`` calls, and a policy for a full
waiting room::

    [capacity.store]
    servers = 8
    service_time = { exponential = { mean = "10ms" } }
    queue = 200               # waiting room (omit: unbounded)
    when_full = "throttle"    # throttle: reject with 429 | queue: the caller waits for room
    timeout = "250ms"         # the caller's deadline for one call (omit: none)
    calls = "all"             # store only: which calls queue (all | reads | writes)

A leader (``[capacity.leader]``, strategy ``lease``) or a single queue consumer
(``[capacity.consumer]``, strategy ``queue``) declares its throughput the same way: with
``servers = 1`` and a mean service time ``s`` it completes at most ``1/s`` reconciles or messages
per second, and the rest wait (or are refused when ``queue`` is full).

A call's latency is then its queueing wait plus its service time, followed by the latency the
model already gives the call (the network part). A call refused by a full waiting room (429) or
not answered by its ``timeout`` fails the attempt, which goes back through the strategy's retry
policy; the server still does the work of a call whose caller gave up (unless
``cancel_abandoned``) and counts it as wasted.

A ``budget`` in a strategy's ``retry`` policy is a token-bucket retry budget (gRPC's retry
throttling): every failed attempt takes a token, every successful one gives back
``token_ratio``, and a retry is allowed only while more than half of ``max_tokens`` remain.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from toctou_sim.core.distributions import DistributionSpec
from toctou_sim.core.units import PositiveDuration

__all__ = ["CAPACITY_SERVICES", "RetryBudgetSpec", "ServiceCapacitySpec"]

CAPACITY_SERVICES = ("store", "lock", "dedupe", "lease", "leader", "consumer")
"""Services that can be declared finite: the store, the lock service, the dedupe store and the
lease service; and the work of the acting controller (``leader``, strategy ``lease``: every
reconcile holds a server for a service time) and of a queue's consumer (``consumer``, strategy
``queue``: every message holds a server, its lane waiting meanwhile)."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServiceCapacitySpec(_Strict):
    """A finite service ``[capacity.<name>]``: ``servers`` servers, FIFO waiting room, a policy
    when it is full. Names: ``store``, ``lock``, ``dedupe``, ``lease`` (the lease service),
    ``leader`` (strategy ``lease``: every reconcile of the acting replica holds a server, so with
    ``servers = 1`` a leader completes at most ``1 / service_time`` reconciles per second; without
    election the replicas share it) and
    ``consumer`` (strategy ``queue``: every message holds a server while its lane waits).

    Without a waiting-room limit (``queue`` omitted) nothing is refused and the wait grows with
    the load (M/M/c for exponential service times and Poisson calls). With ``queue = 0`` and
    ``when_full = "throttle"`` a call that finds every server busy is refused (M/M/c/c, Erlang's
    loss system).
    """

    servers: int = Field(default=1, ge=1)
    """Calls served at once."""
    service_time: DistributionSpec
    """How long one call holds a server (multiplied by the service's latency-spike factor)."""
    queue: int | None = Field(default=None, ge=0)
    """Calls that may wait for a server; ``None``: unbounded."""
    when_full: Literal["throttle", "queue"] = "throttle"
    """A call that finds the waiting room full: ``throttle`` refuses it at once (HTTP 429, the
    attempt fails), ``queue`` holds the caller until there is room (back-pressure: nothing is
    refused, the wait is latency)."""
    timeout: PositiveDuration | None = None
    """The caller's deadline for one call (queueing plus service); ``None``: callers wait."""
    cancel_abandoned: bool = False
    """The server skips a queued call whose caller already gave up (deadline propagation); by
    default it serves it anyway, and that work is wasted."""
    calls: Literal["all", "reads", "writes"] = "all"
    """For the store: which calls queue at it (the check's read and re-reads, the use's write)."""


class RetryBudgetSpec(_Strict):
    """A token-bucket retry budget shared by the clients (gRPC ``retryThrottling``).

    The bucket starts full with ``max_tokens``; a failed attempt takes one token, a successful one
    adds ``token_ratio`` (up to ``max_tokens``). A retry is sent only while the bucket holds more
    than ``max_tokens / 2``: when most attempts fail, retries stop, and the offered load falls back
    to the first attempts alone.
    """

    max_tokens: float = Field(default=10.0, gt=0)
    token_ratio: float = Field(default=0.1, gt=0)
