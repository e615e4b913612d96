"""Plug-in kinds: one module per kind, one registry, complete, and open to third-party plug-ins.

Every spec class of a kind has its behaviour (and every plug-in module registers one), the
behaviour's constructor names its spec class, and a plug-in installed as a distribution with a
``toctou_sim.plugins`` entry point (here a fake one: a ``.dist-info`` folder on ``sys.path``) is
selected by a model file like a built-in kind and runs.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

import toctou_sim
import toctou_sim.plugins
from toctou_sim.spec.model import STRATEGY_SPECS, SpecError, load_model, parse_model
from toctou_sim.spec.parts import ActorSpec, FaultSpec, ReadPathSpec, StrategySpec
from toctou_sim.spec.registry import REGISTRY, Plugin, PluginError, PluginRegistry
from toctou_sim.world import ACTORS, FAULTS, READ_PATHS, STRATEGIES
from toctou_sim.world.engine import BackgroundActor, Fault, ReadPath, Strategy

TESTS = Path(__file__).resolve().parents[1]
SPEC_BASES: dict[str, type[Any]] = {"strategy": StrategySpec, "read path": ReadPathSpec, "fault": FaultSpec,
                                    "actor": ActorSpec}
BEHAVIOUR_BASES: dict[str, type[Any]] = {"strategy": Strategy, "read path": ReadPath, "fault": Fault,
                                         "actor": BackgroundActor}
HELPERS = {"toctou_sim.plugins.actors.policy_changer.PolicyView"}
"""Behaviour-like classes in plug-in modules that are not kinds (a wrapper the actor installs)."""

BUILTIN_KINDS = {
    "strategy": {"none", "recheck", "cas", "lock", "idempotency", "queue", "reconcile", "two_phase",
                 "reservation", "token", "lease"},
    "read path": {"direct", "cache", "replica"},
    "fault": {"pause", "crash", "latency_spike", "clock_skew", "throttle", "partition", "eviction_storm",
              "replica_lag_spike", "replica_partition"},
    "actor": {"policy_changer", "schema_changer", "event_stream"},
}
"""The kinds issue 14 names, written out (an independent record of what must be registered)."""


def _subclasses(base: type[Any]) -> Iterator[type[Any]]:
    for cls in base.__subclasses__():
        yield cls
        yield from _subclasses(cls)


def unpaired_specs(registry: PluginRegistry, module_prefix: str) -> list[str]:
    """Spec classes with a literal kind (defined in modules under ``module_prefix``) that no
    registered plug-in binds to a behaviour."""
    problems = []
    for family, base in SPEC_BASES.items():
        for cls in set(_subclasses(base)):
            kind = cls.model_fields["kind"].default
            if not cls.__module__.startswith(module_prefix) or not isinstance(kind, str):
                continue
            try:
                plugin = registry.get(family, kind)
            except KeyError:
                problems.append(f"{family} spec {cls.__qualname__} ({kind!r}) has no behaviour")
                continue
            if plugin.spec is not cls:
                problems.append(f"{family} spec {cls.__qualname__} ({kind!r}) is shadowed by "
                                f"{plugin.spec.__qualname__}")
    return problems


def unpaired_behaviours(registry: PluginRegistry, module_prefix: str) -> list[str]:
    """Behaviour classes defined in plug-in modules (under ``module_prefix``) that no registered
    plug-in binds to a spec."""
    registered = {plugin.behaviour for plugin in registry.plugins()}
    problems = []
    for family, base in BEHAVIOUR_BASES.items():
        for cls in set(_subclasses(base)):
            name = f"{cls.__module__}.{cls.__qualname__}"
            if cls.__module__.startswith(module_prefix) and cls not in registered and name not in HELPERS:
                problems.append(f"{family} behaviour {name} has no spec")
    return problems


def test_every_kind_has_its_spec_and_its_behaviour() -> None:
    assert unpaired_specs(REGISTRY, "toctou_sim.") == []
    assert unpaired_behaviours(REGISTRY, "toctou_sim.plugins") == []
    found = {family: {plugin.kind for plugin in REGISTRY.plugins(family)} for family in SPEC_BASES}
    assert found == BUILTIN_KINDS


def test_the_checks_find_a_spec_without_behaviour_and_a_behaviour_without_spec() -> None:
    class OrphanSpec(StrategySpec):
        kind: Literal["orphan_kind"] = "orphan_kind"

    class OrphanBehaviour(Strategy):
        pass

    spec = OrphanSpec.__qualname__
    assert unpaired_specs(REGISTRY, __name__) == [f"strategy spec {spec} ('orphan_kind') has no behaviour"]
    behaviour = f"{__name__}.{OrphanBehaviour.__qualname__}"
    assert unpaired_behaviours(REGISTRY, __name__) == [f"strategy behaviour {behaviour} has no spec"]


def test_each_kind_is_one_module_with_a_typed_behaviour() -> None:
    """Every module under toctou_sim/plugins/<family>/ defines one PLUGIN whose spec and behaviour
    are defined (or, for cache and replica, subclassed from world mechanics) in it, of the
    right family; a behaviour constructor names its spec class, not ``Any``."""
    modules = []
    for family_package in ("strategies", "read_paths", "faults", "actors"):
        package = importlib.import_module(f"toctou_sim.plugins.{family_package}")
        modules += [importlib.import_module(f"{package.__name__}.{info.name}")
                    for info in pkgutil.iter_modules(package.__path__)]
    assert len(modules) == sum(map(len, BUILTIN_KINDS.values()))
    assert {module.PLUGIN for module in modules} == set(toctou_sim.plugins.BUILTIN_PLUGINS)
    for module in modules:
        plugin: Plugin = module.PLUGIN
        assert module.__name__.rsplit(".", 1)[1] == plugin.kind
        assert plugin.spec.__module__ == module.__name__ == plugin.behaviour.__module__
        assert issubclass(plugin.behaviour, BEHAVIOUR_BASES[plugin.family])
        assert REGISTRY.get(plugin.family, plugin.kind) == plugin
        namespace = vars(module)
        assert eval(plugin.behaviour.__annotations__["spec"], namespace) is plugin.spec, plugin.kind
        init = plugin.behaviour.__dict__.get("__init__")
        if init is not None:
            assert typing.get_type_hints(init, namespace)["spec"] is plugin.spec, plugin.kind


def test_world_views_and_spec_views_read_the_one_registry() -> None:
    for view, family in ((STRATEGIES, "strategy"), (READ_PATHS, "read path"), (FAULTS, "fault"), (ACTORS, "actor")):
        assert view.names() == sorted(BUILTIN_KINDS[family])
        assert all(view[kind] is REGISTRY.get(family, kind).behaviour for kind in view.names())
    assert sorted(STRATEGY_SPECS) == sorted(BUILTIN_KINDS["strategy"])
    with pytest.raises(KeyError, match="no strategy registered as 'nope'; expected one of cas, idempotency"):
        STRATEGIES["nope"]


def test_a_kind_claimed_twice_or_a_malformed_plugin_is_an_error() -> None:
    class OtherCasSpec(StrategySpec):
        kind: Literal["cas"] = "cas"

    cas = REGISTRY.get("strategy", "cas")
    registry = PluginRegistry()
    registry.register(cas, "first")
    assert registry.register(cas, "again") is cas  # the same plug-in twice (built-in + entry point)
    with pytest.raises(PluginError, match="strategy kind 'cas' is registered twice: by first and by second"):
        registry.register(Plugin(spec=OtherCasSpec, behaviour=cas.behaviour), "second")
    with pytest.raises(PluginError, match="is not a spec of a kind"):
        Plugin(spec=int, behaviour=cas.behaviour)
    with pytest.raises(PluginError, match="has no literal kind"):
        Plugin(spec=StrategySpec, behaviour=cas.behaviour)


def test_the_spec_layer_loads_the_plugins_lazily_and_by_name() -> None:
    """Importing the spec layer imports no plug-in; the first kind looked up loads them all."""
    code = ("import sys\n"
            "from toctou_sim.spec.model import parse_model\n"
            "before = any(name.startswith('toctou_sim.plugins') for name in sys.modules)\n"
            "spec = parse_model({'clients': {'arrival': {'poisson': {'rate': 1}}}, 'strategy': {'kind': 'cas'}})\n"
            "print(before, type(spec.strategy).__module__, type(spec.read_path).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "toctou_sim.plugins.strategies.cas", "DirectReadSpec"]


# --------------------------------------------------------------------------------------------
# A third-party plug-in, installed through an entry point.

SMALL = {
    "model": {"name": "double check", "horizon": 30},
    "keys": {"count": 2, "invariant": "counter", "initial": 5},
    "clients": {"arrival": {"poisson": {"rate": 20}}, "window": 0.05},
    "mutators": [{"action": "restock", "rate": 5}],
}


@pytest.fixture
def installed_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``tests/data/plugin_example`` installed as the distribution ``toctou-double-check``: its module
    on ``sys.path`` and a ``.dist-info`` whose entry point names its ``PLUGIN``."""
    dist = tmp_path / "toctou_double_check-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toctou-double-check\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[toctou_sim.plugins]\ndouble_check = double_check:PLUGIN\n")
    monkeypatch.syspath_prepend(str(TESTS / "data" / "plugin_example"))
    monkeypatch.syspath_prepend(str(tmp_path))
    REGISTRY.reload()
    try:
        yield "double_check"
    finally:
        monkeypatch.undo()
        REGISTRY.reload()
        assert "double_check" not in STRATEGY_SPECS


