-- Answers kept under clients' Idempotency-Key headers (services/runtime/idempotency.py), written
-- in the transaction of the command they answer. Rows past expires_at are replaced on reuse.
CREATE TABLE idempotency_keys (
    idempotency_key text PRIMARY KEY,
    fingerprint     text NOT NULL,
    status_code     smallint NOT NULL,
    response        bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
