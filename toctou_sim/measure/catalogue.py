"""The metric catalogue: every metric a results table can hold, with its definition, unit and guide id.

One table in code, for the documentation's metric reference and for the tables and reports that
explain a metric (``present`` and ``metrics_guide`` can read it). Rates are per counted operation
unless the definition says otherwise; counts are per replication (the tables show their mean).
Metrics that only some parts of a model produce (a cache, a strategy, a fault) say which part.

A name with ``<service>`` stands for one metric per finite service (``store_calls``); ``<fault>`` for
one metric per interval fault kind (``pause``, ``crash``,
``partition``, ``latency_spike``, ``clock_skew``, ``throttle``): ``pause_onsets``, ``crash_seconds``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CATALOGUE", "GUIDE_IDS", "Metric", "describe"]


@dataclass(frozen=True)
class Metric:
    """One metric of the tidy results table."""

    name: str
    """The ``metric`` column's value (``<fault>`` stands for a fault kind)."""
    definition: str
    """What it counts or measures, in one or two sentences."""
    unit: str
    """``per operation``, ``count``, ``ms``, ``s``, ``share`` (0-1), ``ops/s``, ``x`` (a multiple), ..."""
    source: str
    """Which part of a model produces it: ``every run``, ``SLO``, or a read path, strategy, actor or fault."""
    guide: str = ""
    """The guide's metric id (``M1``-``M10``) it carries, if any."""


