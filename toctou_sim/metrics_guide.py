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
    "M5": ("Partial creates / orphans", ("partial_create_rate", "orphans_alive", "orphans_at_end")),
    "M6": ("Idempotency conflict rate", ("idempotency_conflict_rate",)),
    "M7": ("Cache validation mismatch", ("cache_validation_mismatch_rate",)),
    "M8": ("Latency added by mitigation", ("latency_added_mean_ms", "latency_added_p99_ms")),
    "M9": ("Error budget burn attributable to TOCTOU", ("error_budget_consumed", "burn_rate")),
    "M10": ("Mean time to detect", ("mean_time_to_detect_s",)),
}
"""Guide id -> (the guide's name, the tidy metric names carrying it). M8 exists only in
comparisons that include ``none`` (it is a paired difference); M9 comes from the SLO layer."""


def guide_metrics(invariant: str, metrics: Mapping[str, float]) -> dict[str, float]:
    """The guide-named metrics derivable from one replication's ``metrics``.

    - M3 ``duplicate_resource_rate``: duplicate effects of one request (redeliveries, timed-out
      retries) per operation, plus, for the ``exists`` invariant, creates of a key already present.
    - M4 ``authorization_drift_rate`` (``grant`` invariant only): checks that said allowed while
      the policy at use said no, whether the resource refused (403) or acted (unauthorized).
    - M6 ``idempotency_conflict_rate``: deliveries that found their key still in progress.
    - M7 ``cache_validation_mismatch_rate``: mismatches already present at check (a stale read).
    """
    ops = metrics.get("operations", 0.0)

    def per_op(count: float) -> float:
        return count / ops if ops else math.nan

    out: dict[str, float] = {}
    duplicates = metrics.get("duplicate_effects", 0.0)
    if invariant == "exists":
        duplicates = metrics.get("violations", 0.0)
    out["duplicate_resource_rate"] = per_op(duplicates)
    if invariant == "grant":
        # Mismatches of the permission itself: not the duplicates and dedupe hits, which are
        # mismatches of "this request was not served yet".
        drift = metrics.get("mismatches", 0.0) - metrics.get("duplicate_effects", 0.0)
        drift -= metrics.get("dedupe_hits", 0.0) + metrics.get("idempotency_conflicts", 0.0)
        out["authorization_drift_errors"] = drift
        out["authorization_drift_rate"] = per_op(drift)
    if "idempotency_conflicts" in metrics:
        out["idempotency_conflict_rate"] = per_op(metrics["idempotency_conflicts"])
    if "mismatch_stale_rate" in metrics:
        out["cache_validation_mismatch_rate"] = metrics["mismatch_stale_rate"]
    return out
