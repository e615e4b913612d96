"""The fault-target audit, measured: for every strategy, every target its world has and every
scheduled fault kind, does the fault change the run?

The load-time check is bypassed and every hook is forced to act on every target, so each pair
runs as it did before targets declared what they honour. A pair *changes* the run when the
world's event log (every observer event with its instant, the faults' own excluded), its final
store state or one of its metrics present in both runs differs from the run without the fault.
Each line compares that with the declaration (``toctou_sim.spec.targets``):

- declared and changed, or neither: as expected;
- ``MISMATCH`` declared, unchanged: the scenario does not exercise it (a follower controller that
  never leads, a zero latency multiplied by a spike);
- ``MISMATCH`` changed, not declared: either rejected on purpose with its own hint (a paused
  store is a partition; crashing the whole client fleet is not modelled) or a declaration that
  misses an effect (a bug).

The table in ``docs/reference/fault-targets.md`` was written from this output. Usage::

    PYTHONPATH=. python benchmarks/fault_audit.py [STRATEGY ...]
"""

from __future__ import annotations

import math
import sys
from typing import Any
from unittest import mock

import toctou_sim.spec.faults as spec_faults
from toctou_sim.core.distributions import RandomStreams
from toctou_sim.spec.model import ModelSpec, parse_model
from toctou_sim.spec.targets import EFFECTS, model_targets, running_targets
from toctou_sim.world import World
from toctou_sim.world.observer import HOOKS

FAULTS = {"pause": {}, "partition": {"timeout": 0.5}, "latency_spike": {"factor": 20}, "throttle": {"limit": 0.5},
          "crash": {}, "clock_skew": {"drift": 0.5, "offset": 30}}


def model(strategy: dict[str, Any], **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": {"horizon": 30, "warmup": 0}, "keys": {"count": 3, "invariant": "version"},
        "store": {"read_latency": {"exponential": {"mean": 0.01}}, "write_latency": {"exponential": {"mean": 0.01}}},
        "clients": {"arrival": {"poisson": {"rate": 20}}, "window": {"exponential": {"mean": 0.3}}},
        "mutators": [{"action": "bump", "rate": 2}], "strategy": strategy,
    }
    data.update(sections)
    return data


LEASE = {"kind": "lease", "replicas": 2, "lease_ttl": 2, "renew_deadline": 1.5, "retry_period": 0.5,
         "call_latency": 0.01}
EXISTS = {"keys": {"count": 3, "invariant": "exists"}, "mutators": [{"action": "delete", "rate": 5}]}
SCENARIOS = {
    "none": model({"kind": "none"}),
    "cas": model({"kind": "cas", "retry": {"max_retries": 3}}),
    "lock": model({"kind": "lock", "lease_ttl": 0.2, "acquire_latency": 0.01, "retry": {"max_retries": 2}}),
    "lease": model(LEASE, **EXISTS),
    "lease_finite_leader": model(LEASE, **EXISTS, capacity={"leader": {"servers": 1, "service_time": 0.01},
                                                            "lease": {"servers": 1, "service_time": 0.01}}),
    "idempotency": model({"kind": "idempotency", "inner": {"kind": "lock"}, "dedupe": {"lookup_latency": 0.01}}),
    "two_phase": model({"kind": "two_phase", "participants": 2, "round_trip": 0.01}),
    "reconcile": model({"kind": "reconcile", "period": 1.0}),
    "queue": model({"kind": "queue", "scope": "key", "ack": {"latency": 0.05, "visibility_timeout": 1}}),
    "queue_finite_consumer": model({"kind": "queue"}, capacity={"consumer": {"servers": 2, "service_time": 0.02}}),
    "token": model({"kind": "token", "ttl": 1.0, "reuse": True}, keys={"count": 3, "invariant": "grant", "initial": 1},
                   mutators=[{"action": "revoke", "rate": 1}, {"action": "grant", "rate": 1}]),
    "reservation": model({"kind": "reservation", "ttl": 1.0}, keys={"count": 3, "invariant": "counter", "initial": 200},
                         mutators=[{"action": "restock", "rate": 2}]),
}


class EventLog:
    """Every world event but the faults' own, with its instant."""

    def __init__(self) -> None:
        self.events: list[tuple[str, float]] = []
        self.world: World | None = None


for _hook in HOOKS:
    if _hook not in ("fault_began", "fault_ended"):
        setattr(EventLog, _hook, lambda self, *args, _name=_hook: self.events.append((_name, self.world.env.now)))


def fingerprint(data: dict[str, Any]) -> tuple[dict[str, Any], tuple[Any, ...]]:
    log = EventLog()
    world = log.world = World(parse_model(data), RandomStreams(7, 0), observers=[log])
    world.run()
    metrics = {key: None if isinstance(value, float) and math.isnan(value) else value
               for key, value in world.extra_metrics().items()}
    return metrics, (tuple(log.events), tuple(world.store.version), tuple(world.store.value))


def changed(before: tuple[dict[str, Any], Any], after: tuple[dict[str, Any], Any]) -> bool:
    """Whether the run changed (a metric only one run reports, e.g. a fault's own, does not count)."""
    common = before[0].keys() & after[0].keys()
    return before[1] != after[1] or any(before[0][key] != after[0][key] for key in common
                                        if not key.endswith(("_onsets", "_seconds")))


def every_effect(spec: ModelSpec) -> dict[str, frozenset[str]]:
    return dict.fromkeys(model_targets(spec), frozenset(EFFECTS))


def main(names: list[str]) -> None:
    patches = [mock.patch.object(spec_faults, "check_target", lambda model, effect, target: None),
               mock.patch("toctou_sim.world.engine.running_targets", every_effect)]
    for kind in ("crash", "pause", "throttle"):
        patches.append(mock.patch(f"toctou_sim.plugins.faults.{kind}.{kind.capitalize()}Spec.check_model",
                                  lambda self, model: None))
    for patch in patches:
        patch.start()
    try:
        for name, data in SCENARIOS.items():
            if names and name not in names:
                continue
            declared = running_targets(parse_model(data))
            baseline = fingerprint(data)
            for target, honours in declared.items():
                if target in ("cache", "replicas"):
                    continue
                for kind, fields in FAULTS.items():
                    fault = {"kind": kind, "target": target, "at": [3.0, 12.0], "duration": 4.0, **fields}
                    moved = changed(baseline, fingerprint({**data, "faults": [fault]}))
                    flag = "" if moved == (kind in honours) else "  MISMATCH"
                    print(f"{name:22s} {target:14s} {kind:14s} declared={kind in honours!s:5s} "
                          f"changed={moved!s:5s}{flag}", flush=True)
    finally:
        for patch in patches:
            patch.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
