-- Scores are derived from facts and each campaign's rule set (services/scoring/points.py).
-- A fact is one thing that earns points: a submitted initiative, an initiative's accepted review
-- (the highest level's), a pledge target (met or not), a plaqued work, an emulation registration.
-- Its state is replaced, never summed: applying the same fact twice changes nothing.

-- Submitted initiatives: their authors (who share the credit of the review) and claimed benefit.
CREATE TABLE initiatives (
    initiative_id       text PRIMARY KEY,
    campaign_id         text NOT NULL,
    phase_id            text NOT NULL,
    unit_id             text NOT NULL,
    author_ids          text[] NOT NULL,
    claimed_benefit_vnd bigint NOT NULL,
    source_event_id     text NOT NULL,
    submitted_at        timestamptz NOT NULL
);

-- Each council's latest decision on an initiative; the accepted one of the highest level counts.
CREATE TABLE initiative_reviews (
    initiative_id          text NOT NULL,
    level                  text NOT NULL,
    level_rank             smallint NOT NULL,
    outcome                text NOT NULL,
    grade                  text,
    recognised_benefit_vnd bigint NOT NULL,
    campaign_id            text NOT NULL,
    phase_id               text NOT NULL,
    unit_id                text NOT NULL,
    district               text,
    source_event_id        text NOT NULL,
    reviewed_at            timestamptz NOT NULL,
    PRIMARY KEY (initiative_id, level)
);

CREATE TABLE facts (
    fact_id         text PRIMARY KEY,   -- e.g. initiative:<id>, pledge:<pledge>:<target>
    rule            text NOT NULL,      -- the rule that prices it, e.g. initiative_accepted
    campaign_id     text NOT NULL,
    phase_id        text NOT NULL,
    unit_id         text NOT NULL,
    district        text,
    credit_unit     boolean NOT NULL,   -- earns its unit points
    member_ids      text[] NOT NULL DEFAULT '{}',  -- members it earns points (authors)
    level           text,
    grade           text,
    benefit_vnd     bigint NOT NULL DEFAULT 0,
    target_value    numeric,
    achieved_value  numeric,
    source_event_id text NOT NULL,      -- the event that gave the fact its current state
    occurred_at     timestamptz NOT NULL
);
CREATE INDEX facts_by_phase ON facts (campaign_id, phase_id, unit_id);

-- What each fact earns each subject under its campaign's rules now: the breakdown of a total.
CREATE TABLE fact_points (
    fact_id      text NOT NULL,
    subject_kind text NOT NULL,
    subject_id   text NOT NULL,
    campaign_id  text NOT NULL,
    phase_id     text NOT NULL,
    rule         text NOT NULL,
    points       numeric NOT NULL,
    PRIMARY KEY (fact_id, subject_kind, subject_id)
);
CREATE INDEX fact_points_by_subject ON fact_points (subject_kind, subject_id, campaign_id, phase_id);

-- The ledger now records each change of a fact's points (a higher review replacing a lower
-- one, a campaign's rules arriving): one line per fact, subject and change.
ALTER TABLE score_entries ADD COLUMN fact_id text;
DO $$
BEGIN
    EXECUTE format('ALTER TABLE score_entries DROP CONSTRAINT %I',
                   (SELECT conname FROM pg_constraint
                    WHERE conrelid = 'score_entries'::regclass AND contype = 'u'));
END $$;
CREATE INDEX score_entries_by_source ON score_entries (source_event_id);

ALTER TABLE campaign_rules ADD COLUMN organizer_unit_id text, ADD COLUMN year integer;
