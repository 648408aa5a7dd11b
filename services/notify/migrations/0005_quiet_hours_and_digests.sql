-- Quiet hours (Vietnam time; both ends or neither; an end before the start spans midnight) and
-- the e-mail digest mode: `daily` gathers a member's e-mails of a day into one.
ALTER TABLE member_preferences
    ADD COLUMN quiet_start time,
    ADD COLUMN quiet_end time,
    ADD COLUMN email_digest text NOT NULL DEFAULT 'off' CHECK (email_digest IN ('off', 'daily')),
    ADD CONSTRAINT member_preferences_quiet_both_ends
        CHECK ((quiet_start IS NULL) = (quiet_end IS NULL));

-- When a message queued at `at` may go out: at once, or at the end of the quiet period it
-- falls in. Vietnam keeps +07:00 all year (no daylight saving), so a fixed offset is exact.
CREATE FUNCTION quiet_until(at timestamptz, q_start time, q_end time) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    WITH l AS (SELECT (at AT TIME ZONE 'UTC') + interval '7 hours' AS local)
    SELECT CASE
        WHEN q_start IS NULL OR q_end IS NULL OR q_start = q_end THEN at
        WHEN q_start < q_end THEN CASE
            WHEN l.local::time >= q_start AND l.local::time < q_end
                THEN ((l.local::date + q_end) - interval '7 hours') AT TIME ZONE 'UTC'
            ELSE at END
        ELSE CASE
            WHEN l.local::time >= q_start
                THEN ((l.local::date + 1 + q_end) - interval '7 hours') AT TIME ZONE 'UTC'
            WHEN l.local::time < q_end
                THEN ((l.local::date + q_end) - interval '7 hours') AT TIME ZONE 'UTC'
            ELSE at END
    END FROM l
$$;

-- E-mails of members in digest mode, waiting for their digest: the first digest run after
-- `created_at` takes them. `digest_id` is set when a digest took them, in the transaction that
-- queued the digest e-mail, so a rerun never takes an item twice.
CREATE TABLE digest_items (
    notification_id text PRIMARY KEY,
    recipient_id    text NOT NULL,
    template        text NOT NULL,
    subject         text NOT NULL,
    language        text NOT NULL,
    source_event_id text NOT NULL,
    correlation_id  text NOT NULL,
    district        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    digest_id       text,
    UNIQUE (source_event_id, recipient_id)
);
-- What a digest run walks: recipients with items not yet digested, in id order.
CREATE INDEX digest_items_waiting ON digest_items (recipient_id, created_at)
    WHERE digest_id IS NULL;
