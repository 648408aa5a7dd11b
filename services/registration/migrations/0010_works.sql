-- Works for plaques (gắn biển công trình): registered by their unit, announced once approved.
CREATE TABLE works (
    work_id        text PRIMARY KEY,
    campaign_id    text NOT NULL,
    phase_id       text NOT NULL,
    unit_id        text NOT NULL,
    name           text NOT NULL,
    value_vnd      bigint NOT NULL CHECK (value_vnd >= 0),
    occasion       text NOT NULL,
    occasion_date  date,
    status         text NOT NULL CHECK (status IN ('registered', 'approved')),
    registered_at  timestamptz NOT NULL,
    registered_by  jsonb NOT NULL,
    plaque_level   text,
    approved_at    timestamptz,
    approved_by    jsonb,
    approving_unit_id text,
    event_id       text,
    FOREIGN KEY (campaign_id, phase_id) REFERENCES campaign_phases (campaign_id, phase_id),
    CHECK (status = 'registered' OR (event_id IS NOT NULL AND plaque_level IS NOT NULL))
);
CREATE INDEX works_by_unit ON works (unit_id, work_id);
CREATE INDEX works_by_phase ON works (campaign_id, phase_id, work_id);
