"""The world of one replication: SimPy processes over the authoritative store.

Every client operation is a flow: check (read through the read path, evaluate the precondition
on what was observed) -> window -> use (through the strategy). Ground truth is the
authoritative store at the instant a use is decided: a use that takes effect while the
precondition is false there is a violation; one the strategy rejects is a conflict.

The engine knows nothing of particular strategies, read paths or faults: it builds the
registered classes named in the model and gives them the steps below (:meth:`World.check`,
:meth:`World.use`, :meth:`World.finish`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import simpy

from toctou_sim.core.distributions import Exponential, RandomStreams, Uniform
from toctou_sim.measure.metrics import ABORTED, DECLINED, OK, UNFINISHED, VIOLATED, Recorder, TimeWeighted
from toctou_sim.spec.model import ModelSpec, Zipf
from toctou_sim.spec.targets import running_targets
from toctou_sim.world.actor import Actor, Quota
from toctou_sim.world.invariants import INVARIANTS, Invariant
from toctou_sim.world.ledger import EffectLedger
from toctou_sim.world.load import arrival_gaps
from toctou_sim.world.observer import Broadcast, WorldObserver, broadcast
from toctou_sim.world.operation import ACCEPTED, REJECTED, Flow, Operation, ServiceRefused
from toctou_sim.world.registry import Behaviours

if TYPE_CHECKING:
    from toctou_sim.spec.model import ActorSpec, FaultSpec, ReadPathSpec, StrategySpec

__all__ = [
    "ACCEPTED",
    "ACTORS",
    "FAULTS",
    "READ_PATHS",
    "REJECTED",
    "STRATEGIES",
    "Actor",
    "BackgroundActor",
    "Fault",
    "Flow",
    "Operation",
    "Process",
    "Quota",
    "ReadPath",
    "ServiceRefused",
    "Store",
    "Strategy",
    "World",
]

class Store:
    """The authoritative state: per key a version (bumped by every write) and an integer value,
    plus a fencing watermark (the highest lock token seen for the key)."""

    __slots__ = ("fence", "invariant", "value", "version")

    def __init__(self, count: int, initial: int, invariant: Invariant) -> None:
        self.version: list[int] = [0] * count
        self.value: list[int] = [initial] * count
        self.fence: list[int] = [0] * count
        self.invariant = invariant

    def holds(self, key: int, seen_version: int) -> bool:
        """Whether the precondition holds on the authoritative state of ``key`` now."""
        return self.invariant.holds(self.value[key], self.version[key], seen_version)

    def write(self, key: int, value: int) -> None:
        """Apply a write: set the value and bump the version."""
        self.value[key] = value
        self.version[key] += 1


class ReadPath:
    """How a check observes a key. Subclasses implement :meth:`read`.

    ``read`` is a SimPy step that ends at the instant the observation is made and returns the
    observed ``(version, value)``; the engine compares it with the truth at that instant to count
    stale checks.
    """

    reads_store: ClassVar[bool] = False
    """Whether observing a key is exactly "wait the read latency (when positive), then read the
    authoritative store" (the direct read path). :meth:`World.check` then takes that step itself,
    which saves a generator per check on the hot path. A subclass that overrides :meth:`read` or
    :meth:`observe` without declaring ``reads_store`` itself is read through them."""

    hears_uses: ClassVar[bool] = True
    """Whether :meth:`on_use` does anything: the world skips the call when it does not (the direct
    read path). A subclass that overrides :meth:`on_use` or :meth:`on_write` hears uses."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "reads_store" not in cls.__dict__ and ("read" in cls.__dict__ or "observe" in cls.__dict__):
            cls.reads_store = False
        if "hears_uses" not in cls.__dict__ and ("on_use" in cls.__dict__ or "on_write" in cls.__dict__):
            cls.hears_uses = True

    def __init__(self, world: World, spec: ReadPathSpec) -> None:
        self.world = world
        self.spec = spec

    def read(self, key: int, latency: float) -> Flow:
        """Observe ``key``; ``latency`` is the store read latency drawn for this operation."""
        raise NotImplementedError

    def observe(self, op: Operation, latency: float) -> Flow:
        """The check's read on behalf of ``op`` (default: :meth:`read` of its key).

        Read paths whose answer depends on who reads (client sessions pinned to a replica)
        override this; it must return the step itself, not run it.
        """
        return self.read(op.key, latency)

    def on_write(self, key: int) -> None:
        """Called after every write to the store (caches invalidate, replicas propagate)."""

    def on_use(self, op: Operation) -> None:
        """Called after a client's use wrote ``op.key`` (default: :meth:`on_write`)."""
        self.on_write(op.key)

    def metrics(self) -> dict[str, float]:
        """Extra per-replication metrics of this read path."""
        return {}


