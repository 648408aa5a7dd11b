-- Each campaign's own scoring rules and phases, as its thidua.campaign.launched.v1 carried them.
CREATE TABLE campaign_rules (
    campaign_id  text PRIMARY KEY,
    scoring      jsonb NOT NULL,
    phases       jsonb NOT NULL,
    launched_at  timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
