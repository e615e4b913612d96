"""Model files: durations, overrides, and one-line errors that name the field."""

from __future__ import annotations

import pytest
from conftest import MODELS
from pydantic import ValidationError

from toctou_sim.core.units import format_duration, parse_duration
from toctou_sim.spec.model import SpecError, load_model, parse_model


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("40ms", 0.04), ("2s", 2.0), ("5m", 300.0), ("1h", 3600.0), ("30d", 2_592_000.0), (0.25, 0.25),
     ("250us", 0.00025), (3, 3.0)],
)
def test_durations(text, seconds) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_duration_rejects_unknown_unit() -> None:
    with pytest.raises(ValueError, match="unknown time unit"):
        parse_duration("5 parsecs")


def test_format_duration() -> None:
    assert format_duration(0.04) == "40ms"
    assert format_duration(90) == "1.5m"


BASE = {"clients": {"arrival": {"poisson": {"rate": 3}}}}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"clients": {"arrival": {"poisson": {"rate": -3}}}}, "clients.arrival.poisson.rate: must be > 0, got -3"),
        ({"clients": {"arrival": {"poisson": {"rate": 3}}, "colour": 1}},
         "clients.colour: unknown field; expected one of arrival,"),
        ({"clients": {"arrival": {"poisson": {"rate": "fast"}}}},
         "clients.arrival.poisson.rate: expected a number, got 'fast'"),
        ({"strategy": {"kind": "magic"}}, "strategy: unknown strategy 'magic'; expected one of"),
        ({"strategy": {"kind": "cas", "retries": 2}}, "strategy.retries: unknown field; expected one of"),
        ({"clients": {"arrival": {"poisson": {"rate": 3}}, "window": {"gaussian": {"mean": 1}}}},
         "clients.window: unknown distribution 'gaussian'"),
        ({"clients": {"arrival": {"poisson": {"rate": 3}}, "window": {"exponential": {"mean": "-4ms"}}}},
         "clients.window.exponential.mean: must be > 0"),
        ({"keys": {"count": 0}}, "keys.count: must be >= 1, got 0"),
        ({"slo": {"target": 1.5}}, "slo.target: must be < 1, got 1.5"),
        ({"model": {"horizon": "10s", "warmup": "20s"}}, "model: warmup (20s) must be shorter than horizon"),
        ({"mutators": [{"action": "restock", "rate": 1}]},
         "mutators.0.action: 'restock' does not apply to invariant 'version'"),
        ({"store": {"read_latency": {"lognormal": {"median": "2ms"}}}},
         "store.read_latency.lognormal: give both median and p99"),
    ],
)
def test_bad_input_names_file_and_field(patch, message) -> None:
    data = {**BASE, **patch}
    with pytest.raises(SpecError) as info:
        parse_model(data, source="models/x.toml")
    text = str(info.value)
    assert text.startswith("models/x.toml: ")
    assert message in text
    assert "\n" not in text


def test_missing_file_and_bad_toml(tmp_path) -> None:
    with pytest.raises(SpecError, match=r"nope\.toml: file not found"):
        load_model(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nname = 1")
    with pytest.raises(SpecError, match=r"bad\.toml: invalid TOML"):
        load_model(bad)


def test_overrides_by_dotted_path() -> None:
    spec = load_model(MODELS / "flash_sale.toml",
                      {"clients.arrival.poisson.rate": "1500", "mutators.0.rate": 2, "strategy.kind": "cas",
                       "read_path.kind": "direct"})
    assert spec.clients.arrival.poisson.rate == 1500
    assert spec.mutators[0].rate == 2
    assert spec.strategy.kind == "cas"


def test_override_errors_name_the_path() -> None:
    with pytest.raises(SpecError, match=r"mutators\.5\.rate: .*no item 5"):
        load_model(MODELS / "flash_sale.toml", {"mutators.5.rate": 1})
    with pytest.raises(SpecError, match=r"clients\.arrival\.poisson\.rate: must be > 0"):
        load_model(MODELS / "flash_sale.toml", {"clients.arrival.poisson.rate": "-1"})


def test_model_is_frozen_and_hash_tracks_content() -> None:
    a = load_model(MODELS / "flash_sale.toml")
    b = load_model(MODELS / "flash_sale.toml", {"clients.arrival.poisson.rate": 501})
    with pytest.raises(ValidationError):
        a.keys.count = 3  # type: ignore[misc]
    assert a.content_hash() == load_model(MODELS / "flash_sale.toml").content_hash()
    assert a.content_hash() != b.content_hash()


def test_named_strategies_and_kinds_resolve() -> None:
    spec = load_model(MODELS / "flash_sale.toml")
    assert spec.resolve_strategy("lock").kind == "lock"
    assert spec.resolve_strategy("lock").wait_timeout == 1.0  # the model's [strategies.lock]
    assert spec.resolve_strategy("recheck").kind == "recheck"
    with pytest.raises(SpecError, match="unknown strategy 'zap'"):
        spec.resolve_strategy("zap")


def test_model_dump_round_trips() -> None:
    spec = load_model(MODELS / "flash_sale.toml")
    again = parse_model(spec.model_dump(mode="json", by_alias=True))
    assert again.content_hash() == spec.content_hash()