class Strategy:
    """A mitigation: how a use relates to its check. Subclasses implement :meth:`attempt`.

    :meth:`operate` runs attempts until one is not rejected, retrying with backoff and jitter as
    the spec's ``retry`` policy allows, and then ends the operation.
    """

    def __init__(self, world: World, spec: StrategySpec) -> None:
        self.world = world
        self.spec = spec
        retry = getattr(spec, "retry", None)
        self.max_retries: int = retry.max_retries if retry is not None else 0
        self._retry = retry
        self._budget: Any = None
        """The clients' token-bucket retry budget (``retry.budget``), or ``None``."""
        if retry is not None and retry.budget is not None:
            from toctou_sim.world.services import RetryBudget

            self._budget = RetryBudget(world, retry.budget)

    def attempt(self, op: Operation, first: bool) -> Flow:
        """One check -> window -> use. Returns OK, DECLINED, VIOLATED or REJECTED_ATTEMPT."""
        raise NotImplementedError

    def operate(self, op: Operation) -> Flow:
        """The whole operation, as a SimPy process body: attempts until one is settled
        (:meth:`settle`), backing off before each retry (:meth:`back_off`)."""
        world = self.world
        first = True
        budget = self._budget
        while True:
            try:
                outcome = yield from self.attempt(op, first)
            except ServiceRefused:  # a finite service refused or timed out the call
                outcome = REJECTED_ATTEMPT
            if outcome != REJECTED_ATTEMPT and budget is None:
                break
            outcome = self.settle(op, outcome)
            if outcome != REJECTED_ATTEMPT:
                break
            yield from self.back_off(op)
            first = False
        world.finish(op, outcome)

    def settle(self, op: Operation, outcome: int) -> int:
        """After an attempt that ended with ``outcome``: the operation's outcome, or
        REJECTED_ATTEMPT when it retries (``op.retries`` then counts the retry, and the observers
        hear of it). A rejected attempt with no retry left (or no retry budget) aborts."""
        budget = self._budget
        if outcome != REJECTED_ATTEMPT:
            if budget is not None:
                budget.succeeded()
            return outcome
        if budget is not None:
            budget.failed()
        if op.retries >= self.max_retries or (budget is not None and not budget.allows_retry(op)):
            return ABORTED
        op.retries += 1
        retried = self.world.notify.retried
        if retried is not None:
            retried(op)
        return REJECTED_ATTEMPT

    def back_off(self, op: Operation) -> Flow:
        """The wait before a retry of ``op`` (backoff and jitter), then fresh variates for it."""
        world = self.world
        wait = world.backoff(self._retry, op.retries)
        if wait > 0:
            yield world.env.timeout(wait)
        world.redraw(op)

    def mutate(self, key: int, apply: Callable[[], None]) -> None:
        """Apply a background mutation of ``key`` (strategies that gate writers override this)."""
        apply()

    def metrics(self) -> dict[str, float]:
        """Extra per-replication metrics of this strategy."""
        return {}


REJECTED_ATTEMPT = -1
"""An attempt whose use the strategy rejected (the operation may retry)."""


class Process:
    """A part of the world that runs its own SimPy processes, started once by :meth:`start`, and
    may report extra per-replication metrics."""

    def __init__(self, world: World, spec: Any) -> None:
        self.world = world
        self.spec = spec

    def start(self) -> None:
        """Start the processes."""
        raise NotImplementedError

    def metrics(self) -> dict[str, float]:
        """Extra per-replication metrics."""
        return {}


class Fault(Process):
    """A fault injected into the world (a ``[[faults]]`` entry)."""

    spec: FaultSpec


class BackgroundActor(Process):
    """A background actor declared in ``[[actors]]`` (policy changer, schema changer, event
    stream); writes to the store go through ``world.strategy.mutate`` so that strategies which
    gate writers (locks, queues) see them."""

    spec: ActorSpec


STRATEGIES: Behaviours[Strategy] = Behaviours("strategy")
READ_PATHS: Behaviours[ReadPath] = Behaviours("read path")
FAULTS: Behaviours[Fault] = Behaviours("fault")
ACTORS: Behaviours[BackgroundActor] = Behaviours("actor")
"""The behaviour classes by kind: views of the one plug-in registry, typed by their base here."""


def _zipf(popularity: Any) -> float | None:
    return popularity.zipf if isinstance(popularity, Zipf) else None


BACKLOG_SAMPLES = 20
"""Instants of the measured span at which a replication samples its backlog (operations in flight)."""


