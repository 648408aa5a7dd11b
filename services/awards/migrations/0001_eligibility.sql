-- What awards knows of each subject's standing in a phase, learned from score events.
CREATE TABLE subject_standings (
    campaign_id          text NOT NULL,
    phase_id             text NOT NULL,
    subject_kind         text NOT NULL,
    subject_id           text NOT NULL,
    unit_id              text NOT NULL,
    total_points         numeric NOT NULL,
    accepted_initiatives integer NOT NULL DEFAULT 0,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, phase_id, subject_kind, subject_id)
);

-- The last eligibility announced per subject, title and level: an event goes out only on change.
CREATE TABLE eligibility (
    campaign_id  text NOT NULL,
    phase_id     text NOT NULL,
    subject_kind text NOT NULL,
    subject_id   text NOT NULL,
    title        text NOT NULL,
    level        text NOT NULL,
    eligible     boolean NOT NULL,
    reason       text NOT NULL,
    unit_id      text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, phase_id, subject_kind, subject_id, title, level)
);
