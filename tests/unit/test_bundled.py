"""Bundled models by name, the starting model of ``toctou-sim init``, and the model file's JSON Schema."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from conftest import MODELS

from toctou_sim.cli.main import main
from toctou_sim.spec.bundled import (
    INIT_INVARIANTS,
    INIT_READ_PATHS,
    MODELS_DIR,
    bundled_models,
    resolve_model,
    starting_model,
)
from toctou_sim.spec.model import ACTOR_SPECS, FAULT_SPECS, READ_PATH_SPECS, STRATEGY_SPECS, load_model, parse_model
from toctou_sim.spec.schema import model_file_schema

SMALL = ["--reps", "2", "--seed", "3", "--set", "model.horizon=1s", "--set", "model.warmup=0", "--json"]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_the_repository_models_folder_is_the_package_data() -> None:
    """``models/`` at the repository root is a link to the package's folder: one set of files."""
    assert MODELS.resolve() == MODELS_DIR
    assert [m.name for m in bundled_models()] == sorted(p.stem for p in MODELS.glob("*.toml"))
    assert len(bundled_models()) >= 20


def test_a_bundled_name_runs_the_same_model_as_its_path() -> None:
    by_path = invoke("run", str(MODELS / "flash_sale.toml"), *SMALL)
    by_name = invoke("run", "flash_sale", *SMALL)
    assert by_path[0] == 0, by_path[1]
    assert by_name == by_path
    assert resolve_model("flash_sale.toml") == resolve_model("flash_sale") == MODELS_DIR / "flash_sale.toml"
    assert json.loads(by_name[1])["results"]


def test_an_existing_path_wins_over_a_bundled_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = (MODELS / "flash_sale.toml").read_text().replace('name = "flash-sale"', 'name = "my-own-sale"')
    Path("flash_sale").write_text(text)
    code, output = invoke("run", "flash_sale", "--reps", "1", "--set", "model.horizon=2s", "--set", "model.warmup=0")
    assert code == 0, output
    assert output.startswith("my-own-sale:")


def test_an_unknown_name_is_bad_input_naming_close_ones() -> None:
    code, output = invoke("compare", "flash_sael", "--reps", "1")
    lines = output.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("error: flash_sael: file not found") and "flash_sale" in lines[0]
    code, output = invoke("report", "no_such_thing_at_all", "--out", "x")
    assert code == 2 and "toctou-sim models" in output


@pytest.mark.parametrize("command", ["sweep", "staleness", "trace", "report"])
def test_every_model_command_accepts_a_name(command: str) -> None:
    """Each command that reads a model resolves its MODEL argument the same way."""
    code, output = invoke(command, "flash_sael")
    assert code == 2 and "did you mean flash_sale" in output


def test_models_lists_names_that_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = invoke("models")
    assert code == 0
    names = [line.split()[0] for line in output.splitlines()]
    assert "payment_webhook" in names
    code, paths = invoke("models", "--paths")
    assert [Path(line.split()[0]).stem for line in paths.splitlines()] == names
    assert all(Path(line.split()[0]).is_file() for line in paths.splitlines())


@pytest.mark.parametrize("invariant", INIT_INVARIANTS)
@pytest.mark.parametrize("read_path", INIT_READ_PATHS)
def test_every_starting_model_validates(invariant: str, read_path: str) -> None:
    text = starting_model(name="start", invariant=invariant, read_path=read_path)
    spec = parse_model(tomllib.loads(text), source="start.toml")
    assert spec.keys.invariant == invariant
    assert spec.read_path.kind == read_path
    assert {"cas", "lock"} <= set(spec.strategies)
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 15


def test_init_writes_a_model_that_runs(tmp_path: Path) -> None:
    target = tmp_path / "checkout.toml"
    code, output = invoke("init", str(target), "--invariant", "counter", "--read-path", "cache")
    assert code == 0 and f"wrote {target}" in output
    spec = load_model(target)
    assert (spec.model.name, spec.keys.invariant, spec.read_path.kind) == ("checkout", "counter", "cache")
    assert f"toctou-sim run {target}" in target.read_text()
    code, output = invoke("run", str(target), "--reps", "1", "--set", "model.horizon=3s", "--set", "model.warmup=0")
    assert code == 0, output
    assert output.startswith("checkout: strategy none")


def test_init_does_not_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "model.toml"
    target.write_text("# mine\n")
    code, output = invoke("init", str(target))
    assert code == 2 and output.count("\n") == 1 and "already exists" in output
    assert target.read_text() == "# mine\n"
    code, _ = invoke("init", str(target), "--force", "--invariant", "exists")
    assert code == 0 and 'invariant = "exists"' in target.read_text()


def test_init_refuses_an_unknown_invariant(tmp_path: Path) -> None:
    code, output = invoke("init", str(tmp_path / "m.toml"), "--invariant", "uniqueness")
    assert code == 2 and "uniqueness" in output and not (tmp_path / "m.toml").exists()


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = model_file_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_bundled_model_fits_the_schema(validator: jsonschema.Draft202012Validator, path: Path) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(tomllib.loads(path.read_text()))]
    assert errors == []


def test_starting_models_fit_the_schema(validator: jsonschema.Draft202012Validator) -> None:
    for invariant in INIT_INVARIANTS:
        for read_path in INIT_READ_PATHS:
            text = starting_model(name="s", invariant=invariant, read_path=read_path)
            assert list(validator.iter_errors(tomllib.loads(text))) == []


GOOD = {"clients": {"arrival": {"poisson": {"rate": 5}}, "window": "40ms"}}


@pytest.mark.parametrize(
    "change",
    [
        {"keys": {"colour": "red"}},
        {"keys": {"invariant": "uniqueness"}},
        {"strategy": {"kind": "optimism"}},
        {"strategy": "optimism"},
        {"strategy": {"retry": {"max_retries": 2}}},
        {"read_path": {"kind": "cache", "ttl_seconds": 3}},
        {"faults": [{"kind": "meteor"}]},
        {"model": {"horizon": "ten minutes"}},
        {"model": {"horizon": -1}},
        {"clients": {"arrival": {"poisson": {"rate": 5}}, "window": {"normal": {"mean": 1}}}},
        {"clients": {"arrival": {"poisson": {"rate": 5}}, "window": {"mixture": [{"weight": 1}]}}},
    ],
)
def test_the_schema_rejects_what_validation_rejects(validator: jsonschema.Draft202012Validator,
                                                    change: dict[str, object]) -> None:
    data = {**GOOD, **change}
    assert list(validator.iter_errors(GOOD)) == []
    assert list(validator.iter_errors(data)) != []
    with pytest.raises(ValueError):
        parse_model(data, source="x.toml")


def test_the_schema_knows_every_registered_kind() -> None:
    definitions = model_file_schema()["$defs"]
    for base, registry in [("StrategySpec", STRATEGY_SPECS), ("ReadPathSpec", READ_PATH_SPECS),
                           ("FaultSpec", FAULT_SPECS), ("ActorSpec", ACTOR_SPECS)]:
        assert definitions[base]["anyOf"][0]["enum"] == sorted(registry)


def test_schema_command_prints_and_writes(tmp_path: Path) -> None:
    code, output = invoke("schema")
    assert code == 0 and json.loads(output) == model_file_schema()
    code, output = invoke("schema", "--out", str(tmp_path / "model.schema.json"))
    assert code == 0 and json.loads((tmp_path / "model.schema.json").read_text()) == model_file_schema()
