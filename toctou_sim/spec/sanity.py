"""Sanity warnings on a valid model: durations that are legal but probably not what was meant.

A TTL, a window or a lease written as a plain number and longer than the whole simulated horizon
is almost always a unit slip (``ttl = 2000`` is 2,000 seconds: plain numbers are seconds).
:func:`duration_warnings` lists every such duration field (and duration distribution's mean);
a value written with a unit (``ttl = "1d"``) says what it means and is not flagged, and the SLO's
periods and alert windows are meant to be long and are not checked.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, BeforeValidator

from toctou_sim.core.units import format_duration

__all__ = ["ModelWarning", "duration_warnings"]

_SKIPPED = frozenset({"model", "slo"})


class ModelWarning(UserWarning):
    """A valid model with a value that is probably a mistake."""


def _is_duration(annotation: Any) -> bool:
    from toctou_sim.core import units

    validators = {units.parse_duration, units._non_negative, units._positive}
    if typing.get_origin(annotation) is typing.Annotated:
        return any(isinstance(m, BeforeValidator) and m.func in validators for m in annotation.__metadata__)
    return any(_is_duration(arg) for arg in typing.get_args(annotation))


def _has_unit(raw: Any) -> bool:
    """Whether the value as written has a duration with a unit in it (``"40ms"``)."""
    if isinstance(raw, str):
        return any(c.isalpha() for c in raw)
    if isinstance(raw, dict):
        return any(_has_unit(v) for v in raw.values())
    if isinstance(raw, list | tuple):
        return any(_has_unit(v) for v in raw)
    return False


def _raw(raw: Any, key: str) -> Any:
    if isinstance(raw, dict):
        return raw.get(key)
    return None


def _walk(value: Any, path: str, horizon: float, out: list[str], raw: Any = None) -> None:
    from toctou_sim.core.distributions import Distribution

    if isinstance(value, Distribution):
        if _has_unit(raw):
            return
        try:
            mean = float(value.mean)
        except (NotImplementedError, ValueError, TypeError):
            return
        if mean > horizon:
            out.append(f"{path}: mean {format_duration(mean)} is longer than the horizon "
                       f"({format_duration(horizon)}); plain numbers are seconds")
        return
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        for name, info in fields.items():
            if not path and name in _SKIPPED:
                continue
            inner = getattr(value, name, None)
            key = f"{path}.{info.alias or name}" if path else (info.alias or name)
            written = _raw(raw, info.alias or name)
            if isinstance(inner, int | float) and not isinstance(inner, bool):
                if _is_duration(info.rebuild_annotation()) and inner > horizon and not _has_unit(written):
                    out.append(f"{key}: {format_duration(float(inner))} is longer than the horizon "
                               f"({format_duration(horizon)}); plain numbers are seconds")
                continue
            _walk(inner, key, horizon, out, written)
    elif isinstance(value, dict):
        for name, inner in value.items():
            _walk(inner, f"{path}.{name}", horizon, out, _raw(raw, name))
    elif isinstance(value, list | tuple):
        for index, inner in enumerate(value):
            item = raw[index] if isinstance(raw, list) and index < len(raw) else None
            _walk(inner, f"{path}[{index}]", horizon, out, item)


def duration_warnings(spec: Any, raw: Any = None) -> list[str]:
    """One line per duration of ``spec`` (a :class:`~toctou_sim.spec.model.ModelSpec`) longer than its
    horizon; with ``raw`` (the model's data as written, overrides applied), only those written
    without a unit."""
    out: list[str] = []
    _walk(spec, "", float(spec.model.horizon), out, raw)
    return out
