"""Finite services and retry budgets.

A :class:`FiniteService` is a service declared in ``[capacity.<name>]``: ``servers`` servers and a
FIFO waiting room. A caller's step ``yield from service.call(op)`` ends when a server has served
the call (after its queueing wait and its service time), or raises
:class:`~toctou_sim.world.engine.ServiceRefused` when the waiting room is full (429) or the
caller's deadline passes first. A caller that gave up does not take its call back: the server
still serves it when its turn comes (unless ``cancel_abandoned``), and that work is wasted. That
is what lets a retry storm outlive its trigger: the queue fills with calls nobody waits for, every
call a client still waits for finds a long queue and times out, and the retries keep it long.

The server side runs on callbacks (no process per call), and its service times come from the
service's own stream (``capacity.<name>.service_time``, drawn in the order calls start service),
so declaring a capacity moves no other random number.

A :class:`RetryBudget` is the clients' shared token bucket of retries (gRPC's retry throttling).
"""

from __future__ import annotations

from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import simpy

from toctou_sim.measure.metrics import Histogram, TimeWeighted
from toctou_sim.world.actor import Actor
from toctou_sim.world.operation import Flow, Operation, ServiceRefused

if TYPE_CHECKING:
    from toctou_sim.core.distributions import RandomStreams
    from toctou_sim.measure.metrics import Recorder
    from toctou_sim.spec.capacity import RetryBudgetSpec, ServiceCapacitySpec
    from toctou_sim.spec.model import ModelSpec

__all__ = ["FiniteService", "Host", "RetryBudget", "ServiceTimeline"]


class Host(Protocol):
    """What a service needs of the world it runs in (:class:`~toctou_sim.world.engine.World` is
    one): its clock, random streams, model, recorder, the list of services it ends with, and a
    named actor that faults can hit."""

    env: simpy.Environment
    streams: RandomStreams
    spec: ModelSpec
    recorder: Recorder
    services: list[Any]

    def add_actor(self, name: str) -> Actor: ...


class _Call:
    """One call in the service: when it arrived, whether it is counted, whether its caller left."""

    __slots__ = ("abandoned", "arrival", "counted", "done")

    def __init__(self, arrival: float, counted: bool, done: simpy.Event) -> None:
        self.arrival = arrival
        self.counted = counted
        self.done = done
        self.abandoned = False


class ServiceTimeline:
    """Calls to a service in fixed-width bins of simulated time (every call, warm-up included).

    Attributes:
        width: bin width in seconds.
        offered: calls that arrived (first attempts and retries).
        retries: of those, calls made by a retried attempt.
        good: calls served while their caller still waited.
        wasted: calls served after their caller gave up.
        refused: calls refused (429) or timed out, binned when the caller saw the failure.
    """

    __slots__ = ("good", "inverse_width", "offered", "refused", "retries", "wasted", "width")

    def __init__(self, width: float, span: float) -> None:
        self.width = width
        self.inverse_width = 1.0 / width
        size = int(span / width) + 2
        self.offered = [0] * size
        self.retries = [0] * size
        self.good = [0] * size
        self.wasted = [0] * size
        self.refused = [0] * size

    def add(self, series: list[int], now: float) -> None:
        """Count one call in ``series`` at ``now``."""
        index = int(now * self.inverse_width)
        if index >= len(series):
            for other in (self.offered, self.retries, self.good, self.wasted, self.refused):
                other.extend([0] * (index + 1 - len(other)))
        series[index] += 1