_ROWS: list[tuple[str, str, str, str, str]] = [
    # name, unit, source, guide id, definition
    ("operations", "count", "every run", "",
     "Operations counted in the replication (arrived after the warm-up and before the horizon)."),
    ("attempts", "count", "every run", "", "Check -> window -> use flows run, retries included."),
    ("ok", "count", "every run", "", "Operations that ended ok (declined ones included)."),
    ("mismatches", "count", "every run", "",
     "Operations whose precondition held at check but not on the truth at use."),
    ("conflicts", "count", "every run", "", "Mismatches the strategy caught (a failed CAS, re-check or fenced write)."),
    ("violations", "count", "every run", "", "Uses that took effect while the precondition was false (harm)."),
    ("aborts", "count", "every run", "", "Operations that gave up (retries spent, lock wait timed out)."),
    ("ok_rate", "per operation", "every run", "", "Operations that ended ok, declined ones included."),
    ("declined_rate", "per operation", "every run", "", "Operations whose check said no (a correct refusal)."),
    ("abort_rate", "per operation", "every run", "", "Operations that gave up."),
    ("violation_rate", "per operation", "every run", "",
     "Uses that took effect while the precondition was false: the harm (oversell, duplicate, ...)."),
    ("mismatch_rate", "per operation", "every run", "M1",
     "Operations whose check held (as observed) but not on the truth at use; one with several such attempts "
     "counts once."),
    ("mismatch_stale_rate", "per operation", "every run", "",
     "Mismatches whose check had already read stale state (a cache or replica behind the truth)."),
    ("mismatch_window_rate", "per operation", "every run", "",
     "Mismatches caused by writes during the window (the rest of the mismatches)."),
    ("conflict_rate", "per operation", "every run", "", "Mismatches the strategy caught before harm."),
    ("spurious_rejection_rate", "per operation", "every run", "",
     "Uses rejected although the precondition still held (a CAS that lost to a harmless write)."),
    ("retry_rate", "per operation", "every run", "", "Retries of the whole flow after a rejected use."),
    ("stale_check_rate", "per check", "every run", "", "Checks that read state older than the truth."),
    ("throughput_ops_s", "ops/s", "every run", "", "Operations that ended ok per second of measured time."),
    ("unfinished", "count", "every run", "", "Operations still in flight when the replication ended."),
    ("latency_mean_ms", "ms", "every run", "", "Mean time from arrival to end, retries included."),
    ("latency_p50_ms", "ms", "every run", "", "Median time from arrival to end."),
    ("latency_p90_ms", "ms", "every run", "", "90th percentile of the time from arrival to end."),
    ("latency_p99_ms", "ms", "every run", "", "99th percentile of the time from arrival to end."),
    ("latency_p999_ms", "ms", "every run", "", "99.9th percentile of the time from arrival to end."),
    ("window_mean_ms", "ms", "every run", "", "Mean time from the check's answer to the use decision."),
    ("window_p50_ms", "ms", "every run", "", "Median of the check-to-use window."),
    ("window_p99_ms", "ms", "every run", "", "99th percentile of the check-to-use window."),
    ("attempt_mismatch_rate", "per operation", "every run", "",
     "Mismatched attempts (retries included) per operation."),
    ("request_latency_mean_ms", "ms", "every run", "", "Mean time from a request's first delivery to its end."),
    ("retries", "count", "every run", "", "Retries of the whole flow after a rejected use."),
    ("unfinished_rate", "per operation", "every run", "", "Operations still unfinished when the run ended."),
    ("unfinished_operations", "count", "every run", "", "Counted operations still unfinished when the run ended."),
    ("race_abort_rate", "per operation", "every run", "", "Aborts after a caught race whose retries ran out."),
    ("orphaned_request_rate", "per operation", "every run", "", "Aborts whose partial create left an orphan."),
    ("effects", "count", "every run", "", "Effects the world applied (the effect ledger)."),
    ("ledger_violations", "count", "every run", "", "Effects the ledger recorded as violating the invariant."),
    ("ledger_duplicates", "count", "every run", "", "Effects the ledger recorded as a second effect of one request."),
    ("ledger_orphans", "count", "every run", "", "Partial effects the ledger recorded as orphans."),
    ("harms", "count", "every run", "", "Harms from the effect ledger: violations, duplicates and orphans."),
    ("harm_rate", "per operation", "every run", "",
     "Harms per operation: what the verdict judges against the harm budget."),
    ("orphan_rate", "per operation", "every run", "", "Orphans (partial effects) per operation."),
    ("precondition_violation_rate", "per operation", "every run", "",
     "Effects applied while the precondition was false, per operation."),
    ("unstable", "share", "every run", "", "1 when the backlog grows over the whole measured span (no steady state)."),
    ("backlog_growth_per_s", "1/s", "every run", "", "Slope of the backlog of unfinished operations."),
    ("backlog_end", "count", "every run", "", "Unfinished operations at the end of the measured span."),
    ("harms_per_day", "1/day", "SLO", "", "Harms per day at the modelled load."),
    ("harm_budget_burn", "x", "SLO", "", "Harm rate over the harm budget (slo.harm_budget): 1x spends it exactly."),
    ("harm_cost_per_day", "cost/day", "SLO", "", "Harms per day times slo.harm_cost."),
    ("duplicate_deliveries", "count", "every run", "", "Extra deliveries of a request (redelivery, client timeouts)."),
    ("duplicate_effects", "count", "every run", "", "Extra effects of one request (it acted more than once)."),
    ("duplicate_effect_rate", "per operation", "every run", "", "Extra effects of one request per operation."),
    ("duplicate_resource_rate", "per effect", "every run", "M3",
     "Duplicates over creations, from the effect ledger: second effects of one request, plus (invariant "
     "exists) creates of a key already present."),
    ("partial_creates", "count", "every run", "", "Uses that took effect and then failed before being finalised."),
    ("partial_create_rate", "per operation", "every run", "M5", "Partial creates per operation (orphans made)."),
    ("authorization_drift_errors", "count", "invariant grant", "M4",
     "Checks that said allowed while the policy at use said no (refused with a 403 or acted on)."),
    ("authorization_drift_rate", "per operation", "invariant grant", "M4", "Authorization drift errors per operation."),
    ("cache_validation_mismatch_rate", "per cache read", "read path cache", "M7",
     "Cache validations that took the wrong path: a cached answer that differs from the truth on the precondition."),
    ("latency_added_mean_ms", "ms", "compare with none", "M8",
     "Mean added latency per request against none, paired on the same requests (first deliveries)."),
    ("latency_added_p99_ms", "ms", "compare with none", "M8", "p99 latency of the strategy minus that of none."),
    # SLO layer (M9)
    ("errors", "count", "SLO", "",
     "Errors charged to the SLO: violated + aborted + ok operations slower than the threshold."),
    ("error_rate", "per operation", "SLO", "", "Errors charged to the SLO per operation."),
    ("latency_breach_rate", "per operation", "SLO", "", "Ok operations slower than slo.latency_threshold."),
    ("turned_away_duplicate_rate", "per operation", "SLO", "",
     "Duplicate deliveries turned away (not charged as errors: the request was served once)."),
    ("race_error_rate", "per operation", "SLO", "",
     "Errors caused by check-use races: violations plus aborts after a rejected use."),
    ("burn_rate", "x", "SLO", "", "error_rate / (1 - target): 1x spends the budget exactly over the SLO period."),
    ("error_budget_consumed", "share", "SLO", "",
     "Share of the period's error budget spent if the simulated rate persisted (1.0 = all of it)."),
    ("race_error_share", "share", "SLO", "M9", "Share of the errors that check-use races caused."),
    ("race_burn_rate", "x", "SLO", "M9",
     "The error budget spent by check-use races (violations and aborts after a caught race) over the allowed errors."),
    ("worst_hour_burn", "x", "SLO", "", "The highest burn over any page window (1 h) of the error timeline."),
    ("worst_hour_budget", "share", "SLO", "", "The largest share of the period's budget spent in one page window."),
    ("page_rule", "share", "SLO", "",
     "1 when the guide's paging rule fires (worst_hour_budget > page_budget_fraction), else 0."),
    ("alert_pages", "count", "SLO", "", "Firing episodes of the multi-window burn-rate alerts of severity page."),
    ("alert_false_pages", "count", "SLO", "", "Pages after which no page window spent more than the paging share."),
    ("alert_pages_below_guide_rule", "count", "SLO", "",
     "Pages in an episode where no hour spent more than the guide's paging share (20% of the budget)."),
    ("alert_tickets", "count", "SLO", "", "Firing episodes of the alerts of severity ticket."),
    # read path: cache
    ("cache_reads", "count", "read path cache", "", "Checks that asked the cache."),
    ("cache_hit_rate", "per cache read", "read path cache", "", "Cache reads answered from an unexpired entry."),
    ("cache_stale_read_rate", "per cache read", "read path cache", "",
     "Cache reads answered with a value older than the truth."),
    ("cache_stale_hit_fraction", "per hit", "read path cache", "", "Hits whose value was older than the truth."),
    ("cache_evictions", "count", "read path cache", "", "Entries evicted by the LRU capacity."),
    ("cache_invalidations", "count", "read path cache", "", "Entries dropped by an invalidation after a write."),
    ("cache_flushes", "count", "fault eviction_storm", "", "Whole-cache flushes."),
    ("cache_hit_age_mean_ms", "ms", "read path cache", "", "Mean age of the entry a hit answered with."),
    ("cache_hit_age_p99_ms", "ms", "read path cache", "",
     "99th percentile of the age of the entry a hit answered with."),
    # read path: replica
    ("replica_reads", "count", "read path replica", "", "Checks read through the quorum."),
    ("replica_stale_read_rate", "per replica read", "read path replica", "",
     "Quorum reads that returned a version older than the newest committed one."),
    ("replica_versions_behind_mean", "versions", "read path replica", "",
     "Mean number of versions a quorum read was behind."),
    ("replica_k2_staleness", "per replica read", "read path replica", "",
     "Probability of reading a version within 2 of the newest (PBS k-staleness, k = 2)."),
    ("replica_k3_staleness", "per replica read", "read path replica", "",
     "Probability of reading a version within 3 of the newest (PBS k-staleness, k = 3)."),
    ("replica_missed_commit_rate", "per replica read", "read path replica", "",
     "Quorum reads that missed a write already committed when the read started."),
    ("replica_read_repairs", "count", "read path replica", "",
     "Read repairs sent to replicas that answered old versions."),
    ("replica_read_latency_mean_ms", "ms", "read path replica", "", "Mean time of a quorum read."),
    ("replica_read_latency_p99_ms", "ms", "read path replica", "", "99th percentile of the time of a quorum read."),
    ("replica_commit_latency_mean_ms", "ms", "read path replica", "",
     "Mean time for a write to reach its write quorum."),
    ("replica_commit_latency_p99_ms", "ms", "read path replica", "",
     "99th percentile of the write-quorum commit time."),
    ("replica_lag_spikes", "count", "fault replica_lag_spike", "", "Replica lag spikes that began."),
    ("replica_lag_spike_time_s", "s", "fault replica_lag_spike", "", "Simulated time spent in a lag spike."),
    # the episode estimator (--estimator episodes)
    ("harms_per_episode", "count", "--estimator episodes", "",
     "Harms one episode of the model's rate-driven fault adds: a run with one episode minus the same run "
     "without it."),
    ("episodes_per_op", "per operation", "--estimator episodes", "",
     "Episodes of the rate-driven fault per operation: its rate x the measured span / operations."),
    ("baseline_harm_rate", "per operation", "--estimator episodes", "",
     "Harms per operation in the run without the fault (harm_rate is this plus harms_per_episode x "
     "episodes_per_op)."),
    # strategy lock
    ("lock_wait_mean_ms", "ms", "strategy lock", "", "Mean time waiting for the per-key lock."),
    ("lock_wait_p50_ms", "ms", "strategy lock", "", "Median time waiting for the lock."),
    ("lock_wait_p99_ms", "ms", "strategy lock", "", "99th percentile of the time waiting for the lock."),
    ("lock_leases_expired", "count", "strategy lock", "",
     "Lock grants whose lease ran out while the holder still ran."),
    ("lock_wait_timeouts", "count", "strategy lock", "", "Operations that gave up waiting for the lock."),
    ("fenced_rejections", "count", "strategy lock/lease", "",
     "Writes the store rejected because their fencing token was older than the key's watermark."),
    # strategy lease (leader election)
    ("leader_transitions", "count", "strategy lease", "", "Changes of leader."),
    ("zombie_writes", "count", "strategy lease", "",
     "Writes by a former leader that took effect after its lease ended."),
    ("reconciles_per_operation", "per operation", "strategy lease", "", "Reconcile passes per operation."),
    ("duplicate_creates_per_operation", "per operation", "strategy lease", "",
     "Creates of an object that already existed, per operation (controller thrash)."),
    # strategy idempotency
    ("dedupe_hits", "count", "strategy idempotency", "",
     "Deliveries answered from a recorded result (not acted on again)."),
    ("idempotency_conflicts", "count", "strategy idempotency", "",
     "Deliveries that found their key still in progress."),
    ("idempotency_conflict_rate", "per retry", "strategy idempotency", "M6",
     "Deliveries that found their key still in progress (a 409), over redelivered and retried deliveries."),
    ("dedupe_keys_expired", "count", "strategy idempotency", "", "Idempotency records dropped by their TTL."),
    ("dedupe_unreachable", "count", "strategy idempotency", "", "Deliveries that could not reach the dedupe store."),
    # strategy queue
    ("queue_wait_mean_ms", "ms", "strategy queue", "", "Mean time a command waited for the single consumer."),
    ("queue_service_mean_ms", "ms", "strategy queue", "", "Mean time the consumer spent on one command."),
    # strategy reconcile
    ("reconcile_runs", "count", "strategy reconcile", "", "Passes of the background reconciler."),
    ("reconcile_failures", "count", "strategy reconcile", "", "Passes that found harm to repair."),
    ("reconcile_failures_per_min", "1/min", "strategy reconcile", "M2",
     "Reconcile failures per minute of simulated time."),
    ("mean_time_to_detect_s", "s", "strategy reconcile", "M10", "Mean time from a harm to the pass that found it."),
    ("detections_censored", "count", "strategy reconcile", "M10",
     "Harms still undetected when the run ended (censored: not in the mean time to detect)."),
    ("time_in_violation_mean_s", "s", "strategy reconcile", "", "Mean time a harm stayed until it was repaired."),
    ("violation_seconds_per_min", "s/min", "strategy reconcile", "", "Seconds of outstanding harm per minute."),
    ("harms_repaired", "count", "strategy reconcile", "", "Harms the reconciler repaired."),
    ("harms_outstanding", "count", "strategy reconcile", "", "Harms not yet repaired when the replication ended."),
    ("orphan_cleanup_time_mean_s", "s", "strategy reconcile", "", "Mean time from a partial create to its cleanup."),
    ("orphans_alive", "count", "every run", "M5", "Orphans present, averaged over time."),
    ("orphans_at_end", "count", "every run", "M5", "Orphans present when the replication ended."),
    ("orphans_per_day", "1/day", "every run", "M5", "Orphans made per day of simulated time."),
    # strategy two_phase
    ("in_doubt_transactions", "count", "strategy two_phase", "",
     "Transactions left in doubt by a coordinator failure."),
    ("in_doubt_time_mean_s", "s", "strategy two_phase", "", "Mean time a transaction stayed in doubt."),
    ("prepare_failures", "count", "strategy two_phase", "", "Transactions whose prepare phase failed."),
    ("lock_held_mean_ms", "ms", "strategy two_phase", "", "Mean time participants held their locks."),
    # strategy reservation
    ("capacity_held_idle", "units", "strategy reservation", "", "Reserved capacity not yet used, averaged over time."),
    ("reservations_expired", "count", "strategy reservation", "", "Reservations that expired before their use."),
    ("throttled_after_expiry", "count", "strategy reservation", "",
     "Uses throttled because their reservation had expired."),
    # strategy token
    ("token_refreshes", "count", "strategy token", "", "Permission tokens fetched again."),
    ("token_reuses", "count", "strategy token", "", "Uses that reused a cached permission token."),
    ("token_expired_at_use", "count", "strategy token", "", "Uses whose token had expired by the time of use."),
    # actors
    ("policy_revocations", "count", "actor policy_changer", "", "Permission revocations by the policy changer."),
    ("schema_changes", "count", "actor schema_changer", "", "Schema changes applied."),
    ("events", "count", "actor event_stream", "", "Events delivered by the stream."),
    ("ordering_errors", "count", "actor event_stream", "",
     "Events applied out of order (an older event over a newer one)."),
    ("ordering_error_rate", "per event", "actor event_stream", "", "Ordering errors per event."),
    ("stale_events_dropped", "count", "actor event_stream", "", "Old events dropped by a sequence-number check."),
    # faults
    ("policy_view_lagging_reads", "count", "actor policy_changer", "",
     "Permission checks answered from a policy view that lagged the authoritative policy."),
    ("retry_budget_denied", "count", "retry budget", "", "Retries refused by the retry budget."),
    ("<service>_calls", "count", "capacity", "", "Calls offered to this finite service (per service)."),
    ("<service>_offered_per_s", "ops/s", "capacity", "", "Calls offered to the service per second."),
    ("<service>_goodput_per_s", "ops/s", "capacity", "", "Calls the service served per second."),
    ("<service>_throttled", "count", "capacity", "", "Calls the service throttled."),
    ("<service>_throttled_fraction", "share", "capacity", "", "Share of the calls the service throttled."),
    ("<service>_timeouts", "count", "capacity", "", "Calls whose caller timed out."),
    ("<service>_timeout_fraction", "share", "capacity", "", "Share of the calls whose caller timed out."),
    ("<service>_wasted", "count", "capacity", "", "Calls served after their caller had given up (wasted work)."),
    ("<service>_wasted_fraction", "share", "capacity", "", "Share of the completed calls that were wasted."),
    ("<service>_cancelled", "count", "capacity", "", "Calls cancelled before service."),
    ("<service>_utilization", "share", "capacity", "", "Busy servers over servers, averaged over time."),
    ("<service>_queue_mean", "count", "capacity", "", "Calls waiting in the service's queue, averaged over time."),
    ("<service>_wait_mean_ms", "ms", "capacity", "", "Mean time a call waited in the service's queue."),
    ("<service>_wait_p99_ms", "ms", "capacity", "", "99th percentile of the time a call waited in the queue."),
    ("throttled_requests", "count", "fault throttle", "", "Requests rejected by a throttle."),
    ("client_lost_answers", "count", "fault crash", "",
     "Requests whose client crashed after their effect and before answering (sent again)."),
    ("<fault>_onsets", "count", "faults", "", "Intervals of this fault that began (per fault kind)."),
    ("<fault>_seconds", "s", "faults", "", "Simulated time this fault was active (per fault kind)."),
]

CATALOGUE: dict[str, Metric] = {
    name: Metric(name=name, definition=definition, unit=unit, source=source, guide=guide)
    for name, unit, source, guide, definition in _ROWS
}
"""Metric name -> :class:`Metric`, in the order the documentation lists them."""

GUIDE_IDS = tuple(f"M{i}" for i in range(1, 11))
"""The guide's metric ids."""

_PATTERNS = [(re.compile("^" + re.sub(r"<[a-z]+>", "[a-z_0-9]+", name) + "$"), metric)
             for name, metric in CATALOGUE.items() if "<" in name]


def describe(name: str) -> Metric | None:
    """The catalogue entry of a metric name (``pause_onsets`` finds ``<fault>_onsets``), or ``None``."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    return next((metric for pattern, metric in _PATTERNS if pattern.match(name)), None)
