-- Each campaign's award rule set and year, from thidua.campaign.launched.v1.
CREATE TABLE campaigns (
    campaign_id       text PRIMARY KEY,
    organizer_unit_id text NOT NULL,
    year              integer NOT NULL,
    awards            jsonb NOT NULL,
    unit_score_basis  text NOT NULL DEFAULT 'per_100_members',
    recorded_at       timestamptz NOT NULL DEFAULT now()
);

-- Initiatives as facts: authors from `initiative.submitted`, the highest accepted level and the
-- recognised benefit from `initiative.reviewed`.
CREATE TABLE initiatives (
    initiative_id          text PRIMARY KEY,
    campaign_id            text NOT NULL,
    phase_id               text NOT NULL,
    unit_id                text NOT NULL,
    author_ids             text[] NOT NULL DEFAULT '{}',
    accepted_level         text,
    level_rank             integer NOT NULL DEFAULT -1,
    recognised_benefit_vnd bigint NOT NULL DEFAULT 0
);
CREATE INDEX initiatives_authors ON initiatives USING gin (author_ids);

-- The phase-close barrier on awards' side: score changes applied per phase, the count scoring
-- announced in its phase-wide standings_finalized, and when the round was proposed.
CREATE TABLE phase_progress (
    campaign_id            text NOT NULL,
    phase_id               text NOT NULL,
    applied_score_changes  bigint NOT NULL DEFAULT 0,
    expected_score_changes bigint,
    finalized_event_id     text,
    finalized_at           timestamptz,
    proposed_at            timestamptz,
    PRIMARY KEY (campaign_id, phase_id)
);

-- Every placement of a round: proposed within quota, beyond the quota, or excluded (and why);
-- then approved or rejected by the issuer.
CREATE TABLE proposals (
    proposal_id        text PRIMARY KEY,
    campaign_id        text NOT NULL,
    phase_id           text NOT NULL,
    year               integer NOT NULL,
    title              text NOT NULL,
    level              text NOT NULL,
    subject_kind       text NOT NULL,
    subject_id         text NOT NULL,
    subject_name       text NOT NULL,
    unit_id            text NOT NULL,
    issuer_unit_id     text NOT NULL,
    cluster_id         text,
    points             numeric NOT NULL,
    rank               integer,
    quota              integer,
    candidate_count    integer NOT NULL,
    tie_break          text,
    standing           text NOT NULL,
    direct_worker      boolean NOT NULL,
    initiative_ids     text[] NOT NULL DEFAULT '{}',
    status             text NOT NULL,
    proposed_at        timestamptz NOT NULL,
    disclosure_ends_at timestamptz NOT NULL,
    decided_at         timestamptz,
    decided_by         jsonb,
    decision_reason    text,
    decision_id        text
);
-- proposal_id is derived from (campaign, phase, title, level, subject kind, subject id), so its
-- primary key is what keeps a placement from being stored twice.
CREATE INDEX proposals_issuer ON proposals (issuer_unit_id, status, proposal_id);
CREATE INDEX proposals_subject ON proposals (subject_kind, subject_id, campaign_id, phase_id);

-- Objections raised during a proposal's disclosure period, and their answers.
CREATE TABLE objections (
    objection_id text PRIMARY KEY,
    proposal_id  text NOT NULL REFERENCES proposals,
    text         text NOT NULL,
    raised_by    jsonb NOT NULL,
    raised_at    timestamptz NOT NULL,
    answer       text,
    upheld       boolean,
    answered_by  jsonb,
    answered_at  timestamptz
);
CREATE INDEX objections_proposal ON objections (proposal_id);

-- Numbered award decisions (quyết định khen thưởng): one number per issuer and year.
CREATE TABLE decision_counters (
    issuer_unit_id text NOT NULL,
    year           integer NOT NULL,
    last_number    integer NOT NULL,
    PRIMARY KEY (issuer_unit_id, year)
);
CREATE TABLE decisions (
    decision_id     text PRIMARY KEY,
    decision_number text NOT NULL,
    issuer_unit_id  text NOT NULL,
    issuer_name     text NOT NULL,
    district_id     text,
    year            integer NOT NULL,
    decision_date   date NOT NULL,
    signatory       text NOT NULL,
    recipient_count integer NOT NULL,
    total_cash_vnd  bigint NOT NULL,
    recorded_by     jsonb NOT NULL,
    recorded_at     timestamptz NOT NULL,
    UNIQUE (issuer_unit_id, decision_number)
);
CREATE INDEX decisions_year ON decisions (year, issuer_unit_id);

-- Each recipient of a decision: one award per proposal, whatever the retries.
CREATE TABLE awards_granted (
    award_id        text PRIMARY KEY,
    decision_id     text NOT NULL REFERENCES decisions,
    proposal_id     text UNIQUE REFERENCES proposals,
    campaign_id     text NOT NULL,
    phase_id        text,
    year            integer NOT NULL,
    title           text NOT NULL,
    level           text NOT NULL,
    subject_kind    text NOT NULL,
    subject_id      text NOT NULL,
    subject_name    text NOT NULL,
    unit_id         text NOT NULL,
    unit_parent_id  text,
    district_id     text,
    cash_amount_vnd bigint NOT NULL,
    granted_at      timestamptz NOT NULL
);
CREATE INDEX awards_granted_decision ON awards_granted (decision_id);
CREATE INDEX awards_granted_year ON awards_granted (year, district_id, title, level);

-- One achievement, one award: an initiative a decision rested on is consumed once.
CREATE TABLE consumed_initiatives (
    initiative_id text PRIMARY KEY,
    award_id      text NOT NULL REFERENCES awards_granted,
    title         text NOT NULL,
    level         text NOT NULL
);

-- Disqualifiers recorded per member and year, with where they come from.
CREATE TABLE exclusions (
    member_id   text NOT NULL,
    year        integer NOT NULL,
    kind        text NOT NULL,
    source      text NOT NULL,
    note        text,
    unit_id     text NOT NULL,
    recorded_by jsonb NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (member_id, year, kind)
);

-- Titles held, per year: from awards' own decisions and from imported past decisions.
CREATE TABLE title_history (
    subject_kind    text NOT NULL,
    subject_id      text NOT NULL,
    title           text NOT NULL,
    level           text NOT NULL,
    year            integer NOT NULL,
    decision_number text NOT NULL,
    issuer_name     text NOT NULL,
    unit_id         text NOT NULL,
    source          text NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_kind, subject_id, title, level, year)
);
