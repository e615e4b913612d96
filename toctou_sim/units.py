"""Durations and rates as they are written in model files.

A duration is either a plain number of seconds (``0.04``) or a string with a unit
(``"40ms"``, ``"2s"``, ``"5m"``, ``"1h"``, ``"30d"``, ``"250us"``). Internally every time is a
float number of seconds.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = ["Duration", "NonNegativeDuration", "PositiveDuration", "format_duration", "parse_duration"]

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
        return float(value)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            number, unit = match.groups()
            if unit == "":
                return float(number)
            if unit in _UNITS:
                return float(number) * _UNITS[unit]
            raise ValueError(f"unknown time unit {unit!r} in {value!r}; expected one of ns, us, ms, s, m, h, d")
    raise ValueError(f"expected a duration such as '40ms', '2s' or a number of seconds, got {value!r}")


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


def format_duration(seconds: float) -> str:
    """Render seconds with the most readable unit (``0.04`` -> ``"40ms"``)."""
    if seconds == 0:
        return "0s"
    for unit, scale in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.4g}{unit}"
    return f"{seconds / 1e-9:.4g}ns"
