"""A JSON Schema of the model file, for editors that complete and check TOML against a schema.

Generated from the pydantic models (:class:`~toctou_sim.spec.model.ModelSpec` and everything it holds),
so it cannot drift from what validation accepts. Three kinds of field are validated by functions
rather than by types, and get their schema here:

- durations: a number of seconds or a string with a unit (``"40ms"``, ``"2s"``, ``"1m"``);
- distributions: a duration (a constant) or a one-key table naming a family
  (``{ exponential = { mean = "40ms" } }``);
- pluggable parts (``strategy``, ``strategies.*``, ``read_path``, ``faults``, ``actors``): one of the
  registered kinds, each a table with its ``kind`` — including kinds a plugin registered.

The schema is a little looser than validation (cross-field rules such as "warmup shorter than
horizon" are only checked by ``toctou-sim``), never stricter.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from toctou_sim.core import distributions, units
from toctou_sim.spec import model as spec
from toctou_sim.spec import parts as spec_parts

__all__ = ["SCHEMA_ID", "model_file_schema"]

SCHEMA_ID = "https://toctou-sim.invalid/model-file.schema.json"
"""The schema's ``$id`` (a name, not a place it is served from)."""

_DURATION_PATTERN = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*(ns|us|µs|ms|s|m|h|d)?\s*$"

_DURATION_CHECKS: dict[Any, dict[str, Any]] = {
    units.parse_duration: {},
    units._non_negative: {"minimum": 0},
    units._positive: {"exclusiveMinimum": 0},
}

_REGISTRIES: dict[Any, type[spec_parts.Registered]] = {
    spec_parts._strategy: spec_parts.StrategySpec,
    spec_parts._read_path: spec_parts.ReadPathSpec,
    spec_parts._fault: spec_parts.FaultSpec,
    spec_parts._actor: spec_parts.ActorSpec,
}


def _duration(bounds: dict[str, Any]) -> JsonSchemaValue:
    return {
        "anyOf": [
            {"type": "number", **bounds},
            {"type": "string", "pattern": _DURATION_PATTERN},
        ],
        "description": 'A duration: seconds, or a number with a unit ("40ms", "2s", "1m").',
    }


_DISTRIBUTION = "x-toctou-distribution"
_PART = "x-toctou-part"


class _ModelFileSchema(GenerateJsonSchema):
    """pydantic's generator, taught the fields that are parsed by functions.

    Distributions and pluggable parts nest (a mixture holds distributions, a strategy may wrap
    another), so each is left as a marker here and becomes a ``$ref`` to one shared definition.
    """

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        function = schema["function"].get("function")
        if function in _DURATION_CHECKS:
            return _duration(_DURATION_CHECKS[function])
        return super().function_before_schema(schema)

    def function_plain_schema(self, schema: core_schema.PlainValidatorFunctionSchema) -> JsonSchemaValue:
        function = schema["function"].get("function")
        if function is distributions._validate_distribution:
            return {_DISTRIBUTION: True}
        if function in _REGISTRIES:
            return {_PART: _REGISTRIES[function].__name__}
        return super().function_plain_schema(schema)

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, distributions.Distribution):
            return dft.to_data()
        if isinstance(dft, BaseModel):
            return dft.model_dump(mode="json", by_alias=True, exclude_none=True)
        return super().encode_default(dft)


def _resolve_markers(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(_DISTRIBUTION):
            return {"$ref": "#/$defs/Distribution"}
        if _PART in value:
            return {"$ref": f"#/$defs/{value[_PART]}"}
        return {key: _resolve_markers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve_markers(item) for item in value]
    return value


def model_file_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a model file, with every registered kind."""
    families = sorted(distributions.DISTRIBUTIONS.items())
    parts = [(base, kind, base.registry[kind]) for base in _REGISTRIES.values() for kind in sorted(base.registry)]
    inputs: list[tuple[Any, Any, core_schema.CoreSchema]] = [
        ("model", "validation", spec.ModelSpec.__pydantic_core_schema__)
    ]
    inputs += [(("family", family), "validation", cls.__pydantic_core_schema__) for family, cls in families]
    inputs += [(("part", kind, base.__name__), "validation", cls.__pydantic_core_schema__) for base, kind, cls in parts]
    refs, generated = _ModelFileSchema().generate_definitions(inputs)
    definitions: dict[str, JsonSchemaValue] = {str(name): value for name, value in generated.items()}

    params: dict[str, JsonSchemaValue] = {}
    for family, cls in families:
        params[family] = refs[(("family", family), "validation")]
        if cls is distributions.Constant:
            params[family] = {"anyOf": [_duration({"minimum": 0}), params[family]]}
    component = {
        "type": "object",
        "properties": {"weight": {"type": "number", "exclusiveMinimum": 0}, **params},
        "required": ["weight"],
        "minProperties": 2,
        "maxProperties": 2,
        "additionalProperties": False,
        "description": "{ weight = w, <family> = {...} }",
    }
    components = {"type": "array", "items": component, "minItems": 1}
    definitions["Mixture"] = {
        "anyOf": [components, {"type": "object", "properties": {"components": components},
                               "required": ["components"], "additionalProperties": False}],
        "description": getattr(distributions.Mixture, "__doc__", "") or "",
    }
    alternatives: list[JsonSchemaValue] = [_duration({"minimum": 0})]
    alternatives += [{"type": "object", "properties": {family: schema}, "required": [family],
                      "additionalProperties": False} for family, schema in params.items()]
    definitions["Distribution"] = {
        "anyOf": alternatives,
        "description": "A duration (a constant), or a one-key table naming a distribution family.",
    }
    for base in _REGISTRIES.values():
        names = [kind for b, kind, _ in parts if b is base]
        for kind in names:
            table = definitions[refs[(("part", kind, base.__name__), "validation")]["$ref"].rpartition("/")[2]]
            table["required"] = ["kind", *[name for name in table.get("required", []) if name != "kind"]]
        tables = [refs[(("part", kind, base.__name__), "validation")] for kind in names]
        definitions[base.__name__] = {
            "anyOf": [{"enum": names, "description": f"A {base.category} kind with its defaults."}, {"oneOf": tables}],
            "description": f"One registered {base.category}: its kind, or a table with kind and settings.",
        }

    schema = dict(refs[("model", "validation")])
    ref = schema.pop("$ref", None)
    if ref is not None:
        schema = {**definitions[ref.rpartition("/")[2]], **schema}
    resolved: dict[str, Any] = _resolve_markers({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "toctou-sim model file",
        "$defs": dict(sorted(definitions.items())),
    })
    return resolved
