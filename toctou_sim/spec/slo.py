"""Model-file parts for error budgets and time-varying load: burn-rate alerts and rate profiles.

This module depends only on :mod:`toctou_sim.core.units` so that :mod:`toctou_sim.spec.model` can use its
classes in ``[slo]`` and ``[clients.arrival]``.

- A **rate phase** says "until ``until`` (simulated time since the start) clients arrive at
  ``rate`` per second". A list of phases is a piecewise-constant load profile: a diurnal curve
  in steps, or a flash-sale burst. After the last phase the Poisson ``rate`` applies again.
- A **burn-rate alert** (Google SRE workbook, ch. 5) fires while the error budget burns at least
  ``factor`` times the sustainable rate over both a long window and a short one: the long window
  makes it significant, the short window makes it stop soon after the burn stops.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from toctou_sim.core.units import DataModel, PositiveDuration, format_duration

__all__ = ["DEFAULT_ALERTS", "BurnAlertSpec", "RatePhase"]


class _Strict(DataModel):
    pass


class RatePhase(_Strict):
    """Clients arrive at ``rate`` per second (whole system) until simulated time ``until``."""

    until: PositiveDuration
    rate: float = Field(ge=0)
    """Arrivals per second during the phase (0 = no arrivals)."""


class BurnAlertSpec(_Strict):
    """A multi-window burn-rate alert: fires while the burn rate over ``long_window`` AND over
    ``short_window`` are both at least ``factor`` (1.0 = spending the budget exactly over the SLO
    period). With a 30-day period, 14.4x over 1 h spends 2% of the budget in that hour."""

    name: str | None = None
    """Label in tables and charts (default: ``"14.4x 1h/5m"``)."""
    factor: float = Field(gt=0)
    long_window: PositiveDuration
    short_window: PositiveDuration
    severity: Literal["page", "ticket"] = "page"

    @model_validator(mode="after")
    def _short_within_long(self) -> BurnAlertSpec:
        if self.short_window > self.long_window:
            raise ValueError(
                f"short_window ({self.short_window:g}s) must not exceed long_window ({self.long_window:g}s)"
            )
        return self

    @property
    def label(self) -> str:
        """The alert's name, or one built from its factor and windows."""
        if self.name:
            return self.name
        return f"{self.factor:g}x {format_duration(self.long_window)}/{format_duration(self.short_window)}"


DEFAULT_ALERTS: tuple[BurnAlertSpec, ...] = (
    BurnAlertSpec(factor=14.4, long_window=3600.0, short_window=300.0, severity="page"),
    BurnAlertSpec(factor=6.0, long_window=6 * 3600.0, short_window=1800.0, severity="page"),
    BurnAlertSpec(factor=1.0, long_window=3 * 86400.0, short_window=6 * 3600.0, severity="ticket"),
)
"""The SRE workbook's recommended set: two paging alerts (2% of a 30-day budget in 1 h, 5% in
6 h) and one ticket (10% in 3 days)."""
