-- A member's contact points: private to notify, never carried on any topic.
CREATE TABLE member_contacts (
    member_id  text PRIMARY KEY,
    email      text,
    phone      text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);

-- How a member wants to be told: language of messages and an opt-out per channel.
CREATE TABLE member_preferences (
    member_id     text PRIMARY KEY,
    language      text NOT NULL DEFAULT 'vi' CHECK (language IN ('vi', 'en')),
    email_enabled boolean NOT NULL DEFAULT true,
    in_app_enabled boolean NOT NULL DEFAULT true,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    text NOT NULL
);

-- Messages to send over a network channel (e-mail), written in the consumer's batch
-- transaction and sent afterwards by the sender task: one row per notification id, so a
-- redelivered event adds nothing. The address is looked up in member_contacts when sending.
CREATE TABLE deliveries (
    notification_id text PRIMARY KEY,
    recipient_id    text NOT NULL,
    recipient_kind  text NOT NULL,
    channel         text NOT NULL,
    template        text NOT NULL,
    language        text NOT NULL,
    subject         text NOT NULL,
    text_body       text NOT NULL,
    html_body       text NOT NULL,
    source_event_id text NOT NULL,
    correlation_id  text NOT NULL,
    district        text,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    UNIQUE (source_event_id, recipient_id, channel)
);
-- What the sender claims: due pending rows, oldest first.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