class World:
    """Everything one replication simulates, built from a validated model.

    Attributes:
        env: the SimPy environment (time in seconds).
        store: the authoritative state.
        invariant: the precondition and effects on a key.
        read_path, strategy, faults: the registered behaviours named in the model.
        recorder: counters and histograms of counted operations.
        streams: the named random sources of this replication.
        actors: the named actors and services faults can target (``clients``, ``mutators``,
            ``store``, plus whatever the strategy and read path add with :meth:`add_actor`).
        clients_stalled_until: a stop-the-world pause of the clients (set by faults) delays every
            use until this instant (the ``clients`` actor's ``stalled_until``).
        ledger: the effect ledger: every applied use and the harm it did (a second effect of one
            request is a duplicate, guide F2, M3; a partial effect an orphan, F6).
        observers, notify: the world's listeners and the hooks bound to them (see :meth:`listen`).
    """

    backlog_samples = BACKLOG_SAMPLES
    """Instants of the measured span at which :meth:`run` samples the backlog (a world that
    reports no metrics, such as the explorer's, samples once)."""

    def __init__(self, spec: ModelSpec, streams: RandomStreams, recorder: Recorder | None = None,
                 observers: Sequence[WorldObserver] = ()) -> None:
        self.spec = spec
        self.env = simpy.Environment()
        self.streams = streams
        self.recorder = recorder if recorder is not None else Recorder.for_model(spec)
        self.observers: list[Any] = [self.recorder, *observers]
        """Who listens to this world's events (:mod:`toctou_sim.world.observer`): the recorder
        first, then any added with :meth:`listen`."""
        self.notify: Broadcast = broadcast(self.observers)
        """The hooks the world calls (each ``None`` when nobody listens to it)."""
        self.invariant = INVARIANTS[spec.keys.invariant]()
        self._holds = self.invariant.holds
        self.store = Store(spec.keys.count, spec.keys.initial_value, self.invariant)
        self.actors: dict[str, Actor] = {}
        self._honours = running_targets(spec)
        """What each target of this world honours (its model's declarations, running strategy only)."""
        self.aliases: dict[str, Callable[[], Actor | None]] = {}
        self._clients = self.add_actor("clients")
        self._client = self.add_actor("client")
        """One client of the fleet: a pause of ``client`` stops only the first client that reaches
        the end of its window during the pause (a GC pause of one process, see :meth:`wait_window`)."""
        self._mutators = self.add_actor("mutators")
        self._store = self.add_actor("store")
        self.crashing_client = False
        """Whether a ``crash`` fault targets ``client``: :meth:`decide` then checks, after each
        effect, whether the client that made it is the one crashing (see :meth:`lose_answer`)."""
        self.lost_answers = 0
        """Counted requests whose answer was lost after their effect (a client crash)."""
        self.in_flight = 0
        self._arrivals_done = False
        self._drained: simpy.Event | None = None
        self.services: list[Any] = []
        """Finite services and retry budgets of this world (each reports ``metrics()``)."""
        self.store_reads: Any = None
        """The finite store when the check's reads queue at it (``[capacity.store]``), else ``None``."""
        self.store_writes: Any = None
        """The finite store when uses' writes queue at it, else ``None``."""
        if spec.capacity:
            store = self.finite_service("store")
            if store is not None:
                calls = spec.capacity["store"].calls
                self.store_reads = store if calls != "writes" else None
                self.store_writes = store if calls != "reads" else None

        self._interarrival = arrival_gaps(spec.clients.arrival, streams)
        self._keys = streams.keys("keys", spec.keys.count, _zipf(spec.keys.popularity))
        self._window = streams.variates("window", spec.clients.window)
        self._read_latency = streams.variates("read_latency", spec.store.read_latency)
        self._write_latency = streams.variates("write_latency", spec.store.write_latency)
        self._retry_window = streams.variates("retry.window", spec.clients.window)
        self._retry_read = streams.variates("retry.read_latency", spec.store.read_latency)
        self._retry_write = streams.variates("retry.write_latency", spec.store.write_latency)
        self._jitter: Any = None
        """The retry-jitter stream, made when first drawn from (most worlds never draw)."""
        self._jitter_block: list[float] = []

        clients = spec.clients
        self._duplicates_possible = clients.redelivery is not None or clients.timeout is not None
        self.ledger = EffectLedger(track=self._duplicates_possible or clients.partial_failure > 0)
        """Every effect the world applied, with its harm (see :mod:`toctou_sim.world.ledger`)."""
        self._guard = _GUARDS[spec.strategy.write_guard()]
        self._refusal_is_answer = self.invariant.refusal_is_answer
        self.live: set[Operation] = set()
        """Operations submitted and not finished (charged as unfinished if the run ends first)."""
        self.backlog: list[int] = []
        """Operations in flight at evenly spaced instants of the measured span (instability)."""
        self.last_accepted = False
        """Whether the store applied the last use :meth:`decide` judged (after its guard)."""
        self._next_request = 0
        self.orphans = TimeWeighted(spec.model.warmup, spec.model.horizon)
        """Orphaned resources alive (partial creates not yet cleaned up), time-averaged."""
        self._partial_failure = clients.partial_failure
        unit = _UNIT
        if self._partial_failure > 0:
            self._partial = streams.variates("use.partial_failure", unit)
            self._retry_partial = streams.variates("retry.partial_failure", unit)
            self._duplicate_partial = streams.variates("duplicate.partial_failure", unit)
        if clients.redelivery is not None or clients.timeout is not None:
            self._duplicate_window = streams.variates("duplicate.window", clients.window)
            self._duplicate_read = streams.variates("duplicate.read_latency", spec.store.read_latency)
            self._duplicate_write = streams.variates("duplicate.write_latency", spec.store.write_latency)
        if clients.redelivery is not None:
            self._redelivery_draw = streams.variates("redelivery.draw", unit)
            self._redelivery_delay = streams.variates("redelivery.delay", clients.redelivery.delay)

        self.read_path = READ_PATHS[spec.read_path.kind](self, spec.read_path)
        self.strategy = STRATEGIES[spec.strategy.kind](self, spec.strategy)
        self.faults = [FAULTS[fault.kind](self, fault) for fault in spec.faults]
        self._faulty = bool(self.faults)
        """Whether any fault may act in this world: only a fault pauses, partitions or slows an actor
        (through its hooks), so without one the per-step stall and latency-spike checks are skipped."""
        self.background = [ACTORS[actor.kind](self, actor) for actor in spec.actors]
        """The background actors of ``[[actors]]``, in order."""
        self._reads_store = self.read_path.reads_store
        """Whether a check reads the store directly (:attr:`ReadPath.reads_store`), read once the
        read path is final (a background actor may wrap it, e.g. in a policy view)."""

    def listen(self, observer: WorldObserver) -> None:
        """Add an observer of this world's events (after the recorder and earlier observers)."""
        self.observers.append(observer)
        self.notify = broadcast(self.observers)

    # ---------------------------------------------------------------- actors (fault hooks)

    @property
    def clients_stalled_until(self) -> float:
        """The instant until which the clients are paused."""
        return self._clients.stalled_until

    def add_actor(self, name: str) -> Actor:
        """Register a named actor or service that faults may target (idempotent). It honours the
        fault effects its model declares for ``name`` (a part's ``targets()``): none when the
        name is declared nowhere, so no fault can act on it."""
        actor = self.actors.get(name)
        if actor is None:
            actor = self.actors[name] = Actor(name, self._honours.get(name, frozenset()))
        return actor

    def finite_service(self, name: str) -> Any:
        """The finite service ``name`` declared in ``[capacity]`` (a
        :class:`~toctou_sim.world.services.FiniteService`, built on first use), or ``None`` when
        the service is unbounded."""
        capacity = self.spec.capacity.get(name)
        if capacity is None:
            return None
        for service in self.services:
            if getattr(service, "name", None) == name:
                return service
        from toctou_sim.world.services import FiniteService

        service = FiniteService(self, name, capacity)
        self.services.append(service)
        return service

    def resolve(self, name: str) -> Actor | None:
        """The actor a fault's ``target`` names now: a registered actor, or an alias resolved at
        this instant (``leader``: whichever controller holds the lease), or ``None``."""
        alias = self.aliases.get(name)
        if alias is not None:
            return alias()
        return self.actors.get(name)

    def reach(self, service: Actor) -> Flow:
        """A call to ``service`` gets through: returns True once it is reachable, or False when a
        partition outlasts the service's ``call_timeout`` (the call then failed after that timeout).

        The step is the service's own (:meth:`Actor.reach`): the world only supplies the clock."""
        return service.reach(self.env)

    # ---------------------------------------------------------------- steps used by strategies

    def check(self, op: Operation, latency: float) -> Flow:
        """Read ``op.key`` through the read path and evaluate the precondition on what was seen.

        Records the observed version on ``op`` and returns whether the precondition held. A
        check whose observation differs from the truth at that instant is a stale check.
        """
        key = op.key
        env = self.env
        notify = self.notify
        if notify.check_began is not None:
            notify.check_began(op)
        if self._faulty:
            # paused clients check when they resume; a partitioned store answers at heal
            # (the later of the two instants; written out rather than max(): this runs per attempt)
            until = self._clients.stalled_until
            store_until = self._store.stalled_until
            if store_until > until:
                until = store_until
            if until > env._now:
                yield env.timeout(until - env._now)
        if self.store_reads is not None:  # a finite store: queue for a server first
            yield from self.store_reads.call(op)
        store = self.store
        if self._reads_store:  # the direct read, taken here: one generator fewer per check
            if latency > 0:
                yield env.timeout(latency)
            version = store.version[key]
            value = store.value[key]
        else:
            version, value = yield from self.read_path.observe(op, latency)
        op.seen_version = version
        op.seen_value = value
        op.t_check = env._now
        outdated = version != store.version[key]
        # A stale observation: the mismatch (if any) is already there at check time when the
        # precondition is false on the truth now.
        op.stale = outdated and not store.holds(key, version)
        held = self._holds(value, version, version)
        checked = notify.checked
        if checked is not None:
            checked(op, held, outdated)
        return held

    def wait_window(self, window: float, op: Operation | None = None) -> Flow:
        """The window between the check's answer and sending the use (plus any client pause).

        A pause of the whole fleet (``clients``) holds every use until it ends; a pause of one
        client (``client``) holds only the first use that comes here while it lasts (that client
        was paused between its check and its use, holding whatever it holds: a lock, a lease)."""
        env = self.env
        if window > 0:
            yield env.timeout(window)
        if self._faulty:
            until = self._clients.stalled_until
            store_until = self._store.stalled_until
            if store_until > until:
                until = store_until
            client = self._client
            if client.stalled_until > env._now:  # this client is the one paused
                one = client.take_pause(env._now)
                if one > until:
                    until = one
            if until > env._now:
                yield env.timeout(until - env._now)
        window_ended = self.notify.window_ended
        if window_ended is not None:
            window_ended(op, window)

    def decide(self, op: Operation, accepted: bool) -> int:
        """Judge a use at this instant against the authoritative state, apply it if accepted.

        ``accepted`` is the strategy's own verdict (a fence, a token); the store's write guard
        (``version`` or ``predicate``) and quota may still refuse it. An applied use is recorded
        in the effect ledger, which names its harm. Returns OK, VIOLATED, DECLINED or
        REJECTED_ATTEMPT, and counts mismatch / conflict / violation: a mismatch is the
        precondition false on the truth now; applied, it is a violation; refused, a conflict.

        A refused use whose precondition is now false ends declined (sold out, name taken,
        permission revoked: the correct answer) for invariants where the precondition is the
        answer; a refusal while the precondition still holds is spurious and may be retried.
        """
        store = self.store
        key = op.key
        now = self.env._now
        version = store.version
        value = store.value
        truth = holds = self._holds(value[key], version[key], op.seen_version)  # Store.holds, inlined
        guard = self._guard
        if accepted and guard:
            accepted = holds if guard == _PREDICATE else version[key] == op.seen_version
        quota = self._store.quota
        if accepted and quota is not None and not quota.admit(now):
            accepted = False  # throttled: the store refused the write above its quota
        self.last_accepted = accepted
        duplicate = False
        if accepted:
            invariant = self.invariant
            if invariant.use_writes:
                value[key] = invariant.use(value[key])  # Store.write, inlined
                version[key] += 1
                read_path = self.read_path
                if read_path.hears_uses:
                    read_path.on_use(op)
            origin = op.origin
            measured = op.counted if origin is None else origin.counted
            harm = self.ledger.record(op.request_id, key, now, op.partial, holds, measured)
            if harm == "duplicate":
                duplicate = True
                holds = False
            outcome = OK if holds else VIOLATED
            if op.partial:
                # The resource was created but finalising it failed: it is orphaned and the
                # client sees an error (and may retry), unless the use was a violation anyway.
                if holds:
                    outcome = REJECTED_ATTEMPT
                op.left_orphan = True
                self.orphans.change(now, 1)
            if op.partial or not holds:
                kind = "orphan" if op.partial else ("duplicate" if duplicate else self.invariant.harm)
                harmed = self.notify.harmed
                if harmed is not None:
                    harmed(op, kind)
            if self.crashing_client and origin is None:
                down = self._client.take_crash(now)
                if down > 0:  # this client crashes right after its effect, before it answers
                    if op.counted:
                        self.lost_answers += 1
                    self.lose_answer(op, down)
        else:
            op.raced = True
            outcome = DECLINED if not holds and self._refusal_is_answer else REJECTED_ATTEMPT
        if not holds:
            op.mismatched = True
        judged = self.notify.judged
        if judged is not None:
            judged(op, now, accepted, truth, duplicate)
        return outcome

    def catch(self, op: Operation) -> int:
        """The strategy caught a mismatch before any write (e.g. a failed re-check)."""
        return self.decide(op, accepted=False)

    def finish(self, op: Operation, outcome: int) -> None:
        """End an operation."""
        op.done = True
        self.in_flight -= 1
        self.live.discard(op)
        finished = self.notify.finished
        if finished is not None:
            finished(op, outcome, self.env._now)
        if self._arrivals_done and self.in_flight == 0 and self._drained is not None:
            self._drained.succeed()

    # ---------------------------------------------------------------- randomness helpers

    def redraw(self, op: Operation) -> None:
        """Fresh variates for a retry, from the retry streams."""
        factor = self._store.latency_factor
        op.window = self._retry_window()
        op.read_latency = self._retry_read() * factor
        op.write_latency = self._retry_write() * factor
        if self._partial_failure > 0:
            op.partial = self._retry_partial() < self._partial_failure

    # ---------------------------------------------------------------- duplicate deliveries

    def deliver_duplicate(self, original: Operation, delay: float) -> None:
        """Deliver a copy of ``original`` (same key and request id) ``delay`` from now.

        The copy counts as in flight from now on, so the replication does not end before it has
        been delivered and served. Its variates come from the ``duplicate.*`` streams, which
        exist (with request tracking in the :attr:`ledger`) when the model sets
        ``clients.redelivery`` or ``clients.timeout``.
        """
        self.in_flight += 1
        if delay > 0:
            self.env.timeout(delay).callbacks.append(partial(self._spawn_duplicate, original))
        else:
            self._spawn_duplicate(original)

    def lose_answer(self, op: Operation, delay: float) -> None:
        """The actor serving ``op`` crashed after its effect landed and before it recorded it (a
        queue consumer before its ack, a client before it answered): the request is delivered
        again ``delay`` from now (at-least-once), and a strategy that is not idempotent applies
        it twice. The first delivery still ends with its outcome (what it did stays done).

        The caller must have called :meth:`enable_duplicates` when it was built."""
        self.deliver_duplicate(op, delay)

    def enable_duplicates(self) -> None:
        """Let a part of the world redeliver requests (:meth:`deliver_duplicate`) although the
        clients declare no ``redelivery`` or ``timeout``: track effects by request id in the ledger
        and create the ``duplicate.*`` streams (idempotent). A queue whose consumer can crash before its ack, and
        a crash fault on ``client``, call this."""
        self.ledger.track = True
        if not hasattr(self, "_duplicate_window"):
            streams, spec = self.streams, self.spec
            self._duplicate_window = streams.variates("duplicate.window", spec.clients.window)
            self._duplicate_read = streams.variates("duplicate.read_latency", spec.store.read_latency)
            self._duplicate_write = streams.variates("duplicate.write_latency", spec.store.write_latency)

    def _spawn_duplicate(self, original: Operation, _event: simpy.Event | None = None) -> None:
        factor = self._store.latency_factor
        copy = Operation(original.key, self.env.now, self._duplicate_window(), self._duplicate_read() * factor,
                         self._duplicate_write() * factor, original.counted)
        copy.request_id = original.request_id
        copy.duplicate = True
        copy.deliveries = original.deliveries + 1
        self.live.add(copy)
        if self._partial_failure > 0:
            copy.partial = self._duplicate_partial() < self._partial_failure
        notify = self.notify
        if notify.redelivered is not None:
            notify.redelivered(copy)
        if notify.began is not None:
            notify.began(copy)
        self.env.process(self.strategy.operate(copy))
        self._watch(copy)

    def _watch(self, op: Operation) -> None:
        """Arm the client timeout of ``op``: no answer by then, and the client sends it again."""
        timeout = self.spec.clients.timeout
        if timeout is not None and op.deliveries < timeout.max_retries:
            self.env.timeout(timeout.after).callbacks.append(partial(self._timed_out, op))

    def _timed_out(self, op: Operation, _event: simpy.Event) -> None:
        if not op.done:
            self.deliver_duplicate(op, 0.0)

    def uniform(self) -> float:
        """A U(0, 1) variate from the retry-jitter stream."""
        block = self._jitter_block
        if not block:
            if self._jitter is None:
                self._jitter = self.streams.generator("retry.jitter")
            block = self._jitter_block = self._jitter.random(1024).tolist()
        return block.pop()

    def backoff(self, policy: Any, retry: int) -> float:
        """The wait before retry number ``retry`` (1-based) under a RetryPolicy."""
        if policy is None:
            return 0.0
        wait: float = min(policy.backoff * policy.multiplier ** (retry - 1), policy.max_backoff)
        if policy.jitter == "full":
            return wait * self.uniform()
        if policy.jitter == "equal":
            return wait / 2 + wait / 2 * self.uniform()
        return wait

    # ---------------------------------------------------------------- processes

    def submit(self, key: int, *, window: float = 0.0, read_latency: float = 0.0, write_latency: float = 0.0,
               counted: bool = True) -> Operation:
        """Start one client operation on ``key`` now, with the given first-attempt durations.

        The arrival process uses the same path; tests use it to script exact timelines.
        """
        factor = self._store.latency_factor  # an operation started during a latency spike is slowed
        op = Operation(key, self.env.now, window, read_latency * factor, write_latency * factor, counted,
                       self._next_request)
        self._next_request += 1
        if self._partial_failure > 0:
            op.partial = self._partial() < self._partial_failure
        self.in_flight += 1
        self.live.add(op)
        began = self.notify.began
        if began is not None:
            began(op)
        self.env.process(self.strategy.operate(op))
        if self._duplicates_possible:  # redeliveries or client timeouts (fast skip)
            self._resend(op)
        return op

    def _resend(self, op: Operation) -> None:
        """Draw whether ``op`` is redelivered, and arm its client timeout (when the clients do either)."""
        clients = self.spec.clients
        if clients.redelivery is not None and self._redelivery_draw() < clients.redelivery.probability:
            self.deliver_duplicate(op, self._redelivery_delay())
        if clients.timeout is not None:
            self._watch(op)

    def _arrivals(self) -> Flow:
        env = self.env
        horizon = self.spec.model.horizon
        warmup = self.spec.model.warmup
        timeout = env.timeout
        # Iterating the streams gives the same values as calling them, for less per value.
        sources = (self._interarrival, self._keys, self._window, self._read_latency, self._write_latency)
        variates = zip(*(iter(f) if hasattr(f, "__iter__") else iter(f, None) for f in sources), strict=False)
        if type(self).submit is not World.submit:  # a subclass hears every submission (the explorer)
            submit = self.submit
            for gap, key, window, read_latency, write_latency in variates:
                if env._now + gap >= horizon:
                    break
                yield timeout(gap)
                submit(key, window=window, read_latency=read_latency, write_latency=write_latency,
                       counted=env._now >= warmup)
            self._arrivals_done = True
            return
        # The same as calling submit, inlined: this loop runs once per arrival.
        process = env.process
        operate = self.strategy.operate
        live = self.live.add
        store = self._store
        partial = self._partial_failure > 0
        duplicates = self._duplicates_possible
        faulty = self._faulty
        for gap, key, window, read_latency, write_latency in variates:
            now = env._now + gap  # the instant the timeout below resumes at (SimPy adds the same two floats)
            if now >= horizon:
                break
            yield timeout(gap)
            if faulty:  # an operation started during a latency spike (a fault) is slowed
                factor = store.latency_factor
                read_latency *= factor
                write_latency *= factor
            op = Operation(key, now, window, read_latency, write_latency, now >= warmup, self._next_request)
            self._next_request += 1
            if partial:
                op.partial = self._partial() < self._partial_failure
            self.in_flight += 1
            live(op)
            began = self.notify.began
            if began is not None:
                began(op)
            process(operate(op))
            if duplicates:
                self._resend(op)
        self._arrivals_done = True

    def _mutator(self, index: int) -> Flow:
        spec = self.spec.mutators[index]
        env = self.env
        horizon = self.spec.model.horizon
        gaps = self.streams.variates(f"mutator.{index}.arrivals", _exponential(1.0 / spec.rate))
        popularity = spec.popularity if spec.popularity is not None else self.spec.keys.popularity
        keys = self.streams.keys(f"mutator.{index}.keys", self.spec.keys.count, _zipf(popularity))
        action = self.invariant.actions[spec.action]
        amount = spec.amount
        store = self.store
        mutate = self.strategy.mutate
        on_write = self.read_path.on_write
        mutated = self.notify.mutated
        actor, store_actor = self._mutators, self._store

        while True:
            yield env.timeout(gaps())
            stalled = max(actor.ready_at(), store_actor.stalled_until) - env.now
            if stalled > 0:  # paused mutators (or an unreachable store) write when they resume
                yield env.timeout(stalled)
            if env.now >= 2 * horizon:
                return
            key = keys()

            def apply(key: int = key) -> None:
                store.write(key, action(store.value[key], amount))
                on_write(key)
                if mutated is not None:
                    mutated(key)

            mutate(key, apply)

    def mutate(self, key: int, apply: Callable[[], None]) -> None:
        """A background write of ``key`` by an actor: through the strategy (which may gate
        writers), and heard by the observers when it lands."""
        mutated = self.notify.mutated
        if mutated is None:
            self.strategy.mutate(key, apply)
            return

        def applied() -> None:
            apply()
            mutated(key)

        self.strategy.mutate(key, applied)

    def run(self) -> None:
        """Simulate until the horizon, then let in-flight operations finish for at most one more
        horizon. Operations still running then are charged as ``unfinished`` (an SLO error whose
        latency is its age at that instant): a run never drops the operations it could not serve.

        The backlog (operations in flight) is sampled at evenly spaced instants of the measured
        span; a backlog that keeps growing marks the replication unstable."""
        env = self.env
        for fault in self.faults:
            fault.start()
        for background in self.background:
            background.start()
        env.process(self._arrivals())
        for index in range(len(self.spec.mutators)):
            env.process(self._mutator(index))
        horizon = self.spec.model.horizon
        warmup = self.spec.model.warmup
        samples = self.backlog_samples
        step = (horizon - warmup) / samples
        for index in range(1, samples + 1):
            env.run(until=warmup + step * index if index < samples else horizon)
            self.backlog.append(self.in_flight)
            if PROGRESS is not None:
                PROGRESS(1.0 / samples)
        if self.in_flight:
            self._drained = env.event()
            env.run(until=simpy.AnyOf(env, [self._drained, env.timeout(horizon)]))
        now = env.now
        for op in sorted(self.live, key=_arrival):
            if op.counted:
                self.recorder.finish(op, UNFINISHED, now)

    def extra_metrics(self) -> dict[str, float]:
        """Metrics contributed by the read path, the strategy and the faults."""
        extra: dict[str, float] = {"unfinished": float(self.in_flight)}
        extra.update(self.ledger.metrics(self.recorder.operations))
        extra.update(backlog_metrics(self.backlog, self.spec.model.horizon - self.spec.model.warmup))
        if self._partial_failure > 0:
            extra["orphans_alive"] = self.orphans.mean()
            extra["orphans_at_end"] = float(self.orphans.level)
            measured = self.spec.model.horizon - self.spec.model.warmup
            extra["orphans_per_day"] = self.recorder.partial_creates * 86400.0 / measured
        parts: list[ReadPath | Strategy | Fault | BackgroundActor] = [
            self.read_path, self.strategy, *self.faults, *self.background,
        ]
        for part in parts:
            extra.update(part.metrics())
        for service in self.services:
            extra.update(service.metrics())
        return extra


