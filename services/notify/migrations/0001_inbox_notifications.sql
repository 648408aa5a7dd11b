-- In-app notifications (the members' inbox). One per source event, recipient and channel:
-- the unique key is what makes "never send the same thing twice" hold under redelivery.
CREATE TABLE notifications (
    notification_id text PRIMARY KEY,
    recipient_id    text NOT NULL,
    recipient_kind  text NOT NULL,
    channel         text NOT NULL,
    template        text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    source_event_id text NOT NULL,
    correlation_id  text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz,
    UNIQUE (source_event_id, recipient_id, channel)
);
CREATE INDEX notifications_by_recipient ON notifications (recipient_id, created_at DESC);
