"""Closed forms of finite services: Erlang's formulas for M/M/c queues.

A finite service with ``c`` servers, exponential service times of rate ``mu`` and Poisson calls at
rate ``lam`` is an M/M/c queue with offered load ``a = lam / mu`` erlangs:

- unbounded waiting room: the probability that a call waits is Erlang's C formula and the mean
  wait is ``C(c, a) / (c mu - lam)`` (stable only while ``a < c``);
- no waiting room, calls refused when every server is busy (M/M/c/c): the refused share is
  Erlang's B formula ``B(c, a)``;
- a waiting room of ``q`` (M/M/c/K with ``K = c + q``): the refused share is the stationary
  probability of ``K`` calls in the system.

These are the oracles of :class:`~toctou_sim.world.services.FiniteService` (``toctou-sim
validate``) and a quick sizing check before simulating.
"""

from __future__ import annotations

import math

__all__ = ["erlang_b", "erlang_c", "mmc_mean_wait", "mmck_blocking", "retry_amplification"]


def _check(servers: int, load: float) -> None:
    if servers < 1:
        raise ValueError(f"servers must be >= 1, got {servers}")
    if not load >= 0:
        raise ValueError(f"offered load must be >= 0 erlangs, got {load}")


def erlang_b(servers: int, load: float) -> float:
    """Erlang's B formula: the share of calls refused by ``servers`` servers with no waiting room
    under ``load`` erlangs (``B(k) = a B(k-1) / (k + a B(k-1))``, a stable recurrence)."""
    _check(servers, load)
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking


def erlang_c(servers: int, load: float) -> float:
    """Erlang's C formula: the probability that a call waits for one of ``servers`` servers under
    ``load`` erlangs, unbounded waiting room (needs ``load < servers``)."""
    _check(servers, load)
    if load >= servers:
        raise ValueError(f"unstable: offered load {load:g} erlangs >= {servers} servers")
    blocking = erlang_b(servers, load)
    rho = load / servers
    return blocking / (1 - rho * (1 - blocking))


def mmc_mean_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean queueing wait (seconds, before service) in an M/M/c queue: ``C(c, a) / (c mu - lam)``."""
    if arrival_rate <= 0 or service_rate <= 0:
        raise ValueError("arrival_rate and service_rate must be > 0")
    load = arrival_rate / service_rate
    return erlang_c(servers, load) / (servers * service_rate - arrival_rate)


def mmck_blocking(arrival_rate: float, service_rate: float, servers: int, queue: int) -> float:
    """The share of calls refused by an M/M/c/K queue with a waiting room of ``queue``
    (``K = servers + queue``): the stationary probability that ``K`` calls are in the system.
    With ``queue = 0`` it is Erlang's B formula."""
    if arrival_rate <= 0 or service_rate <= 0:
        raise ValueError("arrival_rate and service_rate must be > 0")
    if queue < 0:
        raise ValueError(f"queue must be >= 0, got {queue}")
    load = arrival_rate / service_rate
    _check(servers, load)
    # log of the unnormalised probabilities, to stay finite for large c and K
    logs = [n * math.log(load) - math.lgamma(n + 1) for n in range(servers + 1)]
    log_rho = math.log(load / servers)
    logs += [logs[servers] + j * log_rho for j in range(1, queue + 1)]
    top = max(logs)
    total = sum(math.exp(x - top) for x in logs)
    return math.exp(logs[-1] - top) / total


def retry_amplification(retries_per_operation: float) -> float:
    """Calls offered to a service per client operation that makes one call per attempt:
    ``1 + retries per operation`` (offered load = arrivals x this)."""
    if retries_per_operation < 0:
        raise ValueError(f"retries per operation must be >= 0, got {retries_per_operation}")
    return 1.0 + retries_per_operation