_PREDICATE = 2
_GUARDS = {"none": 0, "version": 1, "predicate": _PREDICATE}
_UNIT = Uniform(low=0.0, high=1.0)
"""U(0, 1): the draws of partial failures and redeliveries (one instance for every world)."""

PROGRESS: Callable[[float], None] | None = None
"""A progress bar's hook: when set, :meth:`World.run` calls it with ``1 / BACKLOG_SAMPLES`` after
each stretch of simulated time, so a bar moves within a long replication. Set only around one
replication by :mod:`toctou_sim.experiment.montecarlo` (called 20 times a replication: off the hot path)."""
"""Instants of the measured span at which the backlog is sampled."""


def _arrival(op: Operation) -> float:
    return op.arrival


def backlog_metrics(backlog: list[int], span: float) -> dict[str, float]:
    """Whether a replication reached a steady state, judged from its sampled backlog.

    A stable system's backlog fluctuates around a level; an overloaded one (offered load above
    what a service or a hot key can serve) grows for the whole run. The replication is
    ``unstable`` when the backlog over the last quarter of the span exceeds the highest backlog
    of the first quarter by more than half of it plus a margin for noise (five operations plus
    three standard deviations of a Poisson count at that level), and keeps growing into the
    last sample. ``backlog_growth_per_s`` is the least-squares slope of the backlog.
    """
    if len(backlog) < 4:
        return {"unstable": 0.0, "backlog_growth_per_s": math.nan, "backlog_end": math.nan}
    quarter = max(1, len(backlog) // 4)
    early = max(backlog[:quarter])
    late = sum(backlog[-quarter:]) / quarter
    margin = 0.5 * early + 5.0 + 3.0 * math.sqrt(early + 1.0)
    growing = late > early + margin and backlog[-1] >= max(backlog[: len(backlog) // 2])
    n = len(backlog)
    times = [span * (i + 1) / n for i in range(n)]
    mean_t = sum(times) / n
    mean_b = sum(backlog) / n
    spread = sum((t - mean_t) ** 2 for t in times)
    slope = sum((t - mean_t) * (b - mean_b) for t, b in zip(times, backlog, strict=True)) / spread
    return {"unstable": 1.0 if growing else 0.0, "backlog_growth_per_s": slope, "backlog_end": float(backlog[-1])}


def _exponential(mean: float) -> Exponential:
    return Exponential.model_validate({"mean": mean})

