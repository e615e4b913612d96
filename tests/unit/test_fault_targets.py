"""Faults act through declared hooks: every target declares the fault effects it honours
(:mod:`toctou_sim.spec.targets`), and every (fault, target) pair is either honoured or rejected
at load, never accepted and silently ignored.

Two kinds of test (the hooks' own timelines are in ``tests/timelines/test_fault_hooks.py``):

- declarations: over a model for every strategy and read path, every fault kind on every target
  name is accepted exactly when the declarations say the target honours it, and then the world
  built for that strategy has that target honouring it; a rejection is one line naming the field
  and the targets that would honour the fault; the audit table in the docs says the same;
- behaviour: an independent record (the world's event log and final state) shows that a rejected
  pair was a no-op before it was rejected (the load check bypassed, every hook forced to act),
  while its honoured counterpart changes the run.
"""

from __future__ import annotations

from typing import Any

import pytest
import simpy
from conftest import ROOT

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.spec.model import SpecError, parse_model
from toctou_sim.spec.parts import FAULT_SPECS
from toctou_sim.spec.targets import EFFECTS, model_targets, running_targets
from toctou_sim.world import World
from toctou_sim.world.observer import HOOKS

SCHEDULED = {
    "pause": {},
    "partition": {"timeout": 0.5},
    "latency_spike": {"factor": 20.0},
    "throttle": {"limit": 0.5},
    "crash": {},
    "clock_skew": {"drift": 0.5, "offset": 30.0},
}
"""Every fault kind that names a ``target``, with the fields it needs."""
READ_PATH_FAULTS = {"eviction_storm": "cache", "replica_lag_spike": "replicas", "replica_partition": "replicas"}
"""Every fault kind that acts on a part of the read path, with that part's name."""


