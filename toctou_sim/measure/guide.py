"""The guide's metrics M1-M10 under the guide's names, derived from a replication's metrics.

Most of the ten are counted directly by the world (``mismatch_rate`` is M1); this module adds
the ones that are a combination or a renaming, so that every tidy results table carries the
guide's vocabulary. :data:`GUIDE_METRICS` maps each guide id to the tidy metric names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["GUIDE_METRICS", "guide_metrics"]

GUIDE_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "M1": ("Check-use mismatch rate", ("mismatch_rate",)),
    "M2": ("Reconcile failure rate", ("reconcile_failures_per_min",)),
    "M3": ("Duplicate resource rate", ("duplicate_resource_rate",)),
    "M4": ("Authorization drift errors", ("authorization_drift_rate", "authorization_drift_errors")),
    "M5": ("Partial create count", ("orphans_per_day", "partial_create_rate", "orphans_alive", "orphans_at_end")),
    "M6": ("Idempotency conflict rate", ("idempotency_conflict_rate",)),
    "M7": ("Cache validation mismatch", ("cache_validation_mismatch_rate",)),
    "M8": ("Latency added by mitigation", ("latency_added_mean_ms", "latency_added_p99_ms")),
    "M9": ("Error budget burn from TOCTOU", ("race_burn_rate", "race_error_share")),
    "M10": ("Mean time to detect TOCTOU", ("mean_time_to_detect_s",)),
}
"""Guide id -> (the guide's name, the tidy metric names carrying it), by the guide's definitions:

- M1 ``mismatch_rate``: operations with a validation mismatch / operations (an operation whose
  attempts met several mismatches counts once; ``attempt_mismatch_rate`` counts attempts).
- M3 ``duplicate_resource_rate``: duplicates / creations, from the effect ledger: effects of a
  request that had already taken effect, plus (``exists``) creates of a key already present, over
  the effects applied.
- M5 ``orphans_per_day``: orphaned (partial) creates per day at the modelled load.
- M6 ``idempotency_conflict_rate``: retry conflicts detected / retries: deliveries that found
  their key still in progress (a 409), over the redelivered and retried deliveries.
- M7 ``cache_validation_mismatch_rate``: the cache's own count of validations that took the wrong
  path (a cached answer that differs from the truth on the precondition), per cache read.
- M8 ``latency_added_mean_ms``: the mean added latency per request, paired against ``none`` on the
  same requests (first deliveries); exists only in comparisons that include ``none``.
- M9 ``race_burn_rate``: the share of the period's error budget spent by check-use races
  (violations and aborts after a caught race, over the allowed errors); ``race_error_share`` is
  the races' share of all errors.
"""


def guide_metrics(invariant: str, metrics: Mapping[str, float]) -> dict[str, float]:
    """The guide-named metrics derivable from one replication's ``metrics`` (see
    :data:`GUIDE_METRICS`); M7 and M8 come from the cache and the comparison, M9 from the SLO
    layer."""
    ops = metrics.get("operations", 0.0)

    def per_op(count: float) -> float:
        return count / ops if ops else math.nan

    out: dict[str, float] = {}
    duplicates = metrics.get("ledger_duplicates", metrics.get("duplicate_effects", 0.0))
    if invariant == "exists":
        duplicates += metrics.get("ledger_violations", metrics.get("violations", 0.0))
    effects = metrics.get("effects", math.nan)
    out["duplicate_resource_rate"] = duplicates / effects if effects else (0.0 if effects == 0 else math.nan)
    if invariant == "grant":
        # Mismatches of the permission itself: not the duplicates and dedupe hits, which are
        # mismatches of "this request was not served yet".
        drift = metrics.get("mismatches", 0.0) - metrics.get("duplicate_effects", 0.0)
        drift -= metrics.get("dedupe_hits", 0.0) + metrics.get("idempotency_conflicts", 0.0)
        out["authorization_drift_errors"] = drift
        out["authorization_drift_rate"] = per_op(drift)
    if "idempotency_conflicts" in metrics:
        retries = metrics.get("duplicate_deliveries", 0.0) + metrics.get("retries", 0.0)
        out["idempotency_conflict_rate"] = metrics["idempotency_conflicts"] / retries if retries else math.nan
    return out
