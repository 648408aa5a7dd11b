-- Running phase totals per subject (a unit or a member).
CREATE TABLE scores (
    campaign_id   text NOT NULL,
    phase_id      text NOT NULL,
    subject_kind  text NOT NULL CHECK (subject_kind IN ('unit', 'member')),
    subject_id    text NOT NULL,
    unit_id       text NOT NULL,
    district      text,
    total_points  numeric NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, phase_id, subject_kind, subject_id)
);

-- The ledger that explains every total: one line per points change and the event behind it.
CREATE TABLE score_entries (
    entry_id        bigserial PRIMARY KEY,
    campaign_id     text NOT NULL,
    phase_id        text NOT NULL,
    subject_kind    text NOT NULL,
    subject_id      text NOT NULL,
    points          numeric NOT NULL,
    reason          text NOT NULL,
    source_event_id text NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_event_id, subject_kind, subject_id, reason)
);
CREATE INDEX score_entries_by_subject ON score_entries (campaign_id, phase_id, subject_kind, subject_id);