def data(strategy: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """A small model: 20 operations a second for 10 s on 3 keys, a mutator, and the given parts."""
    model: dict[str, Any] = {
        "model": {"horizon": 10.0, "warmup": 0.0},
        "keys": {"count": 3, "invariant": "version"},
        "store": {"read_latency": {"exponential": {"mean": 0.01}}, "write_latency": {"exponential": {"mean": 0.01}}},
        "clients": {"arrival": {"poisson": {"rate": 20.0}}, "window": {"exponential": {"mean": 0.3}}},
        "mutators": [{"action": "bump", "rate": 2.0}],
        "strategy": strategy,
    }
    model.update(sections)
    return model


LEASE = {"kind": "lease", "replicas": 2, "lease_ttl": 2, "renew_deadline": 1.5, "retry_period": 0.5,
         "call_latency": 0.01}
EXISTS = {"keys": {"count": 3, "invariant": "exists"}, "mutators": [{"action": "delete", "rate": 2.0}]}
MODELS: dict[str, dict[str, Any]] = {
    "none": data({"kind": "none"}),
    "cas": data({"kind": "cas", "retry": {"max_retries": 2}}),
    "recheck": data({"kind": "recheck"}),
    "lock": data({"kind": "lock", "lease_ttl": 0.2, "acquire_latency": 0.01}),
    "lease": data(LEASE, **EXISTS),
    "lease_finite_leader": data(LEASE, **EXISTS, capacity={"leader": {"servers": 1, "service_time": 0.01}}),
    "idempotency": data({"kind": "idempotency", "inner": {"kind": "lock", "acquire_latency": 0.01}}),
    "two_phase": data({"kind": "two_phase", "participants": 2, "round_trip": 0.01}),
    "reconcile": data({"kind": "reconcile", "period": 1.0}),
    "queue": data({"kind": "queue", "ack": {"latency": 0.05, "visibility_timeout": 1.0}}),
    "queue_finite_consumer": data({"kind": "queue"}, capacity={"consumer": {"servers": 2, "service_time": 0.02}}),
    "token": data({"kind": "token", "ttl": 1.0, "reuse": True},
                  keys={"count": 3, "invariant": "grant", "initial": 1},
                  mutators=[{"action": "revoke", "rate": 1.0}, {"action": "grant", "rate": 1.0}]),
    "reservation": data({"kind": "reservation", "ttl": 1.0}, keys={"count": 3, "invariant": "counter", "initial": 50},
                        mutators=[{"action": "restock", "rate": 2.0}]),
    "cache": data({"kind": "none"}, read_path={"kind": "cache", "ttl": 1.0}),
    "replica": data({"kind": "none"}, read_path={"kind": "replica", "n": 3}),
}
"""A model for every built-in strategy and read path (and the capacity that adds an effect)."""

NAMES = sorted({name for model in MODELS.values() for name in model_targets(parse_model(model))})
"""Every target name some model declares: each model is also tried on the names it lacks."""


def with_fault(model: dict[str, Any], fault: dict[str, Any]) -> dict[str, Any]:
    return {**model, "faults": [fault]}


def scheduled(kind: str, target: str) -> dict[str, Any]:
    return {"kind": kind, "target": target, "at": [3.0], "duration": 4.0, **SCHEDULED[kind]}


def test_the_built_in_fault_kinds_are_all_covered_here() -> None:
    assert set(FAULT_SPECS) == set(SCHEDULED) | set(READ_PATH_FAULTS) == set(EFFECTS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_fault_on_every_target_is_honoured_or_rejected(name: str) -> None:
    """No third state: accepted exactly when declared honoured, and then the world of that
    strategy has the target honouring the effect (the engine asks the target, not the fault)."""
    model = MODELS[name]
    declared = model_targets(parse_model(model))
    accepted = 0
    for kind in SCHEDULED:
        for target in NAMES:
            honoured = kind in declared.get(target, frozenset())
            try:
                spec = parse_model(with_fault(model, scheduled(kind, target)), source="m.toml")
            except SpecError as error:
                assert not honoured, f"{kind} on {target} declared honoured but rejected: {error}"
                text = str(error)
                assert text.startswith("m.toml: faults.0.target: ") and "\n" not in text
                if target in declared and kind not in ("crash", "throttle") and (kind, target) != ("pause", "store"):
                    assert f"does not honour {kind}" in text, text  # crash/throttle/store pause keep their own hint
                continue
            assert honoured, f"{kind} on {target} accepted although not declared honoured"
            accepted += 1
            world = World(spec, RandomStreams(0, 0))
            actor = world.resolve(target)
            if actor is not None:  # ``leader`` names no one before the first election
                assert kind in actor.honours, (kind, target)
    for kind, part in READ_PATH_FAULTS.items():
        honoured = kind in declared.get(part, frozenset())
        fault = {"kind": kind, "rate": 1.0}
        try:
            parse_model(with_fault(model, fault), source="m.toml")
        except SpecError as error:
            assert not honoured
            assert str(error).startswith(f"m.toml: faults.0.kind: {kind!r} needs read_path.kind = ")
            continue
        assert honoured
    assert accepted >= 3  # every model honours at least the pauses and partitions of clients


def test_a_fault_on_a_target_that_ignores_it_names_the_field_and_the_targets_that_would_not() -> None:
    with pytest.raises(SpecError) as error:
        parse_model(with_fault(MODELS["lock"], scheduled("latency_spike", "clients")), source="m.toml")
    assert str(error.value) == ("m.toml: faults.0.target: 'clients' does not honour latency_spike (it would do "
                                "nothing); expected a target that honours latency_spike: store, lock")


def test_a_target_only_a_variant_honours_is_accepted_and_inert_under_the_others() -> None:
    """The ``clients``' clock is read by ``token`` only: accepted in a model with a token variant,
    and the world of another strategy leaves the clock alone."""
    model = with_fault(MODELS["token"], scheduled("clock_skew", "clients"))
    model["strategies"] = {"plain": {"kind": "none"}}
    spec = parse_model(model)
    assert "clock_skew" in running_targets(spec)["clients"]
    plain = World(spec.with_strategy("plain"), RandomStreams(0, 0))
    assert "clock_skew" not in plain.actors["clients"].honours
    for fault in plain.faults:
        fault.start()
    plain.env.run(until=5.0)
    assert plain.actors["clients"].local_time(5.0) == 5.0  # the hook was not called
    token = World(spec, RandomStreams(0, 0))
    for fault in token.faults:
        fault.start()
    token.env.run(until=5.0)
    assert token.actors["clients"].local_time(5.0) == pytest.approx(3.0 + 30.0 + 1.5 * 2.0)  # skewed at 3


def test_cli_rejects_a_fault_its_target_ignores_with_exit_2_and_one_line(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from toctou_sim.cli.main import main

    path = tmp_path / "m.toml"
    path.write_text('[clients]\narrival = { poisson = { rate = 5 } }\n\n[strategy]\nkind = "lock"\n\n'
                    '[[faults]]\nkind = "throttle"\ntarget = "lock"\nlimit = 1\nrate = 0.1\n')
    result = CliRunner().invoke(main, ["run", str(path), "--reps", "1"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "m.toml: faults.0.target: 'lock' does not honour throttle" in lines[0]
    assert "expected a target that honours throttle: store" in lines[0]


# --------------------------------------------------------------------------------------------
# Behaviour: what was rejected did nothing; what is honoured does something.


class EventLog:
    """Every world event but the faults' own, with its instant (an independent record of the run)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, float]] = []
        self.env: simpy.Environment | None = None


def _hook(name: str) -> Any:
    def hook(self: EventLog, *args: Any) -> None:
        assert self.env is not None
        self.events.append((name, self.env.now))

    return hook


for _name in HOOKS:
    if _name not in ("fault_began", "fault_ended"):
        setattr(EventLog, _name, _hook(_name))


def fingerprint(model: dict[str, Any]) -> tuple[Any, ...]:
    log = EventLog()
    world = World(parse_model(model), RandomStreams(7, 0), observers=[log])
    log.env = world.env
    world.run()
    return tuple(log.events), tuple(world.store.version), tuple(world.store.value)


NO_OPS = [
    ("none", "latency_spike", "clients", "latency_spike", "store"),
    ("none", "clock_skew", "store", "pause", "clients"),
    ("cas", "clock_skew", "clients", "partition", "clients"),
    ("lock", "throttle", "lock", "partition", "lock"),
    ("lock", "crash", "lock", "pause", "lock"),
    ("token", "pause", "verifier", "clock_skew", "verifier"),
    ("two_phase", "pause", "participant.0", "pause", "coordinator"),
    ("lease", "pause", "client", "pause", "clients"),
    ("lease", "latency_spike", "controller.0", "crash", "controller.0"),
    ("queue", "latency_spike", "consumer", "crash", "consumer"),
]


@pytest.mark.parametrize(("name", "kind", "target", "honoured_kind", "honoured_target"), NO_OPS)
def test_a_rejected_pair_did_nothing_and_its_honoured_counterpart_does(
        monkeypatch: pytest.MonkeyPatch, name: str, kind: str, target: str, honoured_kind: str,
        honoured_target: str) -> None:
    model = MODELS[name]
    spec = parse_model(model)
    assert kind not in model_targets(spec)[target] and honoured_kind in model_targets(spec)[honoured_target]
    baseline = fingerprint(model)
    assert fingerprint(with_fault(model, scheduled(honoured_kind, honoured_target))) != baseline
    # Force the rejected pair through: accept it at load and let every hook act on every target.
    import toctou_sim.spec.faults as spec_faults
    import toctou_sim.world.engine as engine

    every = frozenset(EFFECTS)
    monkeypatch.setattr(spec_faults, "check_target", lambda model, effect, target: None)
    monkeypatch.setattr(engine, "running_targets", lambda model: dict.fromkeys(model_targets(model), every))
    for cls in {type(fault) for fault in FAULT_SPECS.values()} | set(FAULT_SPECS.values()):
        if cls.__name__ in ("CrashSpec", "ThrottleSpec", "PauseSpec"):
            monkeypatch.setattr(cls, "check_model", lambda self, model: None)
    assert fingerprint(with_fault(model, scheduled(kind, target))) == baseline


# --------------------------------------------------------------------------------------------
# The audit table in the docs says what the declarations say.

DOC_ROWS = {
    "`clients`": ("none", "clients"),
    "`clients` (strategy `token`)": ("token", "clients"),
    "`client`": ("none", "client"),
    "`client` (strategy `lease`)": ("lease", "client"),
    "`mutators`": ("none", "mutators"),
    "`store`": ("none", "store"),
    "`lock`, `lease`, `dedupe`": [("lock", "lock"), ("lease", "lease"), ("idempotency", "dedupe")],
    "`controller.N`, `leader`": [("lease", "controller.0"), ("lease", "leader")],
    "`coordinator`, `reconciler`, `consumer`": [("two_phase", "coordinator"), ("reconcile", "reconciler"),
                                                 ("queue", "consumer")],
    "`consumer` with `[capacity.consumer]`": ("queue_finite_consumer", "consumer"),
    "`participant.N`": ("two_phase", "participant.1"),
    "`issuer`, `verifier`": [("token", "issuer"), ("token", "verifier")],
    "`cache` (read path `cache`)": ("cache", "cache"),
    "`replicas` (read path `replica`)": ("replica", "replicas"),
}


def test_the_audit_table_in_the_docs_matches_the_declarations() -> None:
    text = (ROOT / "docs" / "reference" / "fault-targets.md").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[1:] == list(EFFECTS)
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")] for line in lines[1:])}
    assert set(rows) == set(DOC_ROWS)
    for row, where in DOC_ROWS.items():
        honoured = {effect for effect, cell in zip(EFFECTS, rows[row], strict=True) if cell == "✓"}
        for name, target in where if isinstance(where, list) else [where]:
            assert model_targets(parse_model(MODELS[name]))[target] == honoured, row
