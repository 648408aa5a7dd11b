-- Transactional outbox: a row is written in the same transaction as the state change it
-- announces, and deleted once the relay has had it acknowledged by Kafka.
CREATE TABLE outbox (
    seq            bigserial PRIMARY KEY,
    -- The writing transaction: the relay publishes a row only after every transaction that
    -- started before it has ended, so rows leave in commit order, never overtaking one another.
    txid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id       text NOT NULL UNIQUE,
    event_type     text NOT NULL,
    topic          text NOT NULL,
    partition_key  bytea NOT NULL,
    value          bytea NOT NULL,
    correlation_id text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Inbox: one row per event applied by this service, written with the effect, so a redelivered
-- event is recognised and skipped.
CREATE TABLE inbox (
    event_id    text PRIMARY KEY,
    event_type  text NOT NULL,
    topic       text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
