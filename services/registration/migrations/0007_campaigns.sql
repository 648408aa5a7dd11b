-- Campaigns (kế hoạch thi đua) and their phases. A phase row is the gate of every command
-- that names it: commands lock it FOR KEY SHARE, the close locks it FOR UPDATE, so nothing for
-- the phase commits after its close, and the close counts everything that committed before.
CREATE TABLE campaigns (
    campaign_id       text PRIMARY KEY,
    organizer_unit_id text NOT NULL,
    year              integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    theme             text NOT NULL,
    movements         jsonb NOT NULL,
    scoring           jsonb NOT NULL,
    awards            jsonb NOT NULL,
    launched_at       timestamptz NOT NULL,
    event_id          text NOT NULL,
    launched_by       jsonb NOT NULL
);
CREATE INDEX campaigns_by_year ON campaigns (year, campaign_id);
CREATE INDEX campaigns_by_organizer ON campaigns (organizer_unit_id, campaign_id);

CREATE TABLE campaign_phases (
    campaign_id     text NOT NULL REFERENCES campaigns (campaign_id),
    phase_id        text NOT NULL,
    position        integer NOT NULL,
    name            text NOT NULL,
    starts_on       date NOT NULL,
    ends_on         date NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('regular', 'peak')),
    theme           text,
    occasion        text,
    closed_at       timestamptz,
    closed_by       jsonb,
    close_event_id  text,
    accepted_counts jsonb,
    PRIMARY KEY (campaign_id, phase_id),
    CHECK (ends_on >= starts_on)
);
