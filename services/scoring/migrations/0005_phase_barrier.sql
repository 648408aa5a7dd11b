-- The phase-close barrier (services/scoring/barrier.py). One row per campaign phase scoring has
-- seen an event or a close of: the row every batch touching the phase locks first, so a close
-- and the phase's last events, applied by two workers at once, are decided in one order.
CREATE TABLE phases (
    campaign_id         text NOT NULL,
    phase_id            text NOT NULL,
    accepted_counts     jsonb,                      -- from phase.closed; null while open
    closed_at           timestamptz,
    closed_by_unit_id   text,
    close_event         jsonb,                      -- the phase.closed envelope
    finalized_at        timestamptz,
    PRIMARY KEY (campaign_id, phase_id)
);

-- Counts per phase: events applied per type (compared with phase.closed's accepted_counts)
-- and score.changed emitted (counter `emitted:thidua.score.changed.v1`). Appended, one row per
-- batch and counter, and summed when needed: batches of one phase on several workers never
-- wait for each other on a counter row.
CREATE TABLE phase_counts (
    campaign_id text NOT NULL,
    phase_id    text NOT NULL,
    counter     text NOT NULL,
    n           bigint NOT NULL
);
CREATE INDEX phase_counts_by_phase ON phase_counts (campaign_id, phase_id, counter);

-- Events of a phase arriving after its standings were finalized: kept, reported, never applied.
CREATE TABLE late_events (
    event_id     text PRIMARY KEY,
    event_type   text NOT NULL,
    campaign_id  text NOT NULL,
    phase_id     text NOT NULL,
    unit_id      text,
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX late_events_by_phase ON late_events (campaign_id, phase_id, received_at);
