"""Prometheus series every service exposes at `/metrics` (documented in the runtime README).

Defined once per process on the default registry; a process runs one service in production,
so the scrape target (job, instance) says which service a series belongs to.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Batches are up to a few thousand records; handlers take from microseconds to seconds.
_BATCH_SIZES = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
_DURATIONS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

CONSUMER_EVENTS = Counter(
    "thidua_consumer_events_total",
    "Records taken from Kafka by the consumer, by outcome: applied, duplicate (already in the "
    "inbox), ignored (a valid event of a type this service does not handle), dead_lettered.",
    ["topic", "type", "outcome"],
)
CONSUMER_DEAD_LETTERS = Counter(
    "thidua_consumer_dead_letters_total",
    "Records sent to <topic>.dlq, by reason code (not_json, not_cloudevent, unknown_type, "
    "invalid_data, handler_failed).",
    ["topic", "reason_code"],
)
CONSUMER_BATCH_SIZE = Histogram(
    "thidua_consumer_batch_size", "Records per consumed batch.", buckets=_BATCH_SIZES
)
CONSUMER_BATCH_DURATION = Histogram(
    "thidua_consumer_batch_duration_seconds",
    "Time to handle one batch: decode, apply in one transaction (retries included), dead-letter.",
    buckets=_DURATIONS,
)
CONSUMER_BATCH_FAILURES = Counter(
    "thidua_consumer_batch_failures_total",
    "Batch attempts that failed (each retry counts); a batch rewound for redelivery counts once "
    "more under outcome=rewound.",
    ["outcome"],
)
CONSUMER_TOP_UPS = Counter(
    "thidua_consumer_top_ups_total",
    "Delivered batches by what their top-up did (CONSUMER_TOP_UP_MS): added (the fetch brought "
    "records), empty (waited the whole time for nothing), full (no room), skipped_fresh (its "
    "records were fetched less than the wait ago: nothing waits behind them).",
    ["outcome"],
)
HANDLER_DURATION = Histogram(
    "thidua_consumer_handler_duration_seconds",
    "Time spent in one handler call (one event, or one run of events for a batch handler).",
    ["type"],
    buckets=_DURATIONS,
)
CONSUMER_LAG = Gauge(
    "thidua_consumer_lag",
    "Records behind the partition's end offset, as the broker last reported it (approximate on "
    "tansu).",
    ["topic", "partition"],
)
CONSUMER_PARTITION_STALLED = Gauge(
    "thidua_consumer_partition_stalled_seconds",
    "How long a partition's batches have been failing without one succeeding (0 when healthy).",
    ["topic", "partition"],
)
INBOX_PRUNED = Counter(
    "thidua_inbox_pruned_rows_total", "Inbox and dead-letter-log rows removed by retention."
)

RELAY_PUBLISHED = Counter(
    "thidua_relay_published_total", "Outbox events published and acknowledged by Kafka.", ["topic"]
)
RELAY_ERRORS = Counter("thidua_relay_errors_total", "Relay failures (each is retried).")
RELAY_IS_LEADER = Gauge(
    "thidua_relay_is_leader", "1 while this replica's relay holds its schema's leader lock."
)
OUTBOX_WAKEUPS = Counter(
    "thidua_outbox_wakeups_total",
    "Relay wake-ups after commits of staged rows: `local` (the relay leads in this process) or "
    "`notify` (one NOTIFY, covering the commits since the previous one).",
    ["how"],
)
OUTBOX_BACKLOG_ROWS = Gauge(
    "thidua_outbox_backlog_rows", "Outbox rows not yet published (as of the last check)."
)
OUTBOX_OLDEST_AGE = Gauge(
    "thidua_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox row (0 when the outbox is empty).",
)

HTTP_REQUEST_DURATION = Histogram(
    "thidua_http_request_duration_seconds",
    "HTTP request duration by route template (not the raw path), method and status.",
    ["method", "route", "status"],
    buckets=_DURATIONS,
)
CONSUMER_OFFSET_COMMITS = Counter(
    "thidua_consumer_offset_commits_total",
    "Background commits of applied batches' Kafka offsets, by outcome (committed, failed: the "
    "offsets still owned are retried with the next; a record not committed is delivered "
    "again and skipped by the inbox).",
    ["outcome"],
)
