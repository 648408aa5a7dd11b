-- Integrators' webhook subscriptions: where to POST which event types of which district.
CREATE TABLE webhooks (
    webhook_id  text PRIMARY KEY,
    owner       text NOT NULL,
    url         text NOT NULL,
    event_types text[] NOT NULL,
    district    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE INDEX webhooks_active ON webhooks (district) WHERE deleted_at IS NULL;

-- Signing secrets (`whsec_…`), private to notify, never on any topic. After a rotation the
-- old secret keeps signing until `expires_at`, so receivers can switch without a gap.
CREATE TABLE webhook_secrets (
    webhook_id text NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    PRIMARY KEY (webhook_id, secret)
);

-- One row per (event, subscription), written in the consumer's batch transaction: the id is
-- derived from both, so a redelivered event adds nothing. The body is the CloudEvent JSON.
CREATE TABLE webhook_deliveries (
    delivery_id     text PRIMARY KEY,
    webhook_id      text NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'parked')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