class FiniteService:
    """A service with ``servers`` servers and a FIFO waiting room (see the module docstring).

    Attributes:
        name: the service's name (``store``, ``lock``, ``dedupe``); its fault actor has the same
            name, and a latency spike on it multiplies service times.
        busy: servers busy now.
        waiting: calls waiting for a server, oldest first.
        calls, throttled, timed_out, served, wasted, cancelled: counts of calls of counted
            operations (arrived after the warm-up).
        wait: queueing waits of counted calls that reached a server.
        timeline: every call, binned in time (for load charts).
    """

    def __init__(self, world: Host, name: str, spec: ServiceCapacitySpec) -> None:
        self.world = world
        self.env = world.env
        self.name = name
        self.spec = spec
        self.servers = spec.servers
        self.limit: int | None = spec.queue if spec.when_full == "throttle" else None
        self.timeout = spec.timeout
        self.actor = world.add_actor(name)
        self._service_time = world.streams.variates(f"capacity.{name}.service_time", spec.service_time)
        self.busy = 0
        self.waiting: deque[_Call] = deque()
        self.calls = self.throttled = self.timed_out = self.served = self.wasted = self.cancelled = 0
        self.wait = Histogram()
        meta = world.spec.model
        self._busy = TimeWeighted(meta.warmup, meta.horizon)
        self._queue = TimeWeighted(meta.warmup, meta.horizon)
        self.timeline = ServiceTimeline(world.recorder.timeline.width, 2 * meta.horizon)

    def call(self, op: Operation) -> Flow:
        """A call on behalf of ``op``: ends once served; raises ``ServiceRefused`` when refused
        by a full waiting room or not served by the caller's deadline."""
        return self.request(op.counted, op.retries > 0)

    def request(self, counted: bool, retry: bool = False) -> Flow:
        """A call by a caller that is not a client operation (a controller renewing its lease):
        ``counted`` when it is measured, ``retry`` when it repeats a failed call."""
        env = self.env
        now = env.now
        timeline = self.timeline
        timeline.add(timeline.offered, now)
        if retry:
            timeline.add(timeline.retries, now)
        if counted:
            self.calls += 1
        if self.busy >= self.servers and self.limit is not None and len(self.waiting) >= self.limit:
            if counted:
                self.throttled += 1
            timeline.add(timeline.refused, now)
            raise ServiceRefused(f"{self.name}: throttled (429)")
        call = _Call(now, counted, env.event())
        if self.busy < self.servers:
            self._start(call)
        else:
            self.waiting.append(call)
            self._queue.change(now, 1)
        if self.timeout is None:
            yield call.done
            return
        yield call.done | env.timeout(self.timeout)
        if not call.done.triggered:
            call.abandoned = True
            if counted:
                self.timed_out += 1
            timeline.add(timeline.refused, env.now)
            raise ServiceRefused(f"{self.name}: deadline exceeded")

    def _start(self, call: _Call) -> None:
        env = self.env
        now = env.now
        self.busy += 1
        self._busy.change(now, 1)
        if call.counted:
            self.wait.add(now - call.arrival)
        service = self.actor.scaled(self._service_time())
        env.timeout(service).callbacks.append(partial(self._finish, call))

    def _finish(self, call: _Call, _event: simpy.Event) -> None:
        now = self.env.now
        self.busy -= 1
        self._busy.change(now, -1)
        if call.abandoned:
            if call.counted:
                self.wasted += 1
            self.timeline.add(self.timeline.wasted, now)
        else:
            if call.counted:
                self.served += 1
            self.timeline.add(self.timeline.good, now)
            call.done.succeed()
        waiting = self.waiting
        while waiting and self.busy < self.servers:
            following = waiting.popleft()
            self._queue.change(now, -1)
            if following.abandoned and self.spec.cancel_abandoned:
                if following.counted:
                    self.cancelled += 1
                continue
            self._start(following)

    def metrics(self) -> dict[str, float]:
        """Per-replication metrics, prefixed with the service's name."""
        meta = self.world.spec.model
        measured = meta.horizon - meta.warmup
        calls = self.calls
        completed = self.served + self.wasted
        name = self.name
        return {
            f"{name}_calls": float(calls),
            f"{name}_offered_per_s": calls / measured,
            f"{name}_goodput_per_s": self.served / measured,
            f"{name}_throttled": float(self.throttled),
            f"{name}_throttled_fraction": self.throttled / calls if calls else float("nan"),
            f"{name}_timeouts": float(self.timed_out),
            f"{name}_timeout_fraction": self.timed_out / calls if calls else float("nan"),
            f"{name}_wasted": float(self.wasted),
            f"{name}_wasted_fraction": self.wasted / completed if completed else float("nan"),
            f"{name}_cancelled": float(self.cancelled),
            f"{name}_utilization": self._busy.mean() / self.servers,
            f"{name}_queue_mean": self._queue.mean(),
            f"{name}_wait_mean_ms": self.wait.mean * 1e3,
            f"{name}_wait_p99_ms": self.wait.quantile(0.99) * 1e3,
        }


class RetryBudget:
    """The clients' shared token bucket of retries (gRPC ``retryThrottling``).

    Attributes:
        tokens: tokens now (starts at ``max_tokens``).
        denied: retries of counted operations the budget refused (the operation aborted).
    """

    def __init__(self, world: Host, spec: RetryBudgetSpec) -> None:
        self.max_tokens = spec.max_tokens
        self.token_ratio = spec.token_ratio
        self.threshold = spec.max_tokens / 2
        self.tokens = spec.max_tokens
        self.denied = 0
        world.services.append(self)

    def succeeded(self) -> None:
        """An attempt succeeded: give back ``token_ratio``."""
        self.tokens = min(self.max_tokens, self.tokens + self.token_ratio)

    def failed(self) -> None:
        """An attempt failed: take a token."""
        self.tokens = max(0.0, self.tokens - 1.0)

    def allows_retry(self, op: Operation) -> bool:
        """Whether ``op`` may retry now (more than half the tokens left)."""
        if self.tokens > self.threshold:
            return True
        if op.counted:
            self.denied += 1
        return False

    def metrics(self) -> dict[str, Any]:
        """Retries the budget refused."""
        return {"retry_budget_denied": float(self.denied)}
