"""The ``event_stream`` actor: out-of-order event delivery with optional sequence numbers (F7)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from toctou_sim.core.distributions import DistributionSpec, parse_distribution
from toctou_sim.spec.parts import ActorSpec
from toctou_sim.spec.registry import Plugin
from toctou_sim.world.engine import BackgroundActor, Flow, World
from toctou_sim.world.mitigations import actor_index, exponential, measured

__all__ = ["PLUGIN", "EventStream", "EventStreamSpec"]


class EventStreamSpec(ActorSpec):
    """State-change events (order placed, paid, shipped) produced per key at ``rate`` per second
    with increasing sequence numbers and delivered after ``delivery_delay``, so they can arrive
    out of order. The handler reads the key (store read latency), works for ``handling_time``,
    then writes the event's state. ``ordering``: ``none`` applies every event (an older event
    after a newer one is an ordering error); ``check`` compares the event's sequence number with
    the last applied one at read time (a check that can be stale by the write);
    ``conditional`` makes the write itself conditional on the sequence number (no error)."""

    kind: Literal["event_stream"] = "event_stream"
    rate: float = Field(gt=0)
    delivery_delay: DistributionSpec = parse_distribution(0.0)
    handling_time: DistributionSpec = parse_distribution(0.0)
    ordering: Literal["none", "check", "conditional"] = "none"


class EventStream(BackgroundActor):
    """State-change events per key, numbered in production order and delivered after a random
    delay, so a later event can overtake an earlier one. A handler reads the key's state, works,
    and writes the event's state; writing an older event over a newer one is an ordering error
    (the state goes back in time). Sequence numbers checked at read time narrow the race to the
    handling time; a write conditional on the sequence number closes it."""

    spec: EventStreamSpec

    def __init__(self, world: World, spec: EventStreamSpec) -> None:
        super().__init__(world, spec)
        name = f"actors.{actor_index(world, spec)}"
        streams = world.streams
        keys = world.spec.keys
        self._gaps = streams.variates(f"{name}.arrivals", exponential(1.0 / spec.rate))
        zipf = getattr(keys.popularity, "zipf", None)
        self._keys = streams.keys(f"{name}.keys", keys.count, zipf)
        self._delivery = streams.variates(f"{name}.delivery_delay", spec.delivery_delay)
        self._handling = streams.variates(f"{name}.handling_time", spec.handling_time)
        self._read = streams.variates(f"{name}.read_latency", world.spec.store.read_latency)
        self._write = streams.variates(f"{name}.write_latency", world.spec.store.write_latency)
        self._ordering: str = spec.ordering
        self.produced = [0] * keys.count
        self.applied = [0] * keys.count
        self.events = 0
        self.errors = 0
        self.dropped = 0

    def start(self) -> None:
        self.world.env.process(self._run())

    def _run(self) -> Flow:
        env = self.world.env
        horizon = self.world.spec.model.horizon
        while True:
            yield env.timeout(self._gaps())
            if env.now >= horizon:
                return
            key = self._keys()
            self.produced[key] += 1
            counted = measured(self.world, env.now)
            if counted:
                self.events += 1
            env.process(self._handle(key, self.produced[key], counted))

    def _handle(self, key: int, seq: int, counted: bool) -> Flow:
        env = self.world.env
        ordering = self._ordering
        for delay in (self._delivery(), self._read()):
            if delay > 0:
                yield env.timeout(delay)
        if ordering == "check" and seq < self.applied[key]:
            self.dropped += counted
            return
        for delay in (self._handling(), self._write()):
            if delay > 0:
                yield env.timeout(delay)
        if ordering == "conditional" and seq < self.applied[key]:
            self.dropped += counted
            return
        if seq < self.applied[key]:
            self.errors += counted
        self.applied[key] = seq

    def metrics(self) -> dict[str, float]:
        return {
            "events": float(self.events),
            "ordering_errors": float(self.errors),
            "ordering_error_rate": self.errors / self.events if self.events else math.nan,
            "stale_events_dropped": float(self.dropped),
        }


PLUGIN = Plugin(spec=EventStreamSpec, behaviour=EventStream)
"""The kind ``event_stream``: its spec and its behaviour."""
