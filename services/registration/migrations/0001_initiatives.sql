-- Initiatives (sáng kiến) as submitted; review outcomes arrive in later migrations.
CREATE TABLE initiatives (
    initiative_id       text PRIMARY KEY,
    campaign_id         text NOT NULL,
    phase_id            text NOT NULL,
    unit_id             text NOT NULL,
    district            text NOT NULL,
    title               text NOT NULL,
    field               text NOT NULL,
    authors             jsonb NOT NULL,
    claimed_benefit_vnd bigint NOT NULL CHECK (claimed_benefit_vnd >= 0),
    status              text NOT NULL DEFAULT 'submitted',
    submitted_at        timestamptz NOT NULL,
    event_id            text NOT NULL,
    correlation_id      text NOT NULL
);
CREATE INDEX initiatives_by_unit ON initiatives (unit_id, campaign_id, phase_id);
