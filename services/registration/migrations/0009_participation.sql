-- Emulation registrations, pledges signed among a cluster's units, and each unit's results.
CREATE TABLE emulation_registrations (
    registration_id text PRIMARY KEY,
    campaign_id     text NOT NULL,
    phase_id        text NOT NULL,
    unit_id         text NOT NULL,
    subject_kind    text NOT NULL CHECK (subject_kind IN ('unit', 'member')),
    subject_id      text NOT NULL,
    titles          text[] NOT NULL,
    target_level    text NOT NULL,
    registered_at   timestamptz NOT NULL,
    event_id        text NOT NULL,
    registered_by   jsonb NOT NULL,
    FOREIGN KEY (campaign_id, phase_id) REFERENCES campaign_phases (campaign_id, phase_id),
    UNIQUE (campaign_id, phase_id, subject_kind, subject_id)
);
CREATE INDEX emulation_registrations_by_unit ON emulation_registrations (unit_id, registration_id);

CREATE TABLE pledges (
    pledge_id   text PRIMARY KEY,
    campaign_id text NOT NULL,
    phase_id    text NOT NULL,
    cluster_id  text NOT NULL REFERENCES clusters (cluster_id),
    unit_ids    text[] NOT NULL,
    targets     jsonb NOT NULL,
    signed_on   date NOT NULL,
    recorded_at timestamptz NOT NULL,
    recorded_by jsonb NOT NULL,
    FOREIGN KEY (campaign_id, phase_id) REFERENCES campaign_phases (campaign_id, phase_id)
);
CREATE INDEX pledges_by_phase ON pledges (campaign_id, phase_id, pledge_id);

-- One row per signing unit: each unit's `thidua.pledge.signed.v1` (keyed by that unit).
CREATE TABLE pledge_signatories (
    pledge_id text NOT NULL REFERENCES pledges (pledge_id),
    unit_id   text NOT NULL,
    event_id  text NOT NULL,
    PRIMARY KEY (pledge_id, unit_id)
);
CREATE INDEX pledge_signatories_by_unit ON pledge_signatories (unit_id, pledge_id);

CREATE TABLE pledge_results (
    pledge_id   text NOT NULL,
    unit_id     text NOT NULL,
    results     jsonb NOT NULL,
    reported_at timestamptz NOT NULL,
    event_id    text NOT NULL,
    reported_by jsonb NOT NULL,
    PRIMARY KEY (pledge_id, unit_id),
    FOREIGN KEY (pledge_id, unit_id) REFERENCES pledge_signatories (pledge_id, unit_id)
);
