"""The world's observer hook: listeners hear every event, in order, and change nothing."""

from __future__ import annotations

from pathlib import Path

from toctou_sim.core.distributions import RandomStreams
from toctou_sim.spec import load_model, parse_model
from toctou_sim.world import World
from toctou_sim.world.observer import HOOKS, WorldObserver, broadcast

MODELS = Path(__file__).resolve().parents[2] / "models"


class Log(WorldObserver):
    """Writes down every event it hears, with its simulated time."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.events: list[tuple[str, float]] = []

    def _note(self, name: str) -> None:
        self.events.append((name, self.world.env.now))

    def began(self, op):  # type: ignore[no-untyped-def]
        self._note("began")

    def check_began(self, op):  # type: ignore[no-untyped-def]
        self._note("check_began")

    def checked(self, op, held, outdated):  # type: ignore[no-untyped-def]
        self._note(f"checked held={held} outdated={outdated}")

    def window_ended(self, op, window):  # type: ignore[no-untyped-def]
        self._note("window_ended")

    def judged(self, op, now, accepted, holds, duplicate):  # type: ignore[no-untyped-def]
        self._note(f"judged accepted={accepted} holds={holds}")

    def harmed(self, op, kind):  # type: ignore[no-untyped-def]
        self._note(f"harmed {kind}")

    def finished(self, op, outcome, now):  # type: ignore[no-untyped-def]
        self._note(f"finished {outcome}")


def test_a_lost_update_is_heard_step_by_step() -> None:
    """A checks v0 at t=0 with a 1 s window; B checks at 0.5 and writes at 0.6; A's use at t=1
    lands on v1: a harm, judged accepted with the precondition false, a violated end."""
    model = parse_model({"clients": {"arrival": {"poisson": {"rate": 1}}}, "keys": {"invariant": "version"}})
    world = World(model, RandomStreams(0, 0))
    log = Log(world)
    world.listen(log)
    a = world.submit(0, window=1.0)
    world.env.run(until=0.5)
    world.submit(0, window=0.1)
    world.env.run(until=2.0)
    assert a.done
    assert log.events == [
        ("began", 0.0), ("check_began", 0.0), ("checked held=True outdated=False", 0.0),
        ("began", 0.5), ("check_began", 0.5), ("checked held=True outdated=False", 0.5),
        ("window_ended", 0.6), ("judged accepted=True holds=True", 0.6), ("finished 0", 0.6),
        ("window_ended", 1.0), ("harmed lost_update", 1.0), ("judged accepted=True holds=False", 1.0),
        ("finished 3", 1.0),
    ]


def test_listening_changes_no_number() -> None:
    """A world with a listener on every hook counts exactly what a plain one does."""
    model = load_model(MODELS / "flash_sale.toml", {"model.horizon": "2s", "model.warmup": "0.2s"})
    plain = World(model, RandomStreams(3, 0))
    plain.run()
    heard = World(model, RandomStreams(3, 0))
    log = Log(heard)
    heard.listen(log)
    heard.run()
    assert vars(heard.recorder).keys() == vars(plain.recorder).keys()
    for name, value in vars(plain.recorder).items():
        if isinstance(value, int | float):
            assert getattr(heard.recorder, name) == value, name
    finished = sum(1 for name, _ in log.events if name.startswith("finished"))
    assert finished >= heard.recorder.operations > 0  # the log hears warm-up operations too


def test_the_recorder_is_counted_only_through_its_hooks() -> None:
    """The judged hook alone decides mismatch, violation and conflict counts (recorder identity)."""
    model = load_model(MODELS / "flash_sale.toml", {"model.horizon": "2s", "model.warmup": "0s"})
    world = World(model.with_strategy("cas"), RandomStreams(1, 0))
    world.run()
    recorder = world.recorder
    assert recorder.mismatches == recorder.conflicts + recorder.violations
    assert recorder.conflicts > 0


def test_broadcast_binds_nothing_one_method_or_a_fan_out() -> None:
    heard: list[str] = []

    class One(WorldObserver):
        def retried(self, op):  # type: ignore[no-untyped-def]
            heard.append("one")

    class Two(WorldObserver):
        def retried(self, op):  # type: ignore[no-untyped-def]
            heard.append("two")

    one, two = One(), Two()
    assert all(getattr(broadcast([]), hook) is None for hook in HOOKS)
    assert broadcast([one]).retried == one.retried
    assert broadcast([one]).judged is None
    fan = broadcast([one, two]).retried
    assert fan is not None
    fan(None)
    assert heard == ["one", "two"]


def test_nothing_but_the_recorder_writes_its_counters() -> None:
    """The world, strategies, read paths and faults count through hooks: no ``recorder.x += ...``
    or ``recorder.histogram.add(...)`` outside the measure layer and the fast engine (which builds
    its recorder from the kernel's counts, after the run)."""
    import re

    package = Path(__file__).resolve().parents[2] / "toctou_sim"
    writes = re.compile(r"recorder\.\w+\s*[+-]=|recorder\.\w+\.add\(")
    offenders = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        if path.relative_to(package).parts[0] not in ("measure", "engines")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if writes.search(line)
    ]
    assert offenders == []
    assert writes.search("world.recorder.attempts += 1") and writes.search("recorder.window.add(x)")
