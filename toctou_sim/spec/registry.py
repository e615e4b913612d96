"""The one registry of plug-in kinds (the bottom of :mod:`toctou_sim.spec`).

A *kind* (a strategy, a read path, a fault, a background actor) is one :class:`Plugin`: its
typed spec class (the model-file table, a subclass of
:class:`~toctou_sim.spec.parts.StrategySpec`, :class:`~toctou_sim.spec.parts.ReadPathSpec`,
:class:`~toctou_sim.spec.parts.FaultSpec` or :class:`~toctou_sim.spec.parts.ActorSpec` with a
literal ``kind``) bound to its behaviour class (the world object built from that spec). Both live
in one module; the registry holds the pair, keyed by the family and the kind.

The spec layer sits below the plug-ins and imports none of them. The registry finds them lazily,
the first time a kind is looked up (validating a model file, listing kinds):

1. the built-in kinds, :data:`BUILTIN_PLUGINS` of the package :data:`BUILTIN_PACKAGE` (loaded by
   name, so a source checkout without installed metadata has them too);
2. every entry point of the group :data:`ENTRY_POINT_GROUP` (``toctou_sim.plugins``) of the
   installed distributions, whose object is a :class:`Plugin` or a sequence of them.

A kind registered twice by different plug-ins is an error naming both.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

__all__ = [
    "BUILTIN_PACKAGE",
    "ENTRY_POINT_GROUP",
    "FAMILIES",
    "REGISTRY",
    "KindView",
    "Plugin",
    "PluginError",
    "PluginRegistry",
]

ENTRY_POINT_GROUP = "toctou_sim.plugins"
"""The entry-point group third-party plug-ins declare (``[project.entry-points."toctou_sim.plugins"]``)."""

BUILTIN_PACKAGE = "toctou_sim.plugins"
"""The package whose ``BUILTIN_PLUGINS`` are the built-in kinds (imported by name, not statically)."""

FAMILIES = ("strategy", "read path", "fault", "actor")
"""The families of kinds, as the spec base classes name them (their ``category``)."""


class PluginError(TypeError):
    """A plug-in that cannot be registered: malformed, or a kind claimed twice."""


@dataclass(frozen=True)
class Plugin:
    """One kind: its spec class and its behaviour class, bound together.

    ``spec`` is the pydantic model of the kind's model-file table; its ``kind`` field's default
    (a ``Literal``) is the name model files select it by, and its ``category`` the family.
    ``behaviour`` is the world class built as ``behaviour(world, spec)`` when a model selects the
    kind (a subclass of the family's base in :mod:`toctou_sim.world`:
    ``Strategy``, ``ReadPath``, ``Fault`` or ``BackgroundActor``).
    """

    spec: type[Any]
    behaviour: type[Any]

    def __post_init__(self) -> None:
        if not isinstance(self.spec, type) or not isinstance(self.behaviour, type):
            raise PluginError(f"a plugin binds two classes, got {self.spec!r} and {self.behaviour!r}")
        family = getattr(self.spec, "category", None)
        if family not in FAMILIES:
            raise PluginError(f"{self.spec.__qualname__} is not a spec of a kind (a subclass of "
                              f"StrategySpec, ReadPathSpec, FaultSpec or ActorSpec)")
        fields = getattr(self.spec, "model_fields", {})
        kind = fields["kind"].default if "kind" in fields else None
        if not isinstance(kind, str) or not kind:
            raise PluginError(f"{self.spec.__qualname__} has no literal kind (kind: Literal[\"name\"] = \"name\")")

    @property
    def family(self) -> str:
        """``strategy``, ``read path``, ``fault`` or ``actor``."""
        family: str = self.spec.category
        return family

    @property
    def kind(self) -> str:
        """The name model files select this kind by."""
        kind: str = self.spec.model_fields["kind"].default
        return kind


def _plugins_of(value: Any, origin: str) -> Iterable[Plugin]:
    if isinstance(value, Plugin):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(item, Plugin) for item in value):
        return tuple(value)
    raise PluginError(f"{origin}: expected a Plugin or a sequence of them, got {type(value).__name__}")


class PluginRegistry:
    """Every kind, by family and name; filled on first use (see the module's docstring)."""

    def __init__(self) -> None:
        self._plugins: dict[tuple[str, str], Plugin] = {}
        self._origins: dict[tuple[str, str], str] = {}
        self._ready = False
        self._loading = False
        self._lock = threading.RLock()

    def register(self, plugin: Plugin, origin: str = "code") -> Plugin:
        """Add ``plugin``; registering the same plugin again is a no-op, another plugin of the
        same family and kind an error."""
        key = (plugin.family, plugin.kind)
        with self._lock:
            existing = self._plugins.get(key)
            if existing is not None:
                if existing == plugin:
                    return existing
                raise PluginError(f"{plugin.family} kind {plugin.kind!r} is registered twice: by "
                                  f"{self._origins[key]} and by {origin}")
            self._plugins[key] = plugin
            self._origins[key] = origin
        return plugin

    def unregister(self, plugin: Plugin) -> None:
        """Remove ``plugin`` (a test's temporary kind); a plugin not registered is ignored."""
        key = (plugin.family, plugin.kind)
        with self._lock:
            if self._plugins.get(key) == plugin:
                del self._plugins[key]
                del self._origins[key]

    def load(self) -> None:
        """Discover the built-in and installed plug-ins (once; later calls return at once).

        Another thread waits until the discovery is complete; a plug-in module that looks a kind
        up while it is being imported (the same thread) sees the kinds registered so far.
        """
        if self._ready:
            return
        with self._lock:
            if self._ready or self._loading:
                return
            self._loading = True
            try:
                builtins = importlib.import_module(BUILTIN_PACKAGE)
                for plugin in _plugins_of(builtins.BUILTIN_PLUGINS, BUILTIN_PACKAGE):
                    self.register(plugin, BUILTIN_PACKAGE)
                for point in entry_points(group=ENTRY_POINT_GROUP):
                    origin = f"entry point {point.name!r} ({point.value})"
                    try:
                        loaded = point.load()
                    except Exception as error:
                        raise PluginError(f"{origin} cannot be loaded: {error}") from error
                    for plugin in _plugins_of(loaded, origin):
                        self.register(plugin, origin)
                self._ready = True
            except BaseException:
                self._plugins.clear()
                self._origins.clear()
                raise
            finally:
                self._loading = False

    def reload(self) -> None:
        """Forget every plug-in and discover them again (after installing one in this process)."""
        with self._lock:
            self._plugins.clear()
            self._origins.clear()
            self._ready = False
        self.load()

    def plugins(self, family: str | None = None) -> list[Plugin]:
        """The registered plug-ins (of one family), sorted by family and kind."""
        self.load()
        return [self._plugins[key] for key in sorted(self._plugins) if family in (None, key[0])]

    def get(self, family: str, kind: str) -> Plugin:
        """The plug-in of ``family`` called ``kind``; ``KeyError`` naming the known kinds."""
        self.load()
        try:
            return self._plugins[(family, kind)]
        except KeyError:
            known = ", ".join(plugin.kind for plugin in self.plugins(family))
            raise KeyError(f"no {family} registered as {kind!r}; expected one of {known}") from None

    def origin(self, plugin: Plugin) -> str:
        """Where ``plugin`` was registered from (the built-in package or an entry point)."""
        self.load()
        return self._origins[(plugin.family, plugin.kind)]


REGISTRY = PluginRegistry()
"""The registry every model file, world and command uses."""


class KindView(Mapping[str, type[Any]]):
    """The spec classes of one family by kind: a read-only, lazily loaded view of :data:`REGISTRY`."""

    def __init__(self, family: str) -> None:
        self.family = family

    def __getitem__(self, kind: str) -> type[Any]:
        return REGISTRY.get(self.family, kind).spec

    def __iter__(self) -> Iterator[str]:
        return iter([plugin.kind for plugin in REGISTRY.plugins(self.family)])

    def __len__(self) -> int:
        return len(REGISTRY.plugins(self.family))

    def __contains__(self, kind: object) -> bool:
        return any(plugin.kind == kind for plugin in REGISTRY.plugins(self.family))

    def __repr__(self) -> str:
        return f"KindView({self.family!r}: {', '.join(self)})"