def test_a_model_file_selects_an_installed_plugin_and_runs(installed_example: str, tmp_path: Path) -> None:
    plugin = REGISTRY.get("strategy", installed_example)
    assert REGISTRY.origin(plugin) == "entry point 'double_check' (double_check:PLUGIN)"
    path = tmp_path / "double_check.toml"
    path.write_text('[model]\nname = "double check"\nhorizon = 30\n\n[keys]\ncount = 2\ninvariant = "counter"\n'
                    'initial = 5\n\n[clients]\nwindow = 0.05\narrival = { poisson = { rate = 20 } }\n\n'
                    '[[mutators]]\naction = "restock"\nrate = 5\n\n[strategy]\nkind = "double_check"\n')
    spec = load_model(path)
    assert type(spec.strategy).__name__ == "DoubleCheckSpec"
    result = toctou_sim.compare(spec, ["none", "double_check"], reps=2, seed=3, engine="des")
    none, double = result.results["none"], result.results["double_check"]
    assert none.estimate("violation_rate").estimate > 0  # the window lets oversells through
    assert double.estimate("violation_rate").estimate == 0  # the second look has no write latency behind it
    looks = sum(r.metrics["double_check_looks"] for r in double.replications)
    caught = sum(r.metrics["double_check_caught"] for r in double.replications)
    assert 0 < caught < looks


def test_without_the_plugin_the_kind_is_bad_input() -> None:
    with pytest.raises(SpecError, match="strategy: unknown strategy 'double_check'; expected one of cas, "):
        parse_model({**SMALL, "strategy": {"kind": "double_check"}})


def test_the_docs_show_the_example_plugin_as_the_tests_install_it() -> None:
    page = (TESTS.parent / "docs" / "how-to" / "plugin.md").read_text(encoding="utf-8")
    block = page.split("```python\n", 1)[1].split("```", 1)[0]
    assert block == (TESTS / "data" / "plugin_example" / "double_check.py").read_text(encoding="utf-8")


def test_an_entry_point_that_cannot_be_loaded_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[toctou_sim.plugins]\nbroken = no_such_module_here:PLUGIN\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = PluginRegistry()
    with pytest.raises(PluginError, match=r"entry point 'broken' \(no_such_module_here:PLUGIN\) cannot be loaded"):
        registry.load()
    monkeypatch.undo()
    assert len(registry.plugins()) == sum(map(len, BUILTIN_KINDS.values()))  # discovery is retried
