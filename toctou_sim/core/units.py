"""Durations and rates as they are written in model files.

A duration is either a plain number of seconds (``0.04``) or a string with a unit
(``"40ms"``, ``"2s"``, ``"5m"``, ``"1h"``, ``"30d"``, ``"250us"``). Internally every time is a
float number of seconds.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, field_validator

__all__ = [
    "DataModel",
    "Duration",
    "NonNegativeDuration",
    "PositiveDuration",
    "brief_repr",
    "format_duration",
    "parse_duration",
]

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_PATTERN = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zµ]*)\s*$")


def parse_duration(value: Any) -> float:
    """Convert a duration written in a model file into seconds.

    Raises:
        ValueError: the value is neither a number nor a number followed by a known unit.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '40ms', '2s' or a number of seconds, got {value!r}")
    if isinstance(value, int | float):
        return _finite(float(value) if abs(value) < 1e300 else math.inf, value)
    if isinstance(value, str):
        match = _PATTERN.match(value[:100])
        if match:
            number, unit = match.groups()
            if unit == "":
                return _finite(float(number), value)
            if unit in _UNITS:
                return _finite(float(number) * _UNITS[unit], value)
            raise ValueError(f"unknown time unit {unit!r} in {value!r}; expected one of ns, us, ms, s, m, h, d")
    raise ValueError(f"expected a duration such as '40ms', '2s' or a number of seconds, got {brief_repr(value)}")


def _finite(seconds: float, value: Any) -> float:
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, got {brief_repr(value)}")
    return seconds


def brief_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (an error message never echoes a whole input)."""
    if isinstance(value, int) and abs(value) >= 10**30:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _non_negative(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError(f"must be >= 0, got {value!r}")
    return seconds


def _positive(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be > 0, got {value!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Any duration, in seconds."""
NonNegativeDuration = Annotated[float, BeforeValidator(_non_negative)]
"""A duration >= 0, in seconds."""
PositiveDuration = Annotated[float, BeforeValidator(_positive)]
"""A duration > 0, in seconds."""


def _number_kind(annotation: Any) -> str | None:
    """``"integer"`` or ``"number"`` when a field holds an int or float (maybe optional), else None."""
    if get_origin(annotation) is Annotated:
        return _number_kind(get_args(annotation)[0])
    if annotation is int:
        return "integer"
    if annotation is float:
        return "number"
    if get_origin(annotation) in (Union, type(int | None)):
        kinds = {_number_kind(a) for a in get_args(annotation) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    return None


class DataModel(BaseModel):
    """Base of every model-file table: frozen, unknown fields are errors, numbers are finite
    (pydantic's ``allow_inf_nan=False``: ``nan`` and ``inf`` are refused in every float field),
    and ``true``/``false`` are not numbers (pydantic's lax mode would read them as 1 and 0)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name is not None:
            field = cls.model_fields.get(info.field_name)
            kind = _number_kind(field.annotation) if field is not None else None
            if kind is not None:
                raise ValueError(f"expected {'an' if kind == 'integer' else 'a'} {kind}, got {value}")
        return value


def format_duration(seconds: float) -> str:
    """Render seconds with the most readable unit (``0.04`` -> ``"40ms"``)."""
    if seconds == 0:
        return "0s"
    for unit, scale in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.4g}{unit}"
    return f"{seconds / 1e-9:.4g}ns"
