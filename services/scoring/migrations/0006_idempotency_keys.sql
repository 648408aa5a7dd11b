-- Answers kept under clients' Idempotency-Key headers (services/runtime/idempotency.py) for
-- scoring's POST routes (what-if): a repeat within 24 hours answers what the first one did.
CREATE TABLE idempotency_keys (
    idempotency_key text PRIMARY KEY,
    fingerprint     text NOT NULL,
    status_code     smallint NOT NULL,
    response        bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
