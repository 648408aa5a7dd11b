-- Councils' decisions on initiatives: one review per initiative and level (a second decision
-- at a level is refused by the primary key), each with who recorded it (its event's actor).
CREATE TABLE initiative_reviews (
    initiative_id             text NOT NULL REFERENCES initiatives (initiative_id),
    level                     text NOT NULL
        CHECK (level IN ('grassroots', 'district', 'city', 'national')),
    outcome                   text NOT NULL CHECK (outcome IN ('accepted', 'rejected')),
    grade                     text CHECK (grade IN ('A', 'B', 'C')),
    recognised_benefit_vnd    bigint NOT NULL CHECK (recognised_benefit_vnd >= 0),
    reason_for_higher_benefit text,
    comment                   text,
    council_unit_id           text NOT NULL,
    reviewed_at               timestamptz NOT NULL,
    event_id                  text NOT NULL,
    reviewed_by               jsonb NOT NULL,
    PRIMARY KEY (initiative_id, level),
    CHECK (outcome = 'rejected' OR grade IS NOT NULL)
);
